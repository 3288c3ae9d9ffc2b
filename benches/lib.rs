//! Benchmarks of our own crates live in `benches/*.rs` (criterion: session-core cycles, SRTP
//! protect/unprotect). The side-by-side comparison with other WebRTC stacks lives in
//! `benches/compare/`, a separate cargo workspace that the test command and the workspace
//! clippy never build. Run everything with `cargo xtask bench` (see `docs/benchmarks.md`).
