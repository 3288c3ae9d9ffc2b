//! Unit tests of the SRTP packet path: unprotect, route, count.
use super::*;

const KEY: [u8; 16] = [7; 16];
const SALT: [u8; 12] = [9; 12];

fn contexts() -> (Context, Context) {
    let p = ProtectionProfile::AeadAes128Gcm;
    let tx = Context::new(&KEY, &SALT, p, None, None).unwrap();
    let rx = Context::new(&KEY, &SALT, p, None, None).unwrap();
    (tx, rx)
}

fn inbound(rx: Context, media: &Arc<MediaShared>) -> SrtpIn {
    SrtpIn::new(ProtectionProfile::AeadAes128Gcm, rx, Arc::clone(media))
}

fn packet(ssrc: u32, seq: u16, pt: u8, mid: Option<&str>) -> rtp::packet::Packet {
    let mut header = rtp::header::Header {
        version: 2,
        payload_type: pt,
        sequence_number: seq,
        timestamp: u32::from(seq) * 960,
        ssrc,
        ..Default::default()
    };
    if let Some(m) = mid {
        header
            .set_extension(4, Bytes::copy_from_slice(m.as_bytes()))
            .unwrap();
    }
    rtp::packet::Packet {
        header,
        payload: Bytes::from(vec![seq as u8; 100]),
    }
}

fn protect(tx: &mut Context, p: &rtp::packet::Packet) -> Vec<u8> {
    tx.encrypt_rtp_with_header(&p.marshal().unwrap(), &p.header)
        .unwrap()
        .to_vec()
}

