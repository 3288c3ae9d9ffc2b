//! The echo peer against Chromium: Chromium's fake camera (and microphone) goes to a
//! Rust peer running `tether::run_peer_with_media` with echo on (what `tether peer --echo`
//! runs), through the real signaling server, both in one loopback-only namespace; the peer
//! sends every track back on a new track of the same kind, and Chromium decodes the echoed
//! video (`getStats()`: inbound video `framesDecoded` > 0 and growing).
//!
//! This test found a real race: the echo's `add_track` reuses the transceiver of Chromium's
//! offer (recvonly in our first answer) and only a renegotiation, offered by the echo peer,
//! makes it sendrecv, but Chromium sends as soon as DTLS is up. The echo sender used to see the
//! old recvonly parameters, `write_rtp` refused the first packet (`NotSending`) and the echo
//! ended: Chromium got nothing back. Now the sender waits for the renegotiation that lets it
//! send (transport-tokio `driver/media.rs`, `sync_media`; regression test
//! `crates/transport-tokio/tests/it/rtp.rs`, `a_track_added_to_a_received_transceiver_...`).

use std::time::Duration;

use serde_json::{json, Value};
use tether::{run_peer_with_media, PeerMediaOptions, PeerOptions, Role};
use tether_tests::browser;

use crate::interop_media::{num, rtp_of};
use crate::interop_support::{room, run_in, runtime_in, signaling_server, Page, TestResult, T};

/// Whole-test limit (each step has its own, shorter one).
const LIMIT: Duration = Duration::from_secs(60);

/// Chromium (impolite) offers its fake camera and microphone, VP8 first; the echo peer
/// (polite) answers, adds one echo track per remote track (a renegotiation it offers) and
/// sends the packets back; Chromium's inbound video decodes and keeps decoding.
#[test]
fn chromium_camera_echoed_by_tether_peer_is_decoded_by_chromium() -> TestResult {
    if browser::skipped("chromium_camera_echoed_by_tether_peer_is_decoded_by_chromium") {
        return Ok(());
    }
    let mut page = Page::launch()?;
    let rt = runtime_in(page.netns())?;
    run_in(&rt, LIMIT, async move {
        let server = signaling_server().await?;
        let room = room();
        page.start(&server, &room, "impolite", "wait").await?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let opts = PeerOptions {
            server: server.ws_url(),
            room: room.clone(),
            token: None,
            role: Role::Polite,
            say: None,
            loopback: true,
            echo: true,
            ca_file: None,
            ..Default::default()
        };
        let peer = tokio::spawn(run_peer_with_media(
            opts,
            PeerMediaOptions::default(),
            async {
                let _ = stop_rx.await;
            },
        ));
        let added = page.cmd("add-media", json!({ "vp8": true })).await?;
        println!("Chromium's tracks: {added}");
        page.wait_event("connected", T, |e| {
            e["what"] == "connectionState" && e["value"] == "connected"
        })
        .await?;

        // The echo peer's add_track reuses Chromium's transceivers: their receivers carry
        // the echo once the peer's renegotiation made them sendrecv.
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let playing = page.cmd("play-remote", json!({})).await?;
            let kinds = playing["tracks"].as_array().cloned().unwrap_or_default();
            if kinds.iter().any(|k| k == "video") {
                println!("Chromium plays the echoed tracks: {playing}");
                break;
            }
            if tokio::time::Instant::now() > deadline {
                let report = page.report(Duration::from_millis(500)).await;
                return Err(
                    format!("no echoed video track in Chromium: {playing}\n{report}").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let video_in = |s: &Value| rtp_of(s, "inbound", "video").clone();
        let first = loop {
            let s = page.cmd("media-stats", json!({})).await?;
            if num(&video_in(&s), "framesDecoded") > 0.0 {
                break s;
            }
            if tokio::time::Instant::now() > deadline {
                let report = page.report(Duration::from_millis(500)).await;
                return Err(format!("Chromium decodes no echoed video: {s:#}\n{report}").into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        let later = page.cmd("media-stats", json!({})).await?;
        println!("Chromium's getStats, first echoed frame decoded: {first:#}");
        println!("Chromium's getStats, 2 s later: {later:#}");
        let (v0, v) = (video_in(&first), video_in(&later));
        let sent = rtp_of(&later, "outbound", "video");
        let audio = rtp_of(&later, "inbound", "audio");
        println!(
            "echo: Chromium sent {} video frames ({} fps); decoded {} echoed frames, then {} \
             2 s later ({} keyframes, {}x{}, packetsLost {}, freezeCount {}, pliCount {}, \
             nackCount {}); echoed audio packetsReceived {}",
            sent["framesSent"],
            sent["framesPerSecond"],
            v0["framesDecoded"],
            v["framesDecoded"],
            v["keyFramesDecoded"],
            v["frameWidth"],
            v["frameHeight"],
            v["packetsLost"],
            v["freezeCount"],
            v["pliCount"],
            v["nackCount"],
            audio["packetsReceived"],
        );
        assert!(
            v["codec"]
                .as_str()
                .is_some_and(|c| c.starts_with("video/VP8")),
            "the echo is VP8: {v}"
        );
        // 2 s of a 30 fps camera, echoed packet by packet: well over 20 more frames.
        assert!(
            num(&v, "framesDecoded") >= num(&v0, "framesDecoded") + 20.0,
            "echoed video stalled: framesDecoded {} then {}",
            v0["framesDecoded"],
            v["framesDecoded"]
        );

        let _ = stop_tx.send(());
        tokio::time::timeout(T, peer)
            .await
            .map_err(|_| "the echo peer did not stop")??
            .map_err(|e| format!("tether peer --echo: {e}"))?;
        page.wait_event("bye", T, |e| e["kind"] == "bye").await?;
        page.done().await?;
        server.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    })
}
