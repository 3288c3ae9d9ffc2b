//! One session of the soak: two peer connections that meet in a room of the real signaling
//! server, a data channel with checked messages both ways, an Opus track whose RTP must
//! arrive, ICE restarts, signaling reconnects, and a close that must release everything.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::{Frame, MediaSink, OggOpusSource, SinkError};
use session_core::channel::DataChannelInit;
use session_core::session::{ClosedBy, Event};
use signaling_ws::{random_room_name, Reconnector};
use tether::WsSignaling;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use transport_tokio::{
    DataChannel, GatherOptions, LocalTrack, Message, PeerConfig, PeerConnection, PeerEvent,
    PeerEvents, RemoteTrack, RtpReceiver,
};

/// The Opus sample (201 packets of 20 ms), looping: 50 RTP packets per second.
const OPUS_SAMPLE: &[u8] = include_bytes!("../../../media/samples/opus.ogg");
/// Time allowed for each step (connect, a message, a restart, a close).
pub(crate) const STEP: Duration = Duration::from_secs(10);
/// RTP packets that must arrive in a media check (100 ms of audio).
const MEDIA_PACKETS: u64 = 5;

/// A sink that drops the frames (the receiver's counters are what the soak checks).
struct Discard;

impl MediaSink for Discard {
    fn write_frame(&mut self, _frame: &Frame) -> Result<(), SinkError> {
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// What arrived from a peer's event stream that the soak takes a handle on.
enum Arrival {
    Channel(DataChannel),
    Track(RtpReceiver),
}

/// A task reading one peer's events to their end: the highest promoted ICE generation, who
/// closed, transport errors, and the channels and tracks the peer opened.
struct Watched {
    promoted: watch::Receiver<u32>,
    closed: watch::Receiver<Option<ClosedBy>>,
    errors: Arc<Mutex<Vec<String>>>,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    task: JoinHandle<()>,
}

fn watch_events(mut events: PeerEvents) -> Watched {
    let (promoted_tx, promoted) = watch::channel(0u32);
    let (closed_tx, closed) = watch::channel(None);
    let (arrivals_tx, arrivals) = mpsc::unbounded_channel();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let errs = Arc::clone(&errors);
    let task = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                PeerEvent::Session(Event::IceGenerationPromoted { generation, .. }) => {
                    promoted_tx.send_modify(|g| *g = (*g).max(generation.0));
                }
                PeerEvent::Session(Event::Closed(by)) => {
                    closed_tx.send_replace(Some(by));
                }
                PeerEvent::DataChannel(dc) => {
                    let _ = arrivals_tx.send(Arrival::Channel(dc));
                }
                PeerEvent::Track(rx) => {
                    let _ = arrivals_tx.send(Arrival::Track(rx));
                }
                PeerEvent::TransportError(e) => {
                    if let Ok(mut v) = errs.lock() {
                        v.push(e.to_string());
                    }
                }
                _ => {}
            }
        }
    });
    Watched {
        promoted,
        closed,
        errors,
        arrivals,
        task,
    }
}

impl Watched {
    fn errors(&self) -> String {
        self.errors.lock().map(|v| v.join("; ")).unwrap_or_default()
    }
}

fn loopback_config(polite: bool) -> PeerConfig {
    let mut c = PeerConfig::new(polite);
    c.gather = GatherOptions::loopback_only();
    c.ice_servers = Vec::new();
    c.retire_grace = Duration::from_millis(500);
    c
}

/// `n` messages `{tag}{j}` from `from`, each checked as `to` receives it.
async fn one_way(
    from: &DataChannel,
    to: &mut DataChannel,
    tag: &str,
    n: usize,
) -> Result<(), String> {
    for j in 0..n {
        from.send_text(format!("{tag}{j}"))
            .await
            .map_err(|e| format!("sending {tag}{j}: {e}"))?;
    }
    for j in 0..n {
        let want = Message::Text(format!("{tag}{j}"));
        match within("a message", STEP, to.recv()).await? {
            Some(got) if got == want => {}
            Some(got) => return Err(format!("expected {want:?}, got {got:?}")),
            None => return Err(format!("the channel closed before {tag}{j}")),
        }
    }
    Ok(())
}

