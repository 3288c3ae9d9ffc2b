//! Regression tests (no browser) for two media problems first seen against Chromium
//! (`interop_media`), both fixed:
//! - Chromium's padding-only RTX packets (bandwidth probes) were counted as malformed RTP; they
//!   are now dropped as `RtpDropReason::Padding` and counted apart;
//! - the receive runner did not read RTCP, so sender reports were not seen and our receiver
//!   reports carried LSR = 0 (no round-trip time for the sender); it now reads both.

use std::time::{Duration, Instant};

use media::{CodecKind, IvfSink, IvfSource, ReceiveConfig, RtpDropReason, RtpReceiveStream};
use transport_tokio::{memory_pair, GatherOptions, PeerConfig, PeerConnection, PeerEvent};

/// An RTP packet with the padding bit set whose payload is only padding (RFC 3550 5.1): what
/// libwebrtc sends on the RTX SSRC to probe bandwidth when it has nothing to resend.
fn padding_only(payload_type: u8, seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0xA0, payload_type]; // V=2, P=1
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&1234u32.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    let pad = 224usize;
    p.extend(std::iter::repeat_n(0u8, pad - 1));
    p.push(pad as u8);
    p
}

/// Valid RTP that carries nothing to play must be dropped as padding, not counted as
/// malformed (the counter is meant for garbage on the wire).
#[test]
fn padding_only_rtx_is_not_malformed() {
    let mut config = ReceiveConfig::new(CodecKind::Vp8, 96, 1);
    config.remote_ssrc = Some(0x1111);
    config.rtx = Some((97, Some(0x2222)));
    let mut stream = RtpReceiveStream::new(config);
    let result = stream.handle_rtp_bytes(&padding_only(97, 1, 0x2222), Instant::now());
    assert_eq!(result, Err(RtpDropReason::Padding));
    assert_eq!(stream.stats().malformed_rtp, 0, "{:?}", stream.stats());
    assert_eq!(stream.stats().padding_packets, 1, "{:?}", stream.stats());
}

/// The VP8 sample (4 s) between two Rust peers over loopback: the receiver reports sent during
/// it must refer to the sender's reports (LSR/DLSR), so the sender measures a round-trip time.
#[test]
fn receiver_reports_answer_sender_reports() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (sa, sb) = memory_pair(Duration::ZERO);
        let config = |polite| {
            let mut c = PeerConfig::new(polite);
            c.gather = GatherOptions::loopback_only();
            c
        };
        let (a, _ae) = PeerConnection::new(config(false), sa)?;
        let (b, mut be) = PeerConnection::new(config(true), sb)?;
        let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/media/samples/vp8.ivf");
        let track = a
            .add_media_track(IvfSource::open(sample)?, "s", "video")
            .await?;
        let receiver = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(ev) = be.recv().await {
                if let PeerEvent::Track(r) = ev {
                    return Some(r);
                }
            }
            None
        })
        .await?
        .ok_or("no track")?;
        let sink = IvfSink::new(
            std::io::Cursor::new(Vec::new()),
            CodecKind::Vp8,
            320,
            240,
            90_000,
        )?;
        let recv = tokio::spawn(receiver.receive_into(sink));
        let sent = tokio::time::timeout(Duration::from_secs(30), track.finished()).await??;
        a.close().await;
        let got = tokio::time::timeout(Duration::from_secs(20), recv).await???;
        b.close().await;
        println!("sent {sent:?}\nreceived {got:?}");
        assert!(got.receiver_reports_sent >= 2, "{got:?}");
        assert!(
            sent.rtt.is_some(),
            "no RTT from {} receiver reports: {sent:?}",
            got.receiver_reports_sent
        );
        Ok(())
    })
}
