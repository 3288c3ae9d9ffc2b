//! The `faults` part: recovery from real network faults between two network namespaces (the
//! `netns` tests of `tether-transport-tokio`, run several times), and its section of
//! `docs/benchmarks.md`.
//!
//! Each test prints a `RESULT fault=<case> key=value ...` line (times in ms); the section
//! gives, per case and measure, the median and range over the runs. Nothing here asserts a
//! time: the tests assert correctness (nothing lost, the right end state), this reports how
//! long it took.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::{field, parse_result, summary, Record, Results, Status};
use crate::run::cargo;

/// The test binary and its arguments (one test at a time: they share the machine's links).
const NETNS_TEST: &[&str] = &[
    "test",
    "-p",
    "tether-transport-tokio",
    "--test",
    "netns",
    "--locked",
    "--",
    // The fault cases (not the partial-restart test of the same binary).
    "faults::",
    "--nocapture",
    "--test-threads=1",
    // The long outages (20 s, 60 s) too.
    "--include-ignored",
];

/// Runs the netns tests `runs` times and keeps every `RESULT` line, with its run number.
pub(crate) fn measure(root: &Path, results: &mut Results) {
    println!("\n==> bench: network faults (network namespaces)");
    if !is_root() {
        results.faults_status = Status::Skipped("needs root (network namespaces)".into());
        return;
    }
    for run in 1..=results.options.fault_runs {
        match cargo("netns", NETNS_TEST).run_capture(root, true) {
            Ok(out) => {
                for mut rec in out.lines().filter_map(parse_result) {
                    if rec.contains_key("fault") {
                        rec.insert("run".into(), run.to_string());
                        results.faults.push(rec);
                    }
                }
            }
            Err(e) => results.faults_errors.push(format!("run {run}: {e}")),
        }
    }
    results.faults_status = if results.faults.is_empty() {
        Status::Failed("no run printed a result".into())
    } else {
        Status::Done
    };
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// What each measure of a `RESULT` line means (keys not listed are shown as they are).
const MEASURES: &[(&str, &str)] = &[
    (
        "restart_ms",
        "fault → first automatic restart (either side)",
    ),
    ("promoted_ms", "fault → new generation promoted"),
    ("resumed_ms", "fault → data flowing again"),
    ("after_restore_ms", "path restored → data flowing again"),
    (
        "closed_ms",
        "fault → session closed (`Unreachable`, limit 3 s)",
    ),
    ("gap_ms", "longest gap between two messages"),
    ("msg_s", "messages/s delivered (200/s sent)"),
    ("stall_ms", "longest stall"),
    ("tcp_msg_s", "Linux TCP, same path: messages/s"),
    ("tcp_stall_ms", "Linux TCP, same path: longest stall"),
];

/// The section.
pub(crate) fn section(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "## 10. Network faults (`cargo xtask bench --only faults`)\n\n\
         Two peers in two network namespaces joined by two links (\"wifi\" and \"cellular\"), a \
         reliable ordered data channel carrying a numbered 1 KiB message every 5 ms, and a fault \
         on A's side (`crates/transport-tokio/tests/netns/faults.rs`, {} run(s) of every case; each \
         run asserts that nothing was lost, duplicated, reordered or corrupted). Times in ms, \
         median (min – max).\n",
        r.options.fault_runs
    );
    if let Some(s) = super::report::status_line(&r.faults_status) {
        let _ = writeln!(out, "{s}\n");
        return;
    }
    let mut by_case: BTreeMap<&str, Vec<Record>> = BTreeMap::new();
    for rec in &r.faults {
        if let Some(case) = rec.get("fault") {
            by_case.entry(case).or_default().push(rec.clone());
        }
    }
    let _ = writeln!(
        out,
        "| fault | measure | value | runs |\n|---|---|---|---:|"
    );
    for (case, recs) in &by_case {
        let mut keys: Vec<&str> = MEASURES
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| recs.iter().any(|r| r.contains_key(*k)))
            .collect();
        let mut others: Vec<&str> = recs
            .iter()
            .flat_map(|r| r.keys().map(String::as_str))
            .filter(|k| !matches!(*k, "fault" | "run") && !MEASURES.iter().any(|(m, _)| m == k))
            .collect();
        others.sort_unstable();
        others.dedup();
        keys.extend(others);
        for key in keys {
            let label = MEASURES
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(key, |(_, l)| *l);
            if let Some(s) = summary(&field(recs, key)) {
                let value = if s.n == 1 {
                    format!("{:.0}", s.median)
                } else {
                    format!("{:.0} ({:.0} – {:.0})", s.median, s.min, s.max)
                };
                let _ = writeln!(out, "| {case} | {label} | {value} | {} |", s.n);
            }
        }
    }
    for e in &r.faults_errors {
        let _ = writeln!(out, "- failed: `{e}`");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::*;

    use super::super::record as rec;

    #[test]
    fn medians_and_ranges_per_case_and_measure() {
        let mut r = Results::new(Options::quick());
        r.options.fault_runs = 3;
        r.faults_status = Status::Done;
        for (run, ms) in [("1", "60"), ("2", "24"), ("3", "64")] {
            r.faults.push(rec(&[
                ("fault", "link_down"),
                ("run", run),
                ("resumed_ms", ms),
                ("odd_key", "7"),
            ]));
        }
        r.faults_errors.push("run 2: boom".into());
        let mut out = String::new();
        section(&mut out, &r);
        assert!(
            out.contains("| link_down | fault → data flowing again | 60 (24 – 64) | 3 |"),
            "{out}"
        );
        assert!(
            out.contains("| link_down | odd_key | 7 (7 – 7) | 3 |"),
            "{out}"
        );
        assert!(out.contains("- failed: `run 2: boom`"), "{out}");
        let mut skipped = Results::new(Options::quick());
        skipped.faults_status = Status::Skipped("needs root (network namespaces)".into());
        let mut out = String::new();
        section(&mut out, &skipped);
        assert!(out.contains("needs root"), "{out}");
        assert!(!out.contains("| fault |"), "{out}");
    }
}
