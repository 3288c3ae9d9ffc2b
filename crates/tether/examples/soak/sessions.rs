//! Session mode: many sessions kept open for minutes, with data every second, periodic ICE
//! restarts and signaling reconnects, and the counts checked while they run and after they
//! closed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signaling_ws::ServerHandle;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::pair::Pair;
use crate::resources::{settle_within, Sample, FD_TOLERANCE, SAMPLE_HEADS, SETTLE, TASK_TOLERANCE};
use crate::{baseline, Args};

/// Time between two message exchanges of a session.
const DATA_EVERY: Duration = Duration::from_secs(1);
/// Time between two RTP checks of a session.
const MEDIA_EVERY: Duration = Duration::from_secs(10);
/// Messages each way per exchange.
const MESSAGES: usize = 2;

/// While the sessions run, the counts may exceed the first in-run reading by the tolerances
/// plus this much per started group of 10 sessions: restarts in flight hold a second ICE
/// generation's socket on each side (until 500 ms after the switch), and its agent's tasks.
const IN_RUN_FDS_PER_10: usize = 4;
/// See [`IN_RUN_FDS_PER_10`].
const IN_RUN_TASKS_PER_10: usize = 10;

#[derive(Debug, Default)]
struct Totals {
    exchanges: AtomicU64,
    restarts: AtomicU64,
    reconnects: AtomicU64,
    media_checks: AtomicU64,
    /// The most live ICE generations one peer connection had at a media check since the last
    /// row (reset by each row).
    max_generations: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    sessions: usize,
    deadline: Instant,
    restart_every: Duration,
    reconnect_every: Duration,
}

pub(crate) async fn run(
    server: &ServerHandle,
    url: &str,
    args: &Args,
    sessions: usize,
    grace: Duration,
) -> Result<(), String> {
    let base = baseline(server, url, args).await?;
    println!(
        "baseline after {} warm-up cycles: {} fds, {} tokio tasks, {:.1} MiB RSS, {} signaling \
         connections",
        args.warmup, base.fds, base.tasks, base.rss_mib, base.server_connections
    );
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.1));
    let started = Instant::now();
    let mut pairs = Vec::with_capacity(sessions);
    for i in 0..sessions {
        pairs.push(
            Pair::open(url, i as u64 + 1)
                .await
                .map_err(|e| format!("opening session {}: {e}", i + 1))?,
        );
    }
    let opened = started.elapsed();
    let plan = Plan {
        sessions,
        deadline: Instant::now() + secs(args.minutes * 60.0),
        restart_every: secs(args.restart_every_secs),
        reconnect_every: secs(args.reconnect_every_secs),
    };
    println!(
        "{sessions} sessions open in {:.1} s; running {} min: data every {DATA_EVERY:?}, an ICE \
         restart every {:?} and a signaling reconnect every {:?} per session (staggered), RTP \
         checked every {MEDIA_EVERY:?}",
        opened.as_secs_f64(),
        args.minutes,
        plan.restart_every,
        plan.reconnect_every
    );
    println!(
        "\n minutes {SAMPLE_HEADS}  exchanges restarts reconnects rtp-checks max-gens  verdict"
    );
    let opened_at = Instant::now();
    let totals = Arc::new(Totals::default());
    let mut set = JoinSet::new();
    for (i, pair) in pairs.into_iter().enumerate() {
        set.spawn(session(pair, i, plan, Arc::clone(&totals)));
    }
    let groups = sessions.div_ceil(10);
    let (fd_tol, task_tol) = (
        FD_TOLERANCE + IN_RUN_FDS_PER_10 * groups,
        TASK_TOLERANCE + IN_RUN_TASKS_PER_10 * groups,
    );
    let every = secs(args.check_every_secs);
    let mut next_check = Instant::now() + every;
    let mut first: Option<Sample> = None;
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) => return Err(format!("a session task: {e}")),
            },
            _ = tokio::time::sleep_until(next_check) => {
                next_check += every;
                let now = Sample::now(server);
                // The reference is the first reading after one resume grace window of running:
                // from then on the server's grace-timer tasks (one per reconnect, see the
                // final check) come and go at the same rate.
                if first.is_none() && opened_at.elapsed() < grace {
                    print_row(started, &now, &totals, "(within the first grace window)");
                    continue;
                }
                let reference = *first.get_or_insert(now);
                let leaks = now.leaks_over(&reference, fd_tol, task_tol);
                print_row(started, &now, &totals, if leaks.is_empty() { "ok" } else { "LEAK" });
                if !leaks.is_empty() && !args.report_only_in_run {
                    return Err(format!(
                        "while {sessions} sessions ran, over the first reading (tolerances fds \
                         +{fd_tol}, tasks +{task_tol}): {}",
                        leaks.join("; ")
                    ));
                }
            }
        }
    }
    // The server keeps one task per signaling reconnect for its whole resume grace window
    // (30 s), also after the peer resumed (the memory backend's grace timer sleeps to the end
    // and then finds the suspension over): the last ones end up to that long after the close.
    let closing = Instant::now();
    let last = settle_within(server, &base, grace + SETTLE).await;
    // RSS is held to the first reading while the sessions ran, not to the baseline before they
    // opened: the allocator keeps the pages the open sessions used (it returns them to the
    // system only when a whole arena top is free), so RSS after the close stays near that
    // plateau; growth beyond it is what a leak would show.
    let held_to = Sample {
        rss_mib: first.map_or(base.rss_mib, |f| f.rss_mib.max(base.rss_mib)),
        ..base
    };
    println!(
        "counts {} {:.1} s after the last session closed",
        if last
            .leaks_over(&held_to, FD_TOLERANCE, TASK_TOLERANCE)
            .is_empty()
        {
            "back at the baseline"
        } else {
            "still over the baseline"
        },
        closing.elapsed().as_secs_f64()
    );
    let leaks = last.leaks_over(&held_to, FD_TOLERANCE, TASK_TOLERANCE);
    print_row(
        started,
        &last,
        &totals,
        if leaks.is_empty() {
            "closed, ok"
        } else {
            "closed, LEAK"
        },
    );
    if !leaks.is_empty() {
        return Err(format!(
            "after all {sessions} sessions closed: {} (baseline {base:?}, now {last:?})",
            leaks.join("; ")
        ));
    }
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "\nRESULT soak sessions={sessions} minutes={} exchanges={} restarts={} reconnects={} \
         rtp_checks={} fds={}->{} tasks={}->{} rss_mib={:.1}->{:.1} in_run_rss_mib={:.1}",
        args.minutes,
        load(&totals.exchanges),
        load(&totals.restarts),
        load(&totals.reconnects),
        load(&totals.media_checks),
        base.fds,
        last.fds,
        base.tasks,
        last.tasks,
        base.rss_mib,
        last.rss_mib,
        first.map_or(0.0, |f| f.rss_mib)
    );
    Ok(())
}

