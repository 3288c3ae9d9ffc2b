//! The in-process micro benchmarks: session-core and SRTP (criterion), `openssl speed` as the
//! hardware's reference, and the media crate's own benchmarks when it exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Results, Status};
use crate::run::cargo;

/// The session-core benchmarks (criterion ids) of `benches/benches/session_cycle.rs`.
const SESSION_BENCHES: &[&str] = &[
    "sim_connect_and_ice_restart_cycle",
    "manual_offer_answer_exchange",
    "sdp_parse_chromium_offer",
    "sdp_write_chromium_offer",
];
/// The SRTP profiles of `benches/benches/srtp.rs`, then the AES-GCM cipher webrtc-srtp calls,
/// measured alone (no SRTP: what the GCM profile costs at the least).
pub(crate) const SRTP_PROFILES: &[&str] =
    &["AES128_CM_HMAC_SHA1_80", "AEAD_AES_128_GCM", CIPHER_ALONE];
/// The id of the cipher-alone rows (RustCrypto `aes-gcm` 0.10 sealing/opening 1200 bytes).
pub(crate) const CIPHER_ALONE: &str = "RUSTCRYPTO_AES_128_GCM_ALONE";
/// Size of the packets the SRTP benchmark protects.
pub(crate) const SRTP_PACKET: f64 = 1200.0;

