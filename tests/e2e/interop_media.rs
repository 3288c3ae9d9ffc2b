//! Media between Chromium and a Rust peer (transport-tokio with the `media` crate's runners),
//! both in one loopback-only namespace, through the real signaling server; the browser side is
//! the served `tether-peer.js` driven by `tests/www/interop.html`.
//!
//! Browser interop scenarios: (4) Chromium's fake camera and microphone, recorded by the Rust peer
//! to IVF and Ogg that `ffprobe` decodes; (5) the Rust peer sends the VP8 and Opus samples and
//! Chromium decodes them (`getStats()`). Both take the browser as a parameter:
//! `interop_firefox.rs` runs them against Firefox ESR.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use media::{CodecKind, IvfSink, IvfSource, OggOpusSink, OggOpusSource};
use serde_json::{json, Value};
use session_core::sdp::MediaKind;
use tether_tests::browser::{self, Kind};

use crate::interop_support::{
    room, run_in, runtime_in, signaling_server, BoxError, Page, RustPeer, TestResult, T,
};

/// Whole-test limit (each step has its own, shorter one).
const LIMIT: Duration = Duration::from_secs(60);

/// How long the Rust peer records the browser's camera and microphone.
const RECORD: Duration = Duration::from_secs(4);

/// Where the recordings go (kept as test artifacts, overwritten on each run).
fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tether-browser")
}

pub(crate) fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/media/samples")
        .join(name)
}

/// What `ffprobe -count_frames` says about the first stream of `select` (`v:0`, `a:0`):
/// decoded frames, the stream's fields, and what it printed on stderr (decoding errors).
fn ffprobe(path: &Path, select: &str) -> Result<(u64, Value, String), BoxError> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", select])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,channels,nb_read_frames",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run ffprobe (bash .ci/run installs it): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!("ffprobe {} failed: {stderr}", path.display()).into());
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let stream = v["streams"][0].clone();
    let frames = stream["nb_read_frames"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("ffprobe {}: no frame count in {v}", path.display()))?;
    Ok((frames, stream, stderr))
}

/// The first entry of `list` (`inbound`/`outbound` of the page's `media-stats`) of `kind`.
pub(crate) fn rtp_of<'a>(stats: &'a Value, list: &str, kind: &str) -> &'a Value {
    stats[list]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["kind"] == kind))
        .unwrap_or(&Value::Null)
}

pub(crate) fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(0.0)
}

/// (4) Chromium (impolite) adds its fake camera and microphone with VP8 preferred and offers;
/// the Rust peer answers and records both for [`RECORD`]; `ffprobe` decodes the files.
#[test]
fn chromium_camera_and_microphone_recorded_by_rust() -> TestResult {
    if browser::skipped("chromium_camera_and_microphone_recorded_by_rust") {
        return Ok(());
    }
    camera_and_microphone_recorded_by_rust(Kind::Chromium)
}

