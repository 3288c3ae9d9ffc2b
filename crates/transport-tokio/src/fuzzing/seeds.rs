//! Seed corpora for the fuzz targets, built with the crate's own encoders (written to
//! `fuzz/seeds/<target>/` by the fuzz crate's `tests/seeds.rs`).

use bytes::Bytes;
use session_core::channel::DataChannelInit;
use session_core::transport::DtlsRole;
use webrtc_util::marshal::Marshal;

use super::demux::{
    identity, AUDIO_SSRC, MID_EXT, OPT_CM_PROFILE, OPT_DTLS_NOT_STARTED, OPT_NO_MID_EXT, SEAL,
    SENDER_SSRCS, VIDEO_SSRC,
};
use super::sctp::{op, FORGE_OUR_TSN, FORGE_PEER_TSN, FORGE_RAW};
use super::t0;
use crate::plane::dcep::{self, ChannelParams};
use crate::plane::Plane;

/// A named seed.
pub type Seed = (String, Vec<u8>);

fn init(
    ordered: bool,
    max_retransmits: Option<u16>,
    life: Option<u16>,
    protocol: &str,
) -> DataChannelInit {
    DataChannelInit {
        ordered,
        max_retransmits,
        max_packet_life_time: life,
        protocol: protocol.to_owned(),
        negotiated: None,
    }
}

/// The channel settings of the seeds: every DCEP channel type, as a browser opens them
/// (`createDataChannel(label, {ordered, maxRetransmits | maxPacketLifeTime, protocol})`).
fn channels() -> Vec<(&'static str, ChannelParams)> {
    vec![
        (
            "reliable",
            ChannelParams::new("chat", &init(true, None, None, "")),
        ),
        (
            "unordered",
            ChannelParams::new("state", &init(false, None, None, "")),
        ),
        (
            "max-retransmits",
            ChannelParams::new("input", &init(true, Some(3), None, "")),
        ),
        (
            "unordered-max-retransmits-0",
            ChannelParams::new("game", &init(false, Some(0), None, "")),
        ),
        (
            "max-packet-life-time",
            ChannelParams::new("video-meta", &init(true, None, Some(250), "")),
        ),
        (
            "unordered-max-packet-life-time",
            ChannelParams::new("cursor", &init(false, None, Some(100), "")),
        ),
        (
            "protocol",
            ChannelParams::new("chat", &init(true, None, None, "json-rpc/2.0")),
        ),
        (
            "empty-label",
            ChannelParams::new("", &init(true, None, None, "")),
        ),
        (
            "utf8-label",
            ChannelParams::new(
                "übertragung-\u{1F600}",
                &init(true, None, None, "wamp.2.json"),
            ),
        ),
    ]
}

/// `DATA_CHANNEL_OPEN` for every channel type (with a protocol, an empty and a non-ASCII
/// label), `DATA_CHANNEL_ACK`, and an OPEN whose label is not UTF-8.
pub fn dcep_seeds() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = channels()
        .into_iter()
        .map(|(name, p)| {
            (
                format!("open-{name}.bin"),
                p.open_message().expect("OPEN").to_vec(),
            )
        })
        .collect();
    seeds.push((
        "ack.bin".to_owned(),
        dcep::ack_message().expect("ACK").to_vec(),
    ));
    let mut bad = ChannelParams::new("ab", &DataChannelInit::default())
        .open_message()
        .expect("OPEN")
        .to_vec();
    let n = bad.len();
    bad[n - 1] = 0xff;
    seeds.push(("open-label-not-utf8.bin".to_owned(), bad));
    seeds
}

