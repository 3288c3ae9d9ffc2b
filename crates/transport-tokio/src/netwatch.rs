//! Local network change detection: a task reads the interface list when the OS says it
//! changed (Linux: a netlink route socket subscribed to link and address events) and every
//! `interval` as a fallback, and reports a change (an address ICE could gather on appeared or
//! disappeared, or its interface went down or up) as the session's `NetworkChanged` input, so
//! the restart policy can move the connection to the new network.
//!
//! What counts is the set of `(interface, address)` pairs of interfaces that are up and
//! running, after the same filters as host-candidate gathering ([`GatherOptions`]): an
//! interface the peer connection would never gather on (loopback by default, IPv6 when
//! disabled, filtered out) changes nothing.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::command::Command;
use crate::ice::GatherOptions;

/// How a [`PeerConnection`](crate::PeerConnection) notices local network changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkWatch {
    /// No detection; the application may still call
    /// [`PeerConnection::network_changed`](crate::PeerConnection::network_changed).
    Off,
    /// Read the interface list (`getifaddrs`) every `interval` and report any difference.
    Poll {
        /// Time between two reads (at least 10 ms).
        interval: Duration,
    },
    /// Read the interface list as soon as the OS reports a link or address change (Linux:
    /// netlink route events; a link going down is seen within milliseconds), and every
    /// `fallback` in case an event was missed. Where the OS has no such events (or the socket
    /// cannot be opened) this is [`Poll`](Self::Poll) every `fallback`.
    Events {
        /// Time between two reads without an event (at least 10 ms).
        fallback: Duration,
    },
}

impl Default for NetworkWatch {
    /// [`NetworkWatch::Events`] with a read every second as the fallback.
    fn default() -> Self {
        NetworkWatch::Events {
            fallback: Duration::from_secs(1),
        }
    }
}

/// One interface address as the OS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IfAddr {
    pub(crate) interface: String,
    pub(crate) ip: IpAddr,
    /// The interface is up and has a carrier (`IFF_UP` and `IFF_RUNNING`).
    pub(crate) running: bool,
}

/// The addresses ICE could gather host candidates on now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot(BTreeSet<(String, IpAddr)>);

impl Snapshot {
    /// Keeps the running addresses that `gather`'s filters let through.
    pub(crate) fn of(addrs: impl IntoIterator<Item = IfAddr>, gather: &GatherOptions) -> Self {
        let set = addrs
            .into_iter()
            .filter(|a| a.running && gathered(gather, &a.interface, a.ip))
            .map(|a| (a.interface, a.ip))
            .collect();
        Self(set)
    }

    /// Addresses in `self` but not in `other`.
    fn minus<'a>(&'a self, other: &'a Snapshot) -> impl Iterator<Item = &'a (String, IpAddr)> {
        self.0.difference(&other.0)
    }
}

/// Would host-candidate gathering use this address? (The agent's own rule: loopback only when
/// included, IPv6 only when enabled, then the interface and IP filters.)
fn gathered(gather: &GatherOptions, interface: &str, ip: IpAddr) -> bool {
    if ip.is_loopback() && !gather.include_loopback {
        return false;
    }
    if ip.is_ipv6() && !gather.ipv6 {
        return false;
    }
    if let Some(f) = &gather.interface_filter {
        if !f(interface) {
            return false;
        }
    }
    gather.ip_filter.as_ref().is_none_or(|f| f(ip))
}

/// The interface addresses of the calling thread's network namespace.
#[cfg(unix)]
fn list() -> Result<Vec<IfAddr>, String> {
    use nix::net::if_::InterfaceFlags;
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| e.to_string())?;
    let running = InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING;
    Ok(addrs
        .filter_map(|a| {
            let storage = a.address?;
            let ip = if let Some(v4) = storage.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else {
                IpAddr::V6(storage.as_sockaddr_in6()?.ip())
            };
            Some(IfAddr {
                interface: a.interface_name,
                ip,
                running: a.flags.contains(running),
            })
        })
        .collect())
}

#[cfg(not(unix))]
fn list() -> Result<Vec<IfAddr>, String> {
    Err("interface polling is implemented on unix only".into())
}

