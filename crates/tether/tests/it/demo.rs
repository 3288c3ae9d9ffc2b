//! `tether demo` as a library call: the whole session on loopback must succeed.

use std::time::Duration;

use tether::{run_demo, DataLoss, DemoOptions};

/// Runs the demo (1 MiB, quiet) within 30 s and prints its timeline and summary.
async fn demo(unbundled: bool) -> tether::DemoReport {
    let opts = DemoOptions {
        transfer_bytes: 1024 * 1024,
        quiet: true,
        unbundled,
    };
    let report = tokio::time::timeout(Duration::from_secs(30), run_demo(opts))
        .await
        .expect("the demo took longer than 30 s")
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{}\n{report}", report.timeline.join("\n"));
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_the_whole_session() {
    let report = demo(false).await;
    assert!(report.ok(), "{:?}", report.data_loss);
    assert_eq!(report.lost, 0);
    assert_eq!(report.data_loss, DataLoss::default());
    assert_eq!(report.bulk_bytes, 1024 * 1024);
    assert!(report.throughput_mib_s > 0.0);
    assert!(report.setup > Duration::ZERO && report.setup < Duration::from_secs(10));
    assert!(report.restart_switch < Duration::from_secs(10));
    assert_ne!(
        report.path_before, report.path_after,
        "the restart did not move to a new path"
    );
    // Media flowed through the whole session, the ICE restart included.
    let m = &report.media;
    assert!(
        m.video_frames_received > 0 && m.audio_frames_received > 0,
        "{m:?}"
    );
    assert!(
        m.frames_lost * 100 <= (m.video_frames_sent + m.audio_frames_sent) * 2,
        "more than 2 % of the media frames lost: {m:?}"
    );
    assert!(
        m.longest_video_gap < Duration::from_secs(1),
        "video stalled: {m:?}"
    );
    let json = report.to_json();
    assert!(json["media"]["video_frames_received"].as_u64() > Some(0));
    assert_eq!(json["ok"], true);
    assert_eq!(json["lost"], 0);
    assert_eq!(json["data_loss"]["missing"], 0);
    let text = report.timeline.join("\n");
    for step in [
        "created room",
        "sent Offer",
        "HaveLocalOffer",
        // Candidate gathering and checks, DTLS, the data channel: the whole life.
        "local candidate host udp 127.0.0.1:",
        "remote candidate ",
        "local candidates complete",
        "ICE connection   Checking",
        "ICE generation 0 selected pair 127.0.0.1:",
        "DTLS connected as client (a=setup:active)",
        "DTLS connected as server",
        "the peer opened data channel \"chat\"",
        "data channel \"chat\" open",
        "arrived intact, every byte checked: 0 missing",
        "restart_ice()",
        "ICE generation 1 carries the traffic",
        "ICE generation 1 selected pair 127.0.0.1:",
        "remote Video track (Some(Vp8)) arrived",
        "media sources stopped",
        "closed (Local)",
        "closed (Remote)",
    ] {
        assert!(text.contains(step), "no {step:?} in the timeline:\n{text}");
    }
}

/// `tether demo --unbundled`: a transport per m-section, and the restart step restarts the
/// video transport alone: it ends on generation 1, audio's and data's on generation 0, and
/// nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbundled_demo_restarts_the_video_transport_alone() {
    let report = demo(true).await;
    assert!(report.ok(), "{:?}", report.data_loss);
    assert!(report
        .timeline
        .iter()
        .any(|l| l.contains("restart_ice_transport(")));
    let t = &report.transports_after;
    assert_eq!(
        t.len(),
        3,
        "audio, video, data on their own transports: {t:?}"
    );
    assert_eq!(
        t.iter().filter(|(_, g)| *g == 1).count(),
        1,
        "exactly one transport (video's) restarted: {t:?}"
    );
    assert_eq!(t.iter().filter(|(_, g)| *g == 0).count(), 2, "{t:?}");
    let m = &report.media;
    assert!(
        m.video_frames_received > 0 && m.audio_frames_received > 0,
        "{m:?}"
    );
}