/// One datagram in the `demux` framing.
fn datagram(out: &mut Vec<u8>, flags: u8, data: &[u8]) {
    out.push(flags);
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

fn rtp(ssrc: u32, seq: u16, pt: u8, mid: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let mut header = rtp::header::Header {
        version: 2,
        payload_type: pt,
        sequence_number: seq,
        timestamp: u32::from(seq) * 960,
        ssrc,
        marker: true,
        ..Default::default()
    };
    if let Some(m) = mid {
        header
            .set_extension(MID_EXT, Bytes::copy_from_slice(m.as_bytes()))
            .expect("extension");
    }
    rtp::packet::Packet {
        header,
        payload: Bytes::copy_from_slice(payload),
    }
    .marshal()
    .expect("RTP")
    .to_vec()
}

fn rtcp_compound() -> Vec<u8> {
    use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use rtcp::receiver_report::ReceiverReport;
    use rtcp::reception_report::ReceptionReport;
    use rtcp::sender_report::SenderReport;
    use rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
    let packets: Vec<Box<dyn rtcp::packet::Packet + Send + Sync>> = vec![
        Box::new(ReceiverReport {
            ssrc: VIDEO_SSRC,
            reports: vec![ReceptionReport {
                ssrc: SENDER_SSRCS[0],
                fraction_lost: 3,
                total_lost: 2,
                last_sequence_number: 1000,
                jitter: 12,
                last_sender_report: 0x1234_5678,
                delay: 100,
            }],
            ..Default::default()
        }),
        Box::new(TransportLayerNack {
            sender_ssrc: VIDEO_SSRC,
            media_ssrc: SENDER_SSRCS[0],
            nacks: vec![NackPair {
                packet_id: 990,
                lost_packets: 0b11,
            }],
        }),
        Box::new(PictureLossIndication {
            sender_ssrc: VIDEO_SSRC,
            media_ssrc: SENDER_SSRCS[1],
        }),
    ];
    let sr = SenderReport {
        ssrc: AUDIO_SSRC,
        ntp_time: 0xdead_beef_0000_0001,
        rtp_time: 9600,
        packet_count: 10,
        octet_count: 1200,
        ..Default::default()
    };
    let mut out = sr.marshal().expect("SR").to_vec();
    out.extend_from_slice(&rtcp::packet::marshal(&packets).expect("RTCP"));
    out
}

/// A STUN binding request as Chrome sends it (USERNAME, ICE-CONTROLLING, PRIORITY,
/// MESSAGE-INTEGRITY and FINGERPRINT with made-up values).
fn stun_binding_request() -> Vec<u8> {
    let mut attrs = Vec::new();
    let mut attr = |kind: u16, value: &[u8]| {
        attrs.extend_from_slice(&kind.to_be_bytes());
        attrs.extend_from_slice(&(value.len() as u16).to_be_bytes());
        attrs.extend_from_slice(value);
        attrs.resize(attrs.len().next_multiple_of(4), 0);
    };
    attr(0x0006, b"abcd:efgh");
    attr(0x802a, &[1, 2, 3, 4, 5, 6, 7, 8]);
    attr(0x0024, &0x6e7f_1eff_u32.to_be_bytes());
    attr(0x0008, &[0x11; 20]);
    attr(0x8028, &[0x22; 4]);
    let mut out = vec![0x00, 0x01];
    out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&0x2112_a442_u32.to_be_bytes());
    out.extend_from_slice(&[7; 12]);
    out.extend_from_slice(&attrs);
    out
}

/// A DTLS client's first flight (its ClientHello), as our DTLS client sends it.
fn client_hello() -> Vec<u8> {
    let id = identity();
    let mut plane = Plane::default();
    plane
        .start_dtls(id, DtlsRole::Client, vec![id.fingerprint()], t0())
        .expect("DTLS client");
    let mut out = Vec::new();
    plane.poll_transmit(t0(), &mut out);
    out.into_iter().next().expect("a ClientHello").to_vec()
}

