//! `docs/benchmarks.md`: the numbers of one `cargo xtask bench` invocation as tables. The
//! hand-written `## Findings and profile` section of the previous file (and everything after
//! it) is kept.

use std::fmt::Write as _;
use std::process::Command;

use super::micro::{SRTP_PACKET, SRTP_PROFILES};
use super::{field, summary, Record, Results, Status, Summary};

/// The heading of the hand-written section that survives regeneration.
pub(crate) const KEPT_HEADING: &str = "## Findings and profile";

pub(crate) fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, Linux {kernel}, {}",
        command_line("rustc", &["--version"])
    )
}

pub(crate) fn status_line(s: &Status) -> Option<String> {
    match s {
        Status::NotRun => Some("Not run in this invocation (`--only`).".to_owned()),
        Status::Skipped(why) => Some(format!("Skipped: {why}.")),
        Status::Failed(why) => Some(format!("**Failed**: {why}")),
        Status::Done => None,
    }
}

/// The note under a section whose records come from an earlier invocation.
fn carried(out: &mut String, r: &Results, part: &str) {
    if let Some(when) = r.carried.get(part) {
        let _ = writeln!(
            out,
            "*Carried over: measured at {when} (UTC) by an earlier invocation; this one ran \
             `--only` other parts.*\n"
        );
    }
}

fn range(s: &Summary, decimals: usize) -> String {
    format!("{:.*} – {:.*}", decimals, s.min, decimals, s.max)
}

fn session(out: &mut String, r: &Results) {
    out.push_str("## 1. Session core (criterion)\n\n");
    carried(out, r, "session");
    if let Some(s) = status_line(&r.session_status) {
        let _ = writeln!(out, "{s}\n");
    }
    if r.session.is_empty() {
        return;
    }
    out.push_str("| benchmark | median time | per second |\n|---|---:|---:|\n");
    for (id, ns) in &r.session {
        let _ = writeln!(out, "| `{id}` | {:.1} µs | {:.0} |", ns / 1000.0, 1e9 / ns);
    }
    out.push_str(
        "\n`sim_connect_and_ice_restart_cycle` is one full cycle: offer, answer, trickle, DTLS and \
         SCTP connect, then an ICE restart to completion, in the deterministic simulator.\n\n",
    );
}

/// Bytes per second of `openssl speed` for `name`.
fn openssl(r: &Results, name: &str) -> Option<f64> {
    r.openssl.iter().find(|(n, _)| n == name).map(|(_, b)| *b)
}

/// The hardware reference for a profile: AES-GCM as is; AES-CM + HMAC-SHA1 as the time of
/// both passes over the packet added up.
pub(crate) fn reference(r: &Results, profile: &str) -> Option<(String, f64)> {
    if profile.contains("GCM") {
        Some(("aes-128-gcm".to_owned(), openssl(r, "aes-128-gcm")?))
    } else {
        let ctr = openssl(r, "aes-128-ctr")?;
        let hmac = openssl(r, "hmac-sha1")?;
        Some((
            "aes-128-ctr + hmac-sha1".to_owned(),
            1.0 / (1.0 / ctr + 1.0 / hmac),
        ))
    }
}

fn srtp(out: &mut String, r: &Results) {
    out.push_str("## 2. SRTP protect / unprotect, 1200-byte packets (webrtc-srtp 0.17.2)\n\n");
    carried(out, r, "srtp");
    if let Some(s) = status_line(&r.srtp_status) {
        let _ = writeln!(out, "{s}\n");
    }
    if r.srtp.is_empty() {
        return;
    }
    out.push_str(
        "| profile | operation | median per packet | MB/s | openssl reference (same run) | MB/s | ours / openssl |\n\
         |---|---|---:|---:|---|---:|---:|\n",
    );
    for profile in SRTP_PROFILES {
        for (p, op, ns) in r.srtp.iter().filter(|(p, _, _)| p == profile) {
            let bps = SRTP_PACKET / ns * 1e9;
            let (ref_name, ref_mb, ratio) = match reference(r, p) {
                Some((name, b)) => (
                    name,
                    format!("{:.0}", b / 1e6),
                    format!("{:.1} %", 100.0 * bps / b),
                ),
                None => ("–".into(), "–".into(), "–".into()),
            };
            let _ = writeln!(
                out,
                "| {p} | {op} | {:.2} µs | {:.0} | {ref_name} | {ref_mb} | **{ratio}** |",
                ns / 1000.0,
                bps / 1e6
            );
        }
    }
    out.push_str("\n`openssl speed` over 1200-byte blocks, run by the same invocation:");
    for (name, b) in &r.openssl {
        let _ = write!(out, " {name} {:.0} MB/s;", b / 1e6);
    }
    out.push_str(
        "\nthe AES-CM reference is one AES-128-CTR pass plus one HMAC-SHA1 pass over the packet \
         (1 / (1/ctr + 1/hmac)). webrtc-srtp uses the RustCrypto `aes`/`aes-gcm`/`hmac` crates \
         (its `openssl` feature is off). `RUSTCRYPTO_AES_128_GCM_ALONE` is that GCM cipher \
         alone (`aes-gcm` 0.10.3, the version webrtc-srtp links): 1188 bytes sealed in place \
         with 12 bytes of associated data, and opened after a copy of the sealed bytes; no \
         SRTP. Its ratio to openssl is the most the AEAD_AES_128_GCM profile could reach \
         without another cipher.\n\n",
    );
}

