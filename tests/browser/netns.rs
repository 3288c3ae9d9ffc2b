//! A throw-away, loopback-only network namespace owned by one dedicated thread.
//!
//! Linux network namespaces are a per-thread attribute: `unshare(CLONE_NEWNET)` moves only the
//! calling thread into a fresh namespace (whose only interface is a `lo` that starts down), and
//! every thread or process it creates afterwards inherits that namespace. [`NetNs`] starts such a
//! thread, brings `lo` up (`ip link set lo up`, run from inside), and then runs closures on new
//! threads spawned from it: sockets they open and processes they start (Chromium) can reach
//! nothing but each other over 127.0.0.1. The test threads themselves stay in the machine's
//! namespace. The namespace disappears when the last thread or process inside it has ended.
//!
//! Needs `CAP_SYS_ADMIN` (root) and `ip` (iproute2).

use std::fmt;
use std::process::Command;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::sched::{unshare, CloneFlags};

use super::error::Error;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A loopback-only network namespace; see the module docs.
///
/// Dropping it stops the thread that owns the namespace; threads and processes started inside
/// keep it alive until they end.
pub struct NetNs {
    jobs: Option<mpsc::Sender<Job>>,
    owner: Option<JoinHandle<()>>,
    /// The owner thread's id: `/proc/TID/ns/net` is the namespace while the owner lives.
    owner_tid: String,
}

impl fmt::Debug for NetNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetNs").finish_non_exhaustive()
    }
}

impl NetNs {
    /// Creates the namespace and brings its `lo` up; fails with a clear message without root
    /// or without `ip`.
    pub fn new() -> Result<Self, Error> {
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, Error>>();
        let owner = thread::Builder::new()
            .name("tether-netns".into())
            .spawn(move || {
                let setup = enter_fresh_loopback_namespace().and_then(|()| thread_id());
                let ok = setup.is_ok();
                let _ = ready_tx.send(setup);
                if !ok {
                    return;
                }
                // Each job runs on a thread of its own, so a long job never blocks the others;
                // the spawned threads inherit this thread's namespace.
                for job in jobs_rx {
                    let _ = thread::Builder::new()
                        .name("tether-netns-job".into())
                        .spawn(job);
                }
            })
            .map_err(|e| Error::new(format!("cannot spawn the namespace thread: {e}")))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(owner_tid)) => Ok(Self {
                jobs: Some(jobs_tx),
                owner: Some(owner),
                owner_tid,
            }),
            Ok(Err(e)) => {
                let _ = owner.join();
                Err(e)
            }
            Err(_) => Err(Error::new("network namespace setup timed out (10 s)")),
        }
    }

    /// Adds a default route through `lo` with source address 127.0.0.1 (replacing any default
    /// route). Nothing can leave the namespace through it (`lo` has no other end: a packet to
    /// a foreign address is looped back and dropped); it only gives the namespace a "default
    /// address", 127.0.0.1, the one address Firefox gathers for a page without a
    /// camera/microphone permission (see [`super::FIREFOX_PREFS`]).
    pub fn route_default_via_loopback(&self) -> Result<(), Error> {
        self.run(|| {
            run_ip(&[
                "route",
                "replace",
                "default",
                "dev",
                "lo",
                "src",
                "127.0.0.1",
            ])
        })?
    }

    /// Adds `ip` (a /32) to the namespace's `lo`: a second, non-loopback local address (e.g.
    /// where a TURN server listens and relays, so that its peers are not "loopback peers").
    /// Still only reachable from inside the namespace.
    pub fn add_address(&self, ip: std::net::Ipv4Addr) -> Result<(), Error> {
        let cidr = format!("{ip}/32");
        self.run(move || run_ip(&["addr", "add", &cidr, "dev", "lo"]))?
    }

    /// Joins this namespace and `other` with a veth pair: `tether0` here with `local`/24,
    /// `tether1` there with `remote`/24, both up. Two test "hosts" on one link and nothing
    /// else: neither namespace has any other way out. The pair disappears with the namespaces.
    /// Use once per pair of namespaces (the names are fixed).
    pub fn link_to(
        &self,
        other: &NetNs,
        local: std::net::Ipv4Addr,
        remote: std::net::Ipv4Addr,
    ) -> Result<(), Error> {
        // `ip ... netns PID` opens /proc/PID/ns/net: the id of the thread that owns `other`
        // (alive as long as `other`) names its namespace.
        let other_tid = other.owner_tid.clone();
        self.run(move || {
            run_ip(&[
                "link", "add", "tether0", "type", "veth", "peer", "name", "tether1", "netns",
                &other_tid,
            ])?;
            run_ip(&["addr", "add", &format!("{local}/24"), "dev", "tether0"])?;
            run_ip(&["link", "set", "tether0", "up"])
        })??;
        other.run(move || {
            run_ip(&["addr", "add", &format!("{remote}/24"), "dev", "tether1"])?;
            run_ip(&["link", "set", "tether1", "up"])
        })?
    }

    /// Adds a default route through `gateway` (an address on one of the namespace's links, e.g.
    /// the other end of [`NetNs::link_to`], which routes nowhere further).
    pub fn route_default_via(&self, gateway: std::net::Ipv4Addr) -> Result<(), Error> {
        self.run(move || run_ip(&["route", "replace", "default", "via", &gateway.to_string()]))?
    }

    /// Runs `f` on a new thread inside the namespace and returns its handle.
    pub fn spawn<T, F>(&self, f: F) -> Result<JoinHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (handle_tx, handle_rx) = mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = handle_tx.send(thread::spawn(f));
        });
        let dead = || Error::new("the network namespace thread is gone");
        self.jobs
            .as_ref()
            .ok_or_else(dead)?
            .send(job)
            .map_err(|_| dead())?;
        handle_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| dead())
    }

    /// Runs `f` inside the namespace and waits for its result (a panic in `f` becomes an error).
    pub fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(f)?
            .join()
            .map_err(|_| Error::new("a closure run in the namespace panicked"))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}

/// Moves the calling thread into a new network namespace and brings its loopback up.
fn enter_fresh_loopback_namespace() -> Result<(), Error> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
        Error::new(format!(
            "unshare(CLONE_NEWNET) failed: {e}; browser tests need root (CAP_SYS_ADMIN) \
             to create a loopback-only network namespace"
        ))
    })?;
    run_ip(&["link", "set", "lo", "up"])
}

/// The calling thread's id (from `/proc/thread-self`, a link to `PID/task/TID`).
fn thread_id() -> Result<String, Error> {
    let link = std::fs::read_link("/proc/thread-self")
        .map_err(|e| Error::new(format!("cannot read /proc/thread-self: {e}")))?;
    link.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::new(format!("no thread id in {}", link.display())))
}

/// Runs `ip ARGS` (in the calling thread's namespace) and checks that it succeeded.
pub(crate) fn run_ip(args: &[&str]) -> Result<(), Error> {
    let line = format!("ip {}", args.join(" "));
    let out = Command::new("ip").args(args).output().map_err(|e| {
        Error::new(format!(
            "cannot run `{line}` ({e}): install iproute2 \
             (`apt-get install -y --no-install-recommends iproute2`)"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
