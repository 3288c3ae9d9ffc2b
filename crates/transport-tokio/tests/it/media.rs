//! Media tracks end to end over real loopback sockets (127.0.0.1 only): the `media` crate's
//! VP8 and Opus samples sent by one peer connection as two tracks and written to IVF / Ogg
//! files by the other, which `ffprobe` decodes. Also: 5 % seeded loss on the path (an on-path
//! UDP relay) recovered by NACK (video and audio), an ICE restart from each side mid-stream,
//! per-track statistics read while the media flows, and the sender's
//! round-trip time from receiver reports.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::rtp_support::{ProxiedSignaling, Proxy, Side, XorShift};
use media::{
    CodecKind, Frame, IvfSink, IvfSource, MediaSink, OggOpusSink, OggOpusSource, ReceiverStats,
    SenderStats, SinkError,
};
use session_core::session::Event;
use test_support::{config, wait_event};
use transport_tokio::{memory_pair, PeerConnection, PeerEvent, PeerEvents, RtpReceiver, Signaling};

const WAIT: Duration = Duration::from_secs(20);
/// Frames in `vp8.ivf` (30 fps, 4 s).
const VP8_FRAMES: u64 = 120;
/// Packets in `opus.ogg` (20 ms each).
const OPUS_FRAMES: u64 = 201;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../media/samples")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-tt-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

use test_support::ffprobe::frames as ffprobe_frames;

/// Arrival times of the frames written to a sink.
#[derive(Debug, Default)]
struct Arrivals {
    last: Option<Instant>,
    longest_gap: Duration,
}

/// A sink that notes when each frame arrives, then writes it on.
struct Timed<K> {
    inner: K,
    arrivals: Arc<Mutex<Arrivals>>,
}

impl<K: MediaSink> MediaSink for Timed<K> {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError> {
        let now = Instant::now();
        let mut a = self.arrivals.lock().expect("arrivals");
        if let Some(last) = a.last {
            a.longest_gap = a.longest_gap.max(now - last);
        }
        a.last = Some(now);
        drop(a);
        self.inner.write_frame(frame)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.inner.finish()
    }
}

/// One run: what both ends counted, and the files written.
struct Run {
    video_sent: SenderStats,
    audio_sent: SenderStats,
    video: ReceiverStats,
    audio: ReceiverStats,
    video_gap: Duration,
    audio_gap: Duration,
    ivf: PathBuf,
    ogg: PathBuf,
}

impl Run {
    fn print(&self, what: &str) {
        for (kind, sent, got, gap) in [
            ("video", &self.video_sent, &self.video, self.video_gap),
            ("audio", &self.audio_sent, &self.audio, self.audio_gap),
        ] {
            println!(
                "{what} {kind}: frames sent {} delivered {} lost {}; packets sent {} lost {} \
                 recovered {}; NACKs sent {} received {}; retransmissions {}; PLIs {}; \
                 RTT {:?}; longest gap between frames {gap:?}",
                sent.frames_sent,
                got.frames_delivered,
                got.frames_lost,
                sent.packets_sent,
                got.packets_lost,
                got.packets_recovered,
                got.nacks_sent,
                sent.nacks_received,
                sent.retransmitted_packets,
                got.plis_sent,
                sent.rtt,
            );
        }
    }

    fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.ivf);
        let _ = std::fs::remove_file(&self.ogg);
    }
}

async fn next_track(events: &mut PeerEvents) -> RtpReceiver {
    wait_event(events, WAIT, |ev| match ev {
        PeerEvent::Track(r) => Some(r),
        _ => None,
    })
    .await
}

