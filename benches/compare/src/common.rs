//! What every stack's runner shares: the run parameters, the message payload, the receiver's
//! bookkeeping (order, loss, gaps) and the one-line result every run prints.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Backpressure for every stack: a sender waits while more than this many bytes are queued
/// (our transport's `HIGH_WATER`).
pub const HIGH_WATER: usize = 1024 * 1024;
/// A run fails when the receiver sees nothing for this long.
pub const STALL: Duration = Duration::from_secs(20);
/// Setup (offer to open channel) must finish within this.
pub const SETUP_LIMIT: Duration = Duration::from_secs(30);

/// One data channel run: `count` messages of `size` bytes from the offerer to the answerer,
/// reliable and ordered; with `restart_at`, the offerer restarts ICE after that many messages.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Message size in bytes (at least 8: the sequence number).
    pub size: usize,
    /// Messages to send.
    pub count: u64,
    /// Restart ICE after this many messages were sent.
    pub restart_at: Option<u64>,
    /// The UDP receive buffer to ask for (`--udp-rcvbuf BYTES`; 0 leaves the OS default, as
    /// before `GatherOptions::udp_receive_buffer`); `None`: ours' default,
    /// [`transport_tokio::DEFAULT_UDP_RECEIVE_BUFFER`]. Applies to every stack: ours through
    /// its option, str0m's and rtc's loops through [`bind_udp`], webrtc-rs through the runtime
    /// that wraps the sockets its driver binds.
    pub udp_receive_buffer: Option<usize>,
}

impl Params {
    /// The receive buffer to ask for, `None` for the OS default.
    pub fn receive_buffer(&self) -> Option<usize> {
        match self.udp_receive_buffer {
            Some(0) => None,
            Some(bytes) => Some(bytes),
            None => Some(transport_tokio::DEFAULT_UDP_RECEIVE_BUFFER),
        }
    }
}

/// A UDP socket on 127.0.0.1 with `p`'s receive buffer, for the blocking loops.
pub fn bind_udp(p: &Params) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    if let Some(bytes) = p.receive_buffer() {
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBuf, &bytes)?;
    }
    Ok(socket)
}

/// Waits until `socket` has a datagram to read or `timeout` has passed (`ppoll(2)`, whose
/// timeout has nanosecond resolution: a socket read timeout would be rounded up to the
/// kernel's 4 ms ticks). Returns whether the socket is readable.
pub fn wait_readable(socket: &std::net::UdpSocket, timeout: Duration) -> std::io::Result<bool> {
    use nix::poll::{ppoll, PollFd, PollFlags};
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(socket),
        PollFlags::POLLIN,
    )];
    match ppoll(&mut fds, Some(timeout.into()), None) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// CPU time (user + system) this process has used so far, all threads.
pub fn process_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
        micros(u.user_time()) + micros(u.system_time())
    })
}

/// Message `seq`: its sequence number, then zeros.
pub fn payload(seq: u64, size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size.max(8)];
    v[..8].copy_from_slice(&seq.to_be_bytes());
    v
}

/// The receiving side's view of a transfer.
#[derive(Debug, Default)]
pub struct Tracker {
    next: u64,
    /// Messages received.
    pub received: u64,
    /// Sequence numbers skipped (lost messages on a reliable channel).
    pub lost: u64,
    /// Messages that arrived out of order or twice.
    pub misordered: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// When the last message arrived.
    pub last: Option<Instant>,
    /// Longest time between two consecutive messages.
    pub longest_gap: Duration,
}

impl Tracker {
    /// Records one message that arrived `now`.
    pub fn on_message(&mut self, data: &[u8], now: Instant) {
        let Some(head) = data.get(..8) else {
            self.misordered += 1;
            return;
        };
        let mut seq = [0u8; 8];
        seq.copy_from_slice(head);
        let seq = u64::from_be_bytes(seq);
        if seq >= self.next {
            self.lost += seq - self.next;
            self.next = seq + 1;
        } else {
            self.misordered += 1;
        }
        if let Some(last) = self.last {
            self.longest_gap = self.longest_gap.max(now - last);
        }
        self.last = Some(now);
        self.received += 1;
        self.bytes += data.len() as u64;
    }

