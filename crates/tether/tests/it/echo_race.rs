//! `tether peer --echo` when media already flows before the echo's renegotiation completes
//! (what a browser does: it sends as soon as DTLS is up). The echo peer's `add_track` reuses
//! the transceiver of the remote offer (recvonly in its first answer); only the renegotiation
//! it then offers makes that transceiver sendrecv. Here the sender holds the echo peer's
//! renegotiation offer for a while, so the first packets reach the echo before its track may
//! send; once the renegotiation is through, the echo must still come back.
//!
//! Before the fix no echoed packet ever arrived: the echo sender saw the reused transceiver's
//! recvonly parameters, `RtpSender::write_rtp` refused the first packet with
//! `TrackError::NotSending`, and `echo_track` ended there. The sender now waits for the
//! renegotiation that lets it send (the packets wait in the receiver's queue meanwhile). The
//! same race made `peer_media.rs`'s `echo_sends_media_back` flaky under load and the Chromium
//! echo test (`tests/e2e/interop_echo.rs`) fail.

use std::time::Duration;

use async_trait::async_trait;
use session_core::signal::SignalMessage;
use session_core::signaling::SdpType;
use signaling_ws::{random_room_name, Server, ServerConfig};
use tether::{run_peer_with_media, PeerMediaOptions, PeerOptions, Role, WsSignaling};
use transport_tokio::{
    GatherOptions, PeerConfig, PeerConnection, PeerEvent, Signaling, SignalingError,
};

/// How long the sender holds the echo peer's renegotiation offer.
const HOLD: Duration = Duration::from_millis(1500);

/// Holds every offer it receives for [`HOLD`]: the sender made the first offer, so these are
/// the echo peer's renegotiations.
struct HoldOffers {
    inner: WsSignaling,
}

#[async_trait]
impl Signaling for HoldOffers {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        self.inner.send(msg).await
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        let msg = self.inner.recv().await?;
        if let Some(SignalMessage::Description { description }) = &msg {
            if description.kind == SdpType::Offer {
                tokio::time::sleep(HOLD).await;
            }
        }
        Ok(msg)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_survives_media_that_flows_before_its_renegotiation() {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = server.ws_url();
    let room = random_room_name();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let echo = tokio::spawn(run_peer_with_media(
        PeerOptions {
            server: url.clone(),
            room: room.clone(),
            token: None,
            role: Role::Polite,
            say: None,
            loopback: true,
            echo: true,
            ca_file: None,
            ..Default::default()
        },
        PeerMediaOptions::default(),
        async {
            let _ = stop_rx.await;
        },
    ));

    let sig = WsSignaling::connect(&url, &room, None).await.unwrap();
    let mut config = PeerConfig::new(false);
    config.gather = GatherOptions::loopback_only();
    let (pc, mut events) = PeerConnection::new(config, HoldOffers { inner: sig }).unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../media/samples/vp8.ivf");
    let source = media::IvfSource::open(sample).unwrap().looping(true);
    let _track = pc.add_media_track(source, "tether", "video").await.unwrap();

    // The echoed track: its receiver exists once the held renegotiation is through.
    let mut echoed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match events.recv().await {
                Some(PeerEvent::Track(t)) => break t,
                Some(_) => {}
                None => panic!("the sender's peer connection stopped"),
            }
        }
    })
    .await
    .expect("no echoed track was negotiated");
    let mut packets = 0u32;
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while echoed.read_rtp().await.is_some() {
            packets += 1;
        }
    })
    .await;
    println!("{packets} echoed packets in 3 s after the renegotiation");
    let _ = stop_tx.send(());
    pc.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), echo).await;
    server.shutdown(Duration::from_secs(5)).await.unwrap();
    // The VP8 sample is ~35 packets/s: 3 s of echo is ~100.
    assert!(packets >= 50, "{packets} echoed packets in 3 s");
}
