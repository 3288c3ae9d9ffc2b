//! Loss and delay in user space, for kernels without `sch_netem`: two iptables `NFQUEUE` rules
//! hand every IPv4 packet between two addresses (both directions, as seen in one network
//! namespace) to a thread of the test process, which drops some at random and holds the others
//! for a random delay before accepting them (netem's `delay D J loss P%`, on one path).
//!
//! The rules match the path's addresses, not an interface: a path between two hosts with two
//! links each may leave on one link and come back on the other (a socket bound to the
//! "cellular" address sending to the peer's "wifi" address is routed out of the wifi
//! interface, and the answer comes in on the cellular one), and an interface rule would then
//! impair one direction only.
//!
//! Verdicts are issued when each packet's delay expires, so out of packet-id order whenever
//! the jitter reorders packets (NFQUEUE allows that; netem with jitter reorders too). The
//! random draws come from a seeded generator: the same seed gives the same sequence of
//! decisions (which packet gets which one depends on the traffic). Needs root, `ip` and
//! `iptables` (the `nf_tables` or legacy flavour; `nft` itself cannot queue where the kernel
//! lacks `nft_queue`, while iptables' `NFQUEUE` target works).

use std::io;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nfq::{Queue, Verdict};

/// The queue number the rules use (queues are per network namespace).
const QUEUE: u16 = 0;
/// How often the thread looks for new packets while nothing is due sooner.
const POLL: Duration = Duration::from_millis(1);

/// What happens to each packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Impairment {
    /// Chance of a drop, in thousandths.
    pub(crate) loss_per_mille: u32,
    /// Mean delay.
    pub(crate) delay: Duration,
    /// The delay is uniform in `delay ± jitter`.
    pub(crate) jitter: Duration,
    /// Seeds the loss and delay draws.
    pub(crate) seed: u64,
}

/// What the thread did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    /// Packets handed to the queue.
    pub(crate) queued: u64,
    /// Of those, dropped.
    pub(crate) dropped: u64,
    /// Most packets held at once.
    pub(crate) most_held: usize,
}

/// A running impairment; [`Netem::stop`] ends it (dropping it also stops and joins the thread,
/// and the rules go with the namespace).
#[derive(Debug)]
pub(crate) struct Netem {
    ns: String,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<Counts>>>,
}

impl Netem {
    /// Impairs every packet from `local` to `remote` and back, in namespace `ns`
    /// (`/run/netns/NS`, where `local` is), from when this returns.
    pub(crate) fn start(
        ns: &str,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        impairment: Impairment,
    ) -> Netem {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let path = format!("/run/netns/{ns}");
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            // The queue's netlink socket belongs to the namespace the thread is in.
            let fd = std::fs::File::open(&path)?;
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)?;
            let mut queue = match open() {
                Ok(q) => q,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Err(e);
                }
            };
            let _ = ready_tx.send(Ok(()));
            impair(&mut queue, impairment, &stopped)
        });
        let mut netem = Netem {
            ns: ns.to_owned(),
            local,
            remote,
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("cannot open NFQUEUE {QUEUE} in {ns}: {e}"),
            Err(_) => panic!("the NFQUEUE thread did not start: {:?}", netem.join()),
        }
        // Only once the queue is bound: a queue without a listener drops everything.
        netem.rules("-A");
        netem
    }

    /// Removes the rules, lets every held packet go and joins the thread.
    pub(crate) fn stop(mut self) -> Counts {
        self.rules("-D");
        self.join().expect("NFQUEUE thread failed")
    }

    fn rules(&self, op: &str) {
        let queue = QUEUE.to_string();
        let (local, remote) = (self.local.to_string(), self.remote.to_string());
        for (chain, from, to) in [("OUTPUT", &local, &remote), ("INPUT", &remote, &local)] {
            let args = [
                "netns",
                "exec",
                &self.ns,
                "iptables",
                "-w",
                op,
                chain,
                "-s",
                from,
                "-d",
                to,
                "-j",
                "NFQUEUE",
                "--queue-num",
                &queue,
            ];
            let out = Command::new("ip")
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("cannot run `ip netns exec .. iptables` ({e})"));
            assert!(
                out.status.success(),
                "`ip {}` failed ({}): {}; this test needs iptables (NFQUEUE) and root",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }

    fn join(&mut self) -> io::Result<Counts> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t.join().expect("NFQUEUE thread panicked"),
            None => Ok(Counts::default()),
        }
    }
}

impl Drop for Netem {
    fn drop(&mut self) {
        // Also while a failed test unwinds: no second panic here.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open() -> io::Result<Queue> {
    let mut queue = Queue::open()?;
    queue.bind(QUEUE)?;
    // Metadata only: the verdict needs the packet id, not the bytes.
    queue.set_copy_range(QUEUE, 0)?;
    queue.set_nonblocking(true);
    Ok(queue)
}

/// The thread's loop: until `stop`, take what the kernel queued, drop or schedule it, and
/// accept what is due; then accept everything still held.
fn impair(queue: &mut Queue, imp: Impairment, stop: &AtomicBool) -> io::Result<Counts> {
    let mut rng = SplitMix(imp.seed);
    let mut counts = Counts::default();
    let mut held: Vec<(Instant, nfq::Message)> = Vec::new();
    let spread = imp.jitter.as_micros() as u64 * 2 + 1;
    loop {
        // Read the flag before draining: packets queued before the rules were removed are
        // already in the socket.
        let stopping = stop.load(Ordering::Relaxed);
        loop {
            let mut msg = match queue.recv() {
                Ok(msg) => msg,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            counts.queued += 1;
            if rng.below(1000) < u64::from(imp.loss_per_mille) {
                counts.dropped += 1;
                msg.set_verdict(Verdict::Drop);
                queue.verdict(msg)?;
            } else {
                let delay = (imp.delay + Duration::from_micros(rng.below(spread)))
                    .saturating_sub(imp.jitter);
                held.push((Instant::now() + delay, msg));
            }
        }
        counts.most_held = counts.most_held.max(held.len());
        let now = Instant::now();
        let mut i = 0;
        while i < held.len() {
            if stopping || held[i].0 <= now {
                let (_, mut msg) = held.swap_remove(i);
                msg.set_verdict(Verdict::Accept);
                queue.verdict(msg)?;
            } else {
                i += 1;
            }
        }
        if stopping {
            return Ok(counts);
        }
        let next = held.iter().map(|(t, _)| *t).min();
        let wait = next.map_or(POLL, |t| t.saturating_duration_since(now).min(POLL));
        std::thread::sleep(wait);
    }
}

/// splitmix64: small, seeded, good enough for loss and jitter draws.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is negligible for small `n`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
