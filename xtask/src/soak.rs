//! `cargo xtask soak`: the soak, the `soak` example of the `tether` crate
//! (`crates/tether/examples/soak/`), in release mode; `--cycles 100` is also a step of
//! `cargo xtask ci`.

use std::path::Path;

use crate::run::{cargo, Step};

/// Cycles of the ci step (about a minute and a half on 2 cores, see docs/benchmarks.md).
pub(crate) const CI_CYCLES: &str = "100";

/// `cargo run --release -p tether --example soak --locked -- [args]`; `args` go to the soak
/// (`--cycles N`, `--parallel K`, `--sessions S --minutes M`, ...; `--help` lists them).
pub(crate) fn step(args: &[String]) -> Step {
    cargo(
        "soak",
        &[
            "run",
            "--release",
            "-p",
            "tether",
            "--example",
            "soak",
            "--locked",
            "--",
        ],
    )
    .args(args)
}

/// The ci step: the same soak with `--cycles 100`, built in the test profile the test step
/// already built the workspace with (a release build of the whole stack would take longer
/// than the soak itself).
pub(crate) fn ci_step() -> Step {
    cargo(
        "soak",
        &[
            "run",
            "--profile",
            "test",
            "-p",
            "tether",
            "--example",
            "soak",
            "--locked",
            "--",
            "--cycles",
            CI_CYCLES,
        ],
    )
}

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    step(args).run(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_soak_example_in_release_with_passthrough_args() {
        let shown = format!("{:?}", step(&["--cycles".into(), "10".into()]));
        assert!(
            shown.contains(
                r#""run", "--release", "-p", "tether", "--example", "soak", "--locked", "--", "--cycles", "10""#
            ),
            "{shown}"
        );
    }

    #[test]
    fn the_ci_step_runs_100_cycles() {
        let shown = format!("{:?}", ci_step());
        assert!(
            shown.contains(r#""--example", "soak", "--locked", "--", "--cycles", "100""#),
            "{shown}"
        );
    }
}
