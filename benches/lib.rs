//! Benchmarks live in `benches/*.rs`; run them with `cargo xtask bench`.