/// Starts the watcher task of one peer connection (nothing for [`NetworkWatch::Off`]). It
/// sends [`Command::NetworkChanged`] to the driver on every change and ends when the peer
/// connection has closed (`closed` turns true or its sender is gone). It holds only a weak
/// sender, so it never keeps the connection alive.
pub(crate) fn spawn(
    watch: NetworkWatch,
    gather: GatherOptions,
    commands: mpsc::WeakSender<Command>,
    closed: watch::Receiver<bool>,
) {
    let (interval, events) = match watch {
        NetworkWatch::Off => return,
        NetworkWatch::Poll { interval } => (interval, None),
        NetworkWatch::Events { fallback } => {
            // Opened here, on the caller's thread: the socket belongs to this thread's
            // network namespace, as the interface list does.
            let events = match events::RouteEvents::open() {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::debug!(error = %e, "no network change events: polling only");
                    None
                }
            };
            (fallback, events)
        }
    };
    let interval = interval.max(Duration::from_millis(10));
    tokio::spawn(run(interval, events, gather, commands, closed));
}

async fn run(
    interval: Duration,
    mut events: Option<events::RouteEvents>,
    gather: GatherOptions,
    commands: mpsc::WeakSender<Command>,
    mut closed: watch::Receiver<bool>,
) {
    let mut last = match list() {
        Ok(addrs) => Snapshot::of(addrs, &gather),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list interfaces: network changes go unnoticed");
            return;
        }
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            r = events::next(&mut events) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "network change events failed: polling only");
                    events = None;
                }
            }
            _ = closed.wait_for(|c| *c) => return,
        }
        let now = match list() {
            Ok(addrs) => Snapshot::of(addrs, &gather),
            Err(e) => {
                tracing::debug!(error = %e, "interface list unreadable this time");
                continue;
            }
        };
        if now == last {
            continue;
        }
        let gone: Vec<_> = last.minus(&now).collect();
        let new: Vec<_> = now.minus(&last).collect();
        tracing::info!(?gone, ?new, "local network changed");
        let Some(tx) = commands.upgrade() else {
            return;
        };
        if tx.send(Command::NetworkChanged).await.is_err() {
            return;
        }
        last = now;
    }
}

/// OS notifications of link and address changes.
mod events {
    #[cfg(target_os = "linux")]
    pub(super) use linux::RouteEvents;

    /// Waits for the next batch of events (`pending` for ever without a source).
    #[cfg(target_os = "linux")]
    pub(super) async fn next(events: &mut Option<RouteEvents>) -> std::io::Result<()> {
        match events {
            Some(e) => e.next().await,
            None => std::future::pending().await,
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) struct RouteEvents;

    #[cfg(not(target_os = "linux"))]
    impl RouteEvents {
        pub(super) fn open() -> std::io::Result<Self> {
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "network change events are implemented on Linux only",
            ))
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) async fn next(_: &mut Option<RouteEvents>) -> std::io::Result<()> {
        std::future::pending().await
    }

    #[cfg(target_os = "linux")]
    mod linux {
        use std::io;
        use std::os::fd::AsRawFd;

        use nix::sys::socket::{
            bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
        };

        /// `RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR` (linux/rtnetlink.h).
        const GROUPS: u32 = 0x1 | 0x10 | 0x100;

        /// A netlink route socket subscribed to link and address changes. Only the fact
        /// that something changed is used: the interface list is read again after each batch.
        ///
        /// The socket is held as a tokio `UnixDatagram`, which registers it with the reactor
        /// without `unsafe`; only `recv(2)` is used on it, which is the same call for every
        /// datagram socket family.
        pub(crate) struct RouteEvents(tokio::net::UnixDatagram);

        impl RouteEvents {
            pub(crate) fn open() -> io::Result<Self> {
                let fd = socket(
                    AddressFamily::Netlink,
                    SockType::Raw,
                    SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                    SockProtocol::NetlinkRoute,
                )?;
                bind(fd.as_raw_fd(), &NetlinkAddr::new(0, GROUPS))?;
                let std = std::os::unix::net::UnixDatagram::from(fd);
                Ok(Self(tokio::net::UnixDatagram::from_std(std)?))
            }

