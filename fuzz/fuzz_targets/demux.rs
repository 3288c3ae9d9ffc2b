//! libFuzzer shim for [`tether_fuzz::targets::demux`] (see that function for the input and the
//! invariants). Run: `cargo xtask fuzz demux`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::targets::demux(data));
