//! [`SwitchConn`]: the connection DTLS runs over. It reads from every live ICE generation and
//! writes to the promoted one, so an ICE restart changes the path under DTLS without DTLS
//! noticing (make-before-break).
//!
//! After an outage (nothing received on the promoted path for [`OUTAGE_SILENCE`]) a newly
//! promoted path first gets the DTLS records written since shortly before the last one received
//! there ([`replay`]): the ones
//! the dead path may have swallowed. The peer's DTLS drops the duplicates, SCTP acknowledges
//! the rest, and data flows again without waiting for SCTP's retransmission timer.

pub(crate) mod counted;
mod replay;

use counted::Counted;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

// tokio's clock (the real one outside tests): the unit tests run it paused.
use tokio::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, watch, Mutex};
use webrtc_util::Conn;

use session_core::transport::TransportId;

use crate::demux::PacketKind;
use crate::rtp_path::SrtpIn;
use replay::ReplayRing;

/// A generation's connection, as `webrtc-ice` returns it from `dial`/`accept`.
pub(crate) type PathConn = Arc<dyn Conn + Send + Sync>;

/// A DTLS datagram read on a transport's path, for the driver's data plane.
pub(crate) type Inbound = (TransportId, Bytes);

/// DTLS records queued by a connection made with [`SwitchConn::new`] (tests read them with
/// `recv`); the driver's connections hand theirs to the driver's queue instead.
#[cfg(test)]
const INBOUND_QUEUE: usize = 1024;
/// Largest datagram read from an ICE path.
const MAX_DATAGRAM: usize = 8192;
/// DTLS records kept for a replay after an outage: at most this many...
const REPLAY_DATAGRAMS: usize = 256;
/// ...and this many bytes.
const REPLAY_BYTES: usize = 512 * 1024;
/// A promotion replays only when nothing was received for this long: an outage, not a
/// make-before-break switch with data flowing (where a burst of duplicates only costs).
const OUTAGE_SILENCE: Duration = Duration::from_millis(100);
/// Records written up to this long before the last one received are replayed too: they may
/// have been in flight on the dead path while the peer's last record was on its way (one
/// round trip).
const REPLAY_MARGIN: Duration = Duration::from_millis(100);

/// Counters of a [`SwitchConn`], for statistics and tests.
#[derive(Debug, Default)]
pub(crate) struct SwitchCounters {
    /// DTLS datagrams received (from any generation).
    pub(crate) dtls_in: AtomicU64,
    /// RTP/RTCP datagrams dropped before SRTP was ready (the early buffer was full).
    pub(crate) rtp_dropped: AtomicU64,
    /// Datagrams of another or unknown protocol dropped.
    pub(crate) other_dropped: AtomicU64,
    /// Datagrams written while no generation was promoted, or whose write failed.
    pub(crate) send_dropped: AtomicU64,
    /// DTLS records sent again on a newly promoted path after an outage.
    pub(crate) dtls_replayed: AtomicU64,
    /// Promotions after an outage that replayed records.
    pub(crate) replays: AtomicU64,
}

/// The switchable connection: reads from every live generation, writes to the promoted one.
///
/// A write never fails while the connection is open: with no promoted path, or when the path's
/// socket refuses, the datagram is dropped and counted, and DTLS/SCTP retransmission recovers.
/// (An error would end SCTP's write loop for good.)
pub(crate) struct SwitchConn {
    transport: TransportId,
    inbound_tx: mpsc::Sender<Inbound>,
    inbound_rx: Mutex<Option<mpsc::Receiver<Inbound>>>,
    writer: watch::Receiver<Option<PathConn>>,
    writer_tx: watch::Sender<Option<PathConn>>,
    closed_tx: watch::Sender<bool>,
    pub(crate) counters: SwitchCounters,
    /// SRTP/SRTCP goes here once the DTLS transport derived its keys.
    media: OnceLock<Arc<SrtpIn>>,
    /// SRTP/SRTCP that arrived before the keys (the peer's DTLS may finish first), replayed
    /// into `media` when it is set; at most [`EARLY_MEDIA`] datagrams.
    early: std::sync::Mutex<Vec<Bytes>>,
    /// The clock of `last_in` and the ring's timestamps (microseconds since `epoch`).
    epoch: Instant,
    /// When the last DTLS record arrived on the path written to; 0: none yet. Records on
    /// another path do not count: after an outage the peer may already write (and replay) on
    /// the new path while our records went to the dead one, and the peer's replay is no sign
    /// that ours arrived (seen in the netns test: each side's replay then suppressed the
    /// other's, and the SACKs waited for SCTP's T3 timer).
    last_in: AtomicU64,
    /// The DTLS records written recently.
    ring: std::sync::Mutex<ReplayRing>,
    /// The replay of a promotion, until it is sent: (path, records).
    pending: std::sync::Mutex<Option<(PathConn, Vec<Bytes>)>>,
    /// Is `pending` set? (Writes check this without a lock.)
    replay_pending: AtomicBool,
    /// Orders writes behind a replay: held while a replay is sent.
    replay_gate: Mutex<()>,
    /// May SRTP/SRTCP be written? False from DTLS completion until the writer task has
    /// written the DTLS records queued before it ([`hold_media`](Self::hold_media)).
    media_writable: watch::Sender<bool>,
}

