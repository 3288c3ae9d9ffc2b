//! Partial ICE restart over real loopback sockets (127.0.0.1 only): two peer connections with
//! `BundlePolicy::MaxCompat` carry audio, video and a data channel on three transports, paced
//! traffic on all three; a restart of the video transport alone (started by the offerer, then
//! by the answerer) moves only video to a new ICE generation while audio and data keep their
//! generation, credentials and selected pair, lose nothing and show no gap beyond their
//! pacing. Also the typed errors of `restart_ice_transport`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rtp_support::{packet, payload};
use session_core::config::BundlePolicy;
use session_core::sdp::MediaKind;
use session_core::transport::{Generation, TransportId};
use test_support::{config, connect_pair, flow, wait_event};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use transport_tokio::{
    memory_pair, DataChannel, PeerConfig, PeerConnection, PeerConnectionError, PeerEvent,
    PeerEvents, RtpReceiver, RtpSender, Stats,
};

const WAIT: Duration = Duration::from_secs(20);
/// RTP payload bytes.
const LEN: usize = 200;
/// One audio packet every 20 ms, one video packet every 10 ms, one message every 10 ms.
const AUDIO_PACE: Duration = Duration::from_millis(20);
const VIDEO_PACE: Duration = Duration::from_millis(10);
const DATA_PACE: Duration = Duration::from_millis(10);
/// The longest gap allowed on the streams the restart must not touch: their pacing plus
/// scheduling noise on a shared, loaded machine (a path switch or a new DTLS handshake
/// would cost far more: the restart itself takes hundreds of milliseconds).
const MAX_UNTOUCHED_GAP: Duration = Duration::from_millis(250);
/// How long a superseded generation keeps receiving after the switch.
const RETIRE_GRACE: Duration = Duration::from_millis(300);

fn compat(polite: bool, seed: u8) -> PeerConfig {
    let mut c = config(polite, Some(seed));
    c.bundle_policy = BundlePolicy::MaxCompat;
    // The superseded video generation is retired while the traffic still runs.
    c.retire_grace = RETIRE_GRACE;
    c
}

/// Two connected peers, unbundled: A sends audio and video tracks to B and opened a data
/// channel.
struct Three {
    a: PeerConnection,
    b: PeerConnection,
    _ae: PeerEvents,
    _be: PeerEvents,
    audio: RtpSender,
    video: RtpSender,
    audio_rx: RtpReceiver,
    video_rx: RtpReceiver,
    dc_a: DataChannel,
    dc_b: DataChannel,
    audio_pt: u8,
    video_pt: u8,
    mids: Mids,
}

#[derive(Debug, Clone)]
struct Mids {
    audio: String,
    video: String,
    data: String,
}

async fn connect_three() -> Three {
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (a, ae) = PeerConnection::new(compat(false, 41), sa).unwrap();
    let (b, mut be) = PeerConnection::new(compat(true, 42), sb).unwrap();
    let audio = a.add_track(MediaKind::Audio, "s", "mic").await.unwrap();
    let video = a.add_track(MediaKind::Video, "s", "cam").await.unwrap();
    let dc_a = a
        .create_data_channel("data", Default::default())
        .await
        .unwrap();
    let (mut audio_rx, mut video_rx, mut dc_b) = (None, None, None);
    while audio_rx.is_none() || video_rx.is_none() || dc_b.is_none() {
        match wait_event(&mut be, WAIT, Some).await {
            PeerEvent::Track(r) if r.kind() == MediaKind::Audio => audio_rx = Some(r),
            PeerEvent::Track(r) => video_rx = Some(r),
            PeerEvent::DataChannel(dc) => dc_b = Some(dc),
            _ => {}
        }
    }
    tokio::time::timeout(WAIT, dc_a.wait_open())
        .await
        .expect("channel open in time")
        .expect("channel open");
    let pa = tokio::time::timeout(WAIT, audio.parameters())
        .await
        .unwrap()
        .unwrap();
    let pv = tokio::time::timeout(WAIT, video.parameters())
        .await
        .unwrap()
        .unwrap();
    let (audio_rx, video_rx) = (audio_rx.unwrap(), video_rx.unwrap());
    assert_eq!(audio_rx.mid(), pa.mid);
    assert_eq!(video_rx.mid(), pv.mid);
    let stats = a.stats().await.unwrap();
    let data = stats
        .transports
        .iter()
        .flat_map(|t| t.mids.iter())
        .find(|m| **m != pa.mid && **m != pv.mid)
        .expect("a transport for the data channel")
        .clone();
    let pt = |p: &transport_tokio::RtpParameters| {
        p.codecs
            .iter()
            .find(|c| !c.name.eq_ignore_ascii_case("rtx"))
            .expect("a negotiated codec")
            .payload_type
    };
    Three {
        audio_pt: pt(&pa),
        video_pt: pt(&pv),
        mids: Mids {
            audio: pa.mid.clone(),
            video: pv.mid.clone(),
            data,
        },
        a,
        b,
        _ae: ae,
        _be: be,
        audio,
        video,
        audio_rx,
        video_rx,
        dc_a,
        dc_b: dc_b.unwrap(),
    }
}

