//! libFuzzer shim for [`tether_fuzz::targets::ws_client_frame`] (see that function for the input and the
//! invariants). Run: `cargo xtask fuzz ws_client_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::targets::ws_client_frame(data));