    /// Has the last message of `count` arrived?
    pub fn done(&self, count: u64) -> bool {
        self.next >= count
    }
}

/// What one run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Offer created until the channel is open on both sides.
    pub setup: Duration,
    /// When the first message was handed to the stack.
    pub first_send: Instant,
    /// [`process_cpu`] then.
    pub first_send_cpu: Duration,
    /// The receiver's view.
    pub tracker: Tracker,
    /// Messages the sender handed to the stack.
    pub sent: u64,
    /// Restart requested until the new path carried traffic, when the stack tells.
    pub restart_switch: Option<Duration>,
}

impl Outcome {
    /// The `RESULT` line `cargo xtask bench` reads: `key=value` pairs; `cpu_now` is
    /// [`process_cpu`] at the end of the run (`cpu_s`: CPU of the whole process from the first
    /// send to then, both peers together).
    pub fn line(&self, test: &str, stack: &str, p: &Params, cpu_now: Duration) -> String {
        let t = &self.tracker;
        let secs = t
            .last
            .map(|l| (l - self.first_send).as_secs_f64())
            .unwrap_or(0.0);
        let mib_s = if secs > 0.0 {
            t.bytes as f64 / (1024.0 * 1024.0) / secs
        } else {
            0.0
        };
        let mut s = format!(
            "RESULT test={test} stack={stack} size={} count={} setup_ms={:.3} transfer_s={secs:.3} \
             mib_s={mib_s:.2} sent={} received={} lost={} misordered={} gap_ms={:.3}",
            p.size,
            p.count,
            ms(self.setup),
            self.sent,
            t.received,
            t.lost + p.count.saturating_sub(t.next),
            t.misordered,
            ms(t.longest_gap),
        );
        let cpu = cpu_now.saturating_sub(self.first_send_cpu).as_secs_f64();
        let _ = write!(s, " cpu_s={cpu:.3}");
        if t.bytes > 0 {
            let per_100_mib = cpu * 100.0 * 1024.0 * 1024.0 / t.bytes as f64;
            let _ = write!(s, " cpu_per_100mib_s={per_100_mib:.3}");
        }
        if let Some(d) = self.restart_switch {
            let _ = write!(s, " switch_ms={:.3}", ms(d));
        }
        s
    }
}

/// Milliseconds as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A boxed error with a message, for the runners.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Makes an error from a message.
pub fn err(msg: impl Into<String>) -> BoxError {
    msg.into().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_counts_loss_misorder_and_gaps() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        t.on_message(&payload(0, 16), t0);
        t.on_message(&payload(1, 16), t0 + Duration::from_millis(5));
        t.on_message(&payload(4, 16), t0 + Duration::from_millis(30)); // 2 and 3 lost
        t.on_message(&payload(2, 16), t0 + Duration::from_millis(31)); // late: misordered
        t.on_message(b"short", t0 + Duration::from_millis(32)); // no sequence number
        assert_eq!((t.received, t.lost, t.misordered), (4, 2, 2));
        assert_eq!(t.longest_gap, Duration::from_millis(25));
        assert_eq!(t.bytes, 64);
        assert!(t.done(5) && !t.done(6));
    }

    #[test]
    fn result_line_counts_undelivered_tail_as_lost() {
        let t0 = Instant::now();
        let mut tracker = Tracker::default();
        for seq in 0..3 {
            tracker.on_message(&payload(seq, 1024), t0 + Duration::from_millis(seq));
        }
        let outcome = Outcome {
            setup: Duration::from_millis(7),
            first_send: t0,
            first_send_cpu: Duration::from_secs(1),
            tracker,
            sent: 5,
            restart_switch: None,
        };
        let p = Params {
            size: 1024,
            count: 5,
            restart_at: None,
            udp_receive_buffer: None,
        };
        let line = outcome.line("dc", "ours", &p, Duration::from_millis(1500));
        assert!(line.starts_with("RESULT test=dc stack=ours "), "{line}");
        assert!(line.contains(" received=3 lost=2 "), "{line}");
        assert!(line.contains(" setup_ms=7.000 "), "{line}");
        assert!(line.contains(" cpu_s=0.500 "), "{line}");
    }
}
