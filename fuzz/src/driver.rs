//! A time-bounded mutation fuzzer that runs on stable Rust.
//!
//! For each target: load the seeds from `fuzz/corpus/<target>/`, run each once, then until the
//! time is up pick a seed, mutate it (see `mutate.rs`) and run the target on it. A panic is caught
//! with [`std::panic::catch_unwind`]; the input is saved as `fuzz/artifacts/<target>/crash-<hash>`
//! and the process exits non-zero. An input that runs longer than `--timeout` seconds is saved as
//! `timeout-<hash>` by a watchdog thread. No coverage feedback: this finds the shallow bugs
//! quickly and reproducibly (`--seed`); use libFuzzer (cargo-fuzz, nightly) to dig deeper.
//!
//! ```text
//! stable_fuzz [TARGET...] [--seconds N] [--seed S] [--max-len L] [--timeout T] [--replay PATH...]
//! ```

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::mutate::{mutate, Rng};
use crate::{Target, TARGETS};

/// Options of one driver run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Targets to fuzz, in order (all of them when none is named).
    pub targets: Vec<String>,
    /// Fuzzing time per target.
    pub seconds: u64,
    /// PRNG seed (printed, so a run can be repeated).
    pub seed: u64,
    /// Largest input tried.
    pub max_len: usize,
    /// An input running longer than this is reported as a hang.
    pub timeout_secs: u64,
    /// Instead of fuzzing, run the target once on each of these files (or directories).
    pub replay: Vec<PathBuf>,
}

const USAGE: &str = "usage: stable_fuzz [TARGET...] [--seconds N] [--seed S] [--max-len L] \
                     [--timeout T] [--replay PATH...]";

impl Options {
    /// Parses command-line arguments; `fixed` targets (from a per-target binary) come first.
    pub fn parse(fixed: &[&str], args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            targets: fixed.iter().map(|t| (*t).to_owned()).collect(),
            seconds: 30,
            seed: default_seed(),
            max_len: 4096,
            timeout_secs: 10,
            replay: Vec::new(),
        };
        let mut iter = args.iter();
        let mut replaying = false;
        while let Some(arg) = iter.next() {
            let mut value = |name: &str| {
                iter.next()
                    .ok_or_else(|| format!("{name} needs a value"))
                    .and_then(|v| {
                        v.parse::<u64>()
                            .map_err(|_| format!("{name}: bad number {v}"))
                    })
            };
            match arg.as_str() {
                "--seconds" => options.seconds = value("--seconds")?,
                "--seed" => options.seed = value("--seed")?,
                "--max-len" => options.max_len = value("--max-len")? as usize,
                "--timeout" => options.timeout_secs = value("--timeout")?.max(1),
                "--replay" => replaying = true,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                name if find_target(name).is_some() && !replaying => {
                    options.targets.push(name.to_owned());
                }
                path if replaying => options.replay.push(PathBuf::from(path)),
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        if replaying && options.replay.is_empty() {
            return Err("--replay needs at least one path".to_owned());
        }
        if options.targets.is_empty() {
            options.targets = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
        }
        Ok(options)
    }
}

fn default_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

fn find_target(name: &str) -> Option<Target> {
    TARGETS.iter().copied().find(|(n, _)| *n == name)
}

/// The fuzz crate's directory (holds `corpus/` and `artifacts/`).
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Entry point of `stable_fuzz` and of the per-target binaries built without `libfuzzer`.
pub fn main_with(fixed: &[&str]) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(fixed, &args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    install_quiet_panic_hook();
    let result = if options.replay.is_empty() {
        fuzz_all(&options)
    } else {
        replay(&options)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Panics are expected (that is what we look for): record the message instead of printing a
/// report for each one.
fn install_quiet_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string panic payload>".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("panicked at {location}: {message}"));
        }
    }));
}

/// Runs `target` on `input`; `Err` holds the panic message.
fn execute(target: fn(&[u8]), input: &[u8]) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(|| target(input))).map_err(|_| {
        LAST_PANIC
            .lock()
            .ok()
            .and_then(|mut last| last.take())
            .unwrap_or_else(|| "panicked".to_owned())
    })
}

