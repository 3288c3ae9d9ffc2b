//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A sample file shipped in `crates/media/samples/` (made by `scripts/gen-media.sh`).
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// A scratch file path unique to this test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir.join(name)
}

/// Decodes the first stream of a file with `ffprobe -count_frames` and returns
/// (codec name, frames decoded). Fails the test when ffprobe is not installed.
pub fn ffprobe_frames(path: &Path) -> (String, u64) {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "0"])
        .args([
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "ffprobe is required by this test and could not be run ({e}); \
                 install ffmpeg (`apt-get install ffmpeg`; `.ci/run` installs it when missing)"
            )
        });
    assert!(
        output.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.trim().split(',');
    let codec = parts.next().unwrap_or_default().to_owned();
    let frames = parts
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected ffprobe output for {}: {text:?}", path.display()));
    (codec, frames)
}

pub mod link;