async fn within<T>(
    what: &str,
    limit: Duration,
    f: impl std::future::Future<Output = T>,
) -> Result<T, String> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| format!("{what}: nothing within {limit:?}"))
}

/// Two connected peers: A (impolite, the caller, sends the audio) and B (polite).
pub(crate) struct Pair {
    /// A number for messages and errors.
    pub(crate) id: u64,
    a: PeerConnection,
    b: PeerConnection,
    wa: Watched,
    wb: Watched,
    dc_a: DataChannel,
    dc_b: DataChannel,
    audio: LocalTrack,
    remote_audio: RemoteTrack,
    reconnect_a: Reconnector,
    reconnect_b: Reconnector,
    /// Rounds of messages exchanged so far (each message names its round).
    round: u64,
    /// RTP packets the receiver had at the last media check.
    media_seen: u64,
}

impl Pair {
    /// Joins a fresh room of the server at `url` with two signaling clients, creates both peer
    /// connections, adds the audio track and the data channel on A, and waits until B has the
    /// channel and the track and the channel is open.
    pub(crate) async fn open(url: &str, id: u64) -> Result<Self, String> {
        let room = random_room_name();
        let sig_a = within("joining", STEP, WsSignaling::connect(url, &room, None))
            .await?
            .map_err(|e| format!("A joining: {e}"))?;
        let sig_b = within("joining", STEP, WsSignaling::connect(url, &room, None))
            .await?
            .map_err(|e| format!("B joining: {e}"))?;
        let (reconnect_a, reconnect_b) = (sig_a.reconnector(), sig_b.reconnector());
        let (a, ea) =
            PeerConnection::new(loopback_config(false), sig_a).map_err(|e| e.to_string())?;
        let (b, eb) =
            PeerConnection::new(loopback_config(true), sig_b).map_err(|e| e.to_string())?;
        let (wa, mut wb) = (watch_events(ea), watch_events(eb));
        let source = OggOpusSource::new(Bytes::from_static(OPUS_SAMPLE))
            .map_err(|e| format!("the Opus sample: {e}"))?
            .looping(true);
        // The track first, so that one offer carries the track and the channel.
        let audio = a
            .add_media_track(source, "soak", "audio")
            .await
            .map_err(|e| format!("add_media_track: {e}"))?;
        let dc_a = a
            .create_data_channel("soak", DataChannelInit::default())
            .await
            .map_err(|e| format!("create_data_channel: {e}"))?;
        let (mut dc_b, mut track) = (None, None);
        let started = Instant::now();
        while dc_b.is_none() || track.is_none() {
            let left = STEP.saturating_sub(started.elapsed());
            match within("B's channel and track", left, wb.arrivals.recv()).await? {
                Some(Arrival::Channel(dc)) => dc_b = Some(dc),
                Some(Arrival::Track(rx)) => track = Some(rx),
                None => return Err(format!("B stopped before connecting: {}", wb.errors())),
            }
        }
        let (Some(dc_b), Some(track)) = (dc_b, track) else {
            unreachable!("the loop above ends with both")
        };
        within("the channel opening", STEP, dc_a.wait_open())
            .await?
            .map_err(|e| format!("channel: {e}"))?;
        let remote_audio = track.spawn_receive(Discard);
        Ok(Self {
            id,
            a,
            b,
            wa,
            wb,
            dc_a,
            dc_b,
            audio,
            remote_audio,
            reconnect_a,
            reconnect_b,
            round: 0,
            media_seen: 0,
        })
    }

    /// `n` text messages A → B, then `n` B → A, each checked (content and order).
    pub(crate) async fn exchange(&mut self, n: usize) -> Result<(), String> {
        self.round += 1;
        let tag = format!("{}:{}", self.id, self.round);
        one_way(&self.dc_a, &mut self.dc_b, &format!("{tag}:ab"), n).await?;
        one_way(&self.dc_b, &mut self.dc_a, &format!("{tag}:ba"), n).await
    }