fn count(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

#[test]
fn unprotects_routes_and_counts_failures() {
    let (mut tx, rx) = contexts();
    let media = Arc::new(MediaShared::default());
    let (rtp_tx, mut rtp_rx) = mpsc::channel(2);
    let (rtcp_tx, _rtcp_rx) = mpsc::channel(2);
    {
        let mut r = media.routes_mut();
        let route = receiver_route("1", &[], &[]);
        r.table.rebuild([(3, &route)], Some(4));
        r.receivers.insert(
            3,
            ReceiverSink {
                rtp: rtp_tx,
                rtcp: rtcp_tx,
            },
        );
    }
    let path = inbound(rx, &media);
    let c = &media.counters;

    // Unknown SSRC, routed by MID and learned.
    let p1 = packet(42, 1, 96, Some("1"));
    path.on_datagram(&protect(&mut tx, &p1));
    let got = rtp_rx.try_recv().unwrap();
    assert_eq!(got.payload, p1.payload);
    assert_eq!(got.header.sequence_number, 1);
    // Now by SSRC alone.
    let p2 = packet(42, 2, 96, None);
    let raw2 = protect(&mut tx, &p2);
    path.on_datagram(&raw2);
    assert_eq!(rtp_rx.try_recv().unwrap().payload, p2.payload);
    // Replay of packet 2.
    path.on_datagram(&raw2);
    assert_eq!(count(&c.replayed), 1);
    // A flipped bit in the auth tag.
    let mut bad = protect(&mut tx, &packet(42, 3, 96, None));
    *bad.last_mut().unwrap() ^= 1;
    path.on_datagram(&bad);
    assert_eq!(count(&c.auth_failed), 1);
    // Garbage and truncations never panic.
    for len in 0..40 {
        path.on_datagram(&vec![0x80; len]);
        path.on_datagram(&raw2[..len.min(raw2.len())]);
    }
    path.on_datagram(&[0x80, 200, 0, 1, 0, 0, 0, 1]);
    // Shorter than an RTP header (12 + 12) or an SRTCP packet (1): malformed. Longer
    // truncations of packet 2 name a sequence number already accepted: replays (28).
    // Garbage with an unknown SSRC and payload type: unroutable, never decrypted.
    assert_eq!(count(&c.malformed), 25);
    assert_eq!(count(&c.replayed), 1 + 28);
    assert_eq!(count(&c.auth_failed), 1);
    assert_eq!(count(&c.unroutable), 28);
    // An unknown SSRC without a MID: unroutable, and never decrypted.
    let unroutable = count(&c.unroutable);
    path.on_datagram(&protect(&mut tx, &packet(99, 1, 96, None)));
    assert_eq!(count(&c.unroutable), unroutable + 1);
    // Queue of 2: the third packet is dropped (newest) and counted.
    for seq in 10..13 {
        path.on_datagram(&protect(&mut tx, &packet(42, seq, 96, None)));
    }
    assert_eq!(count(&c.queue_dropped), 1);
    assert_eq!(rtp_rx.try_recv().unwrap().header.sequence_number, 10);
    assert_eq!(rtp_rx.try_recv().unwrap().header.sequence_number, 11);
    assert!(rtp_rx.try_recv().is_err());
    assert_eq!(count(&c.rtp_in), 2 + 3);
    // A forged packet far ahead (its tag wrong) is refused and moves no window: the next real
    // packet is accepted (webrtc-srtp's own detector took 40,000 as the newest and refused it).
    // (Sealed by a context of its own: ours would move its rollover counter past 40,000.)
    let mut forged = protect(&mut contexts().0, &packet(42, 40_000, 96, None));
    *forged.last_mut().unwrap() ^= 1;
    path.on_datagram(&forged);
    assert_eq!(count(&c.auth_failed), 2);
    path.on_datagram(&protect(&mut tx, &packet(42, 13, 96, None)));
    assert_eq!(count(&c.rtp_in), 2 + 3 + 1);
    assert_eq!(count(&c.replayed), 1 + 28);
}

#[test]
fn rtcp_feedback_reaches_the_sender_of_its_media_ssrc() {
    use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use rtcp::receiver_report::ReceiverReport;
    let (mut tx, rx) = contexts();
    let media = Arc::new(MediaShared::default());
    let (fb_tx, mut fb_rx) = mpsc::channel(4);
    media.routes_mut().senders.insert(1234, fb_tx);
    let path = inbound(rx, &media);
    let compound: RtcpPackets = vec![
        Box::new(ReceiverReport {
            ssrc: 1,
            ..Default::default()
        }),
        Box::new(PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 1234,
        }),
    ];
    let raw = rtcp::packet::marshal(&compound).unwrap();
    let protected = tx.encrypt_rtcp(&raw).unwrap();
    path.on_datagram(&protected);
    let got = fb_rx.try_recv().unwrap();
    // The empty RR names nobody; the PLI names our SSRC.
    assert_eq!(got.len(), 1);
    assert!(got[0].as_any().is::<PictureLossIndication>());
    assert_eq!(count(&media.counters.unroutable), 1);
    // Replayed SRTCP is refused.
    path.on_datagram(&protected);
    assert_eq!(count(&media.counters.replayed), 1);
}

#[test]
fn a_short_feedback_packet_from_the_peer_is_malformed_not_a_panic() {
    // An RTPFB (NACK) whose length leaves no room for its two SSRCs, from the `rtcp` fuzz
    // target's saved crash: authenticated, then refused and counted.
    let (mut tx, rx) = contexts();
    let media = Arc::new(MediaShared::default());
    let path = inbound(rx, &media);
    let protected = tx.encrypt_rtcp(&[0x81, 0xcd, 0, 1, 0, 0, 0, 1]).unwrap();
    path.on_datagram(&protected);
    assert_eq!(count(&media.counters.malformed), 1);
    assert_eq!(count(&media.counters.rtcp_in), 0);
}