/// Datagrams of every RFC 7983 kind: STUN, a DTLS ClientHello (to a started DTLS server and
/// before DTLS starts), RTP (by SSRC, by MID, by payload type, with padding) and RTCP
/// compounds sealed with the peer's SRTP keys (both profiles), TURN channel data, ZRTP, and a
/// replayed and an unsealed packet.
pub fn demux_seeds() -> Vec<Seed> {
    let hello = client_hello();
    let audio = rtp(AUDIO_SSRC, 1, 111, None, &[0xfc; 40]);
    let by_mid = rtp(0x0bad_cafe, 7, 96, Some("2"), &[0x90, 0x80, 0x01, 0x02]);
    let by_pt = rtp(0x5eed_5eed, 9, 102, None, &[0x7c, 0x85, 0x88, 0x80]);
    let mut padded = rtp(VIDEO_SSRC, 3, 97, None, &[1, 2, 3, 0, 0, 3]);
    padded[0] |= 0x20;
    let rtcp = rtcp_compound();
    let mut seeds: Vec<Seed> = Vec::new();
    let mut one = |name: &str, options: u8, datagrams: &[(u8, &[u8])]| {
        let mut out = vec![options];
        for (flags, d) in datagrams {
            datagram(&mut out, *flags, d);
        }
        seeds.push((format!("{name}.bin"), out));
    };
    let stun = stun_binding_request();
    one("stun", 0, &[(0, &stun)]);
    one("dtls-client-hello", 0, &[(0, &hello)]);
    one("dtls-early", OPT_DTLS_NOT_STARTED, &[(0, &hello)]);
    one(
        "srtp-gcm",
        0,
        &[
            (SEAL, &audio),
            (SEAL, &by_mid),
            (SEAL, &by_pt),
            (SEAL, &padded),
            (SEAL, &audio),
        ],
    );
    one(
        "srtp-cm-no-mid-ext",
        OPT_CM_PROFILE | OPT_NO_MID_EXT,
        &[(SEAL, &audio), (SEAL, &by_mid), (SEAL, &by_pt)],
    );
    one("srtcp-gcm", 0, &[(SEAL, &rtcp)]);
    one("srtcp-cm", OPT_CM_PROFILE, &[(SEAL, &rtcp)]);
    one("unsealed", 0, &[(0, &audio), (0, &rtcp)]);
    let turn: &[u8] = &[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4];
    let zrtp: &[u8] = &[0x10, 0, 0, 0];
    let other: &[u8] = &[0xff];
    one("turn-zrtp-other", 0, &[(0, turn), (0, zrtp), (0, other)]);
    seeds
}

/// An `sctp_plane` operation with its argument bytes.
fn push_op(out: &mut Vec<u8>, op: u8, args: &[u8]) {
    out.push(op);
    out.extend_from_slice(args);
}

/// The argument bytes of a channel's settings (see `Harness::params`).
fn params_args(kind: u8, value: u16, label: &str, protocol: &str) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&value.to_be_bytes());
    out.push(label.len() as u8);
    out.extend_from_slice(label.as_bytes());
    out.push(protocol.len() as u8);
    out.extend_from_slice(protocol.as_bytes());
    out
}

