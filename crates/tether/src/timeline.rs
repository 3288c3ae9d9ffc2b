//! A printed timeline of a session's life, and the pump that turns peer events into it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use session_core::session::Event;
use tokio::sync::mpsc;
use transport_tokio::{DataChannel, PeerEvent, PeerEvents, RtpReceiver, TransportError};

/// Lines of `elapsed ms  who  what`, printed as they happen (unless quiet) and kept.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    quiet: bool,
    lines: Mutex<Vec<String>>,
}

impl Timeline {
    /// A timeline starting now.
    pub fn new(quiet: bool) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            quiet,
            lines: Mutex::new(Vec::new()),
        })
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Adds (and prints) one line.
    pub fn note(&self, who: &str, what: impl std::fmt::Display) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let line = format!("{ms:>9.1} ms  {who:<9} {what}");
        if !self.quiet {
            println!("{line}");
        }
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// A peer event as the demo consumes it, with the time it was seen.
#[derive(Debug)]
pub(crate) enum Note {
    /// A session event.
    Session(Event, Instant),
    /// The peer opened a data channel.
    Channel(DataChannel),
    /// The transport failed.
    Transport(TransportError),
}

/// How a session event reads in the timeline; `None` for events not worth a line.
pub(crate) fn describe(ev: &Event) -> Option<String> {
    Some(match ev {
        Event::SignalingStateChange(s) => format!("signaling state  {s:?}"),
        Event::IceGatheringStateChange(s) => format!("ICE gathering    {s:?}"),
        Event::IceConnectionStateChange(s) => format!("ICE connection   {s:?}"),
        Event::ConnectionStateChange(s) => format!("peer connection  {s:?}"),
        Event::IceGenerationStarted {
            generation, reason, ..
        } => match reason {
            Some(r) => format!("ICE generation {} started ({r:?})", generation.0),
            None => format!("ICE generation {} started", generation.0),
        },
        Event::IceGenerationPromoted { generation, .. } => {
            format!("ICE generation {} carries the traffic", generation.0)
        }
        Event::AutomaticRestart(r) => format!("automatic ICE restart ({r:?})"),
        Event::CandidateDropped { reason, .. } => format!("remote candidate dropped ({reason:?})"),
        Event::PeerMisbehaved(e) => format!("peer misbehaved: {e}"),
        Event::DataChannel { label, .. } => format!("remote data channel {label:?}"),
        Event::DataChannelOpen(id) => format!("data channel {id:?} open"),
        Event::DataChannelClose(id) => format!("data channel {id:?} closed"),
        Event::Closed(by) => format!("closed ({by:?})"),
        _ => return None,
    })
}

/// Reads a peer's events: writes each to the timeline and forwards it. Remote tracks go to
/// `tracks` when given (dropped otherwise).
pub(crate) fn pump(
    who: &'static str,
    mut events: PeerEvents,
    timeline: Arc<Timeline>,
    tracks: Option<mpsc::UnboundedSender<RtpReceiver>>,
) -> mpsc::UnboundedReceiver<Note> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            let note = match ev {
                PeerEvent::Session(ev) => {
                    if let Some(text) = describe(&ev) {
                        timeline.note(who, text);
                    }
                    Note::Session(ev, Instant::now())
                }
                PeerEvent::DataChannel(dc) => Note::Channel(dc),
                PeerEvent::Track(track) => {
                    if let Some(tracks) = &tracks {
                        let _ = tracks.send(track);
                    }
                    continue;
                }
                PeerEvent::TransportError(e) => {
                    timeline.note(who, format!("transport error: {e}"));
                    Note::Transport(e)
                }
                PeerEvent::Lagged { dropped } => {
                    timeline.note(who, format!("{dropped} events dropped (slow reader)"));
                    continue;
                }
                _ => continue,
            };
            // The receiver may be gone (the demo stopped waiting): keep draining the events.
            let _ = tx.send(note);
        }
    });
    rx
}
