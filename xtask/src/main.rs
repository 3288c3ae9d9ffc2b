//! `cargo xtask`: the project's own automation, in plain Rust (no dependencies).
//!
//! `cargo xtask ci` runs exactly what CI runs; `.ci/run` only installs system packages and then
//! calls it. Run `cargo xtask help` for the list of commands.

#![forbid(unsafe_code)]

mod bench;
mod fuzz;
mod load;
mod openload;
mod run;
mod soak;
mod source;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use run::{cargo, Step};

const HELP: &str = "\
cargo xtask <command> [args]

Commands:
  ci                      what CI runs: fmt check, clippy -D warnings, tidy, docs, tests, a
                          100-cycle soak (in the test profile) and a fuzz smoke (every
                          target 20 s, then the stable crash replay)
                          (stops at the first failing step; prints the time of each step)
  test [args]             the test suite: cargo test --workspace --locked [args]
  tidy                    source checks: the sans-IO rules for session-core, [lints] in every
                          crate, file length (warn at 800 lines, fail over 1000)
  bench [--quick] [--only PARTS] [--runs N] [--nice N] [--redraw]
                          every benchmark (session-core and SRTP criterion benches next to
                          openssl speed, media, data channel throughput/setup/ICE restart of
                          ours vs webrtc-rs vs str0m vs rtc, scale, signaling load); writes
                          docs/benchmarks.md and docs/benchmarks.svg (--quick: a short smoke
                          run written to target/benchmarks-quick.*). PARTS: comma-separated
                          session,srtp,media,dc,restart,scale,load,openload,faults (faults:
                          network faults in namespaces, root only). Every run's record
                          goes to docs/benchmarks.raw.txt; --redraw rebuilds the page and
                          chart from it without measuring
  fuzz [TARGET...] [--seconds N] [--smoke] [-- libFuzzer args]
                          libFuzzer (cargo-fuzz, nightly; both installed when missing) on one,
                          some or all targets (sdp, candidate, signal, session, ws_client_frame,
                          ws_server_frame, depacketize, rtcp, jitter, ivf, ogg, annexb), N
                          seconds each (default 30); prints execs, coverage and corpus size;
                          crashes are minimised into fuzz/regressions/<target>/ (replayed by
                          the stable test in fuzz/). --smoke: the ci step alone.
                          See docs/fuzzing.md
  load [args]             the signaling load test (5,000 clients, ignored by default):
                          cargo test -p tether-signaling-ws --release -- --ignored load
                          --nocapture [args]; size via TETHER_SIGNALING_LOAD_CLIENTS/_ROUNDS
  load --open [--quick] [--clients N] [--rates A,B,..] [--target-rate R] [--seconds S] [--runs N]
       [--backend memory|redis|both] [--runtime multi|current] [--nice N]
                          the open-loop load of the signaling server (default: 10,000
                          clients in pairs, 0.5,1,1.5,2,3,4 msg/s each until p99 > 50 ms at
                          or above the target's 1 msg/s, 20 s per step, 3 sweeps, one
                          process in memory and two on Redis; server
                          on core 0, generator on core 1); prints the section that
                          `cargo xtask bench --only openload` writes to docs/benchmarks.md
                          (--nice N: run every process under `nice -n N`)
  soak [--cycles N] [--parallel K] [--sessions S --minutes M] [args]
                          the soak (crates/tether/examples/soak, release): N open -> connect
                          -> data + media -> ICE restart -> close cycles of two peer
                          connections through the real signaling server (default 1,000),
                          fds, tokio tasks and RSS back at the baseline every 100; or S
                          sessions kept open M minutes with periodic ICE restarts and
                          signaling reconnects. `soak -- --help` lists every option
  help                    this text
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        print!("{HELP}");
        return ExitCode::FAILURE;
    };
    let rest: Vec<String> = args.collect();
    let root = workspace_root();
    let result = match command.as_str() {
        "ci" => ci(&root, &rest),
        "test" => test_step(&rest).run_tests(&root),
        "tidy" => tidy::run(&root),
        "bench" => bench::run(&root, &rest),
        "fuzz" => fuzz::run(&root, &rest),
        "load" if rest.iter().any(|a| a == "--open") => openload::run(&root, &rest),
        "load" => load::run(&root, &rest),
        "soak" => soak::run(
            &root,
            rest.strip_prefix(&["--".to_owned()]).unwrap_or(&rest),
        ),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`; run `cargo xtask help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {command}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// The test suite named in the README: `cargo test --workspace --locked`.
fn test_step(extra: &[String]) -> Step {
    cargo("test", &["test", "--workspace", "--locked"]).args(extra)
}

fn ci(root: &Path, rest: &[String]) -> Result<(), String> {
    if !rest.is_empty() {
        return Err(format!("`ci` takes no arguments (got {rest:?})"));
    }
    let started = Instant::now();
    let mut timings: Vec<(&str, f64)> = Vec::new();
    for name in CI_STEPS {
        println!("\n==> ci step `{name}`");
        let t = Instant::now();
        let outcome = ci_step(root, name);
        let secs = t.elapsed().as_secs_f64();
        timings.push((name, secs));
        match outcome {
            Ok(()) => println!("==> ci step `{name}` passed in {secs:.1}s"),
            Err(message) => {
                print_timings(&timings);
                return Err(format!(
                    "step `{name}` FAILED after {secs:.1}s: {message}\n\
                     (later steps were not run)"
                ));
            }
        }
    }
    print_timings(&timings);
    println!(
        "ci: all steps passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The steps of `cargo xtask ci`, in order.
///
/// `benches/compare` (the other WebRTC stacks, its own workspace) is not built here: it
/// compiles aws-lc and two more WebRTC stacks from source for minutes, and `cargo xtask bench`
/// builds it whenever the comparison runs.
const CI_STEPS: [&str; 7] = ["fmt", "clippy", "tidy", "doc", "test", "soak", "fuzz"];

fn ci_step(root: &Path, name: &str) -> Result<(), String> {
    let fuzz_manifest = root.join("fuzz/Cargo.toml");
    let fuzz_manifest = fuzz_manifest.to_string_lossy();
    match name {
        "fmt" => {
            cargo("fmt", &["fmt", "--all", "--", "--check"]).run(root)?;
            // fuzz/ is its own workspace.
            cargo(
                "fmt fuzz",
                &["fmt", "--manifest-path", &fuzz_manifest, "--", "--check"],
            )
            .run(root)
        }
        "clippy" => {
            clippy("clippy", &["--workspace"]).run(root)?;
            // What the workspace build never compiles: the crates' `fuzzing` features (the
            // entry points of the fuzz targets) with their tests.
            clippy(
                "clippy fuzzing features",
                &[
                    "-p",
                    "tether-session-core",
                    "-p",
                    "tether-signaling-ws",
                    "-p",
                    "tether-transport-tokio",
                    "--features",
                    "fuzzing",
                ],
            )
            .run(root)?;
            // The core as a user gets it: without the `sim` feature (the workspace build
            // enables it for tests and benches).
            cargo(
                "clippy session-core without sim",
                &[
                    "clippy",
                    "-p",
                    "tether-session-core",
                    "--lib",
                    "--locked",
                    "--",
                    "-D",
                    "warnings",
                ],
            )
            .run(root)?;
            // The fuzz crate, its libFuzzer shims included (libfuzzer-sys builds on stable).
            clippy(
                "clippy fuzz",
                &["--manifest-path", &fuzz_manifest, "--features", "libfuzzer"],
            )
            .run(root)
        }
        "tidy" => tidy::run(root),
        // Every crate's API docs build without a warning (broken intra-doc links above all).
        "doc" => cargo(
            "doc",
            &[
                "doc",
                "--workspace",
                "--no-deps",
                "--locked",
                "--keep-going",
            ],
        )
        .env("RUSTDOCFLAGS", "-D warnings")
        .run(root)
        .and_then(|()| {
            // session-core alone, without the `sim` feature the workspace turns on.
            cargo(
                "doc session-core without sim",
                &["doc", "-p", "tether-session-core", "--no-deps", "--locked"],
            )
            .env("RUSTDOCFLAGS", "-D warnings")
            .run(root)
        }),
        "test" => test_step(&[]).run_tests(root),
        "soak" => soak::ci_step().run(root),
        "fuzz" => fuzz::smoke(root),
        other => Err(format!("no ci step `{other}`")),
    }
}

/// `cargo clippy SELECTION --all-targets --locked -- -D warnings`.
fn clippy(label: &str, selection: &[&str]) -> Step {
    let mut args = vec!["clippy"];
    args.extend_from_slice(selection);
    args.extend_from_slice(&["--all-targets", "--locked", "--", "-D", "warnings"]);
    cargo(label, &args)
}

fn print_timings(timings: &[(&str, f64)]) {
    println!("\nci timings:");
    for (name, secs) in timings {
        println!("  {name:<8} {secs:>7.1}s");
    }
}
