//! Open/close cycles of two real peer connections over loopback UDP (127.0.0.1 only): every
//! task, socket and file descriptor must be released.
//!
//! File descriptors are counted process-wide (`/proc/self/fd`), so this file holds the only
//! test of its binary. Numbers: `cargo test -p tether-transport-tokio --test leaks --
//! --nocapture` (100 cycles take ~40 s on 2 cores).

use test_support::{config, expect_closed, wait_event};

use std::time::{Duration, Instant};

use session_core::channel::DataChannelInit;
use session_core::session::ClosedBy;
use transport_tokio::{memory_pair, Message, PeerConnection, PeerEvent};

/// Open/close cycles after the warm-up one.
const CYCLES: usize = 100;
/// File descriptors the runtime itself may open lazily after the warm-up (e.g. a blocking
/// pool thread's resources); anything beyond this is a leak.
const FD_TOLERANCE: usize = 2;
/// How long released resources may take to go away after the last cycle (agents close in
/// background tasks).
const SETTLE: Duration = Duration::from_secs(10);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// One cycle: connect with a data channel, one message A -> B, close from A (`a_closes`) or B;
/// returns once both drivers stopped and every handle is dropped, with the setup time
/// (`create_data_channel` to the message received) and the close time.
async fn cycle(i: usize, a_closes: bool) -> (Duration, Duration) {
    let start = Instant::now();
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (a, mut a_events) = PeerConnection::new(config(false, None), sa).unwrap();
    let (b, mut b_events) = PeerConnection::new(config(true, None), sb).unwrap();
    let dc_a = a
        .create_data_channel("leak", DataChannelInit::default())
        .await
        .unwrap();
    let mut dc_b = wait_event(&mut b_events, Duration::from_secs(20), |ev| match ev {
        PeerEvent::DataChannel(dc) => Some(dc),
        _ => None,
    })
    .await;
    let text = format!("cycle {i}");
    dc_a.send_text(text.clone()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), dc_b.recv())
        .await
        .expect("message not delivered")
        .expect("channel closed early");
    assert_eq!(got, Message::Text(text));
    let setup = start.elapsed();

    let start = Instant::now();
    let (closer, closer_events, other_events) = if a_closes {
        (&a, &mut a_events, &mut b_events)
    } else {
        (&b, &mut b_events, &mut a_events)
    };
    tracing::info!(i, a_closes, "closing");
    closer.close().await;
    expect_closed(closer_events, ClosedBy::Local).await;
    expect_closed(other_events, ClosedBy::Remote).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        a.wait_closed().await;
        b.wait_closed().await;
        // Both event streams end: the drivers are gone.
        while a_events.recv().await.is_some() {}
        while b_events.recv().await.is_some() {}
        // The channels end on both sides.
        while dc_b.recv().await.is_some() {}
    })
    .await
    .expect("close did not complete");
    assert!(dc_a.send_text("late").await.is_err());
    (setup, start.elapsed())
}

/// Waits until fds and tasks are back within `fds`/`tasks`, or [`SETTLE`] passed; returns the
/// last counts.
async fn settle(fds: usize, tasks: usize) -> (usize, usize) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = (open_fds(), alive_tasks());
        if (now.0 <= fds && now.1 <= tasks) || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The counts once they stayed the same for 500 ms (background closes finished), or after
/// [`SETTLE`].
async fn quiesce() -> (usize, usize) {
    let deadline = Instant::now() + SETTLE;
    let mut last = (open_fds(), alive_tasks());
    let mut since = Instant::now();
    while Instant::now() < deadline && since.elapsed() < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = (open_fds(), alive_tasks());
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

async fn open_close_cycles(cycles: usize) {
    if std::env::var_os("TETHER_TRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    // Warm-up: lazily created runtime resources (blocking pool threads, ...) exist from now on.
    cycle(0, true).await;
    let (fd_base, task_base) = quiesce().await;
    let fd_limit = fd_base + FD_TOLERANCE;

    let start = Instant::now();
    let mut peak = (0usize, 0usize);
    let mut mid = None;
    let (mut setup, mut close) = (Duration::ZERO, Duration::ZERO);
    let (mut max_setup, mut max_close) = (Duration::ZERO, Duration::ZERO);
    let mut setups = Vec::with_capacity(cycles);
    for i in 1..=cycles {
        let (s, c) = cycle(i, i % 2 == 0).await;
        setups.push(s);
        (setup, close) = (setup + s, close + c);
        (max_setup, max_close) = (max_setup.max(s), max_close.max(c));
        peak = (peak.0.max(open_fds()), peak.1.max(alive_tasks()));
        if i == cycles / 2 {
            mid = Some(settle(fd_limit, task_base).await);
        }
    }
    let elapsed = start.elapsed();
    let (fds, tasks) = settle(fd_limit, task_base).await;
    let mid = mid.unwrap_or((fds, tasks));
    setups.sort();
    println!(
        "setup over {cycles} cycles: median {:?}, 90th percentile {:?}, max {:?}, {} over 500 ms",
        setups[cycles / 2],
        setups[cycles * 9 / 10],
        setups[cycles - 1],
        setups
            .iter()
            .filter(|s| **s > Duration::from_millis(500))
            .count()
    );
    println!(
        "{cycles} open/close cycles in {elapsed:?} ({:?} per cycle: setup mean {:?} max \
         {max_setup:?}, close mean {:?} max {max_close:?}); fds: baseline {fd_base}, \
         after {} cycles {}, after {cycles} {fds}, peak right after a close {}; tokio tasks: \
         baseline {task_base}, after {} cycles {}, after {cycles} {tasks}, peak right after a close {}",
        elapsed / cycles as u32,
        setup / cycles as u32,
        close / cycles as u32,
        cycles / 2,
        mid.0,
        peak.0,
        cycles / 2,
        mid.1,
        peak.1,
    );
    assert!(
        mid.0 <= fd_limit && fds <= fd_limit,
        "file descriptors leak: baseline {fd_base}, after {} cycles {}, after {cycles} {fds}",
        cycles / 2,
        mid.0
    );
    assert!(
        mid.1 <= task_base && tasks <= task_base,
        "tokio tasks leak: baseline {task_base}, after {} cycles {}, after {cycles} {tasks}",
        cycles / 2,
        mid.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_close_100_cycles_release_every_fd_and_task() {
    open_close_cycles(CYCLES).await;
}
