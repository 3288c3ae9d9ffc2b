//! `cargo xtask fuzz [TARGET...] [--seconds N] [-- libFuzzer args]`: libFuzzer via cargo-fuzz.
//! `cargo xtask fuzz --smoke`: the CI step (every target 20 s, then the stable replay).
//!
//! Installs what is missing (a nightly toolchain with rustup, cargo-fuzz with
//! `cargo install --locked`), builds the targets once, then runs each for N seconds on
//! `fuzz/corpus/<target>/` (grows, not committed) plus the committed `fuzz/seeds/<target>/`,
//! with `fuzz/dicts/<target>.dict` when there is one. Prints execs, coverage (`cov`: edges,
//! `ft`: features) and corpus size per target. A crash, timeout or out-of-memory input is
//! minimised (`cargo fuzz tmin`) and saved to `fuzz/regressions/<target>/`, where the stable
//! test `fuzz/tests/replay.rs` replays it from then on; the run then fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::run::{cargo, command, succeeds};

/// The targets, as named in `fuzz/fuzz_targets/` (and `fuzz/src/lib.rs`'s `TARGETS`).
pub(crate) const TARGETS: &[&str] = &[
    "sdp",
    "candidate",
    "signal",
    "session",
    "ws_client_frame",
    "ws_server_frame",
    "depacketize",
    "rtcp",
    "jitter",
    "ivf",
    "ogg",
    "annexb",
    "demux",
    "dcep",
    "sctp_plane",
];
const DEFAULT_SECONDS: u64 = 30;
/// Seconds per target of the CI smoke run (15 targets: about 5 minutes).
pub(crate) const SMOKE_SECONDS: u64 = 20;

/// Every cargo-fuzz build and run uses these: no sanitizer (our crates forbid `unsafe`, and
/// without ASan the targets run about twice as fast), debug assertions on, our feature.
const FUZZ_FLAGS: &[&str] = &["--sanitizer", "none", "--debug-assertions"];

#[derive(Debug, PartialEq, Eq)]
struct Options {
    targets: Vec<String>,
    seconds: u64,
    /// `--smoke`: exactly what the CI step runs.
    smoke: bool,
    passthrough: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        targets: Vec::new(),
        seconds: DEFAULT_SECONDS,
        smoke: false,
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
            "--smoke" => options.smoke = true,
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

/// What one libFuzzer run reported.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Stats {
    execs: u64,
    execs_per_sec: u64,
    cov: u64,
    ft: u64,
    /// Inputs in the corpus libFuzzer kept (its `corp:` count).
    corpus: u64,
    peak_rss_mb: u64,
}

impl Stats {
    /// Reads one line of libFuzzer's output: status lines (`#123 pulse cov: 10 ft: 20 corp:
    /// 5/1Kb ...`) and `-print_final_stats=1` lines (`stat::number_of_executed_units: 123`).
    fn add_line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("stat::") {
            let mut parts = rest.split(':').map(str::trim);
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                return;
            };
            let Ok(value) = value.parse::<u64>() else {
                return;
            };
            match key {
                "number_of_executed_units" => self.execs = value,
                "average_exec_per_sec" => self.execs_per_sec = value,
                "peak_rss_mb" => self.peak_rss_mb = value,
                _ => {}
            }
            return;
        }
        if !line.starts_with('#') {
            return;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let number = |s: &str| s.split('/').next().and_then(|n| n.parse::<u64>().ok());
            match pair[0] {
                "cov:" => self.cov = number(pair[1]).unwrap_or(self.cov),
                "ft:" => self.ft = number(pair[1]).unwrap_or(self.ft),
                "corp:" => self.corpus = number(pair[1]).unwrap_or(self.corpus),
                _ => {}
            }
        }
    }
}

