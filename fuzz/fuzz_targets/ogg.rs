//! libFuzzer shim for [`tether_fuzz::targets::ogg`] (see that function for the input and the
//! invariants). Run: `cargo xtask fuzz ogg`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::targets::ogg(data));
