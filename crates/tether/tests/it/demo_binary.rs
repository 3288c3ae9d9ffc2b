//! The real `tether demo --json` binary: exit status 0 and a JSON summary with measured
//! numbers (what a script or CI reads).

use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn demo_json_prints_a_measured_summary_and_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["demo", "--json", "--mib", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run tether demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // --json prints the summary only: one JSON document, nothing else.
    let json: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}"));
    println!("{json:#}");
    assert_eq!(json["ok"], true, "{json}");
    let num = |v: &Value| {
        v.as_f64()
            .unwrap_or_else(|| panic!("not a number: {v} in {json}"))
    };
    let setup = num(&json["setup_ms"]);
    assert!(setup > 0.0 && setup < 10_000.0, "setup {setup} ms");
    assert_eq!(json["bulk_bytes"], 1024 * 1024);
    assert!(num(&json["throughput_mib_s"]) > 0.0);
    // Text, bulk and the paced messages of the restart: more than the bulk alone.
    assert!(num(&json["bytes"]) > 1024.0 * 1024.0, "{json}");
    assert!(num(&json["messages"]) > 32.0, "{json}");
    assert_eq!(json["lost"], 0, "{json}");
    for cause in ["missing", "out_of_order", "duplicated", "corrupted"] {
        assert_eq!(json["data_loss"][cause], 0, "{cause}: {json}");
    }
    let media = &json["media"];
    for frames in [
        "video_frames_sent",
        "video_frames_received",
        "audio_frames_sent",
        "audio_frames_received",
    ] {
        assert!(num(&media[frames]) > 0.0, "{frames}: {json}");
    }
    assert_ne!(json["path_before"], json["path_after"], "the restart moved");
    assert!(num(&json["total_ms"]) >= setup);
}
