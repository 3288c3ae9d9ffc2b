//! Per-address limits: open connections, joins per second and failed joins, counted per client
//! address (IPv6 per /64). The client address is the TCP peer, or, for a connection from a
//! configured trusted proxy, the last address in `X-Forwarded-For` that is not a trusted proxy.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::config::Limits;

/// Addresses tracked before idle entries are swept.
const SWEEP_FLOOR: usize = 1024;

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
    }
}

#[derive(Debug)]
struct Entry {
    /// Open connections from this address.
    held: usize,
    /// Suspended peers whose last connection came from this address.
    suspended: usize,
    joins: Bucket,
    failures: Bucket,
}

#[derive(Debug)]
struct Table {
    entries: HashMap<IpAddr, Entry>,
    sweep_at: usize,
}

/// What an address may not do right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// More joins per second than allowed.
    JoinRate,
    /// Too many failed joins recently.
    FailedJoins,
}

/// The per-address counters of one server.
#[derive(Debug)]
pub(crate) struct Addresses {
    table: Mutex<Table>,
    max_held: usize,
    join_rate: f64,
    join_burst: f64,
    failure_rate: f64,
    failure_burst: f64,
    trusted: Vec<IpAddr>,
}

/// The verdict on a new TCP connection.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Counted against its address.
    Counted(Slot),
    /// From a trusted proxy: its clients are counted at the upgrade, by forwarded address.
    Proxy,
    /// The address already has its maximum of connections.
    Refused,
}

/// One connection (or suspended peer) counted against an address; released on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    addrs: Arc<Addresses>,
    key: IpAddr,
    suspended: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = lock(&self.addrs.table);
        if let Some(e) = t.entries.get_mut(&self.key) {
            if self.suspended {
                e.suspended = e.suspended.saturating_sub(1);
            } else {
                e.held = e.held.saturating_sub(1);
            }
        }
    }
}

impl Addresses {
    pub(crate) fn new(limits: &Limits, trusted: Vec<IpAddr>) -> Self {
        Self {
            table: Mutex::new(Table {
                entries: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
            max_held: limits.max_connections_per_address,
            join_rate: f64::from(limits.joins_per_second_per_address),
            join_burst: f64::from(limits.join_burst_per_address),
            failure_rate: f64::from(limits.failed_joins_per_minute_per_address) / 60.0,
            failure_burst: f64::from(limits.failed_joins_per_minute_per_address),
            trusted,
        }
    }

    /// Whether `ip` is a configured trusted proxy (exempt from the per-address limits; its
    /// clients are counted by their forwarded address instead).
    pub(crate) fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.contains(&canonical(ip))
    }

    /// Admits a new TCP connection from `peer`.
    pub(crate) fn admit_peer(self: &Arc<Self>, peer: IpAddr) -> Admission {
        if self.is_trusted(peer) {
            return Admission::Proxy;
        }
        match self.admit(peer) {
            Some(slot) => Admission::Counted(slot),
            None => Admission::Refused,
        }
    }

    /// Counts a new connection from `ip`, or None when the address has its maximum of open
    /// connections, or of open connections and suspended peers together (twice the maximum,
    /// so that after a network drop every suspended peer can still come back and resume).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = key(ip);
        let now = Instant::now();
        let mut t = lock(&self.table);
        self.sweep(&mut t, now);
        let e = t.entries.entry(key).or_insert_with(|| self.entry(now));
        if e.held >= self.max_held || e.held + e.suspended >= 2 * self.max_held {
            return None;
        }
        e.held += 1;
        Some(Slot {
            addrs: Arc::clone(self),
            key,
            suspended: false,
        })
    }

    /// Counts a suspended peer of `ip`, whatever the address already holds.
    pub(crate) fn hold(self: &Arc<Self>, ip: IpAddr) -> Slot {
        let key = key(ip);
        let now = Instant::now();
        let mut t = lock(&self.table);
        let e = t.entries.entry(key).or_insert_with(|| self.entry(now));
        e.suspended += 1;
        Slot {
            addrs: Arc::clone(self),
            key,
            suspended: true,
        }
    }

