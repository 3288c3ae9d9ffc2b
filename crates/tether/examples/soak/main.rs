//! The soak: peer connections through the real signaling server, many times over or
//! for a long time, with file descriptors, tokio tasks and RSS checked against a baseline.
//!
//! - Cycle mode (`--cycles N`, default 1,000): each cycle joins a fresh room with two
//!   WebSocket signaling clients (server on 127.0.0.1:0 in this process), connects two peer
//!   connections (loopback host candidates only), opens a data channel and checks messages
//!   both ways, checks that RTP of an Opus track arrives, restarts ICE and checks data and
//!   RTP again on the new path, closes and waits until everything stopped. After a warm-up,
//!   the counts are the baseline; every `--check-every` cycles (and at the end) they must be
//!   back within the tolerances of `resources.rs`.
//! - Session mode (`--sessions S --minutes M`): S sessions kept open for M minutes, data
//!   every second, periodic ICE restarts and signaling reconnects (the client drops its
//!   WebSocket and resumes), RTP checked; the counts are printed every `--check-every-secs`;
//!   after all close they must be back at the baseline.
//!
//! Run: `cargo xtask soak [--cycles N] [--sessions S --minutes M]`. Network traffic is to
//! 127.0.0.1 only. Exits 1 with the reason when a check fails.

mod pair;
mod resources;
mod sessions;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use signaling_ws::{Limits, Server, ServerConfig, ServerHandle};
use tokio::task::JoinSet;

use pair::Pair;
use resources::{quiesce, settle, spread_ms, Sample, FD_TOLERANCE, SAMPLE_HEADS, TASK_TOLERANCE};

