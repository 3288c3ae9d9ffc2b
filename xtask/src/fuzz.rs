//! `cargo xtask fuzz [target] [--seconds N] [--stable] [-- args]`.
//!
//! With cargo-fuzz and a nightly toolchain installed this runs libFuzzer
//! (`cargo +nightly fuzz run <target> --features libfuzzer`). Otherwise (the usual case on a
//! stable-only machine) it runs the stable driver `fuzz/src/bin/stable_fuzz.rs` in release mode:
//! seed corpus, random mutations, a time bound, crashes saved to `fuzz/artifacts/<target>/`.

use std::path::Path;

use crate::run::{cargo, command, succeeds};

/// The fuzz targets, as named in `fuzz/fuzz_targets/` and `fuzz/corpus/`.
pub(crate) const TARGETS: &[&str] = &["sdp", "signal", "candidate"];
const DEFAULT_SECONDS: u64 = 30;

#[derive(Debug, PartialEq, Eq)]
struct Options {
    targets: Vec<String>,
    seconds: u64,
    force_stable: bool,
    passthrough: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        targets: Vec::new(),
        seconds: DEFAULT_SECONDS,
        force_stable: false,
        passthrough: Vec::new(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = iter.next().ok_or("--seconds needs a value")?;
                options.seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {value}"))?;
            }
            "--stable" => options.force_stable = true,
            "--" => {
                options.passthrough = iter.by_ref().cloned().collect();
            }
            target if TARGETS.contains(&target) => options.targets.push(target.to_owned()),
            other => {
                return Err(format!(
                    "unknown fuzz argument `{other}` (targets: {})",
                    TARGETS.join(", ")
                ))
            }
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    Ok(options)
}

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let seconds = options.seconds.to_string();
    let libfuzzer = !options.force_stable
        && succeeds("cargo", &["fuzz", "--version"])
        && succeeds("cargo", &["+nightly", "--version"]);
    if libfuzzer {
        println!("fuzz: cargo-fuzz and nightly found; running libFuzzer");
        let max_time = format!("-max_total_time={seconds}");
        for target in &options.targets {
            command(
                "cargo fuzz",
                "cargo",
                &[
                    "+nightly",
                    "fuzz",
                    "run",
                    "--features",
                    "libfuzzer",
                    target,
                    "--",
                ],
            )
            .args(std::slice::from_ref(&max_time))
            .args(&options.passthrough)
            .run(root)?;
        }
        return Ok(());
    }
    println!(
        "fuzz: running the stable driver (cargo-fuzz with a nightly toolchain not found{})",
        if options.force_stable {
            " or --stable given"
        } else {
            ""
        }
    );
    let manifest = root.join("fuzz/Cargo.toml");
    let manifest = manifest.to_string_lossy();
    cargo(
        "stable_fuzz",
        &[
            "run",
            "--release",
            "--manifest-path",
            &manifest,
            "--bin",
            "stable_fuzz",
            "--",
            "--seconds",
            &seconds,
        ],
    )
    .args(&options.targets)
    .args(&options.passthrough)
    .run(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_to_every_target_for_30_seconds() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.targets, args(TARGETS));
        assert_eq!(options.seconds, 30);
        assert!(!options.force_stable);
    }

    #[test]
    fn target_seconds_and_passthrough() {
        let options = parse(&args(&["sdp", "--seconds", "5", "--", "--seed", "7"])).unwrap();
        assert_eq!(options.targets, args(&["sdp"]));
        assert_eq!(options.seconds, 5);
        assert_eq!(options.passthrough, args(&["--seed", "7"]));
        assert!(parse(&args(&["nope"])).is_err());
        assert!(parse(&args(&["--seconds"])).is_err());
    }
}
