//! `tether demo`: a whole session in one process, on loopback only.
//!
//! An embedded signaling server on `127.0.0.1:0`, a caller that creates a fresh room and a
//! callee that joins it through real WebSocket signaling, a connection with host candidates on
//! loopback only (no STUN), a data channel, a text exchange, a bulk transfer with every byte
//! checked, a VP8 video and an Opus audio track (embedded samples, looping) flowing all the
//! while, an ICE restart while data and media keep flowing (nothing may be lost), and close.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::channel::DataChannelInit;
use session_core::session::{ClosedBy, Event};
use session_core::state::PeerConnectionState;
use signaling_ws::{random_room_name, Server, ServerConfig};
use tokio::sync::mpsc;
use transport_tokio::{DataChannel, GatherOptions, Message, PeerConfig, PeerConnection};

use crate::demo_check::{end_marker, parse_end_marker, payload, DataLoss, Tally};
use crate::demo_media;
use crate::glue::WsSignaling;
use crate::signal_tap::SignalTap;
use crate::timeline::{pump, Note, Timeline};

/// Size of one transfer message.
const CHUNK: usize = 32 * 1024;
/// Interval between messages while the ICE restart is in flight.
const PACE: Duration = Duration::from_millis(5);
/// Paced messages sent before `restart_ice`, and after the new path carries the traffic.
const PACED_LEAD: u64 = 20;
const PACED_TAIL: u64 = 40;
/// Time allowed for each step.
const STEP: Duration = Duration::from_secs(10);

/// What the demo does.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Bytes of the bulk transfer (rounded up to whole 32 KiB messages).
    pub transfer_bytes: usize,
    /// Print nothing while running (the report still has the timeline).
    pub quiet: bool,
    /// A transport per m-section (no BUNDLE), and the restart step restarts only the video
    /// transport (a partial restart) while audio and data keep theirs.
    pub unbundled: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            transfer_bytes: 4 * 1024 * 1024,
            quiet: false,
            unbundled: false,
        }
    }
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The caller's offer (have-local-offer) to the data channel open on both sides.
    pub setup: Duration,
    /// Bytes of the bulk transfer, every one checked.
    pub bulk_bytes: u64,
    /// Bulk transfer throughput, MiB/s.
    pub throughput_mib_s: f64,
    /// `restart_ice()` to the new ICE generation carrying the caller's traffic (unbundled:
    /// `restart_ice_transport` of the video mid to its new generation).
    pub restart_switch: Duration,
    /// Unbundled: the generation each transport (by its mids) carries traffic on at the end;
    /// only the video transport's moved. Empty when bundled.
    pub transports_after: Vec<(Vec<String>, u32)>,
    /// The longest gap between two messages arriving while the restart was in flight (they
    /// are sent every 5 ms).
    pub restart_gap: Duration,
    /// The caller's selected local address before and after the restart.
    pub path_before: Option<std::net::SocketAddr>,
    /// See `path_before`.
    pub path_after: Option<std::net::SocketAddr>,
    /// Messages and bytes received over the channel (text, bulk and during the restart).
    pub messages: u64,
    /// See `messages`.
    pub bytes: u64,
    /// Transfer messages lost, out of order, duplicated or corrupted, as the callee counted
    /// them (`tether demo` exits 1 unless 0; see [`ok`](Self::ok)).
    pub lost: u64,
    /// `lost`, by cause.
    pub data_loss: DataLoss,
    /// Media frames sent and received, lost, gaps and recovery.
    pub media: MediaSummary,
    /// Whole demo, server start to close.
    pub total: Duration,
    /// The printed timeline.
    pub timeline: Vec<String>,
}

impl DemoReport {
    /// Whether the run passed: every step ran (else [`run_demo`] returned an error) and no
    /// transfer message was lost, out of order, duplicated or corrupted.
    pub fn ok(&self) -> bool {
        self.lost == 0
    }

