//! A partial ICE restart between Chromium and a Rust peer on an unbundled session, both in one
//! loopback-only namespace, through the real signaling server; the browser side is the served
//! `tether-peer.js` driven by `tests/www/interop.html`.
//!
//! Browser interop scenario (8): the Rust peer (`BundlePolicy::MaxCompat`: no BUNDLE group, a
//! transport per m-section) offers Opus audio, VP8 video and a data channel; Chromium answers,
//! so there are three transports on each side. While Chromium decodes both streams, the Rust
//! peer restarts the audio transport alone (`restart_ice_transport`), then the video transport
//! alone: each time only that m-section's ICE credentials change (in our offer and in
//! Chromium's answer), only that transport's selected pair changes in Chromium's `getStats`,
//! the other stream keeps decoding without a stall, and the restarted one decodes again on its
//! new pair; the data channel's transport is never touched.

use std::time::Duration;

use media::{IvfSource, OggOpusSource};
use serde_json::{json, Value};
use session_core::config::BundlePolicy;
use tether::WsSignaling;
use tether_tests::browser;
use tokio::time::Instant;
use transport_tokio::Stats;

use crate::interop_media::{num, rtp_of, sample};
use crate::interop_support::{
    loopback_config, recording, recv_text, room, run_in, runtime_in, signaling_server, BoxError,
    Page, RustPeer, SentDescriptions, TestResult, T,
};

/// Whole-test limit (each step has its own, shorter one).
const LIMIT: Duration = Duration::from_secs(90);

/// How often Chromium's `getStats` is sampled around a restart (plus its round trip).
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// How long the samples run before the restart call, and after the restarted stream decodes
/// again on its new pair.
const BEFORE: Duration = Duration::from_secs(1);
const AFTER: Duration = Duration::from_millis(1500);

/// The longest the stream whose transport is not restarted may go without its counter rising.
/// Its path is not touched at all, so this only absorbs sampling and scheduling noise on a
/// loaded machine (a 30 fps video or 50 packets/s audio stream rises every sample).
const MAX_STALL: Duration = Duration::from_secs(1);

/// An m-section of an SDP: its mid, media kind and ICE credentials (the session-level ones
/// when it has none of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    mid: String,
    kind: String,
    ufrag: String,
    pwd: String,
}

fn sections(sdp: &str) -> Vec<Section> {
    let (mut out, mut current) = (Vec::new(), None::<Section>);
    let (mut ufrag, mut pwd) = (String::new(), String::new());
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            out.extend(current.take());
            current = Some(Section {
                mid: String::new(),
                kind: m.split(' ').next().unwrap_or_default().to_owned(),
                ufrag: ufrag.clone(),
                pwd: pwd.clone(),
            });
        } else if let Some(v) = line.strip_prefix("a=mid:") {
            if let Some(c) = current.as_mut() {
                c.mid = v.to_owned();
            }
        } else if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
            match current.as_mut() {
                Some(c) => c.ufrag = v.to_owned(),
                None => ufrag = v.to_owned(),
            }
        } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
            match current.as_mut() {
                Some(c) => c.pwd = v.to_owned(),
                None => pwd = v.to_owned(),
            }
        }
    }
    out.extend(current);
    out
}