/// What a paced RTP stream's receiver saw.
#[derive(Debug, Default)]
struct RtpSeen {
    received: u64,
    /// Packets that arrived with a sequence number below the highest one seen.
    out_of_order: u64,
    longest_gap: Duration,
    /// Packets received once the restarted transport's old generation was retired.
    after_retire: u64,
}

/// A paced RTP stream: a sender task writing one packet per `pace`, and a receiver task
/// checking payloads and measuring gaps.
struct RtpFlow {
    stop: watch::Sender<bool>,
    sender: JoinHandle<u64>,
    receiver: JoinHandle<RtpSeen>,
    retired: watch::Sender<bool>,
}

fn rtp_flow(sender: RtpSender, pt: u8, pace: Duration, mut rx: RtpReceiver) -> RtpFlow {
    let (stop, mut stop_rx) = watch::channel(false);
    let (count_tx, mut count_rx) = watch::channel(None::<u64>);
    let (retired, retired_rx) = watch::channel(false);
    let sender = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(pace);
        let mut seq = 0u16;
        while !*stop_rx.borrow_and_update() {
            ticks.tick().await;
            sender
                .write_rtp(&packet(sender.ssrc(), pt, seq, LEN))
                .await
                .expect("write_rtp");
            seq += 1;
        }
        count_tx.send_replace(Some(u64::from(seq)));
        u64::from(seq)
    });
    let receiver = tokio::spawn(async move {
        let mut seen = RtpSeen::default();
        let mut last: Option<Instant> = None;
        let mut highest: Option<u16> = None;
        loop {
            let sent = *count_rx.borrow_and_update();
            if sent.is_some_and(|sent| seen.received >= sent) {
                break;
            }
            // Once the sender stopped, what is still missing after 2 s is lost.
            let within = if sent.is_some() {
                Duration::from_secs(2)
            } else {
                WAIT
            };
            let p = tokio::select! {
                _ = count_rx.changed(), if sent.is_none() => continue,
                p = tokio::time::timeout(within, rx.read_rtp()) => p,
            };
            let Ok(p) = p else {
                assert!(sent.is_some(), "RTP stalled for {within:?}");
                break;
            };
            let p = p.expect("receiver closed");
            let now = Instant::now();
            let seq = p.header.sequence_number;
            assert_eq!(p.payload, payload(seq, LEN), "payload of {seq}");
            if highest.is_some_and(|h| seq <= h) {
                seen.out_of_order += 1;
            } else {
                highest = Some(seq);
            }
            if let Some(l) = last {
                seen.longest_gap = seen.longest_gap.max(now - l);
            }
            last = Some(now);
            seen.received += 1;
            if *retired_rx.borrow() {
                seen.after_retire += 1;
            }
        }
        seen
    });
    RtpFlow {
        stop,
        sender,
        receiver,
        retired,
    }
}

impl RtpFlow {
    /// Stops sending; returns (sent, what the receiver saw).
    async fn finish(self) -> (u64, RtpSeen) {
        self.stop.send_replace(true);
        let sent = self.sender.await.expect("RTP sender panicked");
        let seen = self.receiver.await.expect("RTP receiver panicked");
        (sent, seen)
    }
}

/// One transport's state as a peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TransportView {
    id: TransportId,
    /// Live generations (promoted or not).
    generations: Vec<Generation>,
    promoted: Option<Generation>,
    /// The promoted generation's selected pair.
    pair: Option<(SocketAddr, SocketAddr)>,
    /// Local and remote `a=ice-ufrag` of its m-section in the current descriptions.
    local_ufrag: String,
    remote_ufrag: String,
}

fn ufrags(desc: Option<session_core::signal::SessionDescription>) -> BTreeMap<String, String> {
    let d = session_core::sdp::parse(&desc.expect("a description").sdp).expect("valid SDP");
    d.media
        .iter()
        .filter_map(|m| Some((m.mid.clone(), m.ice.as_ref()?.ufrag.clone())))
        .collect()
}