/// The concatenation of argument parts.
fn args(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn field(data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// A DATA chunk (B and E set) on `stream` with `ppi`; its TSN is patched by the harness.
fn data_chunk(stream: u16, ssn: u16, ppi: u32, payload: &[u8]) -> Vec<u8> {
    let mut c = vec![0, 0x03];
    c.extend_from_slice(&((16 + payload.len()) as u16).to_be_bytes());
    c.extend_from_slice(&[0; 4]);
    c.extend_from_slice(&stream.to_be_bytes());
    c.extend_from_slice(&ssn.to_be_bytes());
    c.extend_from_slice(&ppi.to_be_bytes());
    c.extend_from_slice(payload);
    c.resize(c.len().next_multiple_of(4), 0);
    c
}

/// Operation sequences: the peer opens a channel of every type (and a negotiated one), both
/// sides send and read, the peer sends bad DCEP, an OPEN twice, a message above our limit,
/// resets, loss with timers, an abort, and forged DATA, FORWARD TSN and SACK chunks.
pub fn sctp_plane_seeds() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = Vec::new();
    // Every channel type, opened by the peer; we answer on it and read.
    let kinds = [(0u8, 0u16), (1, 0), (2, 3), (3, 0), (4, 250), (5, 100)];
    let mut out = vec![0];
    for (i, (kind, value)) in kinds.iter().enumerate() {
        let id = i as u8 * 2 + 1;
        push_op(
            &mut out,
            op::PEER_OPEN,
            &args(&[&[id], &params_args(*kind, *value, "chat", "")]),
        );
        push_op(
            &mut out,
            op::PEER_SEND,
            &args(&[&[id, 1], &field(b"hello")]),
        );
        push_op(&mut out, op::SEND, &args(&[&[id, 0], &field(&[1, 2, 3])]));
    }
    push_op(&mut out, op::READ, &[]);
    push_op(&mut out, op::TIMERS, &[7]);
    seeds.push(("open-every-type.bin".to_owned(), out));
    // We are the client; a protocol, a negotiated stream, a reset, an OPEN twice.
    let mut out = vec![1];
    push_op(
        &mut out,
        op::PEER_OPEN,
        &args(&[&[2], &params_args(0, 0, "rpc", "json-rpc/2.0")]),
    );
    push_op(
        &mut out,
        op::PEER_OPEN,
        &args(&[&[2], &params_args(1, 0, "again", "")]),
    );
    push_op(
        &mut out,
        op::PEER_SEND,
        &args(&[&[4, 0], &field(b"negotiated")]),
    );
    push_op(
        &mut out,
        op::OPEN,
        &args(&[&[4, 1], &params_args(0, 0, "n", "")]),
    );
    push_op(&mut out, op::READ, &[]);
    push_op(&mut out, op::PEER_RESET, &[2]);
    push_op(&mut out, op::RESET, &[4]);
    push_op(&mut out, op::TIMERS, &[3]);
    seeds.push(("protocol-negotiated-reset.bin".to_owned(), out));
    // Bad DCEP: an ACK first, garbage, an OPEN with a non-UTF-8 label.
    let mut out = vec![0];
    push_op(
        &mut out,
        op::PEER_RAW_DCEP,
        &args(&[&[1], &field(&dcep::ack_message().expect("ACK"))]),
    );
    push_op(
        &mut out,
        op::PEER_RAW_DCEP,
        &args(&[&[3], &field(&[3, 0, 0xff])]),
    );
    let mut bad = ChannelParams::new("ab", &DataChannelInit::default())
        .open_message()
        .expect("OPEN")
        .to_vec();
    let n = bad.len();
    bad[n - 1] = 0xff;
    push_op(&mut out, op::PEER_RAW_DCEP, &args(&[&[5], &field(&bad)]));
    push_op(&mut out, op::TIMERS, &[3]);
    seeds.push(("bad-dcep.bin".to_owned(), out));
    // Too large, loss, an advance of time, an abort.
    let mut out = vec![0];
    push_op(&mut out, op::PEER_SEND_LARGE, &[1, 0, 0x90, 0x00, b'x']);
    push_op(&mut out, op::LOSE, &[6]);
    push_op(
        &mut out,
        op::PEER_OPEN,
        &args(&[&[3], &params_args(3, 0, "lossy", "")]),
    );
    push_op(
        &mut out,
        op::PEER_SEND,
        &args(&[&[3, 0], &field(b"after the open")]),
    );
    push_op(&mut out, op::ADVANCE, &[0x0b, 0xb8]);
    push_op(&mut out, op::TIMERS, &[7]);
    push_op(&mut out, op::READ, &[]);
    push_op(&mut out, op::ABORT, &[0]);
    seeds.push(("large-loss-abort.bin".to_owned(), out));
    // Forged chunks: DATA (PPI 51, then DCEP), FORWARD TSN, SACK, HEARTBEAT, raw garbage.
    let mut out = vec![0];
    push_op(&mut out, op::PEER_SEND, &args(&[&[1, 1], &field(b"first")]));
    let chunk = data_chunk(1, 1, 51, b"forged");
    push_op(
        &mut out,
        op::FORGED,
        &args(&[&[FORGE_PEER_TSN, 1], &field(&chunk)]),
    );
    let open = ChannelParams::new("forged", &DataChannelInit::default())
        .open_message()
        .expect("OPEN");
    let chunk = data_chunk(7, 0, 50, &open);
    push_op(
        &mut out,
        op::FORGED,
        &args(&[&[FORGE_PEER_TSN, 2], &field(&chunk)]),
    );
    let mut fwd = vec![192, 0, 0, 12, 0, 0, 0, 0];
    fwd.extend_from_slice(&[0, 1, 0, 1]);
    push_op(
        &mut out,
        op::FORGED,
        &args(&[&[FORGE_PEER_TSN, 5], &field(&fwd)]),
    );
    let mut sack = vec![3, 0, 0, 16, 0, 0, 0, 0];
    sack.extend_from_slice(&0x0010_0000_u32.to_be_bytes());
    sack.extend_from_slice(&[0, 0, 0, 0]);
    push_op(
        &mut out,
        op::FORGED,
        &args(&[&[FORGE_OUR_TSN, 0], &field(&sack)]),
    );
    let heartbeat = [4, 0, 0, 12, 0, 1, 0, 8, 1, 2, 3, 4];
    push_op(
        &mut out,
        op::FORGED,
        &args(&[&[FORGE_RAW, 0], &field(&heartbeat)]),
    );
    push_op(&mut out, op::READ, &[]);
    push_op(&mut out, op::TIMERS, &[3]);
    seeds.push(("forged-chunks.bin".to_owned(), out));
    seeds
}
