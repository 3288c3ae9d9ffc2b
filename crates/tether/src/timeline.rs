//! A printed timeline of a session's life, and the pump that turns peer events into it.
//!
//! Candidate gathering comes from the signaling tap ([`SignalTap`](crate::signal_tap)); the
//! rest from what the peer connection reports: its events (signaling, gathering, ICE and
//! peer-connection states, ICE generations, data channels), its [`Stats`] (the selected pair
//! of each generation that takes the traffic) and its applied descriptions (the negotiated
//! DTLS role, once the peer connection is connected, which by the W3C rules means that DTLS
//! is connected too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use session_core::channel::ChannelId;
use session_core::sdp::{SessionDesc, Setup};
use session_core::session::Event;
use session_core::state::PeerConnectionState;
use session_core::transport::Generation;
use tokio::sync::mpsc;
use transport_tokio::{
    DataChannel, PeerConnection, PeerEvent, PeerEvents, RtpReceiver, Stats, TransportError,
};

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
        Event::IceRestartDeclined { kept, .. } => format!(
            "ICE restart declined: the peer kept its credentials (no ICE restart support); \
             generation {} keeps the traffic",
            kept.0
        ),
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

/// The selected pair of `generation` as [`Stats`] give it; `None` until it is known.
pub(crate) fn describe_pair(stats: &Stats, generation: Generation) -> Option<String> {
    describe_pair_on(stats, None, generation)
}

/// [`describe_pair`] of `transport`'s generation (the first transport's when `None`).
pub(crate) fn describe_pair_on(
    stats: &Stats,
    transport: Option<session_core::transport::TransportId>,
    generation: Generation,
) -> Option<String> {
    let g = stats
        .generations
        .iter()
        .find(|g| g.generation == generation && transport.is_none_or(|t| g.transport == t))?;
    let (local, remote) = (g.local?, g.remote?);
    let typ = |t: &Option<session_core::candidate::CandidateType>| {
        t.map(|t| format!(" {}", t.as_str())).unwrap_or_default()
    };
    Some(format!(
        "ICE generation {} selected pair {local}{} -> {remote}{} (ICE role {:?})",
        generation.0,
        typ(&g.local_type),
        typ(&g.remote_type),
        g.ice_role
    ))
}

/// The `a=setup` of the first m-section that has one.
fn setup_of(desc: &SessionDesc) -> Option<Setup> {
    desc.media.iter().find_map(|m| m.setup)
}

/// Our DTLS role from the `a=setup` of the applied descriptions (RFC 8842: `active` is the
/// DTLS client; the offerer's `actpass` takes the role the answer leaves it).
pub(crate) fn dtls_role(local: Setup, remote: Option<Setup>) -> Option<&'static str> {
    match (local, remote) {
        (Setup::Active, _) | (Setup::ActPass, Some(Setup::Passive)) => Some("client"),
        (Setup::Passive, _) | (Setup::ActPass, Some(Setup::Active)) => Some("server"),
        _ => None,
    }
}

/// The DTLS line once the peer connection is connected: the role and the fingerprint the
/// peer's certificate was checked against, from the applied descriptions.
async fn describe_dtls(pc: &PeerConnection) -> Option<String> {
    let local = pc.local_description().await.ok()??;
    let remote = pc.remote_description().await.ok()??;
    let local = session_core::sdp::parse(&local.sdp).ok()?;
    let remote = session_core::sdp::parse(&remote.sdp).ok()?;
    let setup = setup_of(&local)?;
    let role = dtls_role(setup, setup_of(&remote))?;
    let setup = setup.as_str();
    let algorithm = remote
        .media
        .iter()
        .find_map(|m| m.fingerprints.first())
        .map_or("?", |f| f.algorithm.as_str())
        .to_owned();
    Some(format!(
        "DTLS connected as {role} (a=setup:{setup}); the peer's certificate matched its \
         {algorithm} a=fingerprint"
    ))
}

/// Lines that need the peer connection itself (its stats, its descriptions) after `ev`.
async fn probe(pc: &PeerConnection, ev: &Event, dtls_noted: &mut bool) -> Vec<String> {
    let mut lines = Vec::new();
    match ev {
        Event::IceGenerationPromoted { generation, .. } => {
            if let Some(line) = pc
                .stats()
                .await
                .ok()
                .and_then(|s| describe_pair(&s, *generation))
            {
                lines.push(line);
            }
        }
        Event::ConnectionStateChange(PeerConnectionState::Connected) if !*dtls_noted => {
            if let Some(line) = describe_dtls(pc).await {
                *dtls_noted = true;
                lines.push(line);
            }
        }
        _ => {}
    }
    lines
}

/// Reads a peer's events: writes each to the timeline and forwards it. Remote tracks go to
/// `tracks` when given (dropped otherwise). `pc` (held weakly, so the pump never keeps the
/// peer connection alive) adds the selected pair and the DTLS role.
pub(crate) fn pump(
    who: &'static str,
    mut events: PeerEvents,
    timeline: Arc<Timeline>,
    tracks: Option<mpsc::UnboundedSender<RtpReceiver>>,
    pc: Weak<PeerConnection>,
) -> mpsc::UnboundedReceiver<Note> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut labels: HashMap<ChannelId, String> = HashMap::new();
        let mut dtls_noted = false;
        while let Some(ev) = events.recv().await {
            let note = match ev {
                PeerEvent::Session(ev) => {
                    let seen = Instant::now();
                    let text = match &ev {
                        Event::DataChannelOpen(id) => labels
                            .get(id)
                            .map(|label| format!("data channel {label:?} open")),
                        _ => None,
                    };
                    if let Some(text) = text.or_else(|| describe(&ev)) {
                        timeline.note(who, text);
                    }
                    if let Some(pc) = pc.upgrade() {
                        for line in probe(&pc, &ev, &mut dtls_noted).await {
                            timeline.note(who, line);
                        }
                    }
                    Note::Session(ev, seen)
                }
                PeerEvent::DataChannel(dc) => {
                    timeline.note(
                        who,
                        format!("the peer opened data channel {:?}", dc.label()),
                    );
                    labels.insert(dc.id(), dc.label().to_owned());
                    Note::Channel(dc)
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dtls_role_follows_a_setup() {
        // The answerer's own choice decides; the offerer (actpass) takes the other role.
        assert_eq!(
            dtls_role(Setup::Active, Some(Setup::ActPass)),
            Some("client")
        );
        assert_eq!(
            dtls_role(Setup::Passive, Some(Setup::ActPass)),
            Some("server")
        );
        assert_eq!(
            dtls_role(Setup::ActPass, Some(Setup::Active)),
            Some("server")
        );
        assert_eq!(
            dtls_role(Setup::ActPass, Some(Setup::Passive)),
            Some("client")
        );
        // No answer yet, or no connection: no role.
        assert_eq!(dtls_role(Setup::ActPass, None), None);
        assert_eq!(dtls_role(Setup::HoldConn, Some(Setup::Active)), None);
    }
}
