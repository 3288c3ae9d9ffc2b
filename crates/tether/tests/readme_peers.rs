//! The README's two-peer example, as a user runs it: a `tether signal` process and two
//! `tether peer --say` processes with the default `--role auto`, the second started once the
//! first is waiting in the room. 20 runs in a row: the server assigns random peer ids, so both
//! orders of the two ids (who must offer) come up; every run must connect and chat both ways,
//! and a SIGTERM to one ends both cleanly.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::SignalProcess;

const RUNS: usize = 20;
const WAIT: Duration = Duration::from_secs(15);

/// A running `tether peer`, its output lines arriving on channels (stdout: messages; stderr:
/// states), killed (by PID) when dropped.
struct PeerProcess {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl PeerProcess {
    fn start(url: &str, room: &str, say: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args([
                "peer",
                "--loopback",
                "--server",
                url,
                "--room",
                room,
                "--say",
                say,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run tether peer");
        let lines = |stream: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().expect("stdout")));
        let stderr = lines(Box::new(child.stderr.take().expect("stderr")));
        Self {
            child,
            stdout,
            stderr,
            log: Vec::new(),
        }
    }

    /// Waits for a line containing `text` on stdout (`out`) or stderr; keeps every line seen
    /// for the failure message.
    fn expect_line(&mut self, out: bool, text: &str) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let rx = if out { &self.stdout } else { &self.stderr };
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(text);
                    self.log.push(line);
                    if hit {
                        return Ok(());
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "no line with {text:?} within {WAIT:?}; saw:\n{}",
                        self.log.join("\n")
                    ))
                }
            }
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit by itself and returns its exit code.
    fn exit_code(&mut self) -> Result<Option<i32>, String> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Ok(status.code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("did not exit; saw:\n{}", self.log.join("\n")))
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn one_run(url: &str, run: usize) -> Result<(), String> {
    let room = format!("readme-{}-{run}", std::process::id());
    let mut a = PeerProcess::start(url, &room, "hello from A");
    a.expect_line(false, "joined as peer")
        .map_err(|e| format!("A: {e}"))?;
    let mut b = PeerProcess::start(url, &room, "hello from B");
    a.expect_line(true, "hello from B")
        .map_err(|e| format!("A: {e}"))?;
    b.expect_line(true, "hello from A")
        .map_err(|e| format!("B: {e}"))?;
    // Ctrl-C / SIGTERM on one side: it says bye, and the other ends because the session closed.
    a.terminate();
    let code_a = a.exit_code().map_err(|e| format!("A: {e}"))?;
    let code_b = b.exit_code().map_err(|e| format!("B: {e}"))?;
    if (code_a, code_b) != (Some(0), Some(0)) {
        return Err(format!(
            "exit codes A {code_a:?}, B {code_b:?}; A saw:\n{}\nB saw:\n{}",
            a.log.join("\n"),
            b.log.join("\n")
        ));
    }
    Ok(())
}

#[test]
fn the_readme_two_peer_example_works_20_times_in_a_row() {
    let server = SignalProcess::start(&[]);
    assert!(server.port() > 0);
    let started = Instant::now();
    for run in 0..RUNS {
        if let Err(e) = one_run(&server.ws_url, run) {
            panic!("run {} of {RUNS} failed: {e}", run + 1);
        }
    }
    println!("{RUNS} runs in {:?}", started.elapsed());
}
