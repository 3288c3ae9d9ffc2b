//! What the soak measures between cycles: open file descriptors, live tokio tasks, resident
//! memory and the signaling server's connections, and the tolerances they are held to.

use std::fmt;
use std::time::{Duration, Instant};

use signaling_ws::ServerHandle;

/// File descriptors the process may hold above the baseline at a checkpoint: what the runtime
/// may open lazily after the warm-up (a blocking pool thread's resources, ...).
pub(crate) const FD_TOLERANCE: usize = 2;
/// Live tokio tasks above the baseline at a checkpoint (a blocking-pool or timer task that is
/// still winding down when the counts are read).
pub(crate) const TASK_TOLERANCE: usize = 2;
/// Resident memory growth over the baseline allowed at any checkpoint: the allocator keeps
/// freed pages of its per-thread arenas, so RSS settles at a plateau rather than at the
/// baseline; a leak of one peer connection's state per cycle (hundreds of KiB) crosses this
/// within a few hundred cycles.
pub(crate) const RSS_TOLERANCE_MIB: f64 = 24.0;
/// How long released resources may take to go away after the last close (ICE agents and
/// retired generations close in background tasks).
pub(crate) const SETTLE: Duration = Duration::from_secs(10);

/// One reading of the process's resources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Entries of `/proc/self/fd`.
    pub(crate) fds: usize,
    /// `RuntimeMetrics::num_alive_tasks` (tokio's stable metrics).
    pub(crate) tasks: usize,
    /// `VmRSS` of `/proc/self/status`, MiB.
    pub(crate) rss_mib: f64,
    /// WebSocket connections the in-process signaling server holds.
    pub(crate) server_connections: usize,
}

impl Sample {
    /// Reads the counts now.
    pub(crate) fn now(server: &ServerHandle) -> Self {
        Self {
            fds: open_fds(),
            tasks: alive_tasks(),
            rss_mib: rss_mib(),
            server_connections: server.connections(),
        }
    }

    /// What grew past its tolerance over `base`, one phrase per resource; empty if nothing.
    pub(crate) fn leaks_over(&self, base: &Sample, fd_tol: usize, task_tol: usize) -> Vec<String> {
        let mut out = Vec::new();
        if self.fds > base.fds + fd_tol {
            out.push(format!(
                "file descriptors grew from {} to {} (+{}, tolerance {fd_tol})",
                base.fds,
                self.fds,
                self.fds - base.fds
            ));
        }
        if self.tasks > base.tasks + task_tol {
            out.push(format!(
                "tokio tasks grew from {} to {} (+{}, tolerance {task_tol})",
                base.tasks,
                self.tasks,
                self.tasks - base.tasks
            ));
        }
        if self.rss_mib > base.rss_mib + RSS_TOLERANCE_MIB {
            out.push(format!(
                "RSS grew from {:.1} to {:.1} MiB (+{:.1}, tolerance {RSS_TOLERANCE_MIB} MiB)",
                base.rss_mib,
                self.rss_mib,
                self.rss_mib - base.rss_mib
            ));
        }
        if self.server_connections > base.server_connections {
            out.push(format!(
                "signaling server connections grew from {} to {}",
                base.server_connections, self.server_connections
            ));
        }
        out
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>5} {:>6} {:>8.1} {:>6}",
            self.fds, self.tasks, self.rss_mib, self.server_connections
        )
    }
}

/// The column heads that go with [`Sample`]'s `Display`.
pub(crate) const SAMPLE_HEADS: &str = "  fds  tasks  RSS MiB  ws-conns";

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Waits until fds, tasks and server connections are back within the tolerances over `base`,
/// or [`SETTLE`] passed; returns the last reading.
pub(crate) async fn settle(server: &ServerHandle, base: &Sample) -> Sample {
    settle_within(server, base, SETTLE).await
}

/// [`settle`] with another time limit.
pub(crate) async fn settle_within(server: &ServerHandle, base: &Sample, limit: Duration) -> Sample {
    let deadline = Instant::now() + limit;
    loop {
        let now = Sample::now(server);
        let back = now.fds <= base.fds + FD_TOLERANCE
            && now.tasks <= base.tasks + TASK_TOLERANCE
            && now.server_connections <= base.server_connections;
        if back || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The reading once fds, tasks and connections stayed the same for 500 ms (background closes
/// finished), or after [`SETTLE`].
pub(crate) async fn quiesce(server: &ServerHandle) -> Sample {
    let deadline = Instant::now() + SETTLE;
    let key = |s: &Sample| (s.fds, s.tasks, s.server_connections);
    let mut last = Sample::now(server);
    let mut since = Instant::now();
    while Instant::now() < deadline && since.elapsed() < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = Sample::now(server);
        if key(&now) != key(&last) {
            since = Instant::now();
        }
        last = now;
    }
    last
}

/// Median, minimum and maximum of `times` (sorted in place), in milliseconds.
pub(crate) fn spread_ms(times: &mut [Duration]) -> (f64, f64, f64) {
    if times.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    )
}