    /// The summary as JSON (durations in milliseconds), for `tether demo --json`.
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let loss = &self.data_loss;
        serde_json::json!({
            "ok": self.ok(),
            "setup_ms": ms(self.setup),
            "bulk_bytes": self.bulk_bytes,
            "throughput_mib_s": self.throughput_mib_s,
            "restart_switch_ms": ms(self.restart_switch),
            "restart_gap_ms": ms(self.restart_gap),
            "transports_after": self
                .transports_after
                .iter()
                .map(|(mids, g)| serde_json::json!({ "mids": mids, "generation": g }))
                .collect::<Vec<_>>(),
            "path_before": self.path_before.map(|a| a.to_string()),
            "path_after": self.path_after.map(|a| a.to_string()),
            "messages": self.messages,
            "bytes": self.bytes,
            "lost": self.lost,
            "data_loss": {
                "missing": loss.missing,
                "missing_bytes": loss.missing_bytes,
                "out_of_order": loss.out_of_order,
                "duplicated": loss.duplicated,
                "corrupted": loss.corrupted,
            },
            "media": {
                "video_frames_sent": self.media.video_frames_sent,
                "video_frames_received": self.media.video_frames_received,
                "audio_frames_sent": self.media.audio_frames_sent,
                "audio_frames_received": self.media.audio_frames_received,
                "frames_lost": self.media.frames_lost,
                "longest_video_gap_ms": ms(self.media.longest_video_gap),
                "longest_audio_gap_ms": ms(self.media.longest_audio_gap),
                "retransmissions": self.media.retransmissions,
                "rtt_ms": self.media.rtt.map(ms),
            },
            "total_ms": ms(self.total),
        })
    }
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let path = |a: Option<std::net::SocketAddr>| a.map_or("?".into(), |a| a.to_string());
        writeln!(f, "summary")?;
        writeln!(f, "  setup (offer -> channel open)   {}", ms(self.setup))?;
        writeln!(
            f,
            "  bulk transfer                   {:.1} MiB at {:.1} MiB/s",
            self.bulk_bytes as f64 / (1024.0 * 1024.0),
            self.throughput_mib_s
        )?;
        writeln!(
            f,
            "  ICE restart (restart_ice -> new path carries data)   {}",
            ms(self.restart_switch)
        )?;
        writeln!(
            f,
            "  restart gap (longest arrival gap, 5 ms pacing)       {}",
            ms(self.restart_gap)
        )?;
        writeln!(
            f,
            "  caller's path                   {} -> {}",
            path(self.path_before),
            path(self.path_after)
        )?;
        let loss = &self.data_loss;
        writeln!(
            f,
            "  received                        {} messages, {} bytes, {} lost ({} missing, \
             {} out of order, {} duplicated, {} corrupted)",
            self.messages,
            self.bytes,
            self.lost,
            loss.missing,
            loss.out_of_order,
            loss.duplicated,
            loss.corrupted
        )?;
        let m = &self.media;
        writeln!(
            f,
            "  media frames sent / received    video {} / {}, audio {} / {}, {} lost",
            m.video_frames_sent,
            m.video_frames_received,
            m.audio_frames_sent,
            m.audio_frames_received,
            m.frames_lost
        )?;
        writeln!(
            f,
            "  longest media gap (restart incl.)  video {}, audio {}",
            ms(m.longest_video_gap),
            ms(m.longest_audio_gap)
        )?;
        writeln!(
            f,
            "  media retransmissions, RTT      {}, {}",
            m.retransmissions,
            m.rtt.map_or("?".into(), ms)
        )?;
        write!(f, "  total                           {}", ms(self.total))
    }
}

/// What the demo's media tracks did (VP8 video at 30 fps, Opus audio at 50 packets/s).
#[derive(Debug, Clone, Default)]
pub struct MediaSummary {
    /// Video frames the caller sent.
    pub video_frames_sent: u64,
    /// Complete video frames the callee received.
    pub video_frames_received: u64,
    /// Audio frames (Opus packets) the caller sent.
    pub audio_frames_sent: u64,
    /// Audio frames the callee received.
    pub audio_frames_received: u64,
    /// Frames sent but never received complete (both tracks).
    pub frames_lost: u64,
    /// The longest time between two video frames at the callee, over the whole flow (the
    /// ICE restart included; 33 ms apart when nothing stalls).
    pub longest_video_gap: Duration,
    /// The same for audio (20 ms apart).
    pub longest_audio_gap: Duration,
    /// Packets retransmitted after a NACK (both tracks).
    pub retransmissions: u64,
    /// The video sender's round-trip time from receiver reports.
    pub rtt: Option<Duration>,
}

/// Why the demo failed: the step and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("demo failed while {step}: {reason}")]
pub struct DemoError {
    /// What the demo was doing.
    pub step: &'static str,
    /// What went wrong.
    pub reason: String,
}

fn fail(step: &'static str) -> impl Fn(String) -> DemoError {
    move |reason| DemoError { step, reason }
}

