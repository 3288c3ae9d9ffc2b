//! Fuzz target: SDP parsing: `session_core::sdp::fuzz_parse`.
//!
//! libFuzzer: `cargo +nightly fuzz run --features libfuzzer sdp` (cargo-fuzz, nightly).
//! Stable: `cargo xtask fuzz sdp`, or this binary without the `libfuzzer` feature.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::targets::sdp(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() -> std::process::ExitCode {
    tether_fuzz::driver::main_with(&["sdp"])
}
