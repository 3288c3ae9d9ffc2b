//! Fuzz target: `SignalMessage` JSON parsing: `session_core::signal::fuzz_signal`.
//!
//! libFuzzer: `cargo +nightly fuzz run --features libfuzzer signal` (cargo-fuzz, nightly).
//! Stable: `cargo xtask fuzz signal`, or this binary without the `libfuzzer` feature.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzz::targets::signal(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() -> std::process::ExitCode {
    tether_fuzz::driver::main_with(&["signal"])
}