/// What to run.
#[derive(Debug, Clone, Parser)]
#[command(about = "Tether's soak: open/connect/data+media/restart/close cycles, or long sessions")]
pub(crate) struct Args {
    /// Cycles of the cycle mode.
    #[arg(long, default_value_t = 1000)]
    cycles: u64,
    /// Cycles that run at the same time (cycle mode).
    #[arg(long, default_value_t = 1)]
    parallel: u64,
    /// Check the counts every this many cycles (cycle mode).
    #[arg(long, default_value_t = 100)]
    check_every: u64,
    /// Cycles before the baseline is taken (not counted in --cycles).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Messages each way per exchange.
    #[arg(long, default_value_t = 10)]
    messages: usize,
    /// Session mode: this many sessions kept open (with --minutes).
    #[arg(long)]
    sessions: Option<usize>,
    /// Session mode: how long.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Session mode: each session restarts ICE this often (staggered), alternating sides.
    #[arg(long, default_value_t = 60.0)]
    restart_every_secs: f64,
    /// Session mode: each session drops and resumes a signaling connection this often
    /// (staggered), alternating sides.
    #[arg(long, default_value_t = 45.0)]
    reconnect_every_secs: f64,
    /// Session mode: only report counts over the in-run tolerances instead of failing (to
    /// watch a trend); the check after the close still fails.
    #[arg(long)]
    report_only_in_run: bool,
    /// Session mode: print and check the counts this often.
    #[arg(long, default_value_t = 60.0)]
    check_every_secs: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::ERROR)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak: no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => {
            println!("SOAK PASSED");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("SOAK FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let concurrent = args.sessions.unwrap_or(0).max(args.parallel as usize);
    // Every client comes from 127.0.0.1: the per-address limits are raised to what the soak
    // opens at once (each peer connection's client reconnects too); the others are the
    // defaults.
    let config = ServerConfig {
        limits: Limits {
            max_connections_per_address: 4 * concurrent + 16,
            joins_per_second_per_address: 1000,
            join_burst_per_address: 1000,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let grace = config.grace;
    let server = Server::bind(([127, 0, 0, 1], 0).into(), config)
        .await
        .map_err(|e| format!("starting the signaling server: {e}"))?;
    let url = server.ws_url();
    println!(
        "soak: signaling server {url} (in process); {} worker threads; tolerances: fds +{FD_TOLERANCE}, \
         tokio tasks +{TASK_TOLERANCE}, RSS +{} MiB over the baseline",
        tokio::runtime::Handle::current().metrics().num_workers(),
        resources::RSS_TOLERANCE_MIB
    );
    let result = match args.sessions {
        Some(s) => sessions::run(&server, &url, &args, s, grace).await,
        None => cycles(&server, &url, &args).await,
    };
    let stopped = server.shutdown(Duration::from_secs(5)).await;
    result?;
    stopped.map_err(|e| format!("stopping the signaling server: {e}"))
}

/// One cycle: open, data, media, restart, data and media again, close.
async fn cycle(url: String, id: u64, messages: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let mut pair = Pair::open(&url, id).await?;
    pair.exchange(messages).await?;
    pair.media_flows().await?;
    pair.restart(true).await?;
    pair.exchange(messages).await?;
    pair.media_flows().await?;
    pair.close().await?;
    Ok(started.elapsed())
}

/// Warm-up cycles, then the baseline once the counts stayed still.
pub(crate) async fn baseline(
    server: &ServerHandle,
    url: &str,
    args: &Args,
) -> Result<Sample, String> {
    for i in 0..args.warmup {
        cycle(url.to_owned(), u64::MAX - i, args.messages)
            .await
            .map_err(|e| format!("warm-up cycle {i}: {e}"))?;
    }
    Ok(quiesce(server).await)
}

async fn cycles(server: &ServerHandle, url: &str, args: &Args) -> Result<(), String> {
    let base = baseline(server, url, args).await?;
    println!(
        "baseline after {} warm-up cycles: {} fds, {} tokio tasks, {:.1} MiB RSS, {} signaling \
         connections",
        args.warmup, base.fds, base.tasks, base.rss_mib, base.server_connections
    );
    println!("\n cycles  elapsed s  cycle ms: median   min    max {SAMPLE_HEADS}  verdict");
    let started = Instant::now();
    let mut all: Vec<Duration> = Vec::with_capacity(args.cycles as usize);
    let mut window: Vec<Duration> = Vec::new();
    let mut done = 0u64;
    let mut next_check = args.check_every.max(1);
    let mut last = base;
    let parallel = args.parallel.max(1);
    while done < args.cycles {
        let batch = parallel.min(args.cycles - done);
        let mut set = JoinSet::new();
        for k in 0..batch {
            set.spawn(cycle(url.to_owned(), done + k + 1, args.messages));
        }
        while let Some(joined) = set.join_next().await {
            let took = joined
                .map_err(|e| format!("a cycle task: {e}"))?
                .map_err(|e| format!("cycle {}..{}: {e}", done + 1, done + batch))?;
            window.push(took);
            all.push(took);
        }
        done += batch;
        if done >= next_check || done == args.cycles {
            next_check += args.check_every.max(1);
            last = settle(server, &base).await;
            let (median, min, max) = spread_ms(&mut window);
            window.clear();
            let leaks = last.leaks_over(&base, FD_TOLERANCE, TASK_TOLERANCE);
            println!(
                "{done:>7} {:>10.1} {median:>16.0} {min:>5.0} {max:>6.0} {last}  {}",
                started.elapsed().as_secs_f64(),
                if leaks.is_empty() { "ok" } else { "LEAK" }
            );
            if !leaks.is_empty() {
                return Err(format!(
                    "after {done} cycles: {} (baseline {base:?}, now {last:?})",
                    leaks.join("; ")
                ));
            }
        }
    }
    let elapsed = started.elapsed();
    let (median, min, max) = spread_ms(&mut all);
    let p90 = all
        .get(all.len() * 9 / 10)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    println!(
        "\nRESULT soak cycles={} parallel={parallel} seconds={:.1} cycle_ms_median={median:.0} \
         cycle_ms_p90={p90:.0} cycle_ms_min={min:.0} cycle_ms_max={max:.0} fds={}->{} \
         tasks={}->{} rss_mib={:.1}->{:.1}",
        args.cycles,
        elapsed.as_secs_f64(),
        base.fds,
        last.fds,
        base.tasks,
        last.tasks,
        base.rss_mib,
        last.rss_mib
    );
    Ok(())
}
