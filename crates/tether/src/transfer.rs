//! Bulk data for `tether peer --send-data FILE` / `--receive-data DIR`: one file over a
//! reliable ordered data channel, checked end to end with SHA-256.
//!
//! On the channel [`LABEL`]: a text header `{"name": NAME, "size": BYTES}`, the file as binary
//! messages of [`CHUNK`] bytes, then a text trailer `{"sha256": HEX}`. The receiver writes
//! `DIR/NAME`, hashes what it wrote, and answers `{"verified": true|false}`; the sender hangs
//! up once it has that answer. A mismatch is an error on both sides (exit code 9).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use transport_tokio::{DataChannel, Message};

use crate::error::CliError;

/// The data channel label of a file transfer.
pub(crate) const LABEL: &str = "tether-file";
/// Bytes per binary message.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Longest a sender waits for the receiver's verdict after the last byte.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    name: String,
    size: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Verdict {
    verified: bool,
}

/// What a finished transfer measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferReport {
    /// The file's name (as sent).
    pub name: String,
    /// Bytes transferred.
    pub bytes: u64,
    /// From the header to the verdict (sender) or to the trailer (receiver).
    pub elapsed: Duration,
    /// The SHA-256 of the file, hex.
    pub sha256: String,
}

impl TransferReport {
    /// MiB per second over [`elapsed`](Self::elapsed).
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(1e-6)
    }
}

impl std::fmt::Display for TransferReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} bytes in {:.2} s ({:.1} MiB/s), sha256 {} verified",
            self.name,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.mib_per_s(),
            self.sha256
        )
    }
}

/// Opens `path` for sending, before anything connects (a file that cannot be read is a usage
/// error, exit code 8).
pub(crate) fn open_for_sending(path: &Path) -> Result<(String, u64), CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::Config(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(CliError::Config(format!(
            "{} is not a file",
            path.display()
        )));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::Config(format!("{} has no usable name", path.display())))?;
    Ok((name.to_owned(), meta.len()))
}

/// Checks that `dir` can take received files (created if missing).
pub(crate) fn prepare_receive_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Config(format!("cannot create {}: {e}", dir.display())))
}

/// Progress on stderr, only on a terminal, at most five times a second.
struct Progress {
    on: bool,
    what: &'static str,
    total: u64,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn new(what: &'static str, total: u64) -> Self {
        Self {
            on: std::io::stderr().is_terminal(),
            what,
            total,
            start: Instant::now(),
            last: None,
        }
    }

    fn update(&mut self, done: u64) {
        if !self.on
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let pct = if self.total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / self.total as f64
        };
        let rate = mib(done) / self.start.elapsed().as_secs_f64().max(1e-6);
        eprint!(
            "\r{} {:.1}/{:.1} MiB {pct:5.1} % {rate:.1} MiB/s ",
            self.what,
            mib(done),
            mib(self.total)
        );
    }

    fn finish(&self) {
        if self.on && self.last.is_some() {
            eprintln!();
        }
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Failed(format!("{what}: {e}"))
}

