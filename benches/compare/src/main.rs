//! `tether-compare`: data channel benchmarks of our stack next to webrtc-rs (`webrtc` 0.21.1),
//! str0m (with our 1 MiB send window, `str0m`, and with its default 128 KiB, `str0m-default`)
//! and rtc, one stack per process run. `cargo xtask bench` builds and drives it; each run prints one
//! `RESULT key=value ...` line.
//!
//! ```text
//! tether-compare dc <ours|webrtc|str0m|str0m-default|rtc> [--mib N] [--size BYTES] [--restart-at-percent P]
//!                    [--udp-rcvbuf BYTES]   (every stack; 0: the OS default)
//! tether-compare scale <pairs> <seconds>
//! ```
//!
//! Environment: `TETHER_BATCHED_IO=0` runs ours on webrtc-ice's own sockets (one system call
//! per datagram) instead of its batched ones (`GatherOptions::batched_io`).

mod common;
mod ours;
mod rtc_udp;
mod scale;
mod str0m_udp;
mod webrtc_rs;

use std::process::ExitCode;

use common::{err, BoxError, Outcome, Params};

const USAGE: &str = "usage: tether-compare dc <ours|webrtc|str0m|str0m-default|rtc> [--mib N] [--size BYTES] \
                     [--restart-at-percent P] [--udp-rcvbuf BYTES]\n       tether-compare scale <pairs> <seconds>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tether-compare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flag(args: &[String], name: &str) -> Result<Option<u64>, BoxError> {
    match args.iter().position(|a| a == name) {
        Some(i) => {
            let v = args
                .get(i + 1)
                .ok_or_else(|| err(format!("{name} needs a value")))?;
            Ok(Some(v.parse()?))
        }
        None => Ok(None),
    }
}

/// The kernel's count of UDP datagrams dropped because a socket's receive buffer was full
/// (`RcvbufErrors` in `/proc/net/snmp`; machine-wide, so other processes count too).
fn udp_rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(args: &[String]) -> Result<(), BoxError> {
    match args.first().map(String::as_str) {
        Some("dc") => {
            let stack = args.get(1).ok_or_else(|| err(USAGE))?.as_str();
            let size = flag(args, "--size")?.unwrap_or(32 * 1024) as usize;
            let mib = flag(args, "--mib")?.unwrap_or(100);
            let count = (mib * 1024 * 1024).div_ceil(size.max(8) as u64);
            let restart_at = flag(args, "--restart-at-percent")?.map(|pct| count * pct / 100);
            let p = Params {
                size,
                count,
                restart_at,
                udp_receive_buffer: flag(args, "--udp-rcvbuf")?.map(|b| b as usize),
            };
            let drops_before = udp_rcvbuf_errors();
            let outcome: Outcome = match stack {
                "ours" => runtime()?.block_on(ours::run(p))?,
                "webrtc" => runtime()?.block_on(webrtc_rs::run(p))?,
                "str0m" => str0m_udp::run(p, str0m_udp::Window::Ours)?,
                "str0m-default" => str0m_udp::run(p, str0m_udp::Window::Default)?,
                "rtc" => rtc_udp::run(p)?,
                other => return Err(err(format!("unknown stack `{other}`\n{USAGE}"))),
            };
            let test = if restart_at.is_some() {
                "restart"
            } else {
                "dc"
            };
            let drops = udp_rcvbuf_errors().saturating_sub(drops_before);
            let cpu_now = common::process_cpu();
            println!(
                "{} udp_rcvbuf_drops={drops}",
                outcome.line(test, stack, &p, cpu_now)
            );
            Ok(())
        }
        Some("scale") => {
            let pairs: usize = args.get(1).ok_or_else(|| err(USAGE))?.parse()?;
            let seconds: u64 = args.get(2).ok_or_else(|| err(USAGE))?.parse()?;
            runtime()?.block_on(scale::run(pairs, seconds))
        }
        _ => Err(err(USAGE)),
    }
}
