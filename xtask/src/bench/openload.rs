//! The `openload` part: the signaling server under an open-loop load (`crate::openload`
//! runs it), and its section of `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::Path;

use super::{field, summary, Record, Results, Status, Summary};
use crate::openload::{within_capacity, Backend, Plan, CAPACITY_P99_MS, TARGET_P99_MS};

/// 9. Runs the plan of this invocation.
pub(crate) fn measure(root: &Path, results: &mut Results) {
    println!("\n==> bench: signaling server, open loop");
    let plan = results.options.openload.clone();
    let binary = match crate::openload::build(root) {
        Ok(b) => b,
        Err(e) => {
            results.openload_status = Status::Failed(e);
            return;
        }
    };
    let outcome = crate::openload::run_plan(root, &binary, &plan);
    results.openload_status = if outcome.records.is_empty() {
        Status::Failed("no run succeeded".into())
    } else {
        Status::Done
    };
    results.openload = outcome.records;
    results.openload_errors = outcome.errors;
}

fn get<'a>(r: &'a Record, k: &str) -> &'a str {
    r.get(k).map_or("–", String::as_str)
}

fn num(r: &Record, k: &str) -> Option<f64> {
    r.get(k)?.parse().ok()
}

fn cell(s: Option<Summary>, decimals: usize) -> String {
    s.map_or("–".to_owned(), |s| {
        if s.n == 1 {
            format!("{:.*}", decimals, s.median)
        } else {
            format!(
                "{:.*} ({:.*} – {:.*})",
                decimals, s.median, decimals, s.min, decimals, s.max
            )
        }
    })
}

/// The capacity of one sweep: the highest offered rate within capacity, and whether a step
/// above it failed (otherwise the capacity is at least that, not found).
pub(crate) fn capacity(sweep: &[&Record]) -> (f64, bool) {
    let best = sweep
        .iter()
        .filter(|r| within_capacity(r))
        .filter_map(|r| num(r, "offered_msg_s"))
        .fold(0.0, f64::max);
    let found = sweep.iter().any(|r| !within_capacity(r));
    (best, found)
}