/// Sends the file at `path` on `dc` and waits for the receiver's verdict.
pub(crate) async fn send_file(
    mut dc: DataChannel,
    path: PathBuf,
) -> Result<TransferReport, CliError> {
    let (name, size) = open_for_sending(&path)?;
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| CliError::Config(format!("cannot read {}: {e}", path.display())))?;
    let header = serde_json::to_string(&Header {
        name: name.clone(),
        size,
    })
    .map_err(|e| failed("header", e))?;
    dc.send_text(header)
        .await
        .map_err(|e| failed("sending", e))?;
    let start = Instant::now();
    let mut progress = Progress::new("sending", size);
    let mut hash = Sha256::new();
    let mut sent = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_full(&mut file, &mut buf)
            .await
            .map_err(|e| failed(&format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        dc.send(Bytes::copy_from_slice(&buf[..n]))
            .await
            .map_err(|e| failed("sending", e))?;
        sent += n as u64;
        progress.update(sent);
    }
    progress.finish();
    if sent != size {
        return Err(failed(
            &path.display().to_string(),
            format!("changed while sending ({sent} of {size} bytes)"),
        ));
    }
    let sha256 = hex(&hash.finalize());
    let trailer = serde_json::to_string(&Trailer {
        sha256: sha256.clone(),
    })
    .map_err(|e| failed("trailer", e))?;
    dc.send_text(trailer)
        .await
        .map_err(|e| failed("sending", e))?;
    let verdict = tokio::time::timeout(VERDICT_TIMEOUT, async {
        loop {
            match dc.recv().await {
                Some(Message::Text(t)) => {
                    if let Ok(v) = serde_json::from_str::<Verdict>(&t) {
                        return Some(v.verified);
                    }
                }
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await;
    match verdict {
        Ok(Some(true)) => Ok(TransferReport {
            name,
            bytes: sent,
            elapsed: start.elapsed(),
            sha256,
        }),
        Ok(Some(false)) => Err(CliError::DataMismatch(format!(
            "the receiver's SHA-256 of {name} differs from ours ({sha256})"
        ))),
        Ok(None) => Err(failed(
            "sending",
            "the channel closed before the receiver confirmed",
        )),
        Err(_) => Err(failed(
            "sending",
            format!("no confirmation from the receiver within {VERDICT_TIMEOUT:?}"),
        )),
    }
}

/// Reads until `buf` is full or the file ends.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let got = file.read(&mut buf[n..]).await?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

/// A received name that is a plain file name (no directories, not `.` or `..`).
fn safe_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255;
    ok.then_some(name)
}

/// Receives one file from `dc` into `dir`, verifies it and tells the sender.
pub(crate) async fn receive_file(
    mut dc: DataChannel,
    dir: PathBuf,
) -> Result<TransferReport, CliError> {
    let header = match dc.recv().await {
        Some(Message::Text(t)) => {
            serde_json::from_str::<Header>(&t).map_err(|e| failed("bad transfer header", e))?
        }
        other => return Err(failed("bad transfer header", format!("{other:?}"))),
    };
    let name = safe_name(&header.name)
        .ok_or_else(|| failed("refused file name", format!("{:?}", header.name)))?
        .to_owned();
    let path = dir.join(&name);
    let mut out = tokio::fs::File::create(&path)
        .await
        .map_err(|e| failed(&format!("cannot write {}", path.display()), e))?;
    let start = Instant::now();
    let mut progress = Progress::new("receiving", header.size);
    let mut hash = Sha256::new();
    let mut got = 0u64;
    let trailer = loop {
        match dc.recv().await {
            Some(Message::Binary(b)) => {
                got += b.len() as u64;
                if got > header.size {
                    return Err(failed(
                        "receiving",
                        format!("more than the announced {} bytes", header.size),
                    ));
                }
                hash.update(&b);
                out.write_all(&b)
                    .await
                    .map_err(|e| failed(&format!("writing {}", path.display()), e))?;
                progress.update(got);
            }
            Some(Message::Text(t)) => {
                break serde_json::from_str::<Trailer>(&t)
                    .map_err(|e| failed("bad transfer trailer", e))?
            }
            Some(_) => {}
            None => {
                return Err(failed(
                    "receiving",
                    format!("the channel closed after {got} of {} bytes", header.size),
                ))
            }
        }
    };
    progress.finish();
    out.flush()
        .await
        .map_err(|e| failed(&format!("writing {}", path.display()), e))?;
    let sha256 = hex(&hash.finalize());
    let verified = got == header.size && sha256.eq_ignore_ascii_case(&trailer.sha256);
    let verdict = serde_json::to_string(&Verdict { verified }).map_err(|e| failed("verdict", e))?;
    // The sender waits for this; if it is gone already, the verdict below still stands.
    let _ = dc.send_text(verdict).await;
    if !verified {
        return Err(CliError::DataMismatch(format!(
            "{}: received {got} of {} bytes, SHA-256 {sha256}, the sender's {}",
            path.display(),
            header.size,
            trailer.sha256
        )));
    }
    Ok(TransferReport {
        name,
        bytes: got,
        elapsed: start.elapsed(),
        sha256,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_names_cannot_leave_the_directory() {
        assert_eq!(safe_name("data.bin"), Some("data.bin"));
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "x\0y"] {
            assert_eq!(safe_name(bad), None, "{bad:?}");
        }
        assert_eq!(safe_name(&"a".repeat(256)), None);
    }

    #[test]
    fn hex_is_lower_case_sha256() {
        let h = hex(&Sha256::digest(b"abc"));
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