/// Every transport of `pc`, by mid.
async fn view(pc: &PeerConnection) -> BTreeMap<String, TransportView> {
    let stats: Stats = pc.stats().await.unwrap();
    let local = ufrags(pc.local_description().await.unwrap());
    let remote = ufrags(pc.remote_description().await.unwrap());
    let mut out = BTreeMap::new();
    for t in &stats.transports {
        assert_eq!(t.mids.len(), 1, "unbundled: one mid per transport, {t:?}");
        let gens: Vec<_> = stats
            .generations
            .iter()
            .filter(|g| g.transport == t.id)
            .collect();
        let promoted = gens.iter().find(|g| g.promoted);
        let mid = t.mids[0].clone();
        out.insert(
            mid.clone(),
            TransportView {
                id: t.id,
                generations: gens.iter().map(|g| g.generation).collect(),
                promoted: promoted.map(|g| g.generation),
                pair: promoted.and_then(|g| Some((g.local?, g.remote?))),
                local_ufrag: local[&mid].clone(),
                remote_ufrag: remote[&mid].clone(),
            },
        );
    }
    out
}

/// Waits until every transport of `pc` has a promoted generation with a selected pair (the
/// data channel opens and the tracks negotiate before every transport connected); returns
/// them.
async fn all_connected(pc: &PeerConnection) -> BTreeMap<String, TransportView> {
    tokio::time::timeout(WAIT, async {
        loop {
            let v = view(pc).await;
            if v.values().all(|t| t.pair.is_some()) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every transport connects")
}

/// Waits until `mid`'s transport on `pc` satisfies `done`; returns how long it took.
async fn wait_for(
    pc: &PeerConnection,
    mid: &str,
    since: Instant,
    what: &str,
    done: impl Fn(&TransportView) -> bool,
) -> Duration {
    tokio::time::timeout(WAIT, async {
        loop {
            if done(&view(pc).await[mid]) {
                return since.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("mid {mid}: {what} never happened"))
}

/// Runs paced traffic on the three transports, restarts video's (from A if `offerer`, else
/// from B), and checks that only video moved and nothing else was disturbed.
async fn partial_restart_of_video(offerer: bool) {
    let s = connect_three().await;
    let mids = s.mids.clone();
    println!("mids: {mids:?}");
    let before = (all_connected(&s.a).await, all_connected(&s.b).await);
    for v in [&before.0, &before.1] {
        assert_eq!(v.len(), 3, "three transports: {v:?}");
        let ids: std::collections::BTreeSet<_> = v.values().map(|t| t.id).collect();
        assert_eq!(ids.len(), 3, "three distinct transports: {v:?}");
        for t in v.values() {
            assert_eq!(t.generations, [Generation(0)], "{v:?}");
        }
    }

    let audio = rtp_flow(s.audio, s.audio_pt, AUDIO_PACE, s.audio_rx);
    let video = rtp_flow(s.video, s.video_pt, VIDEO_PACE, s.video_rx);
    let mut data = flow::start(s.dc_a, s.dc_b, 1000, Some(DATA_PACE));
    data.advance(50, WAIT).await;

    let start = Instant::now();
    let restarter = if offerer { &s.a } else { &s.b };
    restarter.restart_ice_transport(&mids.video).await.unwrap();
    let promoted = |t: &TransportView| t.promoted == Some(Generation(1));
    let retired = |t: &TransportView| t.generations == [Generation(1)];
    let promoted_a = wait_for(&s.a, &mids.video, start, "promotion", promoted).await;
    let promoted_b = wait_for(&s.b, &mids.video, start, "promotion", promoted).await;
    let retired_a = wait_for(&s.a, &mids.video, start, "retirement", retired).await;
    let retired_b = wait_for(&s.b, &mids.video, start, "retirement", retired).await;
    println!(
        "partial restart by the {}: video's generation 1 promoted on A after {promoted_a:?}, on \
         B after {promoted_b:?}; generation 0 retired on A after {retired_a:?}, on B after \
         {retired_b:?} (grace {RETIRE_GRACE:?})",
        if offerer { "offerer" } else { "answerer" }
    );
    // Traffic goes on for a while, video on its new path alone.
    audio.retired.send_replace(true);
    video.retired.send_replace(true);
    data.advance(50, WAIT).await;

    let after = (view(&s.a).await, view(&s.b).await);
    for (side, b, a) in [("A", &before.0, &after.0), ("B", &before.1, &after.1)] {
        for mid in [&mids.audio, &mids.data] {
            let (b, a) = (&b[mid], &a[mid]);
            assert_eq!(a.generations, [Generation(0)], "{side} mid {mid}: {a:?}");
            assert_eq!(a, b, "{side} mid {mid} changed");
        }
        let (b, a) = (&b[&mids.video], &a[&mids.video]);
        assert_eq!(a.id, b.id);
        assert_eq!(a.generations, [Generation(1)], "{side} video: {a:?}");
        assert_eq!(a.promoted, Some(Generation(1)), "{side} video: {a:?}");
        assert!(a.pair.is_some(), "{side} video: a selected pair");
        assert_ne!(a.local_ufrag, b.local_ufrag, "{side}: video's local ufrag");
        assert_ne!(
            a.remote_ufrag, b.remote_ufrag,
            "{side}: video's remote ufrag"
        );
        println!(
            "{side}: video {:?} -> {:?}, ufrag {} -> {}",
            b.pair, a.pair, b.local_ufrag, a.local_ufrag
        );
    }

    let (audio_sent, audio_seen) = audio.finish().await;
    let (video_sent, video_seen) = video.finish().await;
    let (sent, received, dc_a, dc_b) = data.finish().await;
    println!(
        "audio: {}/{audio_sent} packets, {} after the old generation's retirement, {} out of order, \
         longest gap {:?} (pace {AUDIO_PACE:?})",
        audio_seen.received,
        audio_seen.after_retire,
        audio_seen.out_of_order,
        audio_seen.longest_gap
    );
    println!(
        "video: {}/{video_sent} packets, {} after the old generation's retirement, {} out of order, \
         longest gap {:?} (pace {VIDEO_PACE:?})",
        video_seen.received,
        video_seen.after_retire,
        video_seen.out_of_order,
        video_seen.longest_gap
    );
    println!(
        "data: {}/{sent} messages, longest gap {:?} (pace {DATA_PACE:?})",
        received.count, received.longest_gap
    );
    assert_eq!(audio_seen.received, audio_sent, "audio packets lost");
    assert_eq!(audio_seen.out_of_order, 0, "audio reordered");
    assert!(video_seen.after_retire > 0, "video stopped");
    assert_eq!(video_seen.received, video_sent, "video packets lost");
    assert!(
        audio_seen.longest_gap < MAX_UNTOUCHED_GAP,
        "audio gap {:?}",
        audio_seen.longest_gap
    );
    assert!(
        received.longest_gap < MAX_UNTOUCHED_GAP,
        "data gap {:?}",
        received.longest_gap
    );
    drop((dc_a, dc_b));
    s.a.close().await;
    s.b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_restart_by_the_offerer_moves_only_video() {
    partial_restart_of_video(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_restart_by_the_answerer_moves_only_video() {
    partial_restart_of_video(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_ice_transport_refuses_bundled_unknown_and_closed() {
    // Default bundle policy: audio and data share one transport.
    let mut p = connect_pair(
        config(false, Some(51)),
        config(true, Some(52)),
        Default::default(),
        Duration::ZERO,
    )
    .await;
    let audio = p.a.add_track(MediaKind::Audio, "s", "mic").await.unwrap();
    let mid = tokio::time::timeout(WAIT, audio.parameters())
        .await
        .unwrap()
        .unwrap()
        .mid;
    let _track = wait_event(&mut p.b_events, WAIT, |ev| match ev {
        PeerEvent::Track(r) => Some(r),
        _ => None,
    })
    .await;
    let stats = p.a.stats().await.unwrap();
    assert_eq!(stats.transports.len(), 1, "bundled: {:?}", stats.transports);
    let t = &stats.transports[0];
    assert_eq!(t.mids.len(), 2);
    let data_mid = t.mids.iter().find(|m| **m != mid).unwrap().clone();

    let err = p.a.restart_ice_transport(&mid).await.unwrap_err();
    println!("{err}");
    match &err {
        PeerConnectionError::BundledMid {
            mid: m,
            transport,
            shared_with,
        } => {
            assert_eq!(*m, mid);
            assert_eq!(*transport, t.id);
            assert_eq!(shared_with.as_slice(), std::slice::from_ref(&data_mid));
        }
        other => panic!("expected BundledMid, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("bundled") && text.contains(&data_mid) && text.contains("every stream"),
        "{text}"
    );
    assert!(matches!(
        p.b.restart_ice_transport(&data_mid).await,
        Err(PeerConnectionError::BundledMid { .. })
    ));

    let err = p.a.restart_ice_transport("nope").await.unwrap_err();
    println!("{err}");
    match &err {
        PeerConnectionError::UnknownMid { mid: m, negotiated } => {
            assert_eq!(m, "nope");
            let mut both = vec![mid.clone(), data_mid.clone()];
            both.sort();
            assert_eq!(*negotiated, both);
        }
        other => panic!("expected UnknownMid, got {other:?}"),
    }
    assert!(err.to_string().contains("nope"));

    // Refused calls changed nothing: no generation beyond the first.
    let stats = p.a.stats().await.unwrap();
    assert!(
        stats
            .generations
            .iter()
            .all(|g| g.generation == Generation(0)),
        "{:?}",
        stats.generations
    );

    p.a.close().await;
    p.a.wait_closed().await;
    let err = p.a.restart_ice_transport(&mid).await.unwrap_err();
    println!("{err}");
    assert!(matches!(err, PeerConnectionError::Closed), "{err:?}");
    p.b.close().await;
}