/// The section (also printed by `cargo xtask load --open`).
pub(crate) fn section(out: &mut String, plan: &Plan, records: &[Record], errors: &[String]) {
    let _ = writeln!(
        out,
        "## 9. Signaling server under an open-loop load (`cargo xtask load --open`)\n\n\
         {} WebSocket clients in pairs, one room per pair, each sending a signal at a fixed rate \
         on the clock (open loop: a send never waits for anything; the sends of all clients are \
         spread evenly over each period). Latency is from a signal's *scheduled* send time to \
         its receipt by the other client of the pair (same process, same clock), so any \
         lateness of the generator counts against the result; \"from write\" starts when the \
         frame was written instead. Each run lasts {} s of sending (then up to 2 s to drain) \
         with fresh processes: the server side pinned to core 0 (`taskset -c 0`; on Redis: two \
         server processes, a room's two clients on different processes so every signal crosses \
         Redis, and a `redis-server` in a temp dir, all three on core 0), the generator (one \
         thread) pinned to core 1. Server: the `openload` example of `tether-signaling-ws` \
         (`serve`, default limits except those a load from one address needs: per-address \
         connections and joins, frames per second per connection), tokio runtime `{}`. \
         Clients acknowledge every 16 messages, as `SignalingClient` does, each with its own \
         phase (the first ack after 1 to 16 messages: clients started together would otherwise \
         all acknowledge in the same second). Open files: each \
         process runs with its soft `ulimit -n` raised to the hard limit (10,000 clients need \
         10,000 descriptors on each side). RSS per client: (server RSS with all clients joined \
         − RSS before the first connection) / clients, from `/proc/PID/status`. CPU: percent of \
         one core while sending, from `/proc`; \"others\" is everything else the machine ran \
         meanwhile (other builds share these two cores). A sweep raises the per-client rate \
         ({}) until, at or above the target's rate, p99 exceeds {CAPACITY_P99_MS} ms or a \
         message is lost; capacity is the highest aggregate rate within that bound. {} sweep(s) per backend.{}\n",
        plan.clients,
        plan.seconds,
        plan.runtime,
        plan.rates
            .iter()
            .map(|r| format!("{r}"))
            .collect::<Vec<_>>()
            .join(", "),
        plan.runs,
        if plan.nice == 0 {
            String::new()
        } else {
            format!(
                " Every process of a run ran at niceness {} (`nice -n {}`), ahead of the builds \
                 that shared the machine.",
                plan.nice, plan.nice
            )
        },
    );
    if records.is_empty() && errors.is_empty() {
        out.push_str("Not run in this invocation.\n\n");
        return;
    }
    let target_rate = plan.target_rate;
    let _ = writeln!(
        out,
        "Target: {} clients at {target_rate} msg/s each ({:.0} msg/s), p99 ≤ {TARGET_P99_MS} ms. \
         Median (min – max) over the runs.\n\n\
         | backend | runs | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | lost | p99 ≤ {TARGET_P99_MS} ms | RSS per client | CPU server / generator / redis / others % |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        plan.clients,
        plan.clients as f64 * target_rate
    );
    for backend in [Backend::Memory, Backend::Redis] {
        let runs: Vec<Record> = records
            .iter()
            .filter(|r| get(r, "backend") == backend.name())
            .filter(|r| num(r, "rate") == Some(target_rate))
            .cloned()
            .collect();
        if runs.is_empty() {
            continue;
        }
        let s = |k: &str| summary(&field(&runs, k));
        let met = runs
            .iter()
            .filter(|r| num(r, "p99_ms").is_some_and(|p| p <= TARGET_P99_MS))
            .count();
        let lost: f64 = field(&runs, "lost").iter().sum();
        let cpu = |k: &str| s(k).map_or("–".to_owned(), |s| format!("{:.0}", s.median));
        let _ = writeln!(
            out,
            "| {} ({} process{}) | {} | {} | {} | {} | {} | {} | {lost:.0} | {met}/{} | {} KiB | {} / {} / {} / {} |",
            backend.name(),
            backend.servers(),
            if backend.servers() == 1 { "" } else { "es" },
            runs.len(),
            cell(s("p50_ms"), 2),
            cell(s("p90_ms"), 2),
            cell(s("p99_ms"), 2),
            cell(s("p999_ms"), 2),
            cell(s("max_ms"), 1),
            runs.len(),
            cell(s("rss_per_client_kib"), 2),
            cpu("server_cpu_pct"),
            cpu("gen_cpu_pct"),
            cpu("aux_cpu_pct"),
            cpu("others_cpu_pct"),
        );
    }
    out.push_str(
        "\nCapacity: the highest aggregate rate (clients × per-client rate) with p99 ≤ 50 ms and \
         nothing lost, per sweep (≥: no step of the sweep went over).\n\n\
         | backend | per sweep (msg/s) | median |\n|---|---|---:|\n",
    );
    for backend in [Backend::Memory, Backend::Redis] {
        let mut caps = Vec::new();
        let mut shown = Vec::new();
        for sweep in 1..=plan.runs {
            let runs: Vec<&Record> = records
                .iter()
                .filter(|r| get(r, "backend") == backend.name())
                .filter(|r| get(r, "sweep") == sweep.to_string())
                .collect();
            if runs.is_empty() {
                continue;
            }
            let (best, found) = capacity(&runs);
            caps.push(best);
            if best > 0.0 {
                shown.push(format!("{}{best:.0}", if found { "" } else { "≥" }));
            } else {
                // Not even the lowest step was within the bound.
                let lowest = runs
                    .iter()
                    .filter_map(|r| num(r, "offered_msg_s"))
                    .fold(f64::INFINITY, f64::min);
                shown.push(format!("< {lowest:.0}"));
            }
        }
        if let Some(s) = summary(&caps) {
            let median = if s.median > 0.0 {
                format!("{:.0}", s.median)
            } else {
                "–".to_owned()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {median} |",
                backend.name(),
                shown.join(", "),
            );
        }
    }
    out.push_str(
        "\nEvery run:\n\n\
         | backend | sweep | offered msg/s | delivered msg/s | lost | p50 | p90 | p99 | p99.9 | max (ms) | from write p99 | generator lag p99 | CPU server / gen / redis / others % | server RSS joined / under load (KiB) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in records {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | **{}** | {} | {} | {} | {} | {} / {} / {} / {} | {} / {} |",
            get(r, "backend"),
            get(r, "sweep"),
            get(r, "offered_msg_s"),
            get(r, "achieved_msg_s"),
            get(r, "lost"),
            get(r, "p50_ms"),
            get(r, "p90_ms"),
            get(r, "p99_ms"),
            get(r, "p999_ms"),
            get(r, "max_ms"),
            get(r, "write_p99_ms"),
            get(r, "lag_p99_ms"),
            get(r, "server_cpu_pct"),
            get(r, "gen_cpu_pct"),
            get(r, "aux_cpu_pct"),
            get(r, "others_cpu_pct"),
            get(r, "rss_joined_kib"),
            get(r, "rss_loaded_kib"),
        );
    }
    for e in errors {
        let _ = writeln!(out, "- failed: `{}`", e.replace('`', "'"));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::record as rec;

    #[test]
    fn capacity_is_the_best_step_within_bounds() {
        let step = |offered: &str, p99: &str| {
            rec(&[
                ("offered_msg_s", offered),
                ("p99_ms", p99),
                ("lost", "0"),
                ("failures", "0"),
            ])
        };
        let (a, b, c) = (step("10000", "5"), step("20000", "30"), step("30000", "80"));
        assert_eq!(capacity(&[&a, &b, &c]), (20000.0, true));
        assert_eq!(capacity(&[&a, &b]), (20000.0, false));
        assert_eq!(capacity(&[&c]), (0.0, true));
    }

    #[test]
    fn section_has_target_capacity_and_every_run() {
        let mut plan = Plan::quick();
        plan.runs = 2;
        let r = |sweep: &str, rate: &str, offered: &str, p99: &str| {
            rec(&[
                ("backend", "memory"),
                ("sweep", sweep),
                ("rate", rate),
                ("offered_msg_s", offered),
                ("p50_ms", "1.00"),
                ("p99_ms", p99),
                ("lost", "0"),
                ("failures", "0"),
                ("rss_per_client_kib", "10.5"),
            ])
        };
        let records = vec![
            r("1", "1", "200", "2.00"),
            r("1", "5", "1000", "60.00"),
            r("2", "1", "200", "4.00"),
            r("2", "5", "1000", "8.00"),
        ];
        let mut out = String::new();
        section(&mut out, &plan, &records, &["redis sweep 1: boom".into()]);
        assert!(
            out.contains("| memory (1 process) | 2 | 1.00 (1.00 – 1.00) |"),
            "{out}"
        );
        assert!(out.contains("| 3.00 (2.00 – 4.00) |"), "{out}");
        assert!(out.contains("| memory | 200, ≥1000 | 600 |"), "{out}");
        assert!(out.contains("- failed: `redis sweep 1: boom`"), "{out}");
        let over = vec![r("1", "1", "200", "70.00")];
        let mut out = String::new();
        section(&mut out, &plan, &over, &[]);
        assert!(out.contains("| memory | < 200 | – |"), "{out}");
        let mut empty = String::new();
        section(&mut empty, &plan, &[], &[]);
        assert!(empty.contains("Not run in this invocation."));
    }
}
