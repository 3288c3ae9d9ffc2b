//! What several of the `tether` binary's test files share.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `tether signal` process, killed (by PID) when dropped.
pub(crate) struct SignalProcess {
    pub(crate) child: Child,
    pub(crate) ws_url: String,
}

impl SignalProcess {
    pub(crate) fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(["signal", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run tether signal");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("first line");
        // Keep reading: a closed pipe would fail the server's next line of output.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let ws_url = line
            .trim()
            .strip_prefix("signaling on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, ws_url }
    }

    pub(crate) fn port(&self) -> u16 {
        self.ws_url
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches("/ws").parse().ok())
            .expect("port")
    }
}

impl Drop for SignalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
