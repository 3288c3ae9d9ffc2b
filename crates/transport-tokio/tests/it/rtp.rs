//! RTP tracks over SRTP between two real peer connections on loopback UDP (127.0.0.1 only):
//! every packet in order, RTCP both ways, an ICE restart mid-stream, and tampered or garbage
//! packets on the path dropped and counted.

use crate::rtp_support::{packet, payload, ProxiedSignaling, Proxy, Side, XorShift};
use test_support::{config, wait_event};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtcp::sender_report::SenderReport;
use rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
use session_core::sdp::codecs::EXT_SDES_MID;
use session_core::sdp::MediaKind;
use session_core::session::Event;
use transport_tokio::{
    memory_pair, PeerConnection, PeerEvent, PeerEvents, RtpParameters, RtpReceiver, RtpSender,
    Signaling, TrackError,
};

const LEN: usize = 1200;
const WAIT: Duration = Duration::from_secs(20);

async fn peers(
    sa: impl Signaling,
    sb: impl Signaling,
) -> (PeerConnection, PeerEvents, PeerConnection, PeerEvents) {
    let (a, ae) = PeerConnection::new(config(false, Some(11)), sa).unwrap();
    let (b, be) = PeerConnection::new(config(true, Some(12)), sb).unwrap();
    (a, ae, b, be)
}

async fn next_track(events: &mut PeerEvents) -> RtpReceiver {
    wait_event(events, WAIT, |ev| match ev {
        PeerEvent::Track(r) => Some(r),
        _ => None,
    })
    .await
}

/// The first media (non-RTX) payload type.
fn media_pt(p: &RtpParameters) -> u8 {
    p.codecs
        .iter()
        .find(|c| !c.name.eq_ignore_ascii_case("rtx"))
        .expect("a negotiated codec")
        .payload_type
}

/// Packets the sender may be ahead of what the receiver has read. Loopback UDP receive
/// buffers hold roughly 90 datagrams of 1200 bytes (kernel truesize accounting): on this
/// shared, loaded machine a receiver that is not scheduled for a while would otherwise see
/// the kernel drop a burst, which says nothing about our packet path.
const WINDOW: u64 = 32;