            /// Waits until at least one message arrived, then reads all that are queued.
            pub(crate) async fn next(&mut self) -> io::Result<()> {
                let mut buf = [0u8; 8192];
                self.0.readable().await?;
                loop {
                    match self.0.try_recv(&mut buf) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // ENOBUFS: the kernel dropped messages (our queue overflowed):
                        // something changed, and the list read after this tells what.
                        Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn addr(interface: &str, ip: [u8; 4], running: bool) -> IfAddr {
        IfAddr {
            interface: interface.into(),
            ip: IpAddr::from(ip),
            running,
        }
    }

    #[test]
    fn only_running_gatherable_addresses_count() {
        let gather = GatherOptions::default();
        let s = Snapshot::of(
            [
                addr("lo", [127, 0, 0, 1], true),
                addr("eth0", [10, 0, 0, 1], true),
                addr("wifi", [10, 0, 1, 1], false),
                IfAddr {
                    interface: "eth0".into(),
                    ip: "fe80::1".parse().unwrap(),
                    running: true,
                },
            ],
            &gather,
        );
        let want: BTreeSet<_> = [("eth0".to_string(), IpAddr::from([10, 0, 0, 1]))].into();
        assert_eq!(s.0, want);
    }

    #[test]
    fn a_link_going_down_is_a_change_a_filtered_one_is_not() {
        let gather = GatherOptions {
            interface_filter: Some(Arc::new(|name: &str| name != "docker0")),
            ..GatherOptions::default()
        };
        let before = Snapshot::of(
            [
                addr("wifi", [10, 0, 1, 1], true),
                addr("cell", [10, 0, 2, 1], true),
            ],
            &gather,
        );
        let wifi_down = Snapshot::of(
            [
                addr("wifi", [10, 0, 1, 1], false),
                addr("cell", [10, 0, 2, 1], true),
            ],
            &gather,
        );
        assert_ne!(before, wifi_down);
        assert_eq!(wifi_down.minus(&before).count(), 0);
        assert_eq!(before.minus(&wifi_down).count(), 1);
        let docker_up = Snapshot::of(
            [
                addr("wifi", [10, 0, 1, 1], true),
                addr("cell", [10, 0, 2, 1], true),
                addr("docker0", [172, 17, 0, 1], true),
            ],
            &gather,
        );
        assert_eq!(before, docker_up);
    }

    #[cfg(unix)]
    #[test]
    fn the_os_list_is_readable() {
        let addrs = list().unwrap();
        // Every namespace has a loopback interface.
        assert!(addrs.iter().any(|a| a.interface == "lo"));
    }
}

/// The event socket against the kernel: a namespace of our own (root only; skipped otherwise),
/// with polling effectively off, so only an event can report the change.
#[cfg(all(test, target_os = "linux"))]
mod os_events {
    use super::*;
    use std::process::Command as Process;

    fn ip(args: &[&str]) {
        let out = Process::new("ip").args(args).output().expect("ip");
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    }

    #[test]
    fn a_new_link_and_address_are_reported_by_the_event_socket_not_the_poll() {
        if !test_support::privileged(
            "a_new_link_and_address_are_reported_by_the_event_socket_not_the_poll",
        ) {
            return;
        }
        let ns = format!("tether-nw-{}", std::process::id());
        let made = Process::new("ip").args(["netns", "add", &ns]).output();
        assert!(
            made.as_ref().is_ok_and(|o| o.status.success()),
            "ip netns add {ns}: {made:?}"
        );
        let ns2 = ns.clone();
        let seen = std::thread::spawn(move || {
            let fd = std::fs::File::open(format!("/run/netns/{ns2}")).expect("netns");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (tx, mut rx) = mpsc::channel(4);
                let (_closed_tx, closed_rx) = watch::channel(false);
                spawn(
                    NetworkWatch::Events {
                        fallback: Duration::from_secs(3600),
                    },
                    GatherOptions::default(),
                    tx.downgrade(),
                    closed_rx,
                );
                // The watcher takes its first snapshot.
                tokio::time::sleep(Duration::from_millis(100)).await;
                ip(&[
                    "-n", &ns2, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
                ]);
                ip(&["-n", &ns2, "addr", "add", "10.199.0.1/24", "dev", "v0"]);
                ip(&["-n", &ns2, "link", "set", "v1", "up"]);
                ip(&["-n", &ns2, "link", "set", "v0", "up"]);
                let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
                let up = matches!(first, Ok(Some(Command::NetworkChanged)));
                // And the link going down.
                while rx.try_recv().is_ok() {}
                ip(&["-n", &ns2, "link", "set", "v0", "down"]);
                let second = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
                let down = matches!(second, Ok(Some(Command::NetworkChanged)));
                drop(tx);
                (up, down)
            })
        })
        .join();
        ip(&["netns", "del", &ns]);
        let (up, down) = seen.expect("watcher thread");
        assert!(up, "the new address was not reported");
        assert!(down, "the link going down was not reported");
    }
}