/// One target's outcome, for the summary.
#[derive(Debug)]
struct Outcome {
    target: String,
    seconds: f64,
    stats: Stats,
    saved: Vec<PathBuf>,
    failed: Option<String>,
}

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    if options.smoke {
        return smoke(root);
    }
    fuzz(
        root,
        &options.targets,
        options.seconds,
        &options.passthrough,
    )
}

/// Targets left out of the CI smoke while a finding of theirs is open (they still run with
/// `cargo xtask fuzz <target>`, and their seeds and saved crashes still replay). None today.
const SMOKE_SKIP: &[&str] = &[];

/// libFuzzer's seed in the CI smoke.
const SMOKE_SEED: &str = "-seed=1";

/// The CI smoke: every target for [`SMOKE_SECONDS`], then the stable replay of seeds and saved
/// crashes.
pub(crate) fn smoke(root: &Path) -> Result<(), String> {
    let targets: Vec<String> = TARGETS
        .iter()
        .filter(|t| !SMOKE_SKIP.contains(t))
        .map(|t| (*t).to_owned())
        .collect();
    // A fixed seed: from a clean checkout (seeds only) every CI run tries the same inputs in
    // the same order, so a red smoke is a finding that reproduces, not a roll of the dice.
    fuzz(root, &targets, SMOKE_SECONDS, &[SMOKE_SEED.to_owned()])?;
    replay(root)
}

/// The stable test that replays every seed and saved crash (`fuzz/tests/replay.rs`).
pub(crate) fn replay(root: &Path) -> Result<(), String> {
    let manifest = root.join("fuzz/Cargo.toml");
    cargo(
        "fuzz replay",
        &[
            "test",
            "--manifest-path",
            &manifest.to_string_lossy(),
            "--locked",
            "--test",
            "replay",
        ],
    )
    .run_tests(root)
}

fn fuzz(root: &Path, targets: &[String], seconds: u64, extra: &[String]) -> Result<(), String> {
    ensure_tools(root)?;
    // One build for every target asked for (they share all dependencies).
    let mut build = vec!["+nightly", "fuzz", "build"];
    build.extend_from_slice(FUZZ_FLAGS);
    build.extend_from_slice(&["--features", "libfuzzer"]);
    if targets.len() == 1 {
        build.push(&targets[0]);
    }
    nightly_cargo("cargo fuzz build", &build).run(root)?;
    let mut outcomes = Vec::new();
    for target in targets {
        outcomes.push(run_target(root, target, seconds, extra)?);
    }
    print_summary(&outcomes);
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.failed.as_ref().map(|f| format!("{}: {f}", o.target)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} target(s) failed:\n  {}\nminimised inputs are in fuzz/regressions/<target>/ \
             (replay on stable: cargo test --manifest-path fuzz/Cargo.toml --test replay)",
            failed.len(),
            failed.join("\n  ")
        ))
    }
}

/// Installs a nightly toolchain and cargo-fuzz when missing.
fn ensure_tools(root: &Path) -> Result<(), String> {
    if !succeeds("cargo", &["+nightly", "--version"]) {
        println!("fuzz: no nightly toolchain; installing one with rustup");
        command(
            "rustup",
            "rustup",
            &["toolchain", "install", "nightly", "--profile", "minimal"],
        )
        .run(root)?;
    }
    if !succeeds("cargo", &["+nightly", "fuzz", "--version"]) {
        println!("fuzz: cargo-fuzz not installed; installing it from crates.io");
        cargo("cargo install", &["install", "--locked", "cargo-fuzz"]).run(root)?;
    }
    Ok(())
}

/// `cargo +nightly ...` through rustup's proxy, without the variables of xtask's own cargo
/// (and without `CARGO_TARGET_DIR`: cargo-fuzz keeps its build in `fuzz/target/`).
fn nightly_cargo(label: &str, args: &[&str]) -> crate::run::Step {
    command(label, "cargo", args)
        .without("CARGO_MANIFEST_DIR")
        .without("CARGO_MANIFEST_PATH")
        .without("CARGO_TARGET_DIR")
        .without("RUSTUP_TOOLCHAIN")
}