/// The page's m-sections (`local`: Chromium's answer, `remote`: our offer) as [`Section`]s.
fn page_sections(v: &Value, side: &str) -> Vec<Section> {
    let s = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_owned();
    v["sections"][side]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| Section {
                    mid: s(e, "mid"),
                    kind: s(e, "kind"),
                    ufrag: s(e, "ufrag"),
                    pwd: s(e, "pwd"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn section<'a>(list: &'a [Section], mid: &str) -> Option<&'a Section> {
    list.iter().find(|s| s.mid == mid)
}

/// One stream of the session as both sides see it.
#[derive(Debug, Clone)]
struct Stream {
    /// "audio" or "video".
    kind: &'static str,
    mid: String,
    /// Chromium's transport stats id for it.
    transport: String,
    /// The `inbound-rtp` counter that rises while it decodes.
    counter: &'static str,
}

/// One `transports` reply of the page and when it came back.
#[derive(Clone)]
struct Snap {
    at: Instant,
    v: Value,
}

impl Snap {
    fn transport(&self, id: &str) -> &Value {
        self.v["transports"]
            .as_array()
            .and_then(|l| l.iter().find(|t| t["id"] == id))
            .unwrap_or(&Value::Null)
    }

    fn pair(&self, id: &str) -> Option<&str> {
        self.transport(id)["selectedPairId"].as_str()
    }

    fn inbound(&self, mid: &str) -> &Value {
        self.v["inbound"]
            .as_array()
            .and_then(|l| l.iter().find(|s| s["mid"] == mid))
            .unwrap_or(&Value::Null)
    }

    fn count(&self, s: &Stream) -> f64 {
        num(self.inbound(&s.mid), s.counter)
    }
}

async fn snap(page: &mut Page) -> Result<Snap, BoxError> {
    let v = page.cmd("transports", json!({})).await?;
    Ok(Snap {
        at: Instant::now(),
        v,
    })
}

/// Our promoted generation of the transport that carries `mid`: (generation, local, remote).
fn ours(stats: &Stats, mid: &str) -> Option<(u32, String, String)> {
    let t = stats
        .transports
        .iter()
        .find(|t| t.mids.iter().any(|m| m == mid))?;
    let addr = |a: Option<std::net::SocketAddr>| a.map_or("-".into(), |a| a.to_string());
    stats
        .generations
        .iter()
        .find(|g| g.transport == t.id && g.promoted)
        .map(|g| (g.generation.0, addr(g.local), addr(g.remote)))
}

/// The longest time the counter of `s` went without rising over `samples`, and its rise.
fn longest_stall(samples: &[Snap], s: &Stream) -> (Duration, f64) {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return (Duration::ZERO, 0.0);
    };
    let (mut rose_at, mut value, mut longest) = (first.at, first.count(s), Duration::ZERO);
    for snap in &samples[1..] {
        let now = snap.count(s);
        if now > value {
            longest = longest.max(snap.at - rose_at);
            rose_at = snap.at;
            value = now;
        }
    }
    longest = longest.max(last.at - rose_at);
    (longest, last.count(s) - first.count(s))
}