/// A sends the VP8 and Opus samples as two tracks; B writes them to files. `during` runs
/// while the media flows (given both peers and their events).
async fn run<F, Fut>(name: &str, sa: impl Signaling, sb: impl Signaling, during: F) -> Run
where
    F: FnOnce(PeerConnection, PeerEvents, PeerConnection, PeerEvents) -> Fut,
    Fut: std::future::Future<Output = (PeerConnection, PeerConnection)>,
{
    let (a, ae) = PeerConnection::new(config(false, Some(31)), sa).unwrap();
    let (b, mut be) = PeerConnection::new(config(true, Some(32)), sb).unwrap();
    let video = IvfSource::open(sample("vp8.ivf")).unwrap();
    let audio = OggOpusSource::open(sample("opus.ogg")).unwrap();
    let head = *audio.head();
    let video = a.add_media_track(video, "stream", "video").await.unwrap();
    let audio = a.add_media_track(audio, "stream", "audio").await.unwrap();

    let ivf = scratch(&format!("{name}.ivf"));
    let ogg = scratch(&format!("{name}.ogg"));
    let video_arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let audio_arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let mut receivers = Vec::new();
    for _ in 0..2 {
        let track = next_track(&mut be).await;
        let task = match track.media_codec() {
            Some(CodecKind::Vp8) => {
                let file = BufWriter::new(File::create(&ivf).unwrap());
                let sink = Timed {
                    inner: IvfSink::new(file, CodecKind::Vp8, 320, 240, 90_000).unwrap(),
                    arrivals: Arc::clone(&video_arrivals),
                };
                (true, tokio::spawn(track.receive_into(sink)))
            }
            Some(CodecKind::Opus) => {
                let file = BufWriter::new(File::create(&ogg).unwrap());
                let sink = Timed {
                    inner: OggOpusSink::new(file, head.channels, head.pre_skip, 7).unwrap(),
                    arrivals: Arc::clone(&audio_arrivals),
                };
                (false, tokio::spawn(track.receive_into(sink)))
            }
            other => panic!("unexpected track codec {other:?}"),
        };
        receivers.push(task);
    }

    let (a, b) = during(a, ae, b, be).await;
    let video_sent = tokio::time::timeout(WAIT, video.finished())
        .await
        .expect("video track ends")
        .unwrap();
    let audio_sent = tokio::time::timeout(WAIT, audio.finished())
        .await
        .expect("audio track ends")
        .unwrap();
    a.close().await;
    let mut got = (None, None);
    for (is_video, task) in receivers {
        let stats = tokio::time::timeout(WAIT, task)
            .await
            .expect("receiver ends")
            .unwrap()
            .unwrap();
        if is_video {
            got.0 = Some(stats);
        } else {
            got.1 = Some(stats);
        }
    }
    b.close().await;
    let gap = |a: &Arc<Mutex<Arrivals>>| a.lock().unwrap().longest_gap;
    Run {
        video_sent,
        audio_sent,
        video: got.0.unwrap(),
        audio: got.1.unwrap(),
        video_gap: gap(&video_arrivals),
        audio_gap: gap(&audio_arrivals),
        ivf,
        ogg,
    }
}

/// `decoded` is within 1 % of `expected`.
fn assert_close(what: &str, decoded: u64, expected: u64) {
    let tolerance = expected.div_ceil(100);
    assert!(
        decoded.abs_diff(expected) <= tolerance,
        "{what}: ffprobe decoded {decoded} frames, expected {expected} ± {tolerance}"
    );
}