/// Waits for a note matching `f`; a failure, close or timeout on the way is an error.
async fn wait_note<T>(
    notes: &mut mpsc::UnboundedReceiver<Note>,
    within: Duration,
    mut f: impl FnMut(&mut Option<Note>) -> Option<T>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let note = tokio::time::timeout_at(deadline, notes.recv())
            .await
            .map_err(|_| format!("nothing after {within:?}"))?
            .ok_or("the peer connection stopped")?;
        let mut slot = Some(note);
        if let Some(t) = f(&mut slot) {
            return Ok(t);
        }
        match slot {
            Some(Note::Transport(e)) => return Err(format!("transport error: {e}")),
            Some(Note::Session(Event::ConnectionStateChange(PeerConnectionState::Failed), _)) => {
                return Err("the connection failed".into())
            }
            Some(Note::Session(Event::Closed(by), _)) => {
                return Err(format!("the session closed ({by:?})"))
            }
            _ => {}
        }
    }
}

/// What the receiving side saw.
#[derive(Debug, Default)]
struct Received {
    messages: u64,
    bytes: u64,
    /// Every transfer message checked.
    tally: Tally,
    /// What the tally found once the sender said how much it sent.
    loss: DataLoss,
}

/// Receives on the callee's channel: one text, then binary messages (every byte checked and
/// counted by [`Tally`]) until the end marker says how many were sent.
async fn receive(mut dc: DataChannel, timeline: Arc<Timeline>) -> Result<Received, String> {
    let mut r = Received::default();
    loop {
        let msg = tokio::time::timeout(STEP, dc.recv())
            .await
            .map_err(|_| format!("no message for {STEP:?}"))?
            .ok_or("the channel closed early")?;
        let now = Instant::now();
        r.messages += 1;
        r.bytes += msg.len() as u64;
        match msg {
            Message::Text(t) => match parse_end_marker(&t) {
                Some((count, bytes)) => {
                    r.loss = r.tally.finish(count, bytes);
                    return Ok(r);
                }
                None => {
                    timeline.note("callee", format!("received {t:?}"));
                    dc.send_text("hello back from the callee")
                        .await
                        .map_err(|e| e.to_string())?;
                }
            },
            Message::Binary(data) => r.tally.add(&data, now),
            other => return Err(format!("unexpected message {other:?}")),
        }
    }
}

fn loopback_config(polite: bool, unbundled: bool) -> PeerConfig {
    let mut c = PeerConfig::new(polite);
    if unbundled {
        c.bundle_policy = session_core::config::BundlePolicy::MaxCompat;
    }
    c.gather = GatherOptions::loopback_only();
    c.ice_servers = Vec::new();
    c.retire_grace = Duration::from_millis(500);
    c
}

/// Runs the demo; prints the timeline unless quiet.
///
/// A step that fails ends the demo with a [`DemoError`]. A run whose every step completed
/// returns its report, with the transfer messages that went wrong counted in
/// [`DemoReport::lost`]: check [`DemoReport::ok`] (`tether demo` exits 1 when it is false).
pub async fn run_demo(opts: DemoOptions) -> Result<DemoReport, DemoError> {
    let tl = Timeline::new(opts.quiet);
    let server = Server::bind(([127, 0, 0, 1], 0).into(), ServerConfig::default())
        .await
        .map_err(|e| fail("starting the signaling server")(e.to_string()))?;
    let url = server.ws_url();
    tl.note("server", format!("signaling on {url}"));
    let result = session(&opts, &tl, &url).await;
    let shutdown = server.shutdown(Duration::from_secs(5)).await;
    tl.note("server", "stopped");
    let mut report = result?;
    shutdown.map_err(|e| fail("stopping the signaling server")(e.to_string()))?;
    report.total = tl.elapsed();
    report.timeline = tl.lines();
    Ok(report)
}