/// Criterion arguments: a shorter measurement with `--quick`; never plots.
fn criterion_args(quick: bool) -> Vec<String> {
    let mut args = vec!["--noplot".to_owned()];
    if quick {
        for a in [
            "--warm-up-time",
            "0.3",
            "--measurement-time",
            "1",
            "--sample-size",
            "10",
        ] {
            args.push(a.to_owned());
        }
    }
    args
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The median point estimate (ns) in a criterion `estimates.json`.
pub(crate) fn criterion_median(json: &str) -> Option<f64> {
    let rest = &json[json.find("\"median\"")?..];
    let rest = &rest[rest.find("\"point_estimate\"")? + "\"point_estimate\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn read_median(root: &Path, id: &str) -> Result<f64, String> {
    let path = target_dir(root)
        .join("criterion")
        .join(id)
        .join("new/estimates.json");
    let json = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    criterion_median(&json).ok_or_else(|| format!("{}: no median estimate", path.display()))
}

fn bench_step(bench: &str, quick: bool) -> crate::run::Step {
    cargo(
        "bench",
        &[
            "bench",
            "--locked",
            "-p",
            "tether-benches",
            "--bench",
            bench,
            "--",
        ],
    )
    .args(&criterion_args(quick))
}

/// 1. session-core cycles (criterion).
pub(crate) fn session(root: &Path, results: &mut Results) {
    println!("\n==> bench: session-core (criterion)");
    if let Err(e) = bench_step("session_cycle", results.options.quick).run(root) {
        results.session_status = Status::Failed(e);
        return;
    }
    for id in SESSION_BENCHES {
        match read_median(root, id) {
            Ok(ns) => results.session.push(((*id).to_owned(), ns)),
            Err(e) => {
                results.session_status = Status::Failed(e);
                return;
            }
        }
    }
    results.session_status = Status::Done;
}

/// The bytes per second of the last line of `openssl speed ... -bytes N` (`NAME  1234.56k`,
/// in 1000s of bytes per second).
pub(crate) fn openssl_bytes_per_sec(output: &str) -> Option<f64> {
    let line = output.lines().rev().find(|l| !l.trim().is_empty())?;
    let value = line.split_whitespace().last()?;
    let k: f64 = value.strip_suffix('k')?.parse().ok()?;
    Some(k * 1000.0)
}

/// `openssl speed` of one algorithm over 1200-byte blocks.
fn openssl_speed(algorithm: &[&str], seconds: u64) -> Result<f64, String> {
    let mut args: Vec<String> = vec!["speed".into()];
    args.extend(algorithm.iter().map(|a| (*a).to_owned()));
    args.extend([
        "-bytes".into(),
        format!("{}", SRTP_PACKET as u64),
        "-seconds".into(),
        seconds.to_string(),
    ]);
    println!("$ openssl {}", args.join(" "));
    let out = Command::new("openssl")
        .args(&args)
        .output()
        .map_err(|e| format!("could not run openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl {} exited with {}",
            args.join(" "),
            out.status
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    openssl_bytes_per_sec(&text).ok_or_else(|| format!("unexpected openssl output: {text}"))
}

/// The `openssl speed` references: (name, algorithm arguments).
pub(crate) const OPENSSL: &[(&str, &[&str])] = &[
    ("aes-128-gcm", &["-evp", "aes-128-gcm"]),
    ("aes-128-ctr", &["-evp", "aes-128-ctr"]),
    ("hmac-sha1", &["-hmac", "sha1"]),
];

/// 2. SRTP protect/unprotect (criterion) and `openssl speed` in the same invocation.
pub(crate) fn srtp(root: &Path, results: &mut Results) {
    println!("\n==> bench: SRTP (criterion) and openssl speed");
    if let Err(e) = bench_step("srtp", results.options.quick).run(root) {
        results.srtp_status = Status::Failed(e);
        return;
    }
    for profile in SRTP_PROFILES {
        for op in ["protect", "unprotect"] {
            match read_median(root, &format!("srtp/{op}/{profile}")) {
                Ok(ns) => results
                    .srtp
                    .push(((*profile).to_owned(), op.to_owned(), ns)),
                Err(e) => {
                    results.srtp_status = Status::Failed(e);
                    return;
                }
            }
        }
    }
    for (name, algorithm) in OPENSSL {
        match openssl_speed(algorithm, results.options.openssl_seconds) {
            Ok(bps) => results.openssl.push(((*name).to_owned(), bps)),
            Err(e) => {
                results.srtp_status = Status::Failed(e);
                return;
            }
        }
    }
    results.srtp_status = Status::Done;
}

/// Is `crates/media` the `tether-media` crate, with benchmarks?
fn media_crate(root: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(root.join("crates/media/Cargo.toml")).ok()?;
    manifest
        .contains("name = \"tether-media\"")
        .then(|| manifest.contains("[[bench]]") || root.join("crates/media/benches").is_dir())
        .filter(|has_benches| *has_benches)
        .map(|_| "tether-media".to_owned())
}

/// 3. RTP packetize/depacketize: the media crate's own criterion benchmarks, if it exists.
pub(crate) fn media(root: &Path, results: &mut Results) {
    println!("\n==> bench: media (RTP packetize/depacketize)");
    let Some(package) = media_crate(root) else {
        let reason = "crates/media (package tether-media) with benchmarks does not exist yet";
        println!("bench: media skipped: {reason}");
        results.media_status = Status::Skipped(reason.to_owned());
        return;
    };
    // `--benches`: the criterion targets (the lib has `bench = false`).
    let step = cargo(
        "bench",
        &["bench", "--locked", "-p", &package, "--benches", "--"],
    )
    .args(&criterion_args(results.options.quick));
    match step.run_capture(root, false) {
        Ok(out) => {
            results.media = criterion_lines(&out);
            results.media_status = Status::Done;
        }
        Err(e) => results.media_status = Status::Failed(e),
    }
}

/// The lines of criterion's report that name a benchmark and its time or throughput.
pub(crate) fn criterion_lines(output: &str) -> Vec<String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((before, _)) = line
            .split_once("time:")
            .or_else(|| line.split_once("thrpt:"))
        else {
            continue;
        };
        // The benchmark's name is before the column, or alone on the line above.
        if before.trim().is_empty() && line.contains("time:") {
            if let Some(prev) = i.checked_sub(1).and_then(|j| lines.get(j)) {
                out.push(prev.trim().to_owned());
            }
        }
        out.push(line.trim_end().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_median() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.0,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.5,"upper_bound":2.5},"point_estimate":1234.5e0,"standard_error":0.2}}"#;
        assert_eq!(criterion_median(json), Some(1234.5));
        assert_eq!(criterion_median("{}"), None);
    }

    #[test]
    fn reads_openssl_speed() {
        let out = "CPUINFO: x\nThe 'numbers' are in 1000s of bytes per second processed.\n\
                   type           1200 bytes\nAES-128-GCM    2124162.86k\n";
        let bps = openssl_bytes_per_sec(out).unwrap();
        assert!((bps - 2_124_162_860.0).abs() < 1.0, "{bps}");
        assert_eq!(openssl_bytes_per_sec("garbage\n"), None);
    }

    #[test]
    fn picks_criterion_result_lines() {
        let out = "Benchmarking x\nvp8/packetize          time:   [1.0 us 1.1 us 1.2 us]\n\
                   opus/depacketize\n                        time:   [2.0 ns 2.1 ns 2.2 ns]\n\
                   other noise\n";
        let lines = criterion_lines(out);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("vp8/packetize"));
        assert_eq!(lines[1], "opus/depacketize");
    }
}
