//! The `.raw.txt` file next to the page: every record of one invocation, one line each, so the
//! page and chart can be redrawn (`cargo xtask bench --redraw`) without measuring again.
//!
//! Lines are `<kind> key=value ...`; the last key of `error`, `reason` and `line` lines takes
//! the rest of the line (its value may contain spaces).

use std::fmt::Write as _;

use super::{Options, Record, Results, Status};

fn kv(rec: &Record) -> String {
    rec.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn status_line(out: &mut String, part: &str, status: &Status) {
    let (name, reason) = match status {
        Status::NotRun => ("not-run", ""),
        Status::Skipped(r) => ("skipped", r.as_str()),
        Status::Failed(r) => ("failed", r.as_str()),
        Status::Done => ("done", ""),
    };
    let _ = writeln!(out, "status part={part} value={name} reason={reason}");
}

/// Everything in `r`, one line per record.
pub(crate) fn write(r: &Results) -> String {
    let o = &r.options;
    let mut out = format!(
        "options measured_at={} carried_from={} quick={} runs={} restart_runs={} mib={} scale_pairs={} scale_seconds={} \
         load_clients={} load_rounds={} openssl_seconds={} openload_clients={} openload_rates={} \
         openload_seconds={} openload_runs={} openload_backends={} openload_runtime={} openload_nice={} openload_target_rate={} \
         fault_runs={} parts={}\n",
        r.measured_at,
        r.carried_from,
        o.quick,
        o.runs,
        o.restart_runs,
        o.mib,
        o.scale_pairs
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        o.scale_seconds,
        o.load_clients,
        o.load_rounds,
        o.openssl_seconds,
        o.openload.clients,
        o.openload
            .rates
            .iter()
            .map(f64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        o.openload.seconds,
        o.openload.runs,
        o.openload
            .backends
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(","),
        o.openload.runtime,
        o.openload.nice,
        o.openload.target_rate,
        o.fault_runs,
        o.parts.join(","),
    );
    for (part, status) in [
        ("session", &r.session_status),
        ("srtp", &r.srtp_status),
        ("media", &r.media_status),
        ("load", &r.load_status),
        ("openload", &r.openload_status),
        ("faults", &r.faults_status),
    ] {
        status_line(&mut out, part, status);
    }
    for (part, when) in &r.carried {
        let _ = writeln!(out, "carried part={part} measured_at={when}");
    }
    for (id, ns) in &r.session {
        let _ = writeln!(out, "session id={id} median_ns={ns}");
    }
    for (profile, op, ns) in &r.srtp {
        let _ = writeln!(out, "srtp profile={profile} op={op} median_ns={ns}");
    }
    for (name, bps) in &r.openssl {
        let _ = writeln!(out, "openssl algorithm={name} bytes_per_s={bps}");
    }
    for l in &r.media {
        let _ = writeln!(out, "media line={l}");
    }
    for (part, rows) in [("dc", &r.dc), ("restart", &r.restart)] {
        for (stack, recs, errors) in rows {
            for rec in recs {
                let _ = writeln!(out, "{part} {}", kv(rec));
            }
            for e in errors {
                let _ = writeln!(
                    out,
                    "{part}-error stack={stack} error={}",
                    e.replace('\n', " ")
                );
            }
        }
    }
    for rec in &r.scale {
        let _ = writeln!(out, "scale {}", kv(rec));
    }
    for e in &r.scale_errors {
        let _ = writeln!(out, "scale-error error={}", e.replace('\n', " "));
    }
    if let Some(rec) = &r.load {
        let _ = writeln!(out, "load {}", kv(rec));
    }
    for rec in &r.openload {
        let _ = writeln!(out, "openload {}", kv(rec));
    }
    for rec in &r.faults {
        let _ = writeln!(out, "faults {}", kv(rec));
    }
    for e in &r.faults_errors {
        let _ = writeln!(out, "faults-error error={}", e.replace('\n', " "));
    }
    for e in &r.openload_errors {
        let _ = writeln!(out, "openload-error error={}", e.replace('\n', " "));
    }
    out
}

/// The open-loop plan of an options line; files written before it existed get the full plan.
fn openload_plan(o: &Record) -> Result<crate::openload::Plan, String> {
    use crate::openload::{Backend, Plan};
    let mut plan = Plan::full();
    if !o.contains_key("openload_clients") {
        return Ok(plan);
    }
    plan.clients = num(o, "openload_clients")?;
    plan.seconds = num(o, "openload_seconds")?;
    plan.runs = num(o, "openload_runs")?;
    plan.rates = o
        .get("openload_rates")
        .map(|p| p.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    plan.backends = o
        .get("openload_backends")
        .map(|p| {
            p.split(',')
                .filter_map(|b| match b {
                    "memory" => Some(Backend::Memory),
                    "redis" => Some(Backend::Redis),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    plan.runtime = o.get("openload_runtime").cloned().unwrap_or(plan.runtime);
    plan.nice = num(o, "openload_nice")?;
    // Before the target rate was its own option, it was the first step's.
    plan.target_rate = num(o, "openload_target_rate")
        .or_else(|_| plan.rates.first().copied().ok_or(String::new()))
        .unwrap_or(1.0);
    Ok(plan)
}

/// The record of a line's `key=value` words; a key in `rest_keys` takes the rest of the line.
fn parse_fields(text: &str, rest_keys: &[&str]) -> Record {
    let mut rec = Record::new();
    let mut remaining = text.trim_start();
    while !remaining.is_empty() {
        let (word, after) = remaining.split_once(' ').unwrap_or((remaining, ""));
        if let Some((k, v)) = word.split_once('=') {
            if rest_keys.contains(&k) {
                let value = &remaining[k.len() + 1..];
                rec.insert(k.to_owned(), value.trim_end().to_owned());
                break;
            }
            rec.insert(k.to_owned(), v.to_owned());
        }
        remaining = after.trim_start();
    }
    rec
}

fn num<T: std::str::FromStr>(rec: &Record, key: &str) -> Result<T, String> {
    rec.get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("raw file: missing or bad `{key}`"))
}

fn stack_entry<'a>(
    rows: &'a mut Vec<(String, Vec<Record>, Vec<String>)>,
    stack: &str,
) -> &'a mut (String, Vec<Record>, Vec<String>) {
    if let Some(i) = rows.iter().position(|(s, _, _)| s == stack) {
        &mut rows[i]
    } else {
        rows.push((stack.to_owned(), Vec::new(), Vec::new()));
        let last = rows.len() - 1;
        &mut rows[last]
    }
}

/// Rebuilds the results from [`write()`]'s text.
pub(crate) fn read(text: &str) -> Result<Results, String> {
    let first = text.lines().next().unwrap_or("");
    let o = parse_fields(
        first
            .strip_prefix("options")
            .ok_or("raw file: no options line")?,
        &[],
    );
    let options = Options {
        quick: num(&o, "quick")?,
        parts: o.get("parts").map_or_else(Vec::new, |p| {
            p.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        runs: num(&o, "runs")?,
        restart_runs: num(&o, "restart_runs")?,
        mib: num(&o, "mib")?,
        scale_pairs: o
            .get("scale_pairs")
            .map(|p| p.split(',').filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default(),
        scale_seconds: num(&o, "scale_seconds")?,
        load_clients: num(&o, "load_clients")?,
        load_rounds: num(&o, "load_rounds")?,
        openssl_seconds: num(&o, "openssl_seconds")?,
        openload: openload_plan(&o)?,
        // A file from before the fault part: the default.
        fault_runs: o
            .get("fault_runs")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
        redraw: true,
    };
    let mut r = Results::new(options);
    r.measured_at = o.get("measured_at").cloned().unwrap_or_default();
    r.carried_from = o.get("carried_from").cloned().unwrap_or_default();
    for line in text.lines().skip(1) {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest_keys: &[&str] = &["error", "reason", "line"];
        let rec = parse_fields(rest, rest_keys);
        let get = |k: &str| rec.get(k).cloned().unwrap_or_default();
        match kind {
            "status" => {
                let status = match get("value").as_str() {
                    "skipped" => Status::Skipped(get("reason")),
                    "failed" => Status::Failed(get("reason")),
                    "done" => Status::Done,
                    _ => Status::NotRun,
                };
                match get("part").as_str() {
                    "session" => r.session_status = status,
                    "srtp" => r.srtp_status = status,
                    "media" => r.media_status = status,
                    "load" => r.load_status = status,
                    "openload" => r.openload_status = status,
                    "faults" => r.faults_status = status,
                    _ => {}
                }
            }
            "carried" => {
                r.carried.insert(get("part"), get("measured_at"));
            }
            "session" => r.session.push((get("id"), num(&rec, "median_ns")?)),
            "srtp" => r
                .srtp
                .push((get("profile"), get("op"), num(&rec, "median_ns")?)),
            "openssl" => r
                .openssl
                .push((get("algorithm"), num(&rec, "bytes_per_s")?)),
            "media" => r.media.push(get("line")),
            "dc" | "restart" => {
                let rows = if kind == "dc" {
                    &mut r.dc
                } else {
                    &mut r.restart
                };
                stack_entry(rows, &get("stack")).1.push(rec);
            }
            "dc-error" | "restart-error" => {
                let rows = if kind == "dc-error" {
                    &mut r.dc
                } else {
                    &mut r.restart
                };
                stack_entry(rows, &get("stack")).2.push(get("error"));
            }
            "scale" => r.scale.push(rec),
            "scale-error" => r.scale_errors.push(get("error")),
            "load" => r.load = Some(rec),
            "openload" => r.openload.push(rec),
            "openload-error" => r.openload_errors.push(get("error")),
            "faults" => r.faults.push(rec),
            "faults-error" => r.faults_errors.push(get("error")),
            _ => return Err(format!("raw file: unknown line `{line}`")),
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut r = Results::new(Options::quick());
        r.session_status = Status::Done;
        r.session.push(("sim_cycle".into(), 1234.5));
        r.srtp_status = Status::Failed("openssl: not found here".into());
        r.srtp
            .push(("AEAD_AES_128_GCM".into(), "protect".into(), 1500.0));
        r.openssl.push(("aes-128-gcm".into(), 2e9));
        r.media_status = Status::Skipped("no crate yet".into());
        let rec: Record = [("stack", "ours"), ("mib_s", "20.5"), ("setup_ms", "9.1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        r.dc = vec![(
            "ours".into(),
            vec![rec.clone()],
            vec!["exited with 1".into()],
        )];
        r.scale.push(rec.clone());
        r.scale_errors.push("1000 pairs: boom".into());
        r.load = Some(rec.clone());
        r.openload_status = Status::Done;
        r.openload.push(rec);
        r.openload_errors.push("redis sweep 1: boom".into());
        r.faults_status = Status::Done;
        r.faults.push(super::super::record(&[
            ("fault", "link_down"),
            ("run", "1"),
            ("resumed_ms", "60"),
        ]));
        r.faults_errors.push("run 2: boom".into());
        r.carried.insert("load".into(), "2026-11-30T09:00Z".into());
        let text = write(&r);
        let back = read(&text).unwrap();
        assert_eq!(write(&back), text);
        assert_eq!(
            back.srtp_status,
            Status::Failed("openssl: not found here".into())
        );
        assert_eq!(back.dc[0].2, vec!["exited with 1".to_owned()]);
        assert_eq!(back.options.scale_pairs, vec![20]);
        assert_eq!(back.options.openload, Options::quick().openload);
        assert_eq!(back.openload_errors, vec!["redis sweep 1: boom".to_owned()]);
        assert_eq!(back.faults.len(), 1);
        assert_eq!(back.faults_errors, vec!["run 2: boom".to_owned()]);
        assert_eq!(back.options.fault_runs, 1);
        // A file from before the open-loop part still reads.
        let old = text
            .lines()
            .next()
            .unwrap()
            .split(' ')
            .filter(|w| !w.starts_with("openload_"))
            .collect::<Vec<_>>()
            .join(" ");
        let old = text.replacen(text.lines().next().unwrap(), &old, 1);
        assert_eq!(
            read(&old).unwrap().options.openload,
            crate::openload::Plan::full()
        );
        assert_eq!(back.carried["load"], "2026-11-30T09:00Z");
        assert!(read("nonsense").is_err());
    }
}
