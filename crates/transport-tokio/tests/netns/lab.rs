//! The network-namespace lab of the fault tests: two namespaces (`tether-a-PID-N`,
//! `tether-b-PID-N`) joined by two veth links, "wifi" (10.201.1.0/24) and "cellular"
//! (10.201.2.0/24), a way to run a peer inside each, and the `ip`/`nft` helpers that break
//! the links. Needs root (CAP_SYS_ADMIN), `ip` (iproute2) and `nft` (nftables).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs `ip ARGS`, panicking with its stderr on failure.
pub(crate) fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` ({e}): install iproute2"));
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {}; this test needs root (CAP_SYS_ADMIN)",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Loads an nftables script into namespace `ns`, panicking with its stderr on failure.
pub(crate) fn nft(ns: &str, script: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `ip netns exec .. nft` ({e})"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft failed ({}): {}; this test needs nftables and root",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Drops every packet in and out of `devs` in namespace `ns`; the links stay up.
pub(crate) fn blackhole(ns: &str, devs: &[&str]) {
    let set = devs
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect::<Vec<_>>()
        .join(", ");
    nft(
        ns,
        &format!(
            "table inet tether_fault {{\n\
             chain in {{ type filter hook input priority 0; policy accept; iifname {{ {set} }} drop; }}\n\
             chain out {{ type filter hook output priority 0; policy accept; oifname {{ {set} }} drop; }}\n\
             }}\n"
        ),
    );
}

/// Removes what [`blackhole`] added.
pub(crate) fn heal(ns: &str) {
    nft(ns, "delete table inet tether_fault\n");
}

/// Is the link up with a carrier (`state UP`)?
pub(crate) fn link_up(ns: &str, dev: &str) -> bool {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", "dev", dev])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout).contains("state UP")
}

/// The two namespaces and their links; removed on drop (also when the test fails).
pub(crate) struct Lab {
    pub(crate) ns: [String; 2],
    /// A's end of the wifi and cellular links (B's ends are named with `b`).
    pub(crate) wifi: [String; 2],
    pub(crate) cell: [String; 2],
}

impl Lab {
    pub(crate) fn new() -> Self {
        // Tests run in parallel threads of one process: each lab gets its own names.
        static LABS: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            ns: [format!("tether-a-{id}"), format!("tether-b-{id}")],
            wifi: [format!("wa{id}"), format!("wb{id}")],
            cell: [format!("ca{id}"), format!("cb{id}")],
        };
        // From here on, drop removes whatever was created.
        for ns in &lab.ns {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        for (ends, subnet) in [(&lab.wifi, 1), (&lab.cell, 2)] {
            ip(&[
                "link", "add", &ends[0], "netns", &lab.ns[0], "type", "veth", "peer", "name",
                &ends[1], "netns", &lab.ns[1],
            ]);
            for (side, (ns, dev)) in lab.ns.iter().zip(ends.iter()).enumerate() {
                let addr = format!("10.201.{subnet}.{}/24", side + 1);
                ip(&["-n", ns, "addr", "add", &addr, "dev", dev]);
                ip(&["-n", ns, "link", "set", dev, "up"]);
            }
        }
        // veth carriers come up asynchronously: start the peers on a settled network, or
        // their watchers see the links come up and (rightly) restart ICE.
        let deadline = Instant::now() + Duration::from_secs(10);
        for side in 0..2 {
            for dev in [&lab.wifi[side], &lab.cell[side]] {
                while !link_up(&lab.ns[side], dev) {
                    assert!(Instant::now() < deadline, "{dev} did not come up");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        lab
    }

    /// Runs `f` on a new thread inside namespace `side` (0: A, 1: B), in a runtime of its own.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        side: usize,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/run/netns/{}", self.ns[side]);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).expect("namespace file");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(f)
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.ns {
            // Removing a namespace removes its veth ends (and so the links).
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