/// The samples as `ms:other/restarted` (ms from the restart call, both counters), for failure
/// messages.
fn timeline(samples: &[Snap], called: Instant, other: &Stream, restarted: &Stream) -> String {
    let ms = |at: Instant| {
        if at >= called {
            (at - called).as_millis() as i64
        } else {
            -((called - at).as_millis() as i64)
        }
    };
    samples
        .iter()
        .map(|s| format!("{}:{}/{}", ms(s.at), s.count(other), s.count(restarted)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What one partial restart measured.
struct Measured {
    /// From the `restart_ice_transport` call to Chromium's new selected pair on that transport.
    to_new_pair: Duration,
    /// From the call to our promotion of the new generation.
    to_promoted: Duration,
    /// The other stream's longest stall and its rise over the samples.
    other_stall: Duration,
    other_rise: f64,
    /// The restarted stream's longest stall (informative: make-before-break keeps it flowing).
    restarted_stall: Duration,
    samples: usize,
}

/// Restarts the transport of `restarted` alone while sampling Chromium's `getStats`, and
/// checks everything the scenario promises about it (see the module comment).
async fn partial_restart(
    page: &mut Page,
    rust: &RustPeer,
    sent: &SentDescriptions,
    restarted: &Stream,
    other: &Stream,
    data: (&str, &str),
) -> Result<Measured, BoxError> {
    let mut samples = Vec::new();
    let first = snap(page).await?;
    let offers_before = sent.offers().len();
    let offer_before = sent.offers().last().cloned().ok_or("no offer sent")?;
    let ours_before = rust.pc.stats().await?;
    let untouched = [(other.mid.as_str(), other.transport.as_str()), data];
    samples.push(first);
    while samples[0].at.elapsed() < BEFORE {
        tokio::time::sleep(SAMPLE_EVERY).await;
        samples.push(snap(page).await?);
    }
    let before = samples.last().ok_or("no sample")?.clone();
    let pair_before = before
        .pair(&restarted.transport)
        .ok_or_else(|| format!("no selected pair on {}: {}", restarted.transport, before.v))?
        .to_owned();
    let answer_before = page_sections(&before.v, "local");

    let called = Instant::now();
    rust.pc.restart_ice_transport(&restarted.mid).await?;
    let (mut new_pair_at, mut promoted_at, mut settled_at) = (None, None, None);
    let mut count_at_new_pair = 0.0;
    let deadline = called + T;
    loop {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let s = snap(page).await?;
        let now = s.at;
        if new_pair_at.is_none()
            && s.pair(&restarted.transport)
                .is_some_and(|p| p != pair_before)
        {
            new_pair_at = Some(now);
            count_at_new_pair = s.count(restarted);
        }
        if promoted_at.is_none() {
            let gen_before = ours(&ours_before, &restarted.mid).map(|g| g.0);
            let gen_now = ours(&rust.pc.stats().await?, &restarted.mid).map(|g| g.0);
            if gen_now > gen_before {
                promoted_at = Some(Instant::now());
            }
        }
        if settled_at.is_none()
            && new_pair_at.is_some()
            && promoted_at.is_some()
            && s.count(restarted) > count_at_new_pair
        {
            settled_at = Some(now);
        }
        samples.push(s);
        if settled_at.is_some_and(|t| t.elapsed() >= AFTER) {
            break;
        }
        if now >= deadline {
            let last = samples.last().map(|s| s.v.to_string()).unwrap_or_default();
            return Err(format!(
                "the restart of {} (mid {}) did not complete within {T:?}: Chromium's new pair \
                 after {:?}, our promotion after {:?}, its {} at the new pair {count_at_new_pair} \
                 and now {}\nbefore {}\nnow {last}\nours before {ours_before:?}\nRust log:\n{}",
                restarted.kind,
                restarted.mid,
                new_pair_at.map(|t| t - called),
                promoted_at.map(|t| t - called),
                restarted.counter,
                samples.last().map_or(0.0, |s| s.count(restarted)),
                samples[0].v,
                rust.log()
            )
            .into());
        }
    }
    let after = samples.last().ok_or("no sample")?;

    // (a) Our restart offer: new credentials for that m-section only.
    let offers = sent.offers();
    let restart_offer = offers
        .get(offers_before)
        .ok_or("no offer sent after restart_ice_transport")?;
    assert_eq!(
        offers.len(),
        offers_before + 1,
        "one restart offer expected, got {}",
        offers.len() - offers_before
    );
    assert!(
        !restart_offer.sdp.contains("a=group:BUNDLE"),
        "MaxCompat offered a BUNDLE group:\n{}",
        restart_offer.sdp
    );
    let (old, new) = (sections(&offer_before.sdp), sections(&restart_offer.sdp));
    assert_eq!(
        old.len(),
        new.len(),
        "m-sections changed:\n{old:?}\n{new:?}"
    );
    for o in &old {
        let n = section(&new, &o.mid).ok_or_else(|| format!("mid {} gone: {new:?}", o.mid))?;
        if o.mid == restarted.mid {
            assert!(
                n.ufrag != o.ufrag && n.pwd != o.pwd,
                "the restarted m-section {} kept its ICE credentials: {o:?} -> {n:?}",
                o.mid
            );
        } else {
            assert_eq!(
                (&n.ufrag, &n.pwd),
                (&o.ufrag, &o.pwd),
                "m-section {} ({}) changed its ICE credentials in a restart of mid {}",
                o.mid,
                o.kind,
                restarted.mid
            );
        }
    }
    assert_eq!(
        page_sections(&after.v, "remote"),
        new,
        "Chromium's remote description is not our restart offer"
    );
    // Chromium's answer: it restarted that m-section alone too.
    let answer = page_sections(&after.v, "local");
    for a in &answer_before {
        let n =
            section(&answer, &a.mid).ok_or_else(|| format!("mid {} gone: {answer:?}", a.mid))?;
        if a.mid == restarted.mid {
            assert_ne!(
                n.ufrag, a.ufrag,
                "Chromium's answer kept its ufrag for {}",
                a.mid
            );
        } else {
            assert_eq!(n.ufrag, a.ufrag, "Chromium's answer changed mid {}", a.mid);
        }
    }

    // (b) Chromium's getStats: only the restarted transport has a new pair (and ufrag).
    for snap in &samples {
        for (mid, transport) in &untouched {
            assert_eq!(
                snap.pair(transport),
                before.pair(transport),
                "the selected pair of {transport} (mid {mid}) changed during the restart of \
                 mid {}: {} -> {}",
                restarted.mid,
                before.v,
                snap.v
            );
            assert_eq!(
                snap.transport(transport)["iceLocalUsernameFragment"],
                before.transport(transport)["iceLocalUsernameFragment"],
                "{transport} (mid {mid}) changed its local ufrag"
            );
        }
    }
    let (t0, t1) = (
        before.transport(&restarted.transport),
        after.transport(&restarted.transport),
    );
    if t0["iceLocalUsernameFragment"].is_string() {
        assert_ne!(
            t0["iceLocalUsernameFragment"], t1["iceLocalUsernameFragment"],
            "Chromium's {} kept its local ufrag",
            restarted.transport
        );
    }
    // (d) ...on a new pair, connected, and the restarted stream decodes again.
    assert_ne!(t1["selectedPairId"].as_str(), Some(pair_before.as_str()));
    assert_eq!(t1["pairState"], "succeeded", "{t1}");
    assert_eq!(t1["dtlsState"], "connected", "{t1}");
    assert!(
        matches!(t1["iceState"].as_str(), Some("connected" | "completed")),
        "{t1}"
    );
    assert!(
        after.count(restarted) > count_at_new_pair,
        "{} did not decode on the new pair",
        restarted.kind
    );

    // Our side: a new promoted generation for that transport only.
    let ours_after = rust.pc.stats().await?;
    let (g0, g1) = (
        ours(&ours_before, &restarted.mid).ok_or("no promoted generation before")?,
        ours(&ours_after, &restarted.mid).ok_or("no promoted generation after")?,
    );
    assert!(g1.0 > g0.0 && g1.1 != g0.1, "ours: {g0:?} -> {g1:?}");
    for (mid, _) in &untouched {
        assert_eq!(
            ours(&ours_after, mid),
            ours(&ours_before, mid),
            "our transport of mid {mid} changed in a restart of mid {}",
            restarted.mid
        );
    }

    // (c) The other stream decoded throughout.
    let (other_stall, other_rise) = longest_stall(&samples, other);
    let (restarted_stall, _) = longest_stall(&samples, restarted);
    let span = after.at - samples[0].at;
    assert!(
        other_stall <= MAX_STALL,
        "{} ({}) stalled for {other_stall:?} during the restart of {}; ms from the call: {} {} \
         / {} {}: {}",
        other.kind,
        other.counter,
        restarted.kind,
        other.kind,
        other.counter,
        restarted.kind,
        restarted.counter,
        timeline(&samples, called, other, restarted)
    );
    // At least a third of the stream's rate (30 fps, 50 packets/s) over the samples.
    assert!(
        other_rise >= 10.0 * span.as_secs_f64(),
        "{} {} rose by {other_rise} in {span:?}",
        other.kind,
        other.counter
    );
    let new_pair_at = new_pair_at.ok_or("no new pair")?;
    let promoted_at = promoted_at.ok_or("no promotion")?;
    Ok(Measured {
        to_new_pair: new_pair_at - called,
        to_promoted: promoted_at - called,
        other_stall,
        other_rise,
        restarted_stall,
        samples: samples.len(),
    })
}

/// (8) Chromium answers our unbundled offer (audio, video, data: three transports); we restart
/// the audio transport alone, then the video transport alone, while Chromium decodes both.
#[test]
fn chromium_partial_ice_restart_unbundled() -> TestResult {
    if browser::skipped("chromium_partial_ice_restart_unbundled") {
        return Ok(());
    }
    let mut page = Page::launch()?;
    let rt = runtime_in(page.netns())?;
    run_in(&rt, LIMIT, async move {
        let server = signaling_server().await?;
        let room = room();
        page.start(&server, &room, "polite", "wait").await?;
        let sig = WsSignaling::connect(&server.ws_url(), &room, None).await?;
        let (sig, sent) = recording(sig);
        let mut config = loopback_config(false);
        config.bundle_policy = BundlePolicy::MaxCompat;
        let rust = RustPeer::with_config(sig, config)?;
        let audio = OggOpusSource::open(sample("opus.ogg"))?.looping(true);
        let video = IvfSource::open(sample("vp8.ivf"))?.looping(true);
        let audio = rust.pc.add_media_track(audio, "tether", "audio").await?;
        let video = rust.pc.add_media_track(video, "tether", "video").await?;
        let mut dc = rust
            .pc
            .create_data_channel("chat", Default::default())
            .await?;
        page.channel_open("chat").await?;

        // Until Chromium plays both tracks, has a pair on every transport and decodes both
        // steadily: both counters rose since the previous poll. Not just from the first frame
        // on: a lost first keyframe (it was, before SRTP waited for our last DTLS flight, see
        // below) costs a PLI and a freeze of up to 1 s (the sample's next keyframe), which
        // would count as a stall of the first restart.
        let deadline = Instant::now() + T;
        let mut previous: Option<(f64, f64)> = None;
        let started = loop {
            let playing = page.cmd("play-remote", json!({})).await?;
            let s = snap(&mut page).await?;
            let transports = s.v["transports"].as_array().cloned().unwrap_or_default();
            let counter = |kind: &str, key: &str| {
                s.v["inbound"]
                    .as_array()
                    .and_then(|l| l.iter().find(|i| i["kind"] == kind))
                    .map_or(0.0, |i| num(i, key))
            };
            let now = (
                counter("video", "framesDecoded"),
                counter("audio", "packetsReceived"),
            );
            let steady = previous.is_some_and(|(v, a)| v > 0.0 && now.0 > v && now.1 > a);
            previous = Some(now);
            if playing["tracks"].as_array().map_or(0, Vec::len) >= 2
                && steady
                && transports.len() >= 3
                && transports.iter().all(|t| t["selectedPairId"].is_string())
            {
                break s;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "Chromium is not decoding on three transports: {}\nRust log:\n{}",
                    s.v,
                    rust.log()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };

        // Every transport's DTLS handshake completed before our first SRTP packet reached
        // Chromium: libwebrtc drops what arrives earlier (the first video keyframe, then a PLI
        // and a freeze until the file's next keyframe).
        let early = page.stderr_lines("non-DTLS packet before DTLS complete");
        assert!(
            early.is_empty(),
            "Chromium dropped {} packets of ours that arrived before its DTLS handshake \
             completed:\n{}",
            early.len(),
            early.join("\n")
        );

        // Our offer(s): no BUNDLE group; the mids of audio, video and data.
        let offers = sent.offers();
        let offer = offers.last().ok_or("no offer sent")?;
        assert!(
            offers.iter().all(|o| !o.sdp.contains("a=group:BUNDLE")),
            "MaxCompat offered a BUNDLE group:\n{}",
            offer.sdp
        );
        let ms = sections(&offer.sdp);
        let mid_of = |kind: &str| {
            ms.iter()
                .find(|s| s.kind == kind)
                .map(|s| s.mid.clone())
                .ok_or_else(|| format!("no m={kind} in our offer:\n{}", offer.sdp))
        };
        let (audio_mid, video_mid, data_mid) =
            (mid_of("audio")?, mid_of("video")?, mid_of("application")?);
        let transport_of = |mid: &str| {
            started.inbound(mid)["transportId"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    format!(
                        "no inbound-rtp with a transport for mid {mid}: {}",
                        started.v
                    )
                })
        };
        let audio_s = Stream {
            kind: "audio",
            transport: transport_of(&audio_mid)?,
            mid: audio_mid,
            counter: "packetsReceived",
        };
        let video_s = Stream {
            kind: "video",
            transport: transport_of(&video_mid)?,
            mid: video_mid,
            counter: "framesDecoded",
        };
        let data_transport = started.v["transports"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .filter_map(|t| t["id"].as_str())
                    .find(|id| *id != audio_s.transport && *id != video_s.transport)
            })
            .ok_or_else(|| format!("no third transport in {}", started.v))?
            .to_owned();
        assert_ne!(audio_s.transport, video_s.transport, "{}", started.v);
        let ours_start = rust.pc.stats().await?;
        assert!(
            ours_start.transports.len() >= 3,
            "our transports: {:?}",
            ours_start.transports
        );
        println!(
            "scenario 8: Chromium transports {}: audio mid {} on {}, video mid {} on {}, data mid \
             {data_mid} on {data_transport}; ours {:?}",
            started.v["transports"].as_array().map_or(0, Vec::len),
            audio_s.mid,
            audio_s.transport,
            video_s.mid,
            video_s.transport,
            ours_start.transports
        );
        let data_pair = started.pair(&data_transport).map(str::to_owned);

        let data = (data_mid.as_str(), data_transport.as_str());
        for (restarted, other) in [(&audio_s, &video_s), (&video_s, &audio_s)] {
            let m = partial_restart(&mut page, &rust, &sent, restarted, other, data).await?;
            println!(
                "scenario 8: restart of the {} transport (mid {}): Chromium's new pair after \
                 {:.0?}, our promotion after {:.0?}; {} {} never stalled longer than {:.0?} \
                 (rose by {} over {} samples); the restarted {}'s longest stall {:.0?}",
                restarted.kind,
                restarted.mid,
                m.to_new_pair,
                m.to_promoted,
                other.kind,
                other.counter,
                m.other_stall,
                m.other_rise,
                m.samples,
                restarted.kind,
                m.restarted_stall
            );
        }

        // The data channel's transport was never restarted, and still carries text both ways.
        let end = snap(&mut page).await?;
        assert_eq!(
            end.pair(&data_transport).map(str::to_owned),
            data_pair,
            "the data transport's pair changed"
        );
        let ours_end = rust.pc.stats().await?;
        assert_eq!(ours(&ours_end, &data_mid), ours(&ours_start, &data_mid));
        page.cmd("send", json!({ "text": "after two partial restarts" }))
            .await?;
        assert_eq!(recv_text(&mut dc).await?, "after two partial restarts");
        dc.send_text("Rust: after two partial restarts").await?;
        page.message("Rust: after two partial restarts").await?;
        let media = page.cmd("media-stats", json!({})).await?;
        let (v, a) = (
            rtp_of(&media, "inbound", "video"),
            rtp_of(&media, "inbound", "audio"),
        );
        println!(
            "scenario 8: {} and {} restarted alone; Chromium's video: {} frames decoded, {} \
             keyframes, pliCount {}, freezeCount {}, packetsLost {}; audio packetsLost {}; final \
             transports {}",
            audio_s.kind,
            video_s.kind,
            v["framesDecoded"],
            v["keyFramesDecoded"],
            v["pliCount"],
            v["freezeCount"],
            v["packetsLost"],
            a["packetsLost"],
            end.v["transports"]
        );

        drop(dc);
        video.stop();
        audio.stop();
        rust.pc.close().await;
        page.wait_event("bye", T, |e| e["kind"] == "bye").await?;
        page.done().await?;
        server.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    })
}
