//! Media tracks end to end over real loopback sockets: the `media` crate's sample files sent by
//! one peer connection and written to files by the other.

#[allow(dead_code)] // shared by several test binaries
mod common;

use std::time::Duration;

use common::{config, wait_event};
use media::{CodecKind, IvfSink, IvfSource, MediaSink};
use transport_tokio::{memory_pair, PeerConnection, PeerEvent, RtpReceiver};

fn sample(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../media/samples")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vp8_sample_arrives_frame_by_frame() {
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (a, _ae) = PeerConnection::new(config(false, Some(21)), sa).unwrap();
    let (b, mut be) = PeerConnection::new(config(true, Some(22)), sb).unwrap();
    let source = IvfSource::open(sample("vp8.ivf")).unwrap();
    let track = a.add_media_track(source, "stream", "video").await.unwrap();
    let receiver: RtpReceiver = wait_event(&mut be, Duration::from_secs(20), |ev| match ev {
        PeerEvent::Track(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(receiver.media_codec(), Some(CodecKind::Vp8));
    let out = std::env::temp_dir().join(format!("tether-media-{}.ivf", std::process::id()));
    let file = std::fs::File::create(&out).unwrap();
    let sink = IvfSink::new(file, CodecKind::Vp8, 320, 240, 90_000).unwrap();
    let recv = tokio::spawn(receiver.receive_into(sink));
    let sent = track.finished().await.unwrap();
    a.close().await;
    let got = tokio::time::timeout(Duration::from_secs(20), recv)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    println!("sent {sent:?}\nreceived {got:?}");
    assert_eq!(sent.frames_sent, 120);
    assert_eq!(got.frames_delivered, 120);
    let _ = std::fs::remove_file(&out);
    b.close().await;
    let _ = MediaSink::finish as fn(&mut IvfSink<std::fs::File>) -> _;
}