/// (4) in `kind`: the recordings are `{kind}-camera.ivf` and `{kind}-mic.ogg`.
pub(crate) fn camera_and_microphone_recorded_by_rust(kind: Kind) -> TestResult {
    let mut page = Page::launch_in(kind)?;
    let rt = runtime_in(page.netns())?;
    run_in(&rt, LIMIT, async move {
        let server = signaling_server().await?;
        let room = room();
        page.start(&server, &room, "impolite", "wait").await?;
        let mut rust = RustPeer::join(&server.ws_url(), &room, Some(true)).await?;
        let added = page.cmd("add-media", json!({ "vp8": true })).await?;
        println!("{kind}'s tracks: {added}");

        let first = rust.next_track().await?;
        let second = rust.next_track().await?;
        let (video, audio) = if first.kind() == MediaKind::Video {
            (first, second)
        } else {
            (second, first)
        };
        assert_eq!(video.kind(), MediaKind::Video, "{}", rust.log());
        assert_eq!(audio.kind(), MediaKind::Audio, "{}", rust.log());
        assert_eq!(
            video.media_codec(),
            Some(CodecKind::Vp8),
            "{:?}",
            video.parameters()
        );
        assert_eq!(
            audio.media_codec(),
            Some(CodecKind::Opus),
            "{:?}",
            audio.parameters()
        );

        let dir = artifacts();
        std::fs::create_dir_all(&dir)?;
        let name = kind.name().to_lowercase();
        let (ivf, ogg) = (
            dir.join(format!("{name}-camera.ivf")),
            dir.join(format!("{name}-mic.ogg")),
        );
        // The size in the IVF header is informative; the decoder reads the keyframes'.
        let settings = added["tracks"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["kind"] == "video"))
            .map(|t| t["settings"].clone())
            .unwrap_or_default();
        let width = settings["width"].as_u64().unwrap_or(640) as u16;
        let height = settings["height"].as_u64().unwrap_or(480) as u16;
        let capture_fps = settings["frameRate"].as_f64().unwrap_or(30.0);
        let video_sink = IvfSink::new(
            std::fs::File::create(&ivf)?,
            CodecKind::Vp8,
            width,
            height,
            90_000,
        )?;
        let audio_sink = OggOpusSink::new(std::fs::File::create(&ogg)?, 2, 312, 0x7e7e)?;
        let video_task = tokio::spawn(video.receive_into(video_sink));
        let audio_task = tokio::spawn(audio.receive_into(audio_sink));

        page.wait_event("connected", T, |e| {
            e["what"] == "connectionState" && e["value"] == "connected"
        })
        .await?;
        tokio::time::sleep(RECORD).await;
        let browser = page.cmd("media-stats", json!({})).await?;
        rust.pc.close().await;
        let video_stats = tokio::time::timeout(T, video_task).await???;
        let audio_stats = tokio::time::timeout(T, audio_task).await???;
        println!("{kind}'s getStats: {browser:#}");
        println!("Rust video receiver: {video_stats:?}");
        println!("Rust audio receiver: {audio_stats:?}");

        let (video_frames, video_stream, video_err) = ffprobe(&ivf, "v:0")?;
        let (audio_frames, audio_stream, audio_err) = ffprobe(&ogg, "a:0")?;
        println!(
            "ffprobe {}: {video_frames} frames {video_stream}",
            ivf.display()
        );
        println!(
            "ffprobe {}: {audio_frames} frames {audio_stream}",
            ogg.display()
        );
        if !video_err.is_empty() || !audio_err.is_empty() {
            println!("ffprobe stderr:\n{video_err}{audio_err}");
        }

        let secs = RECORD.as_secs_f64();
        let sent = rtp_of(&browser, "outbound", "video");
        assert_eq!(video_stream["codec_name"], "vp8");
        assert_eq!(audio_stream["codec_name"], "opus");
        assert!(
            video_frames as f64 >= 0.7 * capture_fps * secs,
            "{video_frames} video frames decoded from {secs} s at {capture_fps} fps; {kind} sent {}",
            sent["framesSent"]
        );
        assert!(
            video_frames as f64 >= 0.9 * num(sent, "framesSent"),
            "{video_frames} video frames decoded, {kind} sent {} before we closed",
            sent["framesSent"]
        );
        assert!(
            audio_frames as f64 >= 0.7 * 50.0 * secs,
            "{audio_frames} Opus packets decoded from {secs} s"
        );
        assert_eq!(
            video_stats.frames_delivered, video_frames,
            "every delivered frame decodes"
        );
        // The browser parsed our receiver reports (no round-trip time yet: see media_bugs.rs).
        for media in ["video", "audio"] {
            let rr = rtp_of(&browser, "remoteInbound", media);
            assert!(
                rr["packetsLost"].is_number(),
                "no {media} receiver report: {browser}"
            );
        }
        println!(
            "scenario 4 ({kind}): {secs} s recorded; video {video_frames} frames decoded ({kind} sent {}, \
             {} fps), Rust NACKs {} lost {} malformed {} dropped {}; audio {audio_frames} packets \
             decoded ({kind} sent {}), lost {}",
            sent["framesSent"],
            sent["framesPerSecond"],
            video_stats.nacks_sent,
            video_stats.packets_lost,
            video_stats.malformed_rtp,
            video_stats.rtp_dropped,
            rtp_of(&browser, "outbound", "audio")["packetsSent"],
            audio_stats.packets_lost,
        );

        page.done().await?;
        server.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    })
}

/// (5) The Rust peer (impolite) sends the VP8 sample (looping) and the Opus sample; Chromium
/// (polite) answers and decodes: `framesDecoded` > 0 and growing, audio `packetsReceived` > 0.
#[test]
fn rust_sends_vp8_and_opus_chromium_decodes() -> TestResult {
    if browser::skipped("rust_sends_vp8_and_opus_chromium_decodes") {
        return Ok(());
    }
    rust_sends_vp8_and_opus_browser_decodes(Kind::Chromium)
}