fn print_row(started: Instant, s: &Sample, totals: &Totals, verdict: &str) {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "{:>8.1} {s} {:>10} {:>8} {:>10} {:>10} {:>8}  {verdict}",
        started.elapsed().as_secs_f64() / 60.0,
        load(&totals.exchanges),
        load(&totals.restarts),
        load(&totals.reconnects),
        load(&totals.media_checks),
        totals.max_generations.swap(0, Ordering::Relaxed),
    );
}

/// One session until the deadline: messages every [`DATA_EVERY`], ICE restarts and signaling
/// reconnects on their (staggered) schedules from alternating sides, RTP checked; then close.
async fn session(mut pair: Pair, i: usize, plan: Plan, totals: Arc<Totals>) -> Result<(), String> {
    let id = pair.id;
    let ctx = |what: &str, e: String| format!("session {id}, {what}: {e}");
    let stagger = |every: Duration| every.mul_f64((i as f64 + 1.0) / plan.sessions as f64);
    let start = Instant::now();
    let (mut next_restart, mut next_reconnect, mut next_media) = (
        start + stagger(plan.restart_every),
        start + stagger(plan.reconnect_every),
        start + MEDIA_EVERY,
    );
    let (mut restarts, mut reconnects) = (0u64, 0u64);
    while Instant::now() < plan.deadline {
        tokio::time::sleep(DATA_EVERY).await;
        pair.exchange(MESSAGES).await.map_err(|e| ctx("data", e))?;
        totals.exchanges.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if now >= next_restart {
            next_restart += plan.restart_every;
            pair.restart(restarts % 2 == 0)
                .await
                .map_err(|e| ctx(&format!("ICE restart {}", restarts + 1), e))?;
            restarts += 1;
            totals.restarts.fetch_add(1, Ordering::Relaxed);
            pair.exchange(MESSAGES)
                .await
                .map_err(|e| ctx("data after a restart", e))?;
        }
        if now >= next_reconnect {
            next_reconnect += plan.reconnect_every;
            pair.reconnect_signaling(reconnects % 2 == 0)
                .await
                .map_err(|e| ctx("signaling reconnect", e))?;
            reconnects += 1;
            totals.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        if now >= next_media {
            next_media += MEDIA_EVERY;
            pair.media_flows().await.map_err(|e| ctx("media", e))?;
            totals.media_checks.fetch_add(1, Ordering::Relaxed);
            let (a, b) = pair.generations().await.map_err(|e| ctx("stats", e))?;
            totals
                .max_generations
                .fetch_max(a.max(b) as u64, Ordering::Relaxed);
        }
    }
    // Signaling still works after every reconnect: one last restart needs it.
    pair.restart(true)
        .await
        .map_err(|e| ctx("the final ICE restart", e))?;
    totals.restarts.fetch_add(1, Ordering::Relaxed);
    pair.exchange(MESSAGES)
        .await
        .map_err(|e| ctx("data after the final restart", e))?;
    pair.media_flows().await.map_err(|e| ctx("media", e))?;
    pair.close().await.map_err(|e| ctx("close", e))?;
    Ok(())
}
