//! Fuzz target: ICE candidate parsing: lossy UTF-8, then `str::parse::<session_core::candidate::Candidate>`.
//!
//! libFuzzer: `cargo +nightly fuzz run --features libfuzzer candidate` (cargo-fuzz, nightly).
//! Stable: `cargo xtask fuzz candidate`, or this binary without the `libfuzzer` feature.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::targets::candidate(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() -> std::process::ExitCode {
    tether_fuzz::driver::main_with(&["candidate"])
}