/// Waits until fewer than [`WINDOW`] of the `sent` packets are unread (at most 1 s, so that a
/// packet lost on the path cannot block the sender).
async fn wait_window(sent: u64, read: &AtomicU64) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while sent >= read.load(Ordering::Acquire) + WINDOW && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Sends `seqs`, never more than [`WINDOW`] packets ahead of `read` (the receiver's count).
async fn send_windowed(sender: &RtpSender, pt: u8, seqs: std::ops::Range<u16>, read: &AtomicU64) {
    let first = u64::from(seqs.start);
    for seq in seqs {
        wait_window(u64::from(seq) - first, read).await;
        sender
            .write_rtp(&packet(sender.ssrc(), pt, seq, LEN))
            .await
            .unwrap();
    }
}

/// Reads `n` packets and checks their order and payloads, counting them in `read`.
async fn expect_in_order(
    rx: &mut RtpReceiver,
    ssrc: u32,
    seqs: std::ops::Range<u16>,
    read: &AtomicU64,
) {
    for seq in seqs {
        let p = tokio::time::timeout(WAIT, rx.read_rtp())
            .await
            .unwrap_or_else(|_| panic!("packet {seq} of {ssrc} never came"))
            .expect("receiver closed");
        assert_eq!(p.header.ssrc, ssrc);
        assert_eq!(p.header.sequence_number, seq, "out of order or lost");
        assert_eq!(p.payload, payload(seq, LEN), "payload of {seq}");
        read.fetch_add(1, Ordering::Release);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracks_carry_every_packet_in_order_and_rtcp_both_ways() {
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (a, _ae, b, mut be) = peers(sa, sb).await;

    let audio = a
        .add_track(MediaKind::Audio, "stream", "mic")
        .await
        .unwrap();
    let mut video = a
        .add_track(MediaKind::Video, "stream", "cam")
        .await
        .unwrap();
    assert_eq!(audio.kind(), MediaKind::Audio);
    assert!(video.rtx_ssrc().is_some());
    assert!(matches!(
        a.add_track(MediaKind::Audio, "bad id", "x").await,
        Err(transport_tokio::PeerConnectionError::InvalidTrackId(_))
    ));

    let mut rx1 = next_track(&mut be).await;
    let mut rx2 = next_track(&mut be).await;
    if rx1.kind() == MediaKind::Video {
        std::mem::swap(&mut rx1, &mut rx2);
    }
    let (mut rx_audio, mut rx_video) = (rx1, rx2);
    assert_eq!(rx_audio.kind(), MediaKind::Audio);
    assert_eq!(rx_video.kind(), MediaKind::Video);
    assert_ne!(rx_audio.mid(), rx_video.mid());
    // The remote SSRCs come from the SDP's a=ssrc lines.
    assert_eq!(rx_audio.parameters().ssrc, audio.ssrc());
    assert_eq!(rx_video.parameters().ssrc, video.ssrc());
    assert_eq!(rx_video.parameters().rtx_ssrc, video.rtx_ssrc());

    let pa = tokio::time::timeout(WAIT, audio.parameters())
        .await
        .unwrap()
        .unwrap();
    let pv = tokio::time::timeout(WAIT, video.parameters())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pa.ssrc, audio.ssrc());
    assert_eq!(pa.mid, rx_audio.mid());
    assert!(pa.header_extensions.iter().any(|(_, u)| u == EXT_SDES_MID));
    assert_eq!(media_pt(&pa), 111, "opus");
    assert_eq!(media_pt(&pv), 96, "VP8");
    // Both sides see the answer's codecs and extensions.
    assert_eq!(rx_audio.parameters().codecs, pa.codecs);
    assert_eq!(rx_video.parameters().codecs, pv.codecs);
    assert_eq!(
        rx_video.parameters().header_extensions,
        pv.header_extensions
    );
    // Not our SSRC: refused before anything is sent.
    assert_eq!(
        audio.write_rtp(&packet(1, 111, 0, 10)).await,
        Err(TrackError::ForeignSsrc(1))
    );

    const N: u16 = 1000;
    let (audio_ssrc, video_ssrc) = (audio.ssrc(), video.ssrc());
    let start = Instant::now();
    let (read_audio, read_video) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (ra, rv) = (Arc::clone(&read_audio), Arc::clone(&read_video));
    let recv_audio = tokio::spawn(async move {
        expect_in_order(&mut rx_audio, audio_ssrc, 0..N, &ra).await;
        rx_audio
    });
    let recv_video = tokio::spawn(async move {
        expect_in_order(&mut rx_video, video_ssrc, 0..N, &rv).await;
        rx_video
    });
    tokio::join!(
        send_windowed(&audio, media_pt(&pa), 0..N, &read_audio),
        send_windowed(&video, media_pt(&pv), 0..N, &read_video)
    );
    let mut rx_audio = recv_audio.await.unwrap();
    let rx_video = recv_video.await.unwrap();
    println!(
        "2 x {N} RTP packets of {LEN} bytes delivered in order in {:?}",
        start.elapsed()
    );

    // Receiver → sender: PLI and NACK about the video SSRC reach the video sender.
    rx_video
        .write_rtcp(&[
            Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: video_ssrc,
            }),
            Box::new(TransportLayerNack {
                sender_ssrc: 1,
                media_ssrc: video_ssrc,
                nacks: vec![NackPair {
                    packet_id: 5,
                    lost_packets: 0,
                }],
            }),
        ])
        .await
        .unwrap();
    let fb = tokio::time::timeout(WAIT, video.read_rtcp())
        .await
        .unwrap()
        .expect("feedback");
    assert_eq!(fb.len(), 2);
    let pli = fb[0]
        .as_any()
        .downcast_ref::<PictureLossIndication>()
        .expect("a PLI");
    assert_eq!(pli.media_ssrc, video_ssrc);
    let nack = fb[1]
        .as_any()
        .downcast_ref::<TransportLayerNack>()
        .expect("a NACK");
    assert_eq!(nack.nacks[0].packet_id, 5);

    // Sender → receiver: a sender report reaches the audio receiver.
    audio
        .write_rtcp(&[Box::new(SenderReport {
            ssrc: audio_ssrc,
            packet_count: u32::from(N),
            ..Default::default()
        })])
        .await
        .unwrap();
    let sr = tokio::time::timeout(WAIT, rx_audio.read_rtcp())
        .await
        .unwrap()
        .expect("sender report");
    let sr = sr[0].as_any().downcast_ref::<SenderReport>().expect("SR");
    assert_eq!(sr.packet_count, u32::from(N));

    let sa = a.stats().await.unwrap().media;
    let sb = b.stats().await.unwrap().media;
    println!("sender {sa:?}\nreceiver {sb:?}");
    assert_eq!(sa.rtp_packets_out, 2 * u64::from(N));
    assert_eq!(sb.rtp_packets_in, 2 * u64::from(N));
    assert_eq!(
        sb.auth_failed + sb.replayed + sb.malformed + sb.unroutable,
        0
    );
    assert_eq!(sb.queue_dropped, 0);
    assert_eq!(sa.rtcp_packets_in, 1);

    a.close().await;
    // Closing ends the remote's queues.
    let ended = tokio::time::timeout(WAIT, async {
        let mut rx = rx_video;
        while rx.read_rtp().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "receiver did not end after close");
    assert_eq!(
        tokio::time::timeout(WAIT, audio.write_rtp(&packet(audio_ssrc, 111, 0, 10)))
            .await
            .unwrap(),
        Err(TrackError::Closed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_mid_stream_keeps_packets_flowing() {
    // 200 ms of signaling delay: each restart takes a few hundred ms to negotiate, while the
    // old path carries the stream.
    let (sa, sb) = memory_pair(Duration::from_millis(200));
    let (a, mut ae, b, mut be) = peers(sa, sb).await;
    let audio = a.add_track(MediaKind::Audio, "s", "a").await.unwrap();
    let mut rx = next_track(&mut be).await;
    let pt = media_pt(
        &tokio::time::timeout(WAIT, audio.parameters())
            .await
            .unwrap()
            .unwrap(),
    );

    // One packet every 2 ms for 3 s (a 500 packets/s stream), at most WINDOW ahead of the
    // receiver; the sender restarts after 0.5 s, the receiver after 1.8 s.
    const N: u16 = 1500;
    const RESTART_A: u16 = 250;
    const RESTART_B: u16 = 900;
    let ssrc = audio.ssrc();
    let read = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&read);
    let receiver = tokio::spawn(async move {
        let mut arrivals: Vec<(u16, Instant)> = Vec::with_capacity(N as usize);
        while arrivals.len() < N as usize {
            match tokio::time::timeout(Duration::from_secs(3), rx.read_rtp()).await {
                Ok(Some(p)) => {
                    assert_eq!(p.payload, payload(p.header.sequence_number, LEN));
                    arrivals.push((p.header.sequence_number, Instant::now()));
                    r.fetch_add(1, Ordering::Release);
                }
                _ => break, // 3 s of silence: the stream is over
            }
        }
        arrivals
    });
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 0..N {
        tick.tick().await;
        wait_window(u64::from(seq), &read).await;
        audio.write_rtp(&packet(ssrc, pt, seq, LEN)).await.unwrap();
        if seq == RESTART_A {
            a.restart_ice().await.unwrap();
        }
        if seq == RESTART_B {
            b.restart_ice().await.unwrap();
        }
    }
    let arrivals = receiver.await.unwrap();
    // Both restarts really happened: the third generation carries the traffic.
    let promoted = wait_event(&mut ae, Duration::from_secs(2), |ev| match ev {
        PeerEvent::Session(Event::IceGenerationPromoted { generation, .. })
            if generation.0 >= 2 =>
        {
            Some(generation)
        }
        _ => None,
    })
    .await;
    let stats = b.stats().await.unwrap();

    let mut seqs: Vec<u16> = arrivals.iter().map(|(s, _)| *s).collect();
    let reordered = seqs.windows(2).filter(|w| w[1] < w[0]).count();
    seqs.sort_unstable();
    let before = seqs.len();
    seqs.dedup();
    let duplicates = before - seqs.len();
    let lost = usize::from(N) - seqs.len();
    let missing: Vec<u16> = (0..N).filter(|s| seqs.binary_search(s).is_err()).collect();
    if !missing.is_empty() {
        println!("missing sequence numbers: {missing:?}");
    }
    let gap = arrivals
        .windows(2)
        .map(|w| w[1].1 - w[0].1)
        .max()
        .unwrap_or_default();
    println!(
        "ICE restarts (A, then B) to {promoted:?}: {} of {N} packets arrived, lost {lost}, reordered {reordered}, \
         duplicates {duplicates}, longest inter-arrival gap {gap:?} (sender paced at 2 ms); {:?}",
        arrivals.len(),
        stats.media
    );
    // Make-before-break on loopback: the old path carries packets until the new one is
    // promoted and keeps being read during the grace period, so nothing is in flight on a
    // dead path: every packet must arrive, exactly once.
    assert_eq!(
        duplicates, 0,
        "replay protection lets no packet through twice"
    );
    assert_eq!(lost, 0, "packets lost across the restart");
    assert_eq!(stats.media.auth_failed, 0);
    assert!(gap < Duration::from_millis(500), "gap {gap:?}");
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_garbage_packets_are_dropped_and_counted() {
    let proxy = Proxy::new();
    let (sa, sb) = memory_pair(Duration::ZERO);
    let sa = ProxiedSignaling::new(sa, Arc::clone(&proxy), Side::A);
    let sb = ProxiedSignaling::new(sb, Arc::clone(&proxy), Side::B);
    let (a, _ae, b, mut be) = peers(sa, sb).await;
    let audio = a.add_track(MediaKind::Audio, "s", "a").await.unwrap();
    let mut rx = next_track(&mut be).await;
    let pt = media_pt(
        &tokio::time::timeout(WAIT, audio.parameters())
            .await
            .unwrap()
            .unwrap(),
    );
    // SRTP is up once a first packet went through.
    audio
        .write_rtp(&packet(audio.ssrc(), pt, 0, LEN))
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, rx.read_rtp())
            .await
            .unwrap()
            .unwrap()
            .header
            .sequence_number,
        0
    );

    // On every 50th RTP packet from A: first a copy with a flipped auth tag bit, then the
    // packet, then the packet again (a replay), then random bytes that look like RTP, then
    // random bytes that look like RTCP, then a truncated header.
    let injected = Arc::new([
        AtomicU64::new(0), // bad tag
        AtomicU64::new(0), // replay
        AtomicU64::new(0), // RTP-like garbage
        AtomicU64::new(0), // RTCP-like garbage
        AtomicU64::new(0), // truncated
    ]);
    let counts = Arc::clone(&injected);
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    proxy.set_tamper(Some(Box::new(move |side, d: &[u8]| {
        let is_rtp = side == Side::A
            && d.len() > 12
            && (128..192).contains(&d[0])
            && !(64..96).contains(&(d[1] & 0x7f));
        let seq = if is_rtp {
            u16::from_be_bytes([d[2], d[3]])
        } else {
            1
        };
        if !is_rtp || seq % 50 != 0 {
            return vec![d.to_vec()];
        }
        let mut bad = d.to_vec();
        if let Some(last) = bad.last_mut() {
            *last ^= 0x01;
        }
        let mut rtp_like = rng.bytes(200);
        rtp_like[0] = 0x80; // version 2, no padding, extension or CSRCs
        rtp_like[1] = 111; // the audio payload type: routed (unambiguous), then refused by SRTP
        let mut rtcp_like = rng.bytes(60);
        rtcp_like[0] = 0x80;
        rtcp_like[1] = 200;
        for c in counts.iter() {
            c.fetch_add(1, Ordering::Relaxed);
        }
        vec![
            bad,
            d.to_vec(),
            d.to_vec(),
            rtp_like,
            rtcp_like,
            vec![0x80, 111, 0],
        ]
    })));

    const N: u16 = 1000;
    let read = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&read);
    let ssrc = audio.ssrc();
    let receiver = tokio::spawn(async move {
        expect_in_order(&mut rx, ssrc, 1..N, &r).await;
    });
    send_windowed(&audio, pt, 1..N, &read).await;
    receiver.await.unwrap();

    let stats = b.stats().await.unwrap().media;
    let [bad_tag, replay, rtp_like, rtcp_like, truncated] =
        [0, 1, 2, 3, 4].map(|i| injected[i].load(Ordering::Relaxed));
    println!(
        "injected {bad_tag} bad tags, {replay} replays, {rtp_like}+{rtcp_like} garbage, \
         {truncated} truncated; receiver {stats:?}"
    );
    assert_eq!(bad_tag, u64::from((N - 1) / 50));
    // Bad tags and random bytes fail authentication; replays are refused by the window; a
    // 3-byte "RTP" packet is malformed. The stream itself lost nothing (checked above).
    assert_eq!(stats.auth_failed, bad_tag + rtp_like + rtcp_like);
    assert_eq!(stats.replayed, replay);
    assert_eq!(stats.malformed, truncated);
    assert_eq!(stats.rtp_packets_in, u64::from(N));
    assert!(proxy.forwarded.load(Ordering::Relaxed) > u64::from(N));
    a.close().await;
    b.close().await;
}

/// `add_track` on the answerer after a video-only exchange reuses the transceiver the
/// offer created (recvonly until renegotiated, as in W3C `addTrack`). The new sender must not
/// see that transceiver's recvonly parameters: its `parameters` and writes wait for the
/// renegotiation that lets it send, so packets written at once are delivered, not refused
/// with `NotSending` (the race behind `tether peer --echo` losing a whole echoed track).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_added_to_a_received_transceiver_waits_until_it_may_send() {
    let (sa, sb) = memory_pair(Duration::from_millis(50));
    let (a, mut ae, b, mut be) = peers(sa, sb).await;
    let video = a
        .add_track(MediaKind::Video, "stream", "cam")
        .await
        .unwrap();
    let rx = next_track(&mut be).await;
    let pv = tokio::time::timeout(WAIT, video.parameters())
        .await
        .unwrap()
        .unwrap();
    assert!(pv.direction.is_some_and(session_core::transceiver::sends));

    // B answers with a sender of its own, right away: the transceiver is recvonly for B now.
    let back = b.add_track(MediaKind::Video, "echo", "back").await.unwrap();
    let params = tokio::time::timeout(WAIT, back.parameters())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(params.mid, rx.mid(), "the received transceiver is reused");
    assert!(
        params
            .direction
            .is_some_and(session_core::transceiver::sends),
        "parameters came before the exchange that lets B send: {:?}",
        params.direction
    );
    const N: u16 = 50;
    let pt = media_pt(&params);
    let ssrc = back.ssrc();
    let mut rx_back = next_track(&mut ae).await;
    assert_eq!(rx_back.mid(), rx.mid());
    let read = AtomicU64::new(0);
    tokio::join!(
        send_windowed(&back, pt, 0..N, &read),
        expect_in_order(&mut rx_back, ssrc, 0..N, &read)
    );
    drop(rx);
    a.close().await;
    b.close().await;
}