/// SRTP/SRTCP datagrams kept while the keys are being derived; beyond that they are dropped
/// and counted.
const EARLY_MEDIA: usize = 128;

impl std::fmt::Debug for SwitchConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchConn")
            .field("has_writer", &self.writer.borrow().is_some())
            .field("closed", &*self.closed_tx.borrow())
            .field("counters", &self.counters)
            .finish()
    }
}

impl SwitchConn {
    /// A new connection with no path, whose DTLS datagrams are read with `recv`.
    #[cfg(test)]
    pub(crate) fn new() -> Arc<Self> {
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
        Self::build(TransportId(0), inbound_tx, Some(inbound_rx))
    }

    /// A new connection with no path for `transport`, whose DTLS datagrams go to `inbound`.
    pub(crate) fn with_inbound(
        transport: TransportId,
        inbound: mpsc::Sender<Inbound>,
    ) -> Arc<Self> {
        Self::build(transport, inbound, None)
    }

    fn build(
        transport: TransportId,
        inbound_tx: mpsc::Sender<Inbound>,
        inbound_rx: Option<mpsc::Receiver<Inbound>>,
    ) -> Arc<Self> {
        let (writer_tx, writer) = watch::channel(None);
        let (closed_tx, _) = watch::channel(false);
        Arc::new(Self {
            transport,
            inbound_tx,
            inbound_rx: Mutex::new(inbound_rx),
            writer,
            writer_tx,
            closed_tx,
            counters: SwitchCounters::default(),
            media: OnceLock::new(),
            early: std::sync::Mutex::new(Vec::new()),
            epoch: Instant::now(),
            last_in: AtomicU64::new(0),
            ring: std::sync::Mutex::new(ReplayRing::new(REPLAY_DATAGRAMS, REPLAY_BYTES)),
            pending: std::sync::Mutex::new(None),
            replay_pending: AtomicBool::new(false),
            replay_gate: Mutex::new(()),
            media_writable: watch::channel(true).0,
        })
    }