    /// Waits until at least [`MEDIA_PACKETS`] more RTP packets of the audio track arrived at
    /// B's receiver than at the last check; returns the receiver's count.
    pub(crate) async fn media_flows(&mut self) -> Result<u64, String> {
        let since = self.media_seen;
        let started = Instant::now();
        loop {
            let got = self.remote_audio.stats().packets_received;
            if got >= since + MEDIA_PACKETS {
                self.media_seen = got;
                return Ok(got);
            }
            if started.elapsed() > STEP {
                return Err(format!(
                    "RTP stopped: the receiver had {got} packets, {since} at the last check \
                     (sender: {} sent)",
                    self.audio.stats().packets_sent
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The live ICE generations of A and B (`Stats::generations`): 1 each, 2 while a
    /// restart's old generation waits out its retire grace.
    pub(crate) async fn generations(&self) -> Result<(usize, usize), String> {
        let a = self
            .a
            .stats()
            .await
            .map_err(|e| format!("A's stats: {e}"))?;
        let b = self
            .b
            .stats()
            .await
            .map_err(|e| format!("B's stats: {e}"))?;
        Ok((a.generations.len(), b.generations.len()))
    }

    /// `restart_ice()` on A (`from_a`) or B, waiting until that side promoted a newer ICE
    /// generation; returns the time it took.
    pub(crate) async fn restart(&mut self, from_a: bool) -> Result<Duration, String> {
        let (pc, watched) = if from_a {
            (&self.a, &mut self.wa)
        } else {
            (&self.b, &mut self.wb)
        };
        let before = *watched.promoted.borrow();
        let started = Instant::now();
        pc.restart_ice()
            .await
            .map_err(|e| format!("restart_ice: {e}"))?;
        let promoted = within(
            "the restarted ICE generation to carry traffic",
            STEP,
            watched.promoted.wait_for(|g| *g > before),
        )
        .await?
        .is_ok();
        if !promoted {
            return Err(format!(
                "the peer stopped during the restart: {}",
                watched.errors()
            ));
        }
        Ok(started.elapsed())
    }

    /// Drops A's (`a`) or B's signaling connection without `bye`; the client reconnects and
    /// resumes the same peer by itself.
    pub(crate) async fn reconnect_signaling(&self, a: bool) -> Result<(), String> {
        let r = if a {
            &self.reconnect_a
        } else {
            &self.reconnect_b
        };
        r.reconnect()
            .await
            .map_err(|e| format!("signaling reconnect: {e}"))
    }

    /// Stops the audio, closes from A, and waits until both drivers, event streams, channels
    /// and the receiving track ended: nothing of the pair is left running.
    pub(crate) async fn close(self) -> Result<Duration, String> {
        let Self {
            a,
            b,
            wa,
            wb,
            dc_a,
            mut dc_b,
            audio,
            remote_audio,
            ..
        } = self;
        let started = Instant::now();
        audio.stop();
        a.close().await;
        for (side, mut w, by) in [("A", wa, ClosedBy::Local), ("B", wb, ClosedBy::Remote)] {
            let got = within("the close", STEP, w.closed.wait_for(Option::is_some))
                .await?
                .map(|b| *b);
            let Ok(got) = got else {
                return Err(format!(
                    "{side} stopped without a Closed event: {}",
                    w.errors()
                ));
            };
            if got != Some(by) {
                return Err(format!("{side} closed by {got:?}, expected {by:?}"));
            }
            // The event stream ends once the driver is gone.
            within("the event stream to end", STEP, &mut w.task)
                .await?
                .map_err(|e| format!("{side}'s event task: {e}"))?;
        }
        within("the drivers to stop", STEP, async {
            a.wait_closed().await;
            b.wait_closed().await;
        })
        .await?;
        within("B's channel to end", STEP, async {
            while dc_b.recv().await.is_some() {}
        })
        .await?;
        if dc_a.send_text("late").await.is_ok() {
            return Err("A's channel still sends after close".into());
        }
        within("the receiving track to end", STEP, remote_audio.finished())
            .await?
            .map_err(|e| format!("the receiving track: {e}"))?;
        Ok(started.elapsed())
    }
}
