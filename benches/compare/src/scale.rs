//! Scale of our stack: `pairs` connected pairs of peer connections in one process (two peer
//! connections each, loopback only), each with a data channel carrying one message per second
//! from A to B for `seconds`. Reports RSS, CPU time and the setup-time distribution.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use transport_tokio::Message;

use crate::common::{err, ms, BoxError};
use crate::ours;

/// Pairs connecting at the same time.
const CONCURRENT_SETUPS: usize = 20;
/// Message size of the 1/s traffic.
const TICK_MESSAGE: usize = 64;

/// `VmRSS` and `VmHWM` of this process in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU time of this process (clock ticks of 10 ms, Linux's `USER_HZ`).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`: state is field 3; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the scale test and prints one `RESULT` line.
pub async fn run(pairs: usize, seconds: u64) -> Result<(), BoxError> {
    let (rss_before, _) = rss_kib();
    let cpu_start = cpu_time();
    let started = Instant::now();
    let mut connected = Vec::with_capacity(pairs);
    let mut setups = Vec::with_capacity(pairs);
    let mut failures = 0usize;
    let mut pending = JoinSet::new();
    let mut launched = 0;
    while connected.len() + failures < pairs {
        while launched < pairs && pending.len() < CONCURRENT_SETUPS {
            pending.spawn(ours::connect(Some(
                transport_tokio::DEFAULT_UDP_RECEIVE_BUFFER,
            )));
            launched += 1;
        }
        match pending.join_next().await {
            Some(Ok(Ok(pair))) => {
                setups.push(pair.setup);
                connected.push(pair);
            }
            Some(Ok(Err(e))) => {
                eprintln!("scale: a pair failed to connect: {e}");
                failures += 1;
            }
            Some(Err(e)) => {
                eprintln!("scale: a setup task failed: {e}");
                failures += 1;
            }
            None => break,
        }
    }
    let setup_wall = started.elapsed();
    // Datagrams written while no ICE path was promoted yet (dropped by our transport): a
    // dropped DTLS flight costs a 1 s retransmission timeout.
    let mut dropped_out = 0u64;
    let mut pairs_with_drops = 0usize;
    let mut slow_with_drops = 0usize;
    let mut slow = 0usize;
    for pair in &connected {
        let mut d = 0;
        for pc in [&pair.a, &pair.b] {
            if let Ok(stats) = pc.stats().await {
                d += stats.datagrams_dropped_out;
            }
        }
        dropped_out += d;
        let is_slow = pair.setup > Duration::from_millis(500);
        slow += usize::from(is_slow);
        if d > 0 {
            pairs_with_drops += 1;
            slow_with_drops += usize::from(is_slow);
        }
    }
    let cpu_setup = cpu_time() - cpu_start;
    let (rss_connected, _) = rss_kib();
    if connected.is_empty() {
        return Err(err("no pair connected"));
    }

    // Steady state: one message per second per pair.
    let delivered = Arc::new(AtomicU64::new(0));
    let cpu_steady_start = cpu_time();
    let mut traffic = JoinSet::new();
    let mut keep = Vec::with_capacity(connected.len());
    for pair in connected {
        let ours::Pair {
            a,
            b,
            a_events,
            b_events,
            dc_a,
            mut dc_b,
            ..
        } = pair;
        let delivered = Arc::clone(&delivered);
        traffic.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for _ in 0..seconds {
                tick.tick().await;
                if dc_a.send(vec![0u8; TICK_MESSAGE]).await.is_err() {
                    break;
                }
                match tokio::time::timeout(Duration::from_secs(5), dc_b.recv()).await {
                    Ok(Some(Message::Binary(_))) => {
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            (dc_a, dc_b)
        });
        keep.push((a, b, a_events, b_events));
    }
    while traffic.join_next().await.is_some() {}
    let cpu_steady = cpu_time() - cpu_steady_start;
    let (rss_end, rss_peak) = rss_kib();

    for (a, b, _, _) in &keep {
        a.close().await;
        b.close().await;
    }

    setups.sort();
    let n = setups.len();
    println!(
        "RESULT test=scale stack=ours pairs={pairs} peer_connections={} connected={n} failed={failures} \
         seconds={seconds} setup_wall_s={:.2} setup_p50_ms={:.1} setup_p90_ms={:.1} setup_p99_ms={:.1} \
         setup_max_ms={:.1} rss_before_mib={:.1} rss_connected_mib={:.1} rss_end_mib={:.1} \
         rss_peak_mib={:.1} cpu_setup_s={:.2} cpu_steady_s={:.2} cpu_steady_pct={:.1} \
         messages_expected={} messages_delivered={} setups_over_500ms={slow} \
         pairs_with_dropped_out={pairs_with_drops} slow_pairs_with_dropped_out={slow_with_drops} \
         datagrams_dropped_out={dropped_out}",
        2 * pairs,
        setup_wall.as_secs_f64(),
        ms(percentile(&setups, 0.5)),
        ms(percentile(&setups, 0.9)),
        ms(percentile(&setups, 0.99)),
        ms(setups[n - 1]),
        rss_before as f64 / 1024.0,
        rss_connected as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        cpu_setup.as_secs_f64(),
        cpu_steady.as_secs_f64(),
        100.0 * cpu_steady.as_secs_f64() / seconds.max(1) as f64,
        n as u64 * seconds,
        delivered.load(Ordering::Relaxed),
    );
    Ok(())
}