fn media(out: &mut String, r: &Results) {
    out.push_str("## 3. RTP packetize / depacketize (crates/media)\n\n");
    carried(out, r, "media");
    if let Some(s) = status_line(&r.media_status) {
        let _ = writeln!(out, "{s}\n");
    }
    if !r.media.is_empty() {
        out.push_str("Criterion's report of `cargo bench -p tether-media`:\n\n```text\n");
        for l in &r.media {
            let _ = writeln!(out, "{l}");
        }
        out.push_str("```\n\n");
    }
}

type StackRuns = (String, Vec<Record>, Vec<String>);

fn ours_median(rows: &[StackRuns], key: &str) -> Option<f64> {
    rows.iter()
        .find(|(s, _, _)| s == "ours")
        .and_then(|(_, recs, _)| summary(&field(recs, key)))
        .map(|s| s.median)
}

fn stack_name(stack: &str) -> &str {
    match stack {
        "ours" => "**ours** (transport-tokio)",
        "webrtc" => "webrtc-rs (`webrtc` 0.21.1, async on `rtc` 0.21)",
        "str0m" => "str0m 0.25, 1 MiB window (ours)",
        "str0m-default" => "str0m 0.25, 128 KiB window (its default)",
        "rtc" => "rtc 0.21.1 (sans-IO webrtc-rs)",
        other => other,
    }
}

fn errors_of(out: &mut String, rows: &[StackRuns]) {
    for (stack, _, errors) in rows {
        for e in errors {
            let _ = writeln!(out, "- {stack}: failed run: `{}`", e.replace('`', "'"));
        }
    }
}

fn stack_table(out: &mut String, rows: &[StackRuns], key: &str, unit: &str, decimals: usize) {
    let ours = ours_median(rows, key);
    let _ = writeln!(
        out,
        "| stack | runs ok | median {unit} | min – max | × ours |\n|---|---:|---:|---:|---:|"
    );
    for (stack, recs, errors) in rows {
        let runs = format!("{}/{}", recs.len(), recs.len() + errors.len());
        match summary(&field(recs, key)) {
            Some(s) => {
                let ratio = ours
                    .filter(|o| *o > 0.0)
                    .map_or("–".to_owned(), |o| format!("{:.2}", s.median / o));
                let _ = writeln!(
                    out,
                    "| {} | {runs} | {:.*} | {} | {ratio} |",
                    stack_name(stack),
                    decimals,
                    s.median,
                    range(&s, decimals)
                );
            }
            None => {
                let _ = writeln!(out, "| {} | {runs} | – | – | – |", stack_name(stack));
            }
        }
    }
    out.push('\n');
}

