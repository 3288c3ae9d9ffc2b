//! An in-memory transport for the runners: RTP and RTCP go through the wire format and a
//! seeded lossy link.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use media::runner::{Received, RtpReader, RtpWriter, TransportError};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rtcp::packet::Packet as RtcpPacket;
use rtp::packet::Packet;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use webrtc_util::marshal::{Marshal, Unmarshal};

/// Drops packets with a fixed probability, from a seeded generator.
#[derive(Debug)]
pub struct Link {
    rng: Mutex<ChaCha8Rng>,
    /// Loss probability scaled to 2^32.
    threshold: u64,
    /// Packets dropped (RTP and RTCP).
    pub dropped: AtomicU64,
    /// Packets passed.
    pub passed: AtomicU64,
}

impl Link {
    /// A link losing `loss` (0..1) of the packets, seeded.
    pub fn new(seed: u64, loss: f64) -> Arc<Self> {
        Arc::new(Self {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            threshold: (loss * f64::from(u32::MAX)) as u64,
            dropped: AtomicU64::new(0),
            passed: AtomicU64::new(0),
        })
    }

    fn pass(&self) -> bool {
        let draw = u64::from(self.rng.lock().expect("rng lock").next_u32());
        let pass = draw >= self.threshold;
        let counter = if pass { &self.passed } else { &self.dropped };
        counter.fetch_add(1, Ordering::Relaxed);
        pass
    }
}

/// The sender's end.
#[derive(Debug)]
pub struct MemWriter {
    rtp: UnboundedSender<Bytes>,
    rtcp: UnboundedReceiver<Bytes>,
    reports: UnboundedSender<Bytes>,
    link: Arc<Link>,
}

/// The receiver's end.
#[derive(Debug)]
pub struct MemReader {
    rtp: UnboundedReceiver<Bytes>,
    rtcp: UnboundedSender<Bytes>,
    reports: UnboundedReceiver<Bytes>,
    link: Arc<Link>,
    /// RTCP compound packets the sender could not parse would be counted on its side; here we
    /// count RTP packets that did not parse (must stay 0).
    pub malformed: u64,
}

/// A connected writer/reader pair over `link`.
pub fn pair(link: Arc<Link>) -> (MemWriter, MemReader) {
    let (rtp_tx, rtp_rx) = unbounded_channel();
    let (rtcp_tx, rtcp_rx) = unbounded_channel();
    let (reports_tx, reports_rx) = unbounded_channel();
    (
        MemWriter {
            rtp: rtp_tx,
            rtcp: rtcp_rx,
            reports: reports_tx,
            link: link.clone(),
        },
        MemReader {
            rtp: rtp_rx,
            rtcp: rtcp_tx,
            reports: reports_rx,
            link,
            malformed: 0,
        },
    )
}

fn closed() -> TransportError {
    "link closed".into()
}

fn marshal_rtcp(packets: &[Box<dyn RtcpPacket + Send + Sync>]) -> Result<Bytes, TransportError> {
    rtcp::packet::marshal(packets).map_err(|e| Box::new(e) as TransportError)
}

#[async_trait]
impl RtpWriter for MemWriter {
    async fn write_rtp(&self, packet: &Packet) -> Result<(), TransportError> {
        let wire = packet
            .marshal()
            .map_err(|e| Box::new(e) as TransportError)?;
        if self.link.pass() {
            self.rtp.send(wire).map_err(|_| closed())?;
        }
        Ok(())
    }

    async fn write_rtcp(
        &self,
        packets: &[Box<dyn RtcpPacket + Send + Sync>],
    ) -> Result<(), TransportError> {
        // Sender reports travel to the receiver, through the same lossy link.
        let wire = marshal_rtcp(packets)?;
        if self.link.pass() {
            // The receiver may have finished already; a report nobody reads is harmless.
            let _ = self.reports.send(wire);
        }
        Ok(())
    }

    async fn read_rtcp(&mut self) -> Option<Vec<Box<dyn RtcpPacket + Send + Sync>>> {
        loop {
            let mut wire = self.rtcp.recv().await?;
            if let Ok(packets) = rtcp::packet::unmarshal(&mut wire) {
                return Some(packets);
            }
        }
    }
}

#[async_trait]
impl RtpReader for MemReader {
    async fn read(&mut self) -> Option<Received> {
        loop {
            tokio::select! {
                wire = self.rtp.recv() => {
                    let wire = wire?;
                    match Packet::unmarshal(&mut wire.as_ref()) {
                        Ok(p) => return Some(Received::Rtp(p)),
                        Err(_) => self.malformed += 1,
                    }
                }
                Some(mut wire) = self.reports.recv() => {
                    if let Ok(packets) = rtcp::packet::unmarshal(&mut wire) {
                        return Some(Received::Rtcp(packets));
                    }
                }
            }
        }
    }

    async fn write_rtcp(
        &self,
        packets: &[Box<dyn RtcpPacket + Send + Sync>],
    ) -> Result<(), TransportError> {
        let wire = marshal_rtcp(packets)?;
        if self.link.pass() {
            self.rtcp.send(wire).map_err(|_| closed())?;
        }
        Ok(())
    }
}
