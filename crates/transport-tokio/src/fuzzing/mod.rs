//! Fuzzing entry points (feature `fuzzing`): everything the receive path does with bytes from
//! the network before handing them on.
//!
//! - [`demux`]: datagrams read on an ICE path, as a generation's reader classifies them (RFC
//!   7983), then what happens to each kind: DTLS into a started DTLS server (or the early
//!   queue before DTLS starts), SRTP/SRTCP unprotected, parsed and routed to receivers'
//!   and senders' queues by SSRC, MID or payload type.
//! - [`dcep`]: a Data Channel Establishment Protocol message (RFC 8832) and the payload
//!   protocol identifiers of channel messages (RFC 8831).
//! - [`sctp_plane`]: an SCTP association after a real handshake, driven by a peer association
//!   (channels opened with DCEP or negotiated, raw DCEP, messages, resets, loss, timers) and by
//!   forged SCTP packets with a valid header and checksum.
//!
//! Each function takes untrusted bytes, runs the crate's own code on them and panics (which
//! the fuzzer reports) only when an invariant breaks. The fuzz targets in `fuzz/` are thin
//! shims over these; [`seeds`] gives their seed corpora, built with the crate's encoders.

mod demux;
mod sctp;
mod seeds;

use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use rtc_sctp::PayloadProtocolIdentifier as Ppi;

use crate::channel::link::{wire_len, Message};
use crate::plane::dcep::{self, ChannelParams, Received};

pub use demux::demux;
pub use sctp::sctp_plane;
pub use seeds::{dcep_seeds, demux_seeds, sctp_plane_seeds, Seed};

/// One start instant per process: time in the targets is an offset from it.
fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// Reads a structured input from the fuzzer's bytes; past the end every read gives zeros.
#[derive(Debug)]
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// The next `n` bytes (fewer at the end).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A `[u16 length] [bytes]` field; a short tail is taken whole.
    fn field(&mut self) -> &'a [u8] {
        if self.data.len() < 2 {
            return self.bytes(self.data.len());
        }
        let n = usize::from(self.u16());
        self.bytes(n)
    }
}

/// A DCEP message (`PPI 50`, RFC 8832) as the SCTP association parses the first message of a
/// stream the peer started, then the payload protocol identifiers of channel messages.
///
/// Invariants: an accepted `DATA_CHANNEL_OPEN` has a UTF-8 label and protocol of at most
/// 65,535 bytes each, re-encodes with our encoder to a message that parses to the same
/// settings, and its settings map to a `DataChannelInit` and SCTP stream settings that agree
/// (ordered exactly when the stream is ordered; the reliability parameter, capped at 65,535
/// for the W3C attributes); an ACK re-encodes to an ACK; every message survives `wire_of` then
/// `message_of` (text as its lossy UTF-8, an empty one as one byte on the wire).
pub fn dcep(data: &[u8]) {
    match dcep::parse(data) {
        Ok(Received::Open(params)) => check_open(&params),
        Ok(Received::Ack) => {
            let ack = dcep::ack_message().expect("ACK encodes");
            assert_eq!(dcep::parse(&ack), Ok(Received::Ack));
        }
        Err(e) => assert!(!e.is_empty(), "an empty DCEP error"),
    }
    for (ppi, want_text) in [
        (Ppi::String, true),
        (Ppi::StringEmpty, true),
        (Ppi::Binary, false),
        (Ppi::BinaryEmpty, false),
        (Ppi::Dcep, false),
        (Ppi::Unknown, false),
    ] {
        let message = dcep::message_of(Bytes::copy_from_slice(data), ppi);
        assert_eq!(matches!(message, Message::Text(_)), want_text, "{ppi:?}");
    }
    for is_string in [true, false] {
        let (payload, ppi) = dcep::wire_of(Bytes::copy_from_slice(data), is_string);
        assert_eq!(payload.len(), wire_len(data.len()), "wire length");
        let want = if is_string {
            Message::Text(String::from_utf8_lossy(data).into_owned())
        } else {
            Message::Binary(Bytes::copy_from_slice(data))
        };
        assert_eq!(dcep::message_of(payload, ppi), want, "wire_of/message_of");
    }
}

/// The checks on an accepted `DATA_CHANNEL_OPEN` (shared with [`sctp_plane`]'s `RemoteOpen`).
fn check_open(params: &ChannelParams) {
    let max = usize::from(u16::MAX);
    assert!(params.label.len() <= max, "label of {}", params.label.len());
    assert!(
        params.protocol.len() <= max,
        "protocol of {}",
        params.protocol.len()
    );
    let wire = params
        .open_message()
        .unwrap_or_else(|e| panic!("accepted OPEN does not encode: {e}: {params:?}"));
    assert_eq!(
        dcep::parse(&wire),
        Ok(Received::Open(params.clone())),
        "OPEN round trip"
    );
    let init = params.init();
    let (unordered, _, value) = params.reliability();
    assert_eq!(init.ordered, !unordered, "ordered: {params:?}");
    assert_eq!(value, params.reliability_parameter);
    assert_eq!(init.protocol, params.protocol);
    assert!(init.negotiated.is_none());
    let capped = u16::try_from(params.reliability_parameter).unwrap_or(u16::MAX);
    let limit = init.max_retransmits.or(init.max_packet_life_time);
    if let Some(v) = limit {
        assert_eq!(v, capped, "reliability parameter: {params:?}");
    }
    if params.reliability_parameter <= u32::from(u16::MAX) && limit.is_some() {
        // A partially reliable channel's settings survive the W3C attributes exactly.
        assert_eq!(&ChannelParams::new(&params.label, &init), params);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_runs_through_its_target() {
        for (target, seeds) in [
            (dcep as fn(&[u8]), dcep_seeds()),
            (demux, demux_seeds()),
            (sctp_plane, sctp_plane_seeds()),
        ] {
            assert!(!seeds.is_empty());
            for (name, data) in seeds {
                println!("{name}");
                target(&data);
            }
        }
        for bad in [&[][..], &[0], &[0xff; 7], &[1, 0, 0, 0x80]] {
            dcep(bad);
            demux(bad);
            sctp_plane(bad);
        }
    }
}