#[test]
fn both_offered_profiles_round_trip_rtp_and_rtcp() {
    use rtcp::receiver_report::ReceiverReport;
    for (profile, salt) in [
        (ProtectionProfile::AeadAes128Gcm, 12),
        (ProtectionProfile::Aes128CmHmacSha1_80, 14),
    ] {
        let salt = vec![3u8; salt];
        let mut tx = Context::new(&KEY, &salt, profile, None, None).unwrap();
        let rx = Context::new(&KEY, &salt, profile, None, None).unwrap();
        let media = Arc::new(MediaShared::default());
        let (rtp_tx, mut rtp_rx) = mpsc::channel(4);
        let (rtcp_tx, mut rtcp_rx) = mpsc::channel(4);
        {
            let mut r = media.routes_mut();
            let route = receiver_route("0", &[77], &[]);
            r.table.rebuild([(0, &route)], None);
            r.receivers.insert(
                0,
                ReceiverSink {
                    rtp: rtp_tx,
                    rtcp: rtcp_tx,
                },
            );
        }
        let path = SrtpIn::new(profile, rx, Arc::clone(&media));
        let p = packet(77, 1, 111, None);
        path.on_datagram(&protect(&mut tx, &p));
        assert_eq!(rtp_rx.try_recv().unwrap().payload, p.payload, "{profile:?}");
        // An empty RR from SSRC 77 names nobody; an SR from 77 names its receiver.
        let sr: RtcpPackets = vec![Box::new(rtcp::sender_report::SenderReport {
            ssrc: 77,
            ..Default::default()
        })];
        let raw = tx
            .encrypt_rtcp(&rtcp::packet::marshal(&sr).unwrap())
            .unwrap();
        assert!(raw.len() >= srtp::min_srtcp_len(profile));
        path.on_datagram(&raw);
        assert_eq!(rtcp_rx.try_recv().unwrap().len(), 1, "{profile:?}");
        let rr: RtcpPackets = vec![Box::new(ReceiverReport::default())];
        let raw = tx
            .encrypt_rtcp(&rtcp::packet::marshal(&rr).unwrap())
            .unwrap();
        path.on_datagram(&raw);
        assert_eq!(count(&media.counters.rtcp_in), 2);
        assert_eq!(count(&media.counters.unroutable), 1);
        assert_eq!(count(&media.counters.auth_failed), 0);
    }
}

/// A rough rate of the packet path on one core (protect; unprotect + route + queue), 1,200
/// byte payloads, for orientation only (the criterion bench is the measurement):
/// `cargo test -p tether-transport-tokio --lib packet_path_rate -- --ignored --nocapture`
#[test]
#[ignore = "timing, run by hand"]
fn packet_path_rate() {
    const N: u16 = 50_000;
    for (profile, salt) in [
        (ProtectionProfile::AeadAes128Gcm, 12),
        (ProtectionProfile::Aes128CmHmacSha1_80, 14),
    ] {
        let salt = vec![3u8; salt];
        let ctx = || Context::new(&KEY, &salt, profile, None, None).unwrap();
        let media = Arc::new(MediaShared::default());
        let out = SrtpOut {
            local: Mutex::new(ctx()),
            switch: SwitchConn::new(),
            media: Arc::clone(&media),
        };
        let (rtp_tx, mut rtp_rx) = mpsc::channel(16);
        let (rtcp_tx, _rtcp_rx) = mpsc::channel(1);
        {
            let mut r = media.routes_mut();
            let route = receiver_route("0", &[77], &[]);
            r.table.rebuild([(0, &route)], None);
            r.receivers.insert(
                0,
                ReceiverSink {
                    rtp: rtp_tx,
                    rtcp: rtcp_tx,
                },
            );
        }
        let path = SrtpIn::new(profile, ctx(), Arc::clone(&media));
        let packets: Vec<_> = (0..N).map(|s| packet(77, s, 111, None)).collect();
        let start = std::time::Instant::now();
        let protected: Vec<Bytes> = packets
            .iter()
            .map(|p| out.protect_rtp(p).unwrap())
            .collect();
        let protect = start.elapsed();
        let start = std::time::Instant::now();
        for raw in &protected {
            path.on_datagram(raw);
            assert!(rtp_rx.try_recv().is_ok());
        }
        let unprotect = start.elapsed();
        let rate = |d: std::time::Duration| f64::from(N) / d.as_secs_f64();
        println!(
            "{profile:?}: protect {:.0} packets/s, unprotect+route {:.0} packets/s",
            rate(protect),
            rate(unprotect)
        );
    }
}

