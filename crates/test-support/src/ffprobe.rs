//! What `ffprobe` (from ffmpeg; `.ci/run` installs it) reads from a media file: the tests'
//! proof that a file we wrote decodes with a decoder we did not write.

use std::path::Path;
use std::process::Command;

/// The `entries` (`stream=` fields, e.g. `nb_read_frames`) of stream `select` (`0`, `v:0`,
/// `a:0`) of `path`, in the order asked; with `count_frames` every frame is decoded first (for
/// `nb_read_frames`).
///
/// # Panics
/// When ffprobe cannot run, fails on the file, or prints fewer fields than asked.
pub fn stream(path: &Path, select: &str, entries: &[&str], count_frames: bool) -> Vec<String> {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error"]);
    if count_frames {
        cmd.arg("-count_frames");
    }
    let out = cmd
        .args(["-select_streams", select])
        .args(["-show_entries", &format!("stream={}", entries.join(","))])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "ffprobe is required by this test and could not be run ({e}); install ffmpeg \
                 (`apt-get install ffmpeg`; `.ci/run` installs it when missing)"
            )
        });
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<String> = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .split(',')
        .map(str::to_owned)
        .collect();
    assert!(
        fields.len() >= entries.len() && fields.iter().all(|f| !f.is_empty()),
        "ffprobe printed {text:?} for {entries:?} of {}",
        path.display()
    );
    fields
}

/// Frames decoded from the first stream of `path`.
pub fn frames(path: &Path) -> u64 {
    codec_and_frames(path).1
}

/// The codec name of the first stream of `path` and the frames decoded from it.
pub fn codec_and_frames(path: &Path) -> (String, u64) {
    let f = stream(path, "0", &["codec_name", "nb_read_frames"], true);
    let frames = f[1]
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe frame count {:?} of {}", f[1], path.display()));
    (f[0].clone(), frames)
}

/// The duration of the first stream of `path` as its container states it (not decoded).
pub fn duration(path: &Path) -> f64 {
    let f = stream(path, "0", &["duration"], false);
    f[0].parse()
        .unwrap_or_else(|_| panic!("ffprobe duration {:?} of {}", f[0], path.display()))
}