fn data_channels(out: &mut String, r: &Results) {
    let o = &r.options;
    let _ = writeln!(
        out,
        "## 4. Data channel throughput: one pair on loopback, reliable ordered, 32 KiB messages, {} MiB\n\n\
         Each run is its own process (`benches/compare`, `tether-compare dc <stack>`), {} runs per \
         stack, the stacks one after another. Throughput is payload bytes over the time from the \
         first send to the last message received; CPU is the process's user + system time over \
         the same span (`getrusage`, both peers together), scaled to 100 MiB. Every sender \
         waits while more than 1 MiB is buffered (our `HIGH_WATER`; webrtc-rs through \
         `with_data_channel_send_buffer_limit`). Every stack's UDP sockets get the same 2 MiB \
         receive buffer (`DEFAULT_UDP_RECEIVE_BUFFER`): ours through \
         `GatherOptions::udp_receive_buffer`, webrtc-rs through a tokio `Runtime` wrapper that \
         sets `SO_RCVBUF` on each socket its driver binds, str0m and rtc on the sockets their \
         loops bind.\n\n\
         ours and webrtc-rs run on a 2-worker tokio runtime (webrtc-rs: `webrtc` 0.21.1, the \
         async API on the same sans-IO `rtc-dtls`/`rtc-sctp`/`rtc-datachannel` 0.21.1 our \
         transport drives; it replaced `webrtc` 0.17.2 here, whose crates our transport no \
         longer uses). str0m and rtc are driven by a minimal blocking UDP loop, one thread per \
         peer, that feeds every input and then drains every output (also after a timeout), and \
         waits with `ppoll(2)` for a datagram or the exact deadline, then reads every queued \
         datagram. str0m runs twice: `str0m` may buffer 1 MiB before `write` refuses (our \
         window, like the other senders), `str0m-default` keeps str0m's default 128 KiB \
         (`set_sctp_max_buffered_amount`), which also caps its data in flight.\n",
        o.mib, o.runs
    );
    carried(out, r, "dc");
    if r.dc.is_empty() {
        out.push_str("Not run in this invocation.\n\n");
    } else {
        stack_table(out, &r.dc, "mib_s", "MiB/s", 1);
        out.push_str("CPU time (user + system, both peers) per 100 MiB moved:\n\n");
        stack_table(out, &r.dc, "cpu_per_100mib_s", "CPU s per 100 MiB", 2);
        errors_of(out, &r.dc);
        out.push_str(
            "Why runs stall: the longest gap between two messages at the receiver, and the \
             UDP datagrams the kernel dropped because a socket's receive buffer was full during \
             the run (`RcvbufErrors`, machine-wide). Each drop costs an SCTP retransmission; \
             a gap near 1 s or 2 s is an SCTP retransmission timeout. The receive buffers are \
             given above.\n\n\
             | stack | longest gap, median (min – max) | UDP receive-buffer drops per run, median (min – max) |\n\
             |---|---:|---:|\n",
        );
        for (stack, recs, _) in &r.dc {
            let cell = |key: &str, d: usize| {
                summary(&field(recs, key)).map_or("–".to_owned(), |s| {
                    format!("{:.*} ({})", d, s.median, range(&s, d))
                })
            };
            let _ = writeln!(
                out,
                "| {} | {} ms | {} |",
                stack_name(stack),
                cell("gap_ms", 1),
                cell("udp_rcvbuf_drops", 0)
            );
        }
    }
    out.push_str(
        "\n## 5. Setup time: offer created → data channel open on both sides\n\n\
         Same runs as section 4. ours: from `create_data_channel` (which triggers the offer) \
         through in-memory signaling with trickle ICE; webrtc-rs: from `create_data_channel`, \
         offer and answer exchanged after gathering completes (one loopback host candidate \
         each); str0m and rtc: from creating the offer, candidates inside the SDP, in the loops \
         of section 4 (before 2026-12-07 they waited with a socket read timeout the kernel \
         rounds up to 4 ms ticks, which put rtc's setup at ~37 ms). Certificates are \
         generated before the clock starts for every stack.\n\n",
    );
    if !r.dc.is_empty() {
        stack_table(out, &r.dc, "setup_ms", "ms", 2);
        out.push_str("Setups over 500 ms (a 1 s retransmission timer on the way):");
        for (stack, recs, _) in &r.dc {
            let slow = field(recs, "setup_ms")
                .iter()
                .filter(|v| **v > 500.0)
                .count();
            let _ = write!(out, " {stack} {slow}/{};", recs.len());
        }
        out.push_str("\n\n");
    }
}