fn run_target(
    root: &Path,
    target: &str,
    seconds: u64,
    extra: &[String],
) -> Result<Outcome, String> {
    let fuzz = root.join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let seeds = fuzz.join("seeds").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
    let before = list(&artifacts);
    let mut args: Vec<String> = ["+nightly", "fuzz", "run"]
        .iter()
        .chain(FUZZ_FLAGS)
        .chain(&["--features", "libfuzzer"])
        .map(|s| (*s).to_owned())
        .collect();
    args.push(target.to_owned());
    args.push(corpus.to_string_lossy().into_owned());
    args.push(seeds.to_string_lossy().into_owned());
    args.push("--".to_owned());
    args.push(format!("-max_total_time={seconds}"));
    args.push("-print_final_stats=1".to_owned());
    // An input that runs longer than this is a hang (libFuzzer's default is 20 minutes).
    args.push("-timeout=10".to_owned());
    args.push("-rss_limit_mb=2048".to_owned());
    let dict = fuzz.join("dicts").join(format!("{target}.dict"));
    if dict.is_file() {
        args.push(format!("-dict={}", dict.display()));
    }
    args.extend(extra.iter().cloned());
    println!("\n==> fuzz {target} for {seconds}s");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let (stats, status) = run_libfuzzer(root, &nightly_cargo("cargo fuzz run", &refs))?;
    let elapsed = started.elapsed().as_secs_f64();
    let found: Vec<PathBuf> = list(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let mut outcome = Outcome {
        target: target.to_owned(),
        seconds: elapsed,
        stats,
        saved: Vec::new(),
        failed: None,
    };
    if status.is_some() || !found.is_empty() {
        for artifact in &found {
            outcome.saved.push(save_regression(root, target, artifact)?);
        }
        outcome.failed = Some(match status {
            Some(s) => format!("libFuzzer exited with {s}; {} input(s) saved", found.len()),
            None => format!("{} new artifact(s)", found.len()),
        });
    }
    Ok(outcome)
}

/// Runs cargo-fuzz, echoing libFuzzer's output without its per-input `NEW`/`REDUCE` lines,
/// and collects the statistics. Returns the exit status when it was not a success.
fn run_libfuzzer(root: &Path, step: &crate::run::Step) -> Result<(Stats, Option<String>), String> {
    let mut cmd: Command = step.to_command(root);
    println!("$ {}", step.shown());
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start cargo fuzz: {e}"))?;
    let mut stats = Stats::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line);
            stats.add_line(&line);
            // Per-input lines and the recommended dictionary are too many for a CI log.
            let event = line.split_whitespace().nth(1).unwrap_or("");
            let noisy = (line.starts_with('#') && matches!(event, "NEW" | "REDUCE" | "RELOAD"))
                || line.contains("# Uses: ");
            if !noisy {
                eprintln!("{line}");
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo fuzz: {e}"))?;
    Ok((stats, (!status.success()).then(|| status.to_string())))
}

/// Minimises an artifact with `cargo fuzz tmin` and copies the result (or, when minimising
/// fails, the artifact itself) to `fuzz/regressions/<target>/`.
fn save_regression(root: &Path, target: &str, artifact: &Path) -> Result<PathBuf, String> {
    let name = artifact
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".to_owned());
    let artifacts = artifact.parent().unwrap_or(root);
    let before = list(artifacts);
    // A timeout takes the whole timeout to reproduce: minimising one would take hours, and
    // replaying it would stall the stable suite. It goes to fuzz/open/ until it is fixed.
    if name.starts_with("timeout-") || name.starts_with("slow-unit-") {
        let dir = root.join("fuzz/open").join(target);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dest = dir.join(&name);
        std::fs::copy(artifact, &dest).map_err(|e| format!("saving {}: {e}", dest.display()))?;
        println!("fuzz: saved {} (a timeout: not minimised)", dest.display());
        return Ok(dest);
    }
    let mut args: Vec<&str> = vec!["+nightly", "fuzz", "tmin"];
    args.extend_from_slice(FUZZ_FLAGS);
    args.extend_from_slice(&["--features", "libfuzzer", "--runs", "2000", target]);
    let path = artifact.to_string_lossy();
    args.push(&path);
    let minimised = match nightly_cargo("cargo fuzz tmin", &args).run(root) {
        Ok(()) => list(artifacts)
            .into_iter()
            .filter(|p| !before.contains(p))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("minimized"))
            })
            .min_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(u64::MAX)),
        Err(e) => {
            println!("fuzz: minimising {name} failed ({e}); saving it as it is");
            None
        }
    };
    let dir = root.join("fuzz/regressions").join(target);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dest = dir.join(&name);
    std::fs::copy(minimised.as_deref().unwrap_or(artifact), &dest)
        .map_err(|e| format!("saving {}: {e}", dest.display()))?;
    println!("fuzz: saved {}", dest.display());
    Ok(dest)
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn print_summary(outcomes: &[Outcome]) {
    println!("\nfuzz summary (libFuzzer, -s none):");
    println!(
        "  {:<16} {:>7} {:>13} {:>9} {:>7} {:>7} {:>7} {:>7}  result",
        "target", "seconds", "execs", "execs/s", "cov", "ft", "corpus", "rss MB"
    );
    for o in outcomes {
        let s = &o.stats;
        println!(
            "  {:<16} {:>7.0} {:>13} {:>9} {:>7} {:>7} {:>7} {:>7}  {}",
            o.target,
            o.seconds,
            s.execs,
            s.execs_per_sec,
            s.cov,
            s.ft,
            s.corpus,
            s.peak_rss_mb,
            match &o.failed {
                None => "ok".to_owned(),
                Some(f) => format!("FAILED: {f}"),
            }
        );
        for p in &o.saved {
            println!("  {:<16} saved {}", "", p.display());
        }
    }
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
    }

    #[test]
    fn target_seconds_and_passthrough() {
        let options = parse(&args(&["sdp", "jitter", "--seconds", "5", "--", "-seed=7"])).unwrap();
        assert_eq!(options.targets, args(&["sdp", "jitter"]));
        assert_eq!(options.seconds, 5);
        assert_eq!(options.passthrough, args(&["-seed=7"]));
        assert!(parse(&args(&["nope"])).is_err());
        assert!(parse(&args(&["--seconds"])).is_err());
    }

    #[test]
    fn every_target_has_a_shim() {
        let root = crate::workspace_root();
        for t in TARGETS {
            assert!(
                root.join("fuzz/fuzz_targets")
                    .join(format!("{t}.rs"))
                    .is_file(),
                "{t}"
            );
        }
    }

    #[test]
    fn libfuzzer_output_is_read() {
        let mut stats = Stats::default();
        for line in [
            "INFO: Seed: 1234",
            "#2\tINITED cov: 120 ft: 130 corp: 4/1024b exec/s: 0 rss: 40Mb",
            "#4096\tpulse  cov: 311 ft: 702 corp: 57/9Kb lim: 43 exec/s: 2048 rss: 41Mb",
            "#90000\tDONE   cov: 325 ft: 740 corp: 61/10Kb lim: 80 exec/s: 3000 rss: 42Mb",
            "stat::number_of_executed_units: 90000",
            "stat::average_exec_per_sec:     3000",
            "stat::peak_rss_mb:              42",
        ] {
            stats.add_line(line);
        }
        assert_eq!(
            stats,
            Stats {
                execs: 90_000,
                execs_per_sec: 3000,
                cov: 325,
                ft: 740,
                corpus: 61,
                peak_rss_mb: 42,
            }
        );
    }
}
