//! The data channel benchmarks of every stack (`benches/compare`, its own cargo workspace,
//! one process per run), the scale test of ours and the signaling load test.

use std::path::{Path, PathBuf};

use super::{Record, Results, Status, STACKS};
use crate::run::{cargo, command};

const COMPARE_MANIFEST: &str = "benches/compare/Cargo.toml";
/// Percent of the transfer after which the restart test restarts ICE.
const RESTART_AT_PERCENT: u64 = 30;

/// Parses a `RESULT key=value ...` line.
pub(crate) fn parse_result(line: &str) -> Option<Record> {
    let rest = line.trim().strip_prefix("RESULT")?;
    let record: Record = rest
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (!record.is_empty()).then_some(record)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Builds `benches/compare` in release mode (into the main target directory, so shared
/// dependencies are built once) and returns the binary.
fn build(root: &Path) -> Result<PathBuf, String> {
    let target = target_dir(root);
    let target_arg = target.display().to_string();
    cargo(
        "compare",
        &[
            "build",
            "--release",
            "--locked",
            "--manifest-path",
            COMPARE_MANIFEST,
            "--target-dir",
            &target_arg,
        ],
    )
    .run(root)?;
    Ok(target.join("release/tether-compare"))
}

/// One run of the compare binary; its `RESULT` record.
fn run_once(root: &Path, binary: &Path, args: &[String]) -> Result<Record, String> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = command("compare", &binary.display().to_string(), &refs).run_capture(root, true)?;
    out.lines()
        .find_map(parse_result)
        .ok_or_else(|| "no RESULT line".to_owned())
}

/// `runs` runs of `args` + `stack` for every stack.
fn per_stack(
    root: &Path,
    binary: &Path,
    runs: usize,
    args: &[String],
) -> Vec<(String, Vec<Record>, Vec<String>)> {
    let mut out = Vec::new();
    for stack in STACKS {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        for i in 0..runs {
            println!("-- {stack}, run {} of {runs}", i + 1);
            let mut full = vec!["dc".to_owned(), (*stack).to_owned()];
            full.extend(args.iter().cloned());
            match run_once(root, binary, &full) {
                Ok(r) => records.push(r),
                Err(e) => {
                    eprintln!("bench: {stack} run {} failed: {e}", i + 1);
                    errors.push(e);
                }
            }
        }
        out.push(((*stack).to_owned(), records, errors));
    }
    out
}

/// 4.-7. Data channel throughput and setup, ICE restart under load, scale.
pub(crate) fn run(root: &Path, results: &mut Results) {
    println!("\n==> bench: building benches/compare (the other stacks)");
    let binary = match build(root) {
        Ok(b) => b,
        Err(e) => {
            let failed = vec![(String::from("all"), Vec::new(), vec![e.clone()])];
            results.dc = failed.clone();
            results.restart = failed;
            results.scale_errors.push(e);
            return;
        }
    };
    let o = results.options.clone();
    let mib = ["--mib".to_owned(), o.mib.to_string()];
    if o.wants("dc") {
        println!(
            "\n==> bench: data channel throughput and setup ({} MiB, 32 KiB messages)",
            o.mib
        );
        results.dc = per_stack(root, &binary, o.runs, &mib);
    }
    if o.wants("restart") {
        println!("\n==> bench: ICE restart under load");
        let mut args = mib.to_vec();
        args.extend([
            "--restart-at-percent".to_owned(),
            RESTART_AT_PERCENT.to_string(),
        ]);
        results.restart = per_stack(root, &binary, o.restart_runs, &args);
    }
    if o.wants("scale") {
        for pairs in &o.scale_pairs {
            println!(
                "\n==> bench: scale, {pairs} pairs for {} s",
                o.scale_seconds
            );
            let args = vec![
                "scale".to_owned(),
                pairs.to_string(),
                o.scale_seconds.to_string(),
            ];
            match run_once(root, &binary, &args) {
                Ok(r) => results.scale.push(r),
                Err(e) => results.scale_errors.push(format!("{pairs} pairs: {e}")),
            }
        }
    }
}

/// The numbers of the signaling load test's summary lines.
pub(crate) fn parse_load(output: &str) -> Option<Record> {
    let mut r = Record::new();
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("load:") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let after = |w: &str| {
            words
                .iter()
                .position(|x| x.trim_end_matches(',') == w)
                .and_then(|i| words.get(i + 1))
                .map(|v| v.trim_end_matches(',').to_owned())
        };
        if rest.contains("relay latency") {
            r.insert("p50_us".into(), after("p50")?);
            r.insert("p99_us".into(), after("p99")?);
            r.insert("max_us".into(), after("max")?);
        } else if rest.contains("clients (") {
            r.insert("clients".into(), words.first()?.to_string());
        } else if rest.contains("connect+join") {
            r.insert("connect_s".into(), after("all:")?);
        } else if rest.contains("signals in") {
            r.insert("signals".into(), after("relayed")?);
            r.insert("msg_s".into(), after("=")?);
        } else if rest.contains("server RSS") {
            r.insert("rss_joined_kib".into(), after("joined")?);
            r.insert("rss_peak_kib".into(), after("(peak")?);
        }
    }
    r.contains_key("p50_us").then_some(r)
}

/// 8. Signaling relay latency (the `cargo xtask load` test with this run's size).
pub(crate) fn load(root: &Path, results: &mut Results) {
    let o = &results.options;
    println!(
        "\n==> bench: signaling load, {} clients, {} rounds",
        o.load_clients, o.load_rounds
    );
    let step = crate::load::step(&[])
        .env("TETHER_SIGNALING_LOAD_CLIENTS", &o.load_clients.to_string())
        .env("TETHER_SIGNALING_LOAD_ROUNDS", &o.load_rounds.to_string());
    match step.run_capture(root, false) {
        Ok(out) => match parse_load(&out) {
            Some(r) => {
                results.load = Some(r);
                results.load_status = Status::Done;
            }
            None => results.load_status = Status::Failed("no `load:` summary in the output".into()),
        },
        Err(e) => results.load_status = Status::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_lines() {
        let r = parse_result("RESULT test=dc stack=ours mib_s=12.5 setup_ms=3.2").unwrap();
        assert_eq!(r["stack"], "ours");
        assert_eq!(r["mib_s"], "12.5");
        assert_eq!(parse_result("load: something"), None);
        assert_eq!(parse_result("RESULT"), None);
    }

    #[test]
    fn parses_the_load_summary() {
        let out = "load: 5000 clients (2500 pairs), 20 round trips per pair\n\
                   load: connect+join all: 3.21 s\n\
                   load: relayed 200000 signals in 12.00 s = 16667 msg/s\n\
                   load: relay latency p50 850 us, p99 4200 us, max 9000 us\n\
                   load: server RSS idle 5000 KiB, all joined 90000 KiB, after all left 60000 KiB (peak 95000 KiB)\n";
        let r = parse_load(out).unwrap();
        assert_eq!(r["p50_us"], "850");
        assert_eq!(r["p99_us"], "4200");
        assert_eq!(r["clients"], "5000");
        assert_eq!(r["connect_s"], "3.21");
        assert_eq!(r["msg_s"], "16667");
        assert_eq!(r["rss_peak_kib"], "95000");
        assert_eq!(parse_load("nothing"), None);
    }
}
