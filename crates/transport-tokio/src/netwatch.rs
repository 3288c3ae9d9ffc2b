//! Local network change detection: a task polls the interface list and reports a change
//! (an address ICE could gather on appeared or disappeared, or its interface went down or up)
//! as the session's `NetworkChanged` input, so the restart policy can move the connection to
//! the new network.
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
}

impl Default for NetworkWatch {
    /// [`NetworkWatch::Poll`] every second.
    fn default() -> Self {
        NetworkWatch::Poll {
            interval: Duration::from_secs(1),
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
    let NetworkWatch::Poll { interval } = watch else {
        return;
    };
    let interval = interval.max(Duration::from_millis(10));
    tokio::spawn(run(interval, gather, commands, closed));
}

async fn run(
    interval: Duration,
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