    /// Takes one join from `ip`'s allowance; refuses when the address joins too fast or has
    /// failed too often.
    pub(crate) fn join(&self, ip: IpAddr) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut t = lock(&self.table);
        self.sweep(&mut t, now);
        let e = t.entries.entry(key(ip)).or_insert_with(|| self.entry(now));
        e.failures
            .refill(self.failure_rate, self.failure_burst, now);
        e.joins.refill(self.join_rate, self.join_burst, now);
        if e.failures.tokens < 1.0 {
            return Err(Refusal::FailedJoins);
        }
        if e.joins.tokens < 1.0 {
            return Err(Refusal::JoinRate);
        }
        e.joins.tokens -= 1.0;
        Ok(())
    }

    /// Records a failed join or resume from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut t = lock(&self.table);
        let e = t.entries.entry(key(ip)).or_insert_with(|| self.entry(now));
        e.failures
            .refill(self.failure_rate, self.failure_burst, now);
        e.failures.tokens = (e.failures.tokens - 1.0).max(0.0);
    }

    fn entry(&self, now: Instant) -> Entry {
        Entry {
            held: 0,
            suspended: 0,
            joins: Bucket::full(self.join_burst, now),
            failures: Bucket::full(self.failure_burst, now),
        }
    }

    /// Forgets addresses that hold nothing and whose allowances are full again, once the
    /// table has doubled since the last sweep.
    fn sweep(&self, t: &mut Table, now: Instant) {
        if t.entries.len() < t.sweep_at {
            return;
        }
        t.entries.retain(|_, e| {
            e.joins.refill(self.join_rate, self.join_burst, now);
            e.failures
                .refill(self.failure_rate, self.failure_burst, now);
            e.held > 0
                || e.suspended > 0
                || e.joins.tokens < self.join_burst
                || e.failures.tokens < self.failure_burst
        });
        t.sweep_at = (t.entries.len() * 2).max(SWEEP_FLOOR);
    }

    /// The client address of a request from `peer`: `peer` itself, unless `peer` is a trusted
    /// proxy that sent `X-Forwarded-For`; then the last forwarded address that is not a trusted
    /// proxy (the one our own proxies saw). Unparseable entries end the walk.
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// A stream that holds its address's [`Slot`] for as long as it lives (through TLS and the
/// WebSocket upgrade).
#[derive(Debug)]
pub(crate) struct Held<T> {
    pub(crate) io: T,
    pub(crate) _slot: Option<Slot>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Held<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Held<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(trusted: &[&str]) -> Arc<Addresses> {
        let limits = Limits {
            max_connections_per_address: 2,
            joins_per_second_per_address: 1,
            join_burst_per_address: 2,
            failed_joins_per_minute_per_address: 3,
            ..Limits::default()
        };
        let trusted = trusted.iter().map(|t| t.parse().unwrap()).collect();
        Arc::new(Addresses::new(&limits, trusted))
    }

    #[test]
    fn connections_per_address_and_per_ipv6_prefix() {
        let a = addrs(&[]);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let s1 = a.admit(one).unwrap();
        let _s2 = a.admit(one).unwrap();
        assert!(a.admit(one).is_none());
        assert!(a.admit("192.0.2.2".parse().unwrap()).is_some());
        drop(s1);
        assert!(a.admit(one).is_some());
        let _x = a.admit("2001:db8::1".parse().unwrap()).unwrap();
        let _y = a.admit("2001:db8::2".parse().unwrap()).unwrap();
        assert!(a.admit("2001:db8::ffff".parse().unwrap()).is_none());
        assert!(a.admit("2001:db8:0:1::1".parse().unwrap()).is_some());
        // Suspended peers count too, up to twice the maximum with the open connections.
        let three: IpAddr = "192.0.2.3".parse().unwrap();
        let h1 = a.hold(three);
        let _h2 = a.hold(three);
        let c1 = a.admit(three).unwrap();
        let _c2 = a.admit(three).unwrap();
        assert!(a.admit(three).is_none());
        let _h3 = a.hold(three);
        drop(c1);
        assert!(a.admit(three).is_none(), "1 open + 3 suspended = 4");
        drop(h1);
        assert!(a.admit(three).is_some());
    }

    #[test]
    fn joins_and_failures() {
        let a = addrs(&[]);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(a.join(ip), Ok(()));
        assert_eq!(a.join(ip), Ok(()));
        assert_eq!(a.join(ip), Err(Refusal::JoinRate));
        let other: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..3 {
            a.failed(other);
        }
        assert_eq!(a.join(other), Err(Refusal::FailedJoins));
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let a = addrs(&["10.0.0.1", "10.0.0.2"]);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.7, 10.0.0.2".parse().unwrap(),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            a.client(proxy, &h),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(a.client(stranger, &h), stranger);
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(a.client(proxy, &h), proxy);
        assert_eq!(a.client(proxy, &HeaderMap::new()), proxy);
    }
}