fn restart(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "## 6. Explicit ICE restart under load\n\n\
         The offerer restarts ICE after 30 % of a {} MiB transfer (32 KiB messages, sending \
         flat out); {} run(s) per stack. Gap: the longest time between two consecutive messages \
         at the receiver over the whole transfer. Lost: messages never delivered (reliable \
         channel: anything but 0 is a failure). ours moves to a new ICE agent and socket \
         (make-before-break); str0m and rtc keep their single socket and re-run checks with new \
         credentials; webrtc-rs (0.21.1) calls `restart_ice` and renegotiates, keeping its sockets \
         (its default).\n",
        r.options.mib, r.options.restart_runs
    );
    carried(out, r, "restart");
    if r.restart.is_empty() {
        out.push_str("Not run in this invocation.\n\n");
        return;
    }
    out.push_str(
        "| stack | runs ok | longest gap, median (min – max) | lost (sum) | misordered (sum) | UDP drops, median | restart → switch (ours) |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (stack, recs, errors) in &r.restart {
        let runs = format!("{}/{}", recs.len(), recs.len() + errors.len());
        let gap = summary(&field(recs, "gap_ms")).map_or("–".to_owned(), |s| {
            format!("{:.1} ms ({})", s.median, range(&s, 1))
        });
        let lost: f64 = field(recs, "lost").iter().sum();
        let mis: f64 = field(recs, "misordered").iter().sum();
        let switch = summary(&field(recs, "switch_ms"))
            .map_or("–".to_owned(), |s| format!("{:.0} ms", s.median));
        let drops = summary(&field(recs, "udp_rcvbuf_drops"))
            .map_or("–".to_owned(), |s| format!("{:.0}", s.median));
        let _ = writeln!(
            out,
            "| {} | {runs} | {gap} | {lost:.0} | {mis:.0} | {drops} | {switch} |",
            stack_name(stack)
        );
    }
    out.push('\n');
    errors_of(out, &r.restart);
    out.push('\n');
}

fn get<'a>(r: &'a Record, k: &str) -> &'a str {
    r.get(k).map_or("–", String::as_str)
}

fn scale(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "## 7. Scale (ours): concurrent connected sessions in one process\n\n\
         One session = a connected pair of peer connections (two `PeerConnection`s, two ICE \
         agents, DTLS, SCTP) on loopback, set up 20 at a time, then each sends one 64-byte \
         message per second A → B for {} s. RSS from `/proc/self/status`, CPU time (user + \
         system) from `/proc/self/stat`.\n",
        r.options.scale_seconds
    );
    carried(out, r, "scale");
    if r.scale.is_empty() && r.scale_errors.is_empty() {
        out.push_str("Not run in this invocation.\n\n");
        return;
    }
    out.push_str(
        "| sessions (peer connections) | connected / failed | setup p50 / p90 / p99 / max (ms) | all set up in | RSS connected | RSS peak | CPU for setup | CPU in steady state | messages delivered |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &r.scale {
        let _ = writeln!(
            out,
            "| {} ({}) | {} / {} | {} / {} / {} / {} | {} s | {} MiB | {} MiB | {} s | {} % of a core | {} / {} |",
            get(s, "pairs"),
            get(s, "peer_connections"),
            get(s, "connected"),
            get(s, "failed"),
            get(s, "setup_p50_ms"),
            get(s, "setup_p90_ms"),
            get(s, "setup_p99_ms"),
            get(s, "setup_max_ms"),
            get(s, "setup_wall_s"),
            get(s, "rss_connected_mib"),
            get(s, "rss_peak_mib"),
            get(s, "cpu_setup_s"),
            get(s, "cpu_steady_pct"),
            get(s, "messages_delivered"),
            get(s, "messages_expected"),
        );
    }
    out.push('\n');
    for s in &r.scale {
        if s.contains_key("setups_over_500ms") {
            let _ = writeln!(
                out,
                "- {} sessions: {} setups took over 500 ms; {} pairs wrote datagrams before an ICE \
                 path was promoted ({} datagrams dropped, `Stats::datagrams_dropped_out`), {} of \
                 them among the slow setups.",
                get(s, "pairs"),
                get(s, "setups_over_500ms"),
                get(s, "pairs_with_dropped_out"),
                get(s, "datagrams_dropped_out"),
                get(s, "slow_pairs_with_dropped_out"),
            );
        }
    }
    for e in &r.scale_errors {
        let _ = writeln!(out, "- failed: `{}`", e.replace('`', "'"));
    }
    out.push('\n');
}

