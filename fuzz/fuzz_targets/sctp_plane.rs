//! libFuzzer shim for [`tether_fuzz::targets::sctp_plane`] (see that function for the input and the
//! invariants). Run: `cargo xtask fuzz sctp_plane`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::targets::sctp_plane(data));