/// (5) in `kind`.
pub(crate) fn rust_sends_vp8_and_opus_browser_decodes(kind: Kind) -> TestResult {
    let mut page = Page::launch_in(kind)?;
    let rt = runtime_in(page.netns())?;
    run_in(&rt, LIMIT, async move {
        let server = signaling_server().await?;
        let room = room();
        page.start(&server, &room, "polite", "wait").await?;
        let rust = RustPeer::join(&server.ws_url(), &room, Some(false)).await?;
        let video = IvfSource::open(sample("vp8.ivf"))?.looping(true);
        let audio = OggOpusSource::open(sample("opus.ogg"))?.looping(true);
        let video = rust.pc.add_media_track(video, "tether", "video").await?;
        let audio = rust.pc.add_media_track(audio, "tether", "audio").await?;

        page.wait_event("connected", T, |e| {
            e["what"] == "connectionState" && e["value"] == "connected"
        })
        .await?;
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let playing = page.cmd("play-remote", json!({})).await?;
            if playing["tracks"].as_array().map_or(0, Vec::len) >= 2 {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("{kind} has no remote tracks: {playing}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Until the browser decodes video and receives audio.
        let first = loop {
            let s = page.cmd("media-stats", json!({})).await?;
            let (v, a) = (
                rtp_of(&s, "inbound", "video"),
                rtp_of(&s, "inbound", "audio"),
            );
            if num(v, "framesDecoded") > 0.0 && num(a, "packetsReceived") > 0.0 {
                break s;
            }
            if tokio::time::Instant::now() > deadline {
                let log = rust.log();
                return Err(format!("{kind} decodes nothing: {s:#}\nRust log:\n{log}").into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        let later = page.cmd("media-stats", json!({})).await?;
        println!("{kind}'s getStats, first decoded: {first:#}");
        println!("{kind}'s getStats, 2 s later: {later:#}");
        let decoded = |s: &Value| num(rtp_of(s, "inbound", "video"), "framesDecoded");
        let audio_packets = |s: &Value| num(rtp_of(s, "inbound", "audio"), "packetsReceived");
        // 2 s of a 30 fps sample: about 60 more frames.
        assert!(
            decoded(&later) >= decoded(&first) + 30.0,
            "framesDecoded {} then {}",
            decoded(&first),
            decoded(&later)
        );
        assert!(audio_packets(&later) >= audio_packets(&first) + 50.0);
        assert!(rtp_of(&later, "inbound", "video")["codec"]
            .as_str()
            .is_some_and(|c| c.starts_with("video/VP8")));
        assert!(rtp_of(&later, "inbound", "audio")["codec"]
            .as_str()
            .is_some_and(|c| c.starts_with("audio/opus")));

        // The browser parsed our sender reports: a remote-outbound-rtp exists only once one
        // arrived. Chromium counts them (`reportsSent`); Firefox 153 has no such field, but
        // its entry carries the sender report's packet count and NTP time.
        for media in ["video", "audio"] {
            let sr = rtp_of(&later, "remoteOutbound", media);
            let parsed = match kind {
                Kind::Chromium => num(sr, "reportsSent") >= 1.0,
                Kind::Firefox => num(sr, "packetsSent") >= 1.0 && num(sr, "remoteTimestamp") > 0.0,
            };
            assert!(parsed, "no {media} sender report: {later}");
        }
        let (v, a) = (
            rtp_of(&later, "inbound", "video"),
            rtp_of(&later, "inbound", "audio"),
        );
        println!(
            "scenario 5 ({kind}): framesDecoded {} then {} 2 s later ({} keyframes, {}x{}, \
             packetsLost {}, nackCount {}, pliCount {}, freezeCount {}); audio packetsReceived {} \
             then {} (lost {})",
            decoded(&first),
            decoded(&later),
            v["keyFramesDecoded"],
            v["frameWidth"],
            v["frameHeight"],
            v["packetsLost"],
            v["nackCount"],
            v["pliCount"],
            v["freezeCount"],
            audio_packets(&first),
            audio_packets(&later),
            a["packetsLost"],
        );

        video.stop();
        audio.stop();
        rust.pc.close().await;
        page.wait_event("bye", T, |e| e["kind"] == "bye").await?;
        page.done().await?;
        server.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    })
}