#[test]
fn sequence_numbers_roll_over() {
    let (mut tx, rx) = contexts();
    let media = Arc::new(MediaShared::default());
    let (rtp_tx, mut rtp_rx) = mpsc::channel(8);
    let (rtcp_tx, _rtcp_rx) = mpsc::channel(1);
    {
        let mut r = media.routes_mut();
        let route = receiver_route("0", &[5], &[]);
        r.table.rebuild([(0, &route)], None);
        r.receivers.insert(
            0,
            ReceiverSink {
                rtp: rtp_tx,
                rtcp: rtcp_tx,
            },
        );
    }
    let path = inbound(rx, &media);
    // Across the 16-bit wrap: the rollover counter advances on both sides.
    for seq in (65_000u16..=u16::MAX).chain(0..1_000) {
        let p = packet(5, seq, 96, None);
        path.on_datagram(&protect(&mut tx, &p));
        let got = rtp_rx
            .try_recv()
            .unwrap_or_else(|_| panic!("seq {seq} dropped"));
        assert_eq!(got.payload, p.payload);
    }
    assert_eq!(count(&media.counters.auth_failed), 0);
}

#[test]
fn unknown_ssrcs_are_admitted_up_to_the_budget() {
    let b = SsrcBudget::default();
    for s in 0..MAX_UNKNOWN_SSRCS as u32 {
        assert!(b.admit(s));
    }
    assert!(!b.admit(u32::MAX), "a new SSRC beyond the budget");
    assert!(b.admit(7), "a known one still passes");
}

#[test]
fn padding_is_stripped_and_checked() {
    let header = rtp::header::Header {
        version: 2,
        padding: true,
        ..Default::default()
    };
    let mut raw = vec![0u8; 12];
    raw.extend_from_slice(&[1, 2, 3, 0, 0, 3]);
    assert_eq!(
        payload_of(&Bytes::from(raw.clone()), &header).unwrap(),
        &[1, 2, 3][..]
    );
    *raw.last_mut().unwrap() = 0;
    assert!(payload_of(&Bytes::from(raw.clone()), &header).is_none());
    *raw.last_mut().unwrap() = 7;
    assert!(payload_of(&Bytes::from(raw), &header).is_none());
}

#[test]
fn an_rtp_header_extension_that_overruns_the_packet_is_malformed_not_a_panic() {
    // The `demux` fuzz target's saved crash: a two-byte header extension element announcing
    // 249 bytes in a one-word block at the end of the datagram made `rtp` 0.17 panic before
    // SRTP authentication (any datagram on the path could end the generation's reader).
    let (_, rx) = contexts();
    let media = Arc::new(MediaShared::default());
    let path = inbound(rx, &media);
    let datagram = [
        0xb0, 0x00, 0x02, 0x10, 0, 0, 0, 0, 0, 0, 0xb0, 0x00, 0x10, 0x00, 0x00, 0x01, 0xf8, 0xf9,
        0xb4, 0x06,
    ];
    path.on_datagram(&datagram);
    assert_eq!(count(&media.counters.malformed), 1);
}

/// Found by the `demux` fuzz target: webrtc-util 0.17's `WrappedSlidingWindowDetector` set its
/// window from the first SRTCP index it checked, before authentication, so a forged first
/// packet with a far index made every real packet of that SSRC a "replay".
#[test]
fn a_forged_first_srtcp_packet_does_not_move_the_replay_window() {
    use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    let (mut tx, rx) = contexts();
    let media = Arc::new(MediaShared::default());
    let (fb_tx, mut fb_rx) = mpsc::channel(4);
    media.routes_mut().senders.insert(1234, fb_tx);
    let path = inbound(rx, &media);
    let pli: RtcpPackets = vec![Box::new(PictureLossIndication {
        sender_ssrc: 1,
        media_ssrc: 1234,
    })];
    let real = tx
        .encrypt_rtcp(&rtcp::packet::marshal(&pli).unwrap())
        .unwrap();
    // The same packet with the E flag and index 2^30 (AES-GCM: the last 4 bytes): the tag no
    // longer matches, it is refused...
    let mut forged = real.to_vec();
    let n = forged.len();
    forged[n - 4..].copy_from_slice(&(0x8000_0000u32 | 1 << 30).to_be_bytes());
    path.on_datagram(&forged);
    assert_eq!(count(&media.counters.auth_failed), 1);
    // ...and must leave no trace: the real packet (index 1) is accepted.
    path.on_datagram(&real);
    assert_eq!(
        count(&media.counters.replayed),
        0,
        "the real packet refused as a replay"
    );
    assert!(fb_rx.try_recv().is_ok());
}