fn signaling(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "## 8. Signaling relay latency (`cargo xtask load`)\n\n\
         {} WebSocket clients in pairs on loopback against one server process, {} round trips \
         per pair; latency is one way, client → server → client.\n",
        r.options.load_clients, r.options.load_rounds
    );
    carried(out, r, "load");
    if let Some(s) = status_line(&r.load_status) {
        let _ = writeln!(out, "{s}\n");
    }
    if let Some(l) = &r.load {
        let _ = writeln!(
            out,
            "| clients | p50 | p99 | max | signals/s | connect + join all | server RSS joined / peak |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n\
             | {} | {} µs | {} µs | {} µs | {} | {} s | {} / {} KiB |\n",
            get(l, "clients"),
            get(l, "p50_us"),
            get(l, "p99_us"),
            get(l, "max_us"),
            get(l, "msg_s"),
            get(l, "connect_s"),
            get(l, "rss_joined_kib"),
            get(l, "rss_peak_kib"),
        );
    }
}

/// The whole page; `previous` is the old file, whose [`KEPT_HEADING`] section is kept.
pub(crate) fn markdown(r: &Results, svg_name: &str, previous: &str) -> String {
    let mut out = String::new();
    let command = if r.options.quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    let _ = writeln!(
        out,
        "# Benchmarks\n\n\
         Generated by `{command}`, measured at {} (UTC). Machine: {}.\n\n\
         **These numbers are noisy.** The machine has 2 cores and was shared with other builds \
         and tests while this ran; compare stacks by the ratios measured in the same run, not \
         by absolute values, and expect run-to-run spread (see the min – max columns). Every run's \
         own record is in the `.raw.txt` file next to this page.\n\n\
         ![throughput, setup and SRTP]({svg_name})\n",
        r.measured_at,
        machine()
    );
    if !r.carried_from.is_empty() {
        let _ = writeln!(
            out,
            "This invocation measured only `{}`; the other sections are carried over unchanged \
             from the previous record (measured at {} or, for sections carried before, \
             earlier).\n",
            r.options.parts.join(","),
            r.carried_from
        );
    }
    session(&mut out, r);
    srtp(&mut out, r);
    media(&mut out, r);
    data_channels(&mut out, r);
    restart(&mut out, r);
    scale(&mut out, r);
    signaling(&mut out, r);
    if let Some(s) = status_line(&r.openload_status) {
        let mut section = String::new();
        super::openload_section(&mut section, &r.options.openload, &[], &[]);
        // The section's heading and description, then why there are no numbers.
        if let Some(i) = section.find("Not run in this invocation.") {
            section.truncate(i);
        }
        out.push_str(&section);
        let _ = writeln!(out, "{s}\n");
    } else {
        super::openload_section(
            &mut out,
            &r.options.openload,
            &r.openload,
            &r.openload_errors,
        );
    }
    super::faults::section(&mut out, r);
    carried(&mut out, r, "faults");
    match previous.find(KEPT_HEADING) {
        Some(i) => out.push_str(&previous[i..]),
        None => {
            let _ = writeln!(
                out,
                "{KEPT_HEADING}\n\nNo profile recorded yet (this section is written by hand and \
                 kept when the page is regenerated)."
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Options, Results};
    use super::*;

    #[test]
    fn keeps_the_hand_written_profile_section() {
        let r = Results::new(Options::quick());
        let previous = "# Benchmarks\nold numbers\n## Findings and profile\n\nhand-written notes\n";
        let page = markdown(&r, "x.svg", previous);
        assert!(page.ends_with("## Findings and profile\n\nhand-written notes\n"));
        assert!(!page.contains("old numbers"));
        assert!(markdown(&r, "x.svg", "").contains("No profile recorded yet"));
    }

    #[test]
    fn stack_table_has_ratios_to_ours() {
        let rec = |v: &str| -> Record { [("mib_s".to_owned(), v.to_owned())].into() };
        let rows = vec![
            (
                "ours".to_owned(),
                vec![rec("100"), rec("120"), rec("80")],
                vec![],
            ),
            (
                "webrtc".to_owned(),
                vec![rec("50")],
                vec!["boom".to_owned()],
            ),
        ];
        let mut out = String::new();
        stack_table(&mut out, &rows, "mib_s", "MiB/s", 1);
        assert!(
            out.contains("| 3/3 | 100.0 | 80.0 – 120.0 | 1.00 |"),
            "{out}"
        );
        assert!(out.contains("| 1/2 | 50.0 | 50.0 – 50.0 | 0.50 |"), "{out}");
    }
}