    /// Microseconds since `epoch` (at least 1, so 0 can mean "never").
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Routes writes to `path` from now on (`None`: drop writes).
    ///
    /// Promoting another path after an outage (nothing received on the path written to so far
    /// for [`OUTAGE_SILENCE`]) first sends it the DTLS records written since [`REPLAY_MARGIN`]
    /// before the last record received there, oldest first and before any newer write (on a task of its own, so the caller
    /// does not wait). Must be called within a tokio runtime when `path` is `Some`.
    pub(crate) fn set_writer(self: &Arc<Self>, path: Option<PathConn>) {
        let previous = self.writer_tx.send_replace(path.clone());
        let Some(path) = path else { return };
        if previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, &path)) {
            return;
        }
        let now = self.now_us();
        let last_in = self.last_in.load(Ordering::Relaxed);
        if last_in == 0 || now.saturating_sub(last_in) < duration_us(OUTAGE_SILENCE) {
            return; // never connected yet, or the peer is still heard: no outage
        }
        let since = last_in.saturating_sub(duration_us(REPLAY_MARGIN));
        let records: Vec<Bytes> = {
            let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            ring.since(since).map(Bytes::copy_from_slice).collect()
        };
        if records.is_empty() {
            return;
        }
        tracing::debug!(
            records = records.len(),
            silent_ms = (now - last_in) / 1000,
            "replaying DTLS records on the newly promoted path"
        );
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            *pending = Some((path, records));
            self.replay_pending.store(true, Ordering::Release);
        }
        let this = Arc::clone(self);
        tokio::spawn(async move { this.flush_replay().await });
    }

    /// Sends the pending replay, if any; writes wait behind it (the flag stays set, so they
    /// queue on the gate, until the last replayed record is written).
    async fn flush_replay(&self) {
        let _gate = self.replay_gate.lock().await;
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((path, records)) = pending {
            self.counters.replays.fetch_add(1, Ordering::Relaxed);
            for record in records {
                if self.is_closed() {
                    break;
                }
                if path.send(&record).await.is_err() {
                    self.counters.send_dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.counters.dtls_replayed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Under the lock: a promotion meanwhile set a new replay (and spawned its flush).
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        self.replay_pending
            .store(pending.is_some(), Ordering::Release);
    }

    /// Is `path` the one written to?
    fn is_writer(&self, path: &PathConn) -> bool {
        self.writer
            .borrow()
            .as_ref()
            .is_some_and(|w| Arc::ptr_eq(w, path))
    }

    /// Is a path selected for writing?
    pub(crate) fn has_writer(&self) -> bool {
        self.writer.borrow().is_some()
    }

    /// Closes the connection: reads and writes fail from now on, readers stop.
    pub(crate) fn shut(&self) {
        self.closed_tx.send_replace(true);
        self.writer_tx.send_replace(None);
        self.open_media();
    }

    /// Holds SRTP/SRTCP writes ([`media_writable`](Self::media_writable)) until
    /// [`open_media`](Self::open_media): DTLS completed, and the records that complete the
    /// peer's handshake (our last flight when we are the DTLS server) are still queued for the
    /// writer task. SRTP that overtook them would reach a peer whose handshake is not complete
    /// yet, which drops it (libwebrtc: "Received non-DTLS packet before DTLS complete"): the
    /// first video keyframe lost, a PLI, and a freeze until the next keyframe.
    pub(crate) fn hold_media(&self) {
        self.media_writable.send_replace(false);
    }

    /// Lets SRTP/SRTCP writes go (the queued DTLS records are written, or never will be).
    pub(crate) fn open_media(&self) {
        self.media_writable.send_replace(true);
    }

    /// Waits until SRTP/SRTCP may be written: at once, unless [`hold_media`](Self::hold_media)
    /// holds it.
    pub(crate) async fn media_writable(&self) {
        if *self.media_writable.borrow() {
            return;
        }
        let mut writable = self.media_writable.subscribe();
        // The sender lives as long as `self`: this only ends once writable.
        let _ = writable.wait_for(|w| *w).await;
    }

    fn is_closed(&self) -> bool {
        *self.closed_tx.borrow()
    }

    /// Reads datagrams from one generation's path until the path or this connection closes,
    /// passing DTLS on and dropping the rest (RFC 7983).
    pub(crate) async fn read_path(self: Arc<Self>, path: PathConn) {
        let mut closed = self.closed_tx.subscribe();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let n = tokio::select! {
                r = path.recv(&mut buf) => match r {
                    Ok(n) => n,
                    Err(_) => return, // the agent closed
                },
                _ = closed.wait_for(|c| *c) => return,
            };
            let packet = &buf[..n];
            if n == 0 {
                continue; // a liveness note of our socket's reader (`ice::udp`)
            }
            if self.accept(&path, packet) {
                let data = (self.transport, Bytes::copy_from_slice(packet));
                tokio::select! {
                    r = self.inbound_tx.send(data) => if r.is_err() { return },
                    _ = closed.wait_for(|c| *c) => return,
                }
            }
        }
    }

    /// Takes a datagram read on `path`: SRTP/SRTCP is routed in place (on the caller's task),
    /// anything else not DTLS is dropped; true for DTLS, which the caller queues for the
    /// driver.
    fn accept(&self, path: &PathConn, packet: &[u8]) -> bool {
        match PacketKind::of(packet) {
            PacketKind::Dtls => {
                self.counters.dtls_in.fetch_add(1, Ordering::Relaxed);
                if self.is_writer(path) {
                    self.last_in.store(self.now_us(), Ordering::Relaxed);
                }
                true
            }
            PacketKind::Rtp => {
                match self.media.get() {
                    // Unprotected and routed in place, on the reader's task.
                    Some(media) => media.on_datagram(packet),
                    None => self.early_media(packet),
                }
                false
            }
            _ => {
                self.counters.other_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Writes `datagrams` to the promoted path, in order, in batches where the path allows
    /// ([`Counted::send_many`]); like [`Conn::send`], never fails: what cannot be written is
    /// dropped and counted.
    pub(crate) async fn send_batch(&self, datagrams: &[Bytes]) {
        if self.is_closed() || datagrams.is_empty() {
            return;
        }
        if self.replay_pending.load(Ordering::Acquire) {
            // Newer records after the replayed ones: the peer's DTLS replay window (64
            // records) would drop replayed records that arrive too far behind newer ones.
            self.flush_replay().await;
        }
        {
            // Only DTLS records are replayed, never SRTP (media is better late than twice).
            // Timestamped under the lock: the ring's times stay ordered.
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            let now = self.now_us();
            for d in datagrams {
                if PacketKind::of(d) == PacketKind::Dtls {
                    ring.push(now, d);
                }
            }
        }
        let path = self.writer.borrow().clone();
        let sent = match path {
            Some(path) => match path.as_any().downcast_ref::<Counted>() {
                Some(counted) => counted.send_many(datagrams).await,
                None => {
                    let mut sent = 0;
                    for d in datagrams {
                        if path.send(d).await.is_ok() {
                            sent += 1;
                        }
                    }
                    sent
                }
            },
            None => 0,
        };
        let dropped = datagrams.len() - sent;
        if dropped > 0 {
            self.counters
                .send_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
    }

    /// Hands SRTP/SRTCP to `media` from now on (set once, when DTLS derived the keys; the
    /// keys belong to the DTLS transport and survive ICE restarts).
    pub(crate) fn set_media(&self, media: Arc<SrtpIn>) {
        let early = {
            let mut early = self.early.lock().unwrap_or_else(|p| p.into_inner());
            let _ = self.media.set(Arc::clone(&media));
            std::mem::take(&mut *early)
        };
        for packet in early {
            media.on_datagram(&packet);
        }
    }

    /// Keeps an SRTP/SRTCP datagram that came before the keys (bounded).
    fn early_media(&self, packet: &[u8]) {
        let mut early = self.early.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(media) = self.media.get() {
            // Set meanwhile (under this lock, so nothing is stranded in `early`).
            drop(early);
            return media.on_datagram(packet);
        }
        if early.len() < EARLY_MEDIA {
            early.push(Bytes::copy_from_slice(packet));
        } else {
            self.counters.rtp_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The receiving end of one generation's sockets ([`BatchedUdp`](crate::ice::udp::BatchedUdp)):
/// what they read goes through [`SwitchConn::accept`] as if read from `path`, without the
/// agent's buffer and a reader task of ours in between.
pub(crate) struct PathSink {
    switch: Arc<SwitchConn>,
    path: PathConn,
    counters: Arc<counted::PathCounters>,
    /// Cleared when the generation is retired: its sockets then stop handing data here.
    live: AtomicBool,
}

impl PathSink {
    pub(crate) fn new(
        switch: Arc<SwitchConn>,
        path: PathConn,
        counters: Arc<counted::PathCounters>,
    ) -> Arc<Self> {
        Arc::new(Self {
            switch,
            path,
            counters,
            live: AtomicBool::new(true),
        })
    }

    /// The generation is gone: nothing more is taken (its sockets detach on their next read).
    pub(crate) fn stop(&self) {
        self.live.store(false, Ordering::Release);
    }
}

#[async_trait]
impl crate::ice::udp::DataSink for PathSink {
    async fn deliver(&self, datagrams: Vec<Bytes>) -> bool {
        let switch = &self.switch;
        if switch.is_closed() || !self.live.load(Ordering::Acquire) {
            return false;
        }
        let bytes: usize = datagrams.iter().map(Bytes::len).sum();
        self.counters
            .packets_received
            .fetch_add(datagrams.len() as u64, Ordering::Relaxed);
        self.counters
            .direct_received
            .fetch_add(datagrams.len() as u64, Ordering::Relaxed);
        self.counters
            .bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
        for datagram in datagrams {
            if switch.accept(&self.path, &datagram)
                && switch
                    .inbound_tx
                    .send((switch.transport, datagram))
                    .await
                    .is_err()
            {
                return false;
            }
        }
        true
    }
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn closed_error() -> webrtc_util::Error {
    webrtc_util::Error::Other("switchable connection closed".to_owned())
}

#[async_trait]
impl Conn for SwitchConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other("not applicable".to_owned()))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let mut closed = self.closed_tx.subscribe();
        if *closed.borrow() {
            return Err(closed_error());
        }
        let mut rx = self.inbound_rx.lock().await;
        let Some(rx) = rx.as_mut() else {
            return Err(webrtc_util::Error::Other(
                "DTLS datagrams go to the driver".to_owned(),
            ));
        };
        let (_, data) = tokio::select! {
            d = rx.recv() => d.ok_or_else(closed_error)?,
            _ = closed.wait_for(|c| *c) => return Err(closed_error()),
        };
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let n = self.recv(buf).await?;
        let addr = self
            .remote_addr()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok((n, addr))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        if self.is_closed() {
            return Err(closed_error());
        }
        self.send_batch(&[Bytes::copy_from_slice(buf)]).await;
        Ok(buf.len())
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        match self.writer.borrow().as_ref() {
            Some(p) => p.local_addr(),
            None => Err(webrtc_util::Error::Other("no promoted path".to_owned())),
        }
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.writer.borrow().as_ref().and_then(|p| p.remote_addr())
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.shut();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc_util::conn::conn_pipe::pipe;

    #[tokio::test]
    async fn reads_every_path_writes_the_promoted_one() {
        let switch = SwitchConn::new();
        let (old_near, old_far) = pipe();
        let (new_near, new_far) = pipe();
        let (old_near, new_near): (PathConn, PathConn) = (Arc::new(old_near), Arc::new(new_near));
        tokio::spawn(Arc::clone(&switch).read_path(Arc::clone(&old_near)));
        tokio::spawn(Arc::clone(&switch).read_path(Arc::clone(&new_near)));

        // No path yet: the write is dropped, not an error.
        assert_eq!(switch.send(&[23, 1]).await.unwrap(), 2);
        assert_eq!(switch.counters.send_dropped.load(Ordering::Relaxed), 1);

        switch.set_writer(Some(Arc::clone(&old_near)));
        switch.send(&[23, 2]).await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(old_far.recv(&mut buf).await.unwrap(), 2);
        assert_eq!(buf[..2], [23, 2]);

        // Switch: writes go to the new path, both paths are still read.
        switch.set_writer(Some(Arc::clone(&new_near)));
        switch.send(&[23, 3]).await.unwrap();
        assert_eq!(new_far.recv(&mut buf).await.unwrap(), 2);
        assert_eq!(buf[..2], [23, 3]);

        old_far.send(&[22, 10]).await.unwrap();
        // RTP and STUN never reach DTLS.
        new_far.send(&[0x80, 96, 0]).await.unwrap();
        new_far.send(&[0x00, 0x01]).await.unwrap();
        new_far.send(&[22, 11]).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            let n = switch.recv(&mut buf).await.unwrap();
            got.push(buf[..n].to_vec());
        }
        got.sort();
        assert_eq!(got, vec![vec![22, 10], vec![22, 11]]);

        switch.shut();
        assert!(switch.recv(&mut buf).await.is_err());
        assert!(switch.send(&[23]).await.is_err());
    }

    /// Receives one datagram from `far` within a second.
    async fn next(far: &impl Conn) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(std::time::Duration::from_secs(1), far.recv(&mut buf))
            .await
            .expect("no datagram")
            .unwrap();
        buf[..n].to_vec()
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_outage_the_new_path_gets_the_unacknowledged_records_first() {
        let switch = SwitchConn::new();
        let (old_near, old_far) = pipe();
        let (new_near, new_far) = pipe();
        let (old_near, new_near): (PathConn, PathConn) = (Arc::new(old_near), Arc::new(new_near));
        tokio::spawn(Arc::clone(&switch).read_path(Arc::clone(&old_near)));
        switch.set_writer(Some(Arc::clone(&old_near)));

        // Written long before the peer's last record: it arrived, it is not replayed.
        switch.send(&[23, 1]).await.unwrap();
        assert_eq!(next(&old_far).await, [23, 1]);
        tokio::time::sleep(REPLAY_MARGIN * 2).await;
        old_far.send(&[23, 100]).await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(switch.recv(&mut buf).await.unwrap(), 2);
        // Written after it: lost on the dying path (the far end stops reading). RTP is
        // never replayed.
        for packet in [&[23, 2][..], &[0x80, 96, 0], &[23, 3]] {
            switch.send(packet).await.unwrap();
        }
        tokio::time::sleep(OUTAGE_SILENCE + OUTAGE_SILENCE / 2).await;

        switch.set_writer(Some(Arc::clone(&new_near)));
        switch.send(&[23, 4]).await.unwrap();
        assert_eq!(next(&new_far).await, [23, 2]);
        assert_eq!(next(&new_far).await, [23, 3]);
        assert_eq!(
            next(&new_far).await,
            [23, 4],
            "a newer record overtook the replay"
        );
        assert_eq!(switch.counters.dtls_replayed.load(Ordering::Relaxed), 2);
        assert_eq!(switch.counters.replays.load(Ordering::Relaxed), 1);

        // Promoting the same path again replays nothing.
        switch.set_writer(Some(Arc::clone(&new_near)));
        switch.send(&[23, 5]).await.unwrap();
        assert_eq!(next(&new_far).await, [23, 5]);
        assert_eq!(switch.counters.replays.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn records_on_the_new_path_do_not_hide_the_outage_of_the_old() {
        let switch = SwitchConn::new();
        let (old_near, old_far) = pipe();
        let (new_near, new_far) = pipe();
        let (old_near, new_near): (PathConn, PathConn) = (Arc::new(old_near), Arc::new(new_near));
        tokio::spawn(Arc::clone(&switch).read_path(Arc::clone(&old_near)));
        tokio::spawn(Arc::clone(&switch).read_path(Arc::clone(&new_near)));
        switch.set_writer(Some(Arc::clone(&old_near)));
        let mut buf = [0u8; 16];
        old_far.send(&[23, 100]).await.unwrap();
        switch.recv(&mut buf).await.unwrap();
        switch.send(&[23, 1]).await.unwrap(); // lost on the dying path
        tokio::time::sleep(OUTAGE_SILENCE + OUTAGE_SILENCE / 2).await;
        // The peer promoted first and replays on the new path: that says nothing about ours.
        new_far.send(&[23, 101]).await.unwrap();
        switch.recv(&mut buf).await.unwrap();

        switch.set_writer(Some(Arc::clone(&new_near)));
        assert_eq!(next(&new_far).await, [23, 1]);
        assert_eq!(switch.counters.dtls_replayed.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_switch_while_the_peer_is_heard_replays_nothing() {
        let switch = SwitchConn::new();
        let (old_near, old_far) = pipe();
        let (new_near, new_far) = pipe();
        let (old_near, new_near): (PathConn, PathConn) = (Arc::new(old_near), Arc::new(new_near));
        tokio::spawn(Arc::clone(&switch).read_path(Arc::clone(&old_near)));

        // Before anything was received (the handshake's first flight): no replay either.
        switch.set_writer(Some(Arc::clone(&old_near)));
        switch.send(&[22, 1]).await.unwrap();
        assert_eq!(next(&old_far).await, [22, 1]);

        old_far.send(&[22, 2]).await.unwrap();
        let mut buf = [0u8; 16];
        switch.recv(&mut buf).await.unwrap();
        switch.send(&[23, 1]).await.unwrap();
        // Make-before-break: the peer was heard just now.
        switch.set_writer(Some(Arc::clone(&new_near)));
        switch.send(&[23, 2]).await.unwrap();
        assert_eq!(next(&new_far).await, [23, 2]);
        assert_eq!(switch.counters.replays.load(Ordering::Relaxed), 0);
        assert_eq!(switch.counters.dtls_replayed.load(Ordering::Relaxed), 0);
    }
}
