//! `tether peer --send FILE` and `--record` (through `run_peer_with_media`, what the binary
//! runs) between two peers in one process, through a real signaling server on loopback: the
//! recorded file decodes with `ffprobe` with the sample's frame count (± 1 %).

use std::path::{Path, PathBuf};
use std::time::Duration;

use signaling_ws::{random_room_name, Server, ServerConfig};
use tether::{record_path, run_peer_with_media, PeerMediaOptions, PeerOptions, Role};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../media/samples")
        .join(name)
}

use test_support::ffprobe::frames as ffprobe_frames;

use test_support::ffprobe::duration as ffprobe_duration;

fn peer(url: &str, room: &str, role: Role) -> PeerOptions {
    PeerOptions {
        server: url.to_owned(),
        room: room.to_owned(),
        token: None,
        role,
        say: None,
        loopback: true,
        echo: false,
        ca_file: None,
        ..Default::default()
    }
}

/// Waits (30 s at most) for a peer task to end without error.
async fn finished(task: tokio::task::JoinHandle<Result<(), tether::CliError>>, who: &str) {
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap_or_else(|_| panic!("the {who} did not finish"))
        .unwrap()
        .unwrap();
}

/// The one file recorded in `dir`.
fn only_recording(dir: &Path) -> PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "one recorded track: {files:?}");
    dir.join(&files[0])
}

/// Sends `file` from one peer to another that records it; checks the recording's frames and
/// returns its path (the caller removes its folder).
async fn send_and_record(file: &str, recorded: &str, frames: u64) -> PathBuf {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = server.ws_url();
    let room = random_room_name();
    let dir = std::env::temp_dir().join(format!("tether-record-{}-{file}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sender = tokio::spawn(run_peer_with_media(
        peer(&url, &room, Role::Impolite),
        PeerMediaOptions {
            send_file: Some(sample(file)),
            ..Default::default()
        },
        std::future::pending(),
    ));
    let recorder = tokio::spawn(run_peer_with_media(
        peer(&url, &room, Role::Polite),
        PeerMediaOptions {
            record: Some(dir.clone()),
            ..Default::default()
        },
        std::future::pending(),
    ));
    // The sender hangs up once the file was sent; the recorder then finishes its file.
    finished(sender, "sender").await;
    finished(recorder, "recorder").await;
    let path = only_recording(&dir);
    assert!(
        path.to_string_lossy().ends_with(recorded),
        "{} is not a {recorded}",
        path.display()
    );
    let decoded = ffprobe_frames(&path);
    println!("{file}: {} decodes to {decoded} frames", path.display());
    assert!(
        decoded.abs_diff(frames) <= frames.div_ceil(100),
        "{decoded} frames decoded, {frames} sent"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
    path
}

/// `--echo` sends media back: the sender records the echo of its own VP8 file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_sends_media_back() {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = server.ws_url();
    let room = random_room_name();
    let dir = std::env::temp_dir().join(format!("tether-echo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sender = tokio::spawn(run_peer_with_media(
        peer(&url, &room, Role::Impolite),
        PeerMediaOptions {
            send_file: Some(sample("vp8.ivf")),
            record: Some(dir.clone()),
            ..Default::default()
        },
        std::future::pending(),
    ));
    let echo = tokio::spawn(run_peer_with_media(
        PeerOptions {
            echo: true,
            ..peer(&url, &room, Role::Polite)
        },
        PeerMediaOptions::default(),
        std::future::pending(),
    ));
    finished(sender, "sender").await;
    finished(echo, "echo peer").await;
    let decoded = ffprobe_frames(&only_recording(&dir));
    println!("echo: {decoded} of 120 frames came back and decode");
    // The sender hangs up about a second after its last frame; the echo is milliseconds late.
    assert!(decoded >= 108, "{decoded} of 120 frames echoed");
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vp8_file_is_sent_and_recorded_as_ivf() {
    let path = send_and_record("vp8.ivf", ".ivf", 120).await;
    // The header states the stream's real size and its duration (4 s), not a guess.
    let file = std::fs::read(&path).unwrap();
    let le16 = |at: usize| u16::from_le_bytes([file[at], file[at + 1]]);
    assert_eq!((le16(12), le16(14)), (320, 240), "IVF header size");
    let duration = ffprobe_duration(&path);
    println!("the recording's container says {duration} s");
    assert!(
        (duration - 4.0).abs() < 0.1,
        "duration {duration} s, sent 4 s"
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opus_file_is_sent_and_recorded_as_ogg() {
    let path = send_and_record("opus.ogg", ".ogg", 201).await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn recordings_are_named_by_mid_and_codec() {
    let dir = Path::new("/rec");
    assert_eq!(
        record_path(dir, "0", media::CodecKind::Vp9),
        dir.join("track-0.ivf")
    );
    assert_eq!(
        record_path(dir, "../x", media::CodecKind::Opus),
        dir.join("track-___x.ogg")
    );
}