async fn session(
    opts: &DemoOptions,
    tl: &Arc<Timeline>,
    url: &str,
) -> Result<DemoReport, DemoError> {
    // Signaling: the caller creates the room, the callee joins it.
    let step = "joining the room";
    let room = random_room_name();
    let caller_sig = WsSignaling::connect(url, &room, None)
        .await
        .map_err(|e| fail(step)(e.to_string()))?;
    tl.note(
        "caller",
        format!("created room {room} as peer {}", caller_sig.peer_id()),
    );
    let callee_sig = WsSignaling::connect(url, &room, None)
        .await
        .map_err(|e| fail(step)(e.to_string()))?;
    tl.note(
        "callee",
        format!(
            "joined as peer {}; the room has {} other peer(s)",
            callee_sig.peer_id(),
            callee_sig.room_size()
        ),
    );

    // Peers: the caller is impolite and offers; the callee is polite.
    let step = "creating the peer connections";
    // The taps note the candidates (and descriptions) each peer connection signals.
    let caller_sig = SignalTap::new(caller_sig, "caller", tl.clone());
    let callee_sig = SignalTap::new(callee_sig, "callee", tl.clone());
    let (caller, caller_events) =
        PeerConnection::new(loopback_config(false, opts.unbundled), caller_sig)
            .map_err(|e| fail(step)(e.to_string()))?;
    let (callee, callee_events) =
        PeerConnection::new(loopback_config(true, opts.unbundled), callee_sig)
            .map_err(|e| fail(step)(e.to_string()))?;
    let (caller, callee) = (Arc::new(caller), Arc::new(callee));
    let mut caller_notes = pump(
        "caller",
        caller_events,
        tl.clone(),
        None,
        Arc::downgrade(&caller),
    );
    let (tracks_tx, tracks_rx) = mpsc::unbounded_channel();
    let mut callee_notes = pump(
        "callee",
        callee_events,
        tl.clone(),
        Some(tracks_tx),
        Arc::downgrade(&callee),
    );
    let media_in = demo_media::receive(tracks_rx, tl.clone());

    // Media first, so that one offer carries the tracks and the data channel.
    let media_out = demo_media::start(&caller)
        .await
        .map_err(fail("adding the media tracks"))?;
    tl.note(
        "caller",
        "added a VP8 video and an Opus audio track (embedded samples, looping)",
    );

    let step = "connecting";
    let asked = Instant::now();
    let dc = caller
        .create_data_channel("chat", DataChannelInit::default())
        .await
        .map_err(|e| fail(step)(e.to_string()))?;
    tl.note("caller", "created data channel \"chat\"");
    let remote_dc = wait_note(&mut callee_notes, STEP, |n| match n.take() {
        Some(Note::Channel(dc)) => Some(dc),
        other => {
            *n = other;
            None
        }
    })
    .await
    .map_err(fail(step))?;
    tokio::time::timeout(STEP, dc.wait_open())
        .await
        .map_err(|_| fail(step)("the channel did not open".into()))?
        .map_err(|e| fail(step)(e.to_string()))?;
    let open = Instant::now();
    // The offer: the caller's first have-local-offer (long seen by now).
    let mut offered = asked;
    while let Ok(note) = caller_notes.try_recv() {
        if let Note::Session(Event::SignalingStateChange(s), at) = note {
            if format!("{s:?}") == "HaveLocalOffer" && offered == asked {
                offered = at;
            }
        }
    }
    let setup = open.saturating_duration_since(offered);
    tl.note(
        "both",
        format!(
            "data channel \"chat\" open, {:.1} ms after the offer",
            setup.as_secs_f64() * 1000.0
        ),
    );

    // Text both ways; the callee's receiver then checks every transfer message.
    let step = "exchanging messages";
    let receiver = tokio::spawn(receive(remote_dc, tl.clone()));
    let mut dc = dc;
    dc.send_text("hello from the caller")
        .await
        .map_err(|e| fail(step)(e.to_string()))?;
    let back = tokio::time::timeout(STEP, dc.recv())
        .await
        .map_err(|_| fail(step)("no answer".into()))?
        .ok_or_else(|| fail(step)("the channel closed".into()))?;
    tl.note("caller", format!("received {back:?}"));

    // Bulk transfer at full speed.
    let step = "transferring";
    let count = opts.transfer_bytes.div_ceil(CHUNK).max(1) as u64;
    tl.note("caller", format!("sending {count} x 32 KiB"));
    let bulk_start = Instant::now();
    for seq in 0..count {
        dc.send(payload(seq, CHUNK))
            .await
            .map_err(|e| fail(step)(e.to_string()))?;
    }
    let mut seq = count;

    // ICE restart while paced messages keep flowing.
    let step = "restarting ICE mid-transfer";
    let path_before = caller
        .stats()
        .await
        .ok()
        .and_then(|s| s.generations.first().and_then(|g| g.local));
    // Unbundled: the video m-section's mid, whose transport alone restarts.
    let video_mid = if opts.unbundled {
        let local = caller
            .local_description()
            .await
            .map_err(|e| fail(step)(e.to_string()))?
            .ok_or_else(|| fail(step)("no local description".into()))?;
        let parsed = session_core::sdp::parse(&local.sdp).map_err(|e| fail(step)(e.to_string()))?;
        let mid = parsed
            .media
            .iter()
            .find(|m| m.kind == session_core::sdp::MediaKind::Video)
            .map(|m| m.mid.clone())
            .ok_or_else(|| fail(step)("no video m-section".into()))?;
        Some(mid)
    } else {
        None
    };
    let mut restart_at: Option<Instant> = None;
    let mut switched: Option<(Instant, u64)> = None;
    let deadline = Instant::now() + STEP;
    let restart_first = seq;
    loop {
        if Instant::now() > deadline {
            return Err(fail(step)(format!(
                "the new path did not carry traffic within {STEP:?}"
            )));
        }
        if seq == restart_first + PACED_LEAD {
            match &video_mid {
                Some(mid) => {
                    tl.note(
                        "caller",
                        format!(
                            "restart_ice_transport({mid:?}): a partial restart, video's \
                             transport alone (audio and data keep theirs)"
                        ),
                    );
                    caller
                        .restart_ice_transport(mid)
                        .await
                        .map_err(|e| fail(step)(e.to_string()))?;
                }
                None => {
                    tl.note("caller", "restart_ice() (as if the network changed)");
                    caller
                        .restart_ice()
                        .await
                        .map_err(|e| fail(step)(e.to_string()))?;
                }
            }
            restart_at = Some(Instant::now());
        }
        dc.send(payload(seq, CHUNK))
            .await
            .map_err(|e| fail(step)(e.to_string()))?;
        seq += 1;
        while let Ok(note) = caller_notes.try_recv() {
            match note {
                Note::Session(Event::IceGenerationPromoted { generation, .. }, at)
                    if generation.0 > 0 && switched.is_none() =>
                {
                    switched = Some((at, seq));
                }
                Note::Transport(e) => return Err(fail(step)(e.to_string())),
                Note::Session(Event::Closed(_), _)
                | Note::Session(Event::ConnectionStateChange(PeerConnectionState::Failed), _) => {
                    return Err(fail(step)("the connection failed".into()))
                }
                _ => {}
            }
        }
        if switched.is_some_and(|(_, at)| seq >= at + PACED_TAIL) {
            break;
        }
        tokio::time::sleep(PACE).await;
    }
    let (switch_at, _) = switched.unwrap_or((Instant::now(), seq));
    let (video, audio) = media_in.arrivals();
    tl.note(
        "callee",
        format!(
            "media so far: {} video and {} audio frames; longest gaps {:.1} / {:.1} ms",
            video.frames,
            audio.frames,
            video.longest_gap.as_secs_f64() * 1000.0,
            audio.longest_gap.as_secs_f64() * 1000.0
        ),
    );
    let restart_switch = switch_at.saturating_duration_since(restart_at.unwrap_or(switch_at));
    let sent_bytes = seq * CHUNK as u64;
    dc.send_text(end_marker(seq, sent_bytes))
        .await
        .map_err(|e| fail(step)(e.to_string()))?;
    let received = receiver
        .await
        .map_err(|e| fail(step)(e.to_string()))?
        .map_err(fail("checking the received data"))?;
    let arrivals = &received.tally.arrivals;
    let bulk_end = arrivals
        .iter()
        .filter(|(s, _)| *s < count)
        .map(|&(_, at)| at)
        .max()
        .unwrap_or(bulk_start);
    let bulk_bytes = count * CHUNK as u64;
    let throughput_mib_s = bulk_bytes as f64
        / (1024.0 * 1024.0)
        / bulk_end
            .saturating_duration_since(bulk_start)
            .as_secs_f64()
            .max(1e-6);
    let loss = received.loss;
    tl.note(
        "callee",
        format!(
            "{} of {seq} messages arrived intact, every byte checked: {} missing ({} bytes), \
             {} out of order, {} duplicated, {} corrupted; {throughput_mib_s:.1} MiB/s in bulk",
            arrivals.len(),
            loss.missing,
            loss.missing_bytes,
            loss.out_of_order,
            loss.duplicated,
            loss.corrupted
        ),
    );
    // Arrival gaps of the paced messages (sent during the restart), in arrival order.
    let paced: Vec<Instant> = arrivals
        .iter()
        .filter(|(s, _)| *s >= count)
        .map(|&(_, at)| at)
        .collect();
    let restart_gap = paced
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]))
        .max()
        .unwrap_or_default();
    // Media ends here (the tracks answer NACKs for one more second, while the old
    // generation retires after its grace period of 500 ms).
    media_out.stop();
    tl.note("caller", "media sources stopped");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let step = "finishing the media tracks";
    let (video_sent, audio_sent) = media_out.finished().await.map_err(fail(step))?;
    let (video, audio) = media_in.arrivals();
    let media = MediaSummary {
        video_frames_sent: video_sent.frames_sent,
        video_frames_received: video.frames,
        audio_frames_sent: audio_sent.frames_sent,
        audio_frames_received: audio.frames,
        frames_lost: video_sent.frames_sent.saturating_sub(video.frames)
            + audio_sent.frames_sent.saturating_sub(audio.frames),
        longest_video_gap: video.longest_gap,
        longest_audio_gap: audio.longest_gap,
        retransmissions: video_sent.retransmitted_packets + audio_sent.retransmitted_packets,
        rtt: video_sent.rtt,
    };
    tl.note(
        "callee",
        format!(
            "received {} of {} video and {} of {} audio frames",
            video.frames, video_sent.frames_sent, audio.frames, audio_sent.frames_sent
        ),
    );
    if video.frames == 0 || audio.frames == 0 {
        return Err(fail(step)("media did not flow".into()));
    }
    let after = caller
        .stats()
        .await
        .map_err(|e| fail(step)(e.to_string()))?;
    let path_after = after
        .generations
        .iter()
        .find(|g| g.promoted)
        .and_then(|g| g.local);
    tl.note(
        "caller",
        format!(
            "{} live ICE generation(s); path {path_before:?} -> {path_after:?}",
            after.generations.len()
        ),
    );
    let transports_after: Vec<(Vec<String>, u32)> = if opts.unbundled {
        after
            .transports
            .iter()
            .filter_map(|t| {
                let g = after
                    .generations
                    .iter()
                    .find(|g| g.transport == t.id && g.promoted)?;
                Some((t.mids.clone(), g.generation.0))
            })
            .collect()
    } else {
        Vec::new()
    };
    if !transports_after.is_empty() {
        tl.note(
            "caller",
            format!(
                "transports after the partial restart (mids: generation): {}",
                transports_after
                    .iter()
                    .map(|(mids, g)| format!("{}: {g}", mids.join(",")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }

    // Close from the caller: both sides close, the callee's channel ends.
    let step = "closing";
    tl.note("caller", "close()");
    caller.close().await;
    let closed = |by: ClosedBy| {
        move |n: &mut Option<Note>| match n {
            Some(Note::Session(Event::Closed(b), _)) if *b == by => Some(()),
            // States on the way to closed are expected.
            Some(Note::Session(Event::ConnectionStateChange(_), _)) => {
                *n = None;
                None
            }
            _ => None,
        }
    };
    wait_note(&mut caller_notes, STEP, closed(ClosedBy::Local))
        .await
        .map_err(fail(step))?;
    wait_note(&mut callee_notes, STEP, closed(ClosedBy::Remote))
        .await
        .map_err(fail(step))?;
    tokio::time::timeout(STEP, async {
        caller.wait_closed().await;
        callee.wait_closed().await;
    })
    .await
    .map_err(|_| fail(step)("the peer connections did not stop".into()))?;
    tl.note("both", "peer connections stopped; sockets released");
    if let (Some(v), Some(a)) = media_in.finished().await {
        // The receivers' own view (NACKs sent, packets lost on the path).
        tl.note(
            "callee",
            format!(
                "media receivers: {} + {} packets, {} lost, {} NACKs sent, {} recovered",
                v.packets_received,
                a.packets_received,
                v.packets_lost + a.packets_lost,
                v.nacks_sent + a.nacks_sent,
                v.packets_recovered + a.packets_recovered
            ),
        );
    }

    Ok(DemoReport {
        setup,
        bulk_bytes,
        throughput_mib_s,
        restart_switch,
        transports_after,
        restart_gap,
        path_before,
        path_after,
        messages: received.messages,
        bytes: received.bytes,
        lost: loss.total(),
        data_loss: loss,
        media,
        total: Duration::ZERO,
        timeline: Vec::new(),
    })
}