fn fuzz_all(options: &Options) -> Result<(), String> {
    println!(
        "stable_fuzz: seed {} | {}s per target | max-len {} | targets: {}",
        options.seed,
        options.seconds,
        options.max_len,
        options.targets.join(", ")
    );
    for (index, name) in options.targets.iter().enumerate() {
        let (name, target) = find_target(name).ok_or_else(|| format!("unknown target {name}"))?;
        // Different, reproducible streams per target.
        let seed = options.seed.wrapping_add(index as u64);
        fuzz_one(name, target, seed, options)?;
    }
    Ok(())
}

/// Shared with the watchdog: the input being run and a counter bumped after each execution.
struct Current {
    input: Mutex<Vec<u8>>,
    execs: AtomicU64,
}

fn fuzz_one(name: &str, target: fn(&[u8]), seed: u64, options: &Options) -> Result<(), String> {
    let corpus_dir = fuzz_dir().join("corpus").join(name);
    let corpus = load_corpus(&corpus_dir)?;
    let artifacts = fuzz_dir().join("artifacts").join(name);
    println!(
        "[{name}] {} seed input(s) from {}",
        corpus.len(),
        corpus_dir.display()
    );

    let current = Arc::new(Current {
        input: Mutex::new(Vec::new()),
        execs: AtomicU64::new(0),
    });
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = spawn_watchdog(
        name.to_owned(),
        Arc::clone(&current),
        Arc::clone(&done),
        artifacts.clone(),
        Duration::from_secs(options.timeout_secs),
    );

    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let mut next_report = started + Duration::from_secs(5);
    let mut execs: u64 = 0;
    let mut input = Vec::with_capacity(options.max_len);
    let outcome = loop {
        // Seeds as they are first, then mutants.
        input.clear();
        let as_is = (execs as usize) < corpus.len();
        if as_is {
            input.extend_from_slice(&corpus[execs as usize]);
        } else if !corpus.is_empty() {
            input.extend_from_slice(&corpus[rng.below(corpus.len())]);
        }
        if !as_is {
            mutate(&mut input, &corpus, &mut rng, options.max_len);
        }
        if let Ok(mut slot) = current.input.lock() {
            slot.clear();
            slot.extend_from_slice(&input);
        }
        let result = execute(target, &input);
        execs += 1;
        current.execs.store(execs, Ordering::Relaxed);
        if let Err(message) = result {
            break Err(report_crash(name, &artifacts, &input, &message));
        }
        if execs.is_multiple_of(64) {
            let now = Instant::now();
            if now >= deadline {
                break Ok(());
            }
            if now >= next_report {
                let secs = now.duration_since(started).as_secs_f64();
                println!(
                    "[{name}] #{execs} {:.0} execs/s ({secs:.0}s)",
                    execs as f64 / secs
                );
                next_report = now + Duration::from_secs(5);
            }
        }
    };
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    let secs = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            println!(
                "[{name}] done: {execs} execs in {secs:.1}s ({:.0} execs/s), no crash",
                execs as f64 / secs.max(1e-9)
            );
            Ok(())
        }
        Err(report) => Err(report),
    }
}

fn spawn_watchdog(
    name: String,
    current: Arc<Current>,
    done: Arc<std::sync::atomic::AtomicBool>,
    artifacts: PathBuf,
    timeout: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = current.execs.load(Ordering::Relaxed);
        let mut since = Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            let now_execs = current.execs.load(Ordering::Relaxed);
            if now_execs != last {
                last = now_execs;
                since = Instant::now();
            } else if since.elapsed() >= timeout {
                let input = current.input.lock().map(|i| i.clone()).unwrap_or_default();
                let path = save_artifact(&artifacts, "timeout", &input);
                eprintln!(
                    "[{name}] TIMEOUT: one input ran for more than {}s\n  input: {}\n  saved: {}",
                    timeout.as_secs(),
                    preview(&input),
                    path
                );
                std::process::exit(1);
            }
        }
    })
}

fn report_crash(name: &str, artifacts: &Path, input: &[u8], message: &str) -> String {
    let path = save_artifact(artifacts, "crash", input);
    format!(
        "[{name}] CRASH: {message}\n  input ({} bytes): {}\n  saved: {path}\n  \
         reproduce: cargo run --release --manifest-path fuzz/Cargo.toml --bin stable_fuzz -- \
         {name} --replay {path}",
        input.len(),
        preview(input)
    )
}

