//! `cargo xtask load`: the signaling load test (ignored by default), in release mode.

use std::path::Path;

use crate::run::{cargo, Step};

/// `cargo test -p tether-signaling-ws --release -- --ignored load --nocapture [args]`; `args`
/// go to the test binary (e.g. `--test-threads 1`). The size comes from the environment:
/// `TETHER_SIGNALING_LOAD_CLIENTS` (default 5000) and `TETHER_SIGNALING_LOAD_ROUNDS` (default 20).
pub(crate) fn step(args: &[String]) -> Step {
    cargo(
        "load",
        &[
            "test",
            "-p",
            "tether-signaling-ws",
            "--release",
            "--",
            "--ignored",
            "load",
            "--nocapture",
        ],
    )
    .args(args)
}

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    step(args).run(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_ignored_load_test_in_release_with_passthrough_args() {
        let shown = format!("{:?}", step(&["--test-threads".into(), "1".into()]));
        assert!(
            shown.contains(
                r#""test", "-p", "tether-signaling-ws", "--release", "--", "--ignored", "load", "--nocapture", "--test-threads", "1""#
            ),
            "{shown}"
        );
    }
}