async fn just_wait(
    a: PeerConnection,
    _ae: PeerEvents,
    b: PeerConnection,
    _be: PeerEvents,
) -> (PeerConnection, PeerConnection) {
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vp8_and_opus_samples_arrive_and_decode() {
    let (sa, sb) = memory_pair(Duration::ZERO);
    let r = run("plain", sa, sb, just_wait).await;
    r.print("lossless");
    assert_eq!(r.video_sent.frames_sent, VP8_FRAMES);
    assert_eq!(r.audio_sent.frames_sent, OPUS_FRAMES);
    assert_eq!(r.video.frames_delivered, VP8_FRAMES);
    assert_eq!(r.audio.frames_delivered, OPUS_FRAMES);
    assert_close("VP8", ffprobe_frames(&r.ivf), VP8_FRAMES);
    assert_close("Opus", ffprobe_frames(&r.ogg), OPUS_FRAMES);
    // Sender reports reached the receive streams (LSR/DLSR in their receiver reports), so
    // both senders measured a round-trip time.
    let rtt = r.video_sent.rtt.expect("video sender has an RTT");
    assert!(rtt < Duration::from_secs(1), "loopback RTT {rtt:?}");
    assert!(r.audio_sent.rtt.is_some(), "audio sender has an RTT");
    r.remove_files();
}

/// Whether a datagram is SRTP or SRTCP (RFC 7983: first byte 128..=191).
fn is_srtp(d: &[u8]) -> bool {
    d.len() > 12 && (128..192).contains(&d[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_loss_on_the_path_is_recovered_by_nack() {
    const SEED: u64 = 0x5eed_0005;
    let proxy = Proxy::new();
    let (sa, sb) = memory_pair(Duration::ZERO);
    let sa = ProxiedSignaling::new(sa, Arc::clone(&proxy), Side::A);
    let sb = ProxiedSignaling::new(sb, Arc::clone(&proxy), Side::B);
    let dropped = Arc::new(Mutex::new((0u64, 0u64)));
    let counts = Arc::clone(&dropped);
    let mut rng = XorShift(SEED);
    // Every SRTP and SRTCP datagram in both directions (media, retransmissions, NACKs,
    // reports) is dropped with probability 5 %; ICE and DTLS pass.
    proxy.set_tamper(Some(Box::new(move |_side, d: &[u8]| {
        if !is_srtp(d) {
            return vec![d.to_vec()];
        }
        let mut c = counts.lock().unwrap();
        c.0 += 1;
        if rng.next() % 100 < 5 {
            c.1 += 1;
            Vec::new()
        } else {
            vec![d.to_vec()]
        }
    })));
    let r = run("lossy", sa, sb, just_wait).await;
    let (seen, lost) = *dropped.lock().unwrap();
    println!("seed {SEED:#x}: the relay dropped {lost} of {seen} SRTP/SRTCP datagrams");
    r.print("5% loss");
    assert!(lost * 100 >= seen * 3, "the relay really lost about 5 %");
    assert!(r.video.nacks_sent > 0 && r.video_sent.retransmitted_packets > 0);
    assert!(
        r.video.frames_delivered * 100 >= VP8_FRAMES * 99,
        "seed {SEED:#x}: video: {} of {VP8_FRAMES} frames complete (< 99 %)",
        r.video.frames_delivered
    );
    // Tether offers NACK for Opus too: audio recovers like video.
    assert!(r.audio.nacks_sent > 0, "audio NACKs: {:?}", r.audio);
    assert!(
        r.audio.frames_delivered * 100 >= OPUS_FRAMES * 99,
        "seed {SEED:#x}: audio: {} of {OPUS_FRAMES} frames complete (< 99 %)",
        r.audio.frames_delivered
    );
    assert_close("VP8 after loss", ffprobe_frames(&r.ivf), VP8_FRAMES);
    assert_close("Opus after loss", ffprobe_frames(&r.ogg), OPUS_FRAMES);
    r.remove_files();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_restart_from_each_side_mid_stream_loses_no_frame() {
    // 200 ms of signaling delay: each restart takes a few hundred ms to negotiate while the
    // old path carries the media.
    let (sa, sb) = memory_pair(Duration::from_millis(200));
    let r = run("restart", sa, sb, |a, mut ae, b, _be| async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        a.restart_ice().await.unwrap();
        // B restarts once A's restart completed (its generation carries the traffic): a
        // restart asked while A's exchange is still under way would merge into it, and no
        // third generation would ever come (a fixed sleep left that to the machine's speed).
        wait_event(&mut ae, WAIT, |ev| match ev {
            PeerEvent::Session(Event::IceGenerationPromoted { generation, .. })
                if generation.0 >= 1 =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.restart_ice().await.unwrap();
        // Both restarts completed: the third generation carries the traffic.
        let generation = wait_event(&mut ae, WAIT, |ev| match ev {
            PeerEvent::Session(Event::IceGenerationPromoted { generation, .. })
                if generation.0 >= 2 =>
            {
                Some(generation)
            }
            _ => None,
        })
        .await;
        println!("ICE generation {} promoted", generation.0);
        (a, b)
    })
    .await;
    r.print("ICE restarts");
    assert_eq!(r.video.frames_delivered, VP8_FRAMES, "every video frame");
    assert_eq!(r.audio.frames_delivered, OPUS_FRAMES, "every audio frame");
    assert_eq!(r.video.frames_lost + r.audio.frames_lost, 0);
    // Frames kept arriving: at 30 fps a gap over 1 s would mean the media stopped.
    assert!(
        r.video_gap < Duration::from_secs(1),
        "longest video gap {:?}",
        r.video_gap
    );
    assert_close("VP8 across restarts", ffprobe_frames(&r.ivf), VP8_FRAMES);
    r.remove_files();
}

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

/// CPU per stream pair: one peer sends the looping VP8 sample (30 fps) and Opus sample (50
/// packets/s) for `TETHER_CPU_SECS` seconds (default 10) to the other, in this process, and
/// the process's CPU time (getrusage: both peers, SRTP, ICE keep-alives, the runtime) is
/// reported. A measurement, not a check: run it on a quiet machine.
///
/// `cargo test -p tether-transport-tokio --test it media:: -- --ignored --nocapture cpu_per_stream`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (10 s by default); run explicitly"]
async fn cpu_per_stream_pair() {
    let secs: u64 = std::env::var("TETHER_CPU_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (a, _ae) = PeerConnection::new(config(false, Some(41)), sa).unwrap();
    let (b, mut be) = PeerConnection::new(config(true, Some(42)), sb).unwrap();
    let video = IvfSource::open(sample("vp8.ivf")).unwrap().looping(true);
    let audio = OggOpusSource::open(sample("opus.ogg"))
        .unwrap()
        .looping(true);
    let video = a.add_media_track(video, "s", "v").await.unwrap();
    let audio = a.add_media_track(audio, "s", "a").await.unwrap();
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let mut receivers = Vec::new();
    for _ in 0..2 {
        let track = next_track(&mut be).await;
        let sink = Timed {
            inner: Discard,
            arrivals: Arc::clone(&arrivals),
        };
        receivers.push(tokio::spawn(track.receive_into(sink)));
    }
    // Measure once media flows (setup and DTLS are not part of a stream's cost).
    while arrivals.lock().unwrap().last.is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu0 = cpu_time();
    let wall0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = cpu_time() - cpu0;
    let wall = wall0.elapsed();
    video.stop();
    audio.stop();
    a.close().await;
    let mut frames = 0;
    for r in receivers {
        frames += r.await.unwrap().unwrap().frames_delivered;
    }
    b.close().await;
    println!(
        "one VP8 30 fps + Opus 50 pps stream pair (sender and receiver in this process), \
         {wall:.1?}: CPU {cpu:.3?} = {:.2} % of one core ({:.1} ms CPU per second); \
         {frames} frames delivered",
        cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
        cpu.as_secs_f64() * 1000.0 / wall.as_secs_f64()
    );
    assert!(frames > 0, "media flowed");
}

/// A sink that keeps nothing.
struct Discard;

impl MediaSink for Discard {
    fn write_frame(&mut self, _frame: &Frame) -> Result<(), SinkError> {
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Per-track statistics while the media flows: `LocalTrack::stats` and `RemoteTrack::stats`
/// grow during the 4 s VP8 sample (neither zero nor final at mid-stream), and the last live
/// reading is the final one `finished` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn track_stats_are_readable_while_the_media_flows() {
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (a, _ae) = PeerConnection::new(config(false, Some(41)), sa).unwrap();
    let (b, mut be) = PeerConnection::new(config(true, Some(42)), sb).unwrap();
    let video = IvfSource::open(sample("vp8.ivf")).unwrap();
    let sent = a.add_media_track(video, "stream", "video").await.unwrap();
    assert_eq!(sent.stats(), SenderStats::default(), "nothing sent yet");
    let ivf = scratch("live-stats.ivf");
    let sink = IvfSink::new(
        BufWriter::new(File::create(&ivf).unwrap()),
        CodecKind::Vp8,
        320,
        240,
        90_000,
    )
    .unwrap();
    let received = next_track(&mut be).await.spawn_receive(sink);
    assert_eq!(received.kind(), session_core::sdp::MediaKind::Video);

    // Mid-stream (the sample lasts 4 s).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (mid_sent, mid_received) = (sent.stats(), received.stats());
    println!(
        "at 2 s: {} frames / {} packets sent, {} frames / {} packets received, jitter {:.1}",
        mid_sent.frames_sent,
        mid_sent.packets_sent,
        mid_received.frames_delivered,
        mid_received.packets_received,
        mid_received.jitter
    );
    assert!(
        (10..VP8_FRAMES).contains(&mid_sent.frames_sent),
        "{mid_sent:?}"
    );
    assert!(
        (10..VP8_FRAMES).contains(&mid_received.frames_delivered),
        "{mid_received:?}"
    );
    assert!(mid_received.payload_bytes_received > 0);
    assert!(mid_received.packets_received <= mid_sent.packets_sent);

    let final_sent = tokio::time::timeout(WAIT, sent.finished())
        .await
        .expect("the track ends")
        .unwrap();
    assert_eq!(final_sent.frames_sent, VP8_FRAMES);
    // The last reading of the receiver before it ends is its final count.
    let deadline = Instant::now() + WAIT;
    while received.stats().frames_delivered < VP8_FRAMES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let live = received.stats();
    a.close().await;
    let final_received = tokio::time::timeout(WAIT, received.finished())
        .await
        .expect("the receiver ends")
        .unwrap();
    assert_eq!(final_received.frames_delivered, VP8_FRAMES);
    assert_eq!(live.frames_delivered, final_received.frames_delivered);
    assert_eq!(live.packets_received, final_received.packets_received);
    b.close().await;
    let _ = std::fs::remove_file(&ivf);
}