/// Writes `<kind>-<hash>` under `dir`; returns its path (or why it could not be written).
fn save_artifact(dir: &Path, kind: &str, input: &[u8]) -> String {
    let path = dir.join(format!("{kind}-{:016x}", fnv1a(input)));
    match fs::create_dir_all(dir).and_then(|()| fs::write(&path, input)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("<could not write {}: {e}>", path.display()),
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The first 300 bytes, escaped.
fn preview(input: &[u8]) -> String {
    let shown: String = input
        .iter()
        .take(300)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if input.len() > 300 {
        format!("\"{shown}\"...")
    } else {
        format!("\"{shown}\"")
    }
}

/// Every file directly in `dir` (sorted, so runs are reproducible); empty if `dir` is missing.
fn load_corpus(dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| fs::read(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect()
}

fn replay(options: &Options) -> Result<(), String> {
    let mut failures = 0;
    for name in &options.targets {
        let (name, target) = find_target(name).ok_or_else(|| format!("unknown target {name}"))?;
        for path in &options.replay {
            let files: Vec<PathBuf> = if path.is_dir() {
                let mut files: Vec<PathBuf> = fs::read_dir(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                files
            } else {
                vec![path.clone()]
            };
            for file in files {
                let input = fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                match execute(target, &input) {
                    Ok(()) => println!("[{name}] ok    {}", file.display()),
                    Err(message) => {
                        failures += 1;
                        println!("[{name}] CRASH {}: {message}", file.display());
                    }
                }
            }
        }
    }
    if failures > 0 {
        Err(format!("{failures} input(s) crashed"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_targets_and_options() {
        let options =
            Options::parse(&[], &args(&["sdp", "--seconds", "3", "--seed", "9"])).unwrap();
        assert_eq!(options.targets, vec!["sdp"]);
        assert_eq!((options.seconds, options.seed), (3, 9));
        let all = Options::parse(&[], &[]).unwrap();
        assert_eq!(all.targets.len(), TARGETS.len());
        let fixed = Options::parse(&["candidate"], &args(&["--replay", "a", "b"])).unwrap();
        assert_eq!(fixed.targets, vec!["candidate"]);
        assert_eq!(fixed.replay, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert!(Options::parse(&[], &args(&["nope"])).is_err());
        assert!(Options::parse(&[], &args(&["--replay"])).is_err());
    }

    #[test]
    fn a_panicking_target_is_caught_with_its_message() {
        install_quiet_panic_hook();
        fn boom(data: &[u8]) {
            assert!(data.len() < 3, "too long: {}", data.len());
        }
        assert_eq!(execute(boom, b"ab"), Ok(()));
        let err = execute(boom, b"abcd").unwrap_err();
        assert!(err.contains("too long: 4"), "{err}");
    }

    #[test]
    fn a_crash_is_saved_with_a_replay_command() {
        let dir = std::env::temp_dir().join(format!("tether-fuzz-test-{}", std::process::id()));
        let report = report_crash("sdp", &dir, b"v=0\r\n\xff", "panicked at x.rs:1:1: boom");
        let path = dir.join(format!("crash-{:016x}", fnv1a(b"v=0\r\n\xff")));
        assert_eq!(fs::read(&path).unwrap(), b"v=0\r\n\xff");
        assert!(
            report.contains("boom") && report.contains("\"v=0\\r\\n\\xff\""),
            "{report}"
        );
        assert!(
            report.contains(&format!("sdp --replay {}", path.display())),
            "{report}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// Every seed in the corpus is handled without a panic (a regression suite for free).
    #[test]
    fn seed_corpora_do_not_panic() {
        install_quiet_panic_hook();
        for (name, target) in TARGETS {
            let corpus = load_corpus(&fuzz_dir().join("corpus").join(name)).unwrap();
            assert!(!corpus.is_empty(), "no seeds for {name}");
            for input in &corpus {
                if let Err(message) = execute(*target, input) {
                    panic!("[{name}] {}: {message}", preview(input));
                }
            }
        }
    }
}
