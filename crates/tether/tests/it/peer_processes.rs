//! `tether peer` as a user runs it: `tether signal` and `tether peer` processes.
//!
//! - The README's two-peer example: two `tether peer --say` with the default `--role auto`, the
//!   second started once the first is waiting in the room. 20 runs in a row: the server
//!   assigns random peer ids, so both orders of the two ids (who must offer) come up; every run
//!   must connect and chat both ways, and a SIGTERM to one ends both cleanly.
//! - The tool's options: a file over `--send-data` / `--receive-data` (checked byte for byte),
//!   ICE restarts from `--restart-every` and from a `restart` line on standard input, TURN
//!   through a real coturn with `--relay-only`, and the usage errors (exit code 8).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::SignalProcess;

const RUNS: usize = 20;
const WAIT: Duration = Duration::from_secs(15);

/// A running `tether peer`, its output lines arriving on channels (stdout: messages; stderr:
/// states), killed (by PID) when dropped.
struct PeerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl PeerProcess {
    fn start(url: &str, room: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(["peer", "--loopback", "--server", url, "--room", room])
            .args(extra)
            .stdin(Stdio::piped())
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
        let stdin = child.stdin.take().expect("stdin");
        Self {
            child,
            stdin,
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

    /// Types a line on the peer's standard input.
    fn type_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("stdin");
        self.stdin.flush().expect("stdin");
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
    let mut a = PeerProcess::start(url, &room, &["--say", "hello from A"]);
    a.expect_line(false, "joined as peer")
        .map_err(|e| format!("A: {e}"))?;
    let mut b = PeerProcess::start(url, &room, &["--say", "hello from B"]);
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

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 6 MiB and a bit of bytes that are not a repeating pattern.
fn write_payload(path: &Path) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..6 * 1024 * 1024 + 777)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

/// `--send-data FILE` to `--receive-data DIR`: the file arrives byte for byte, the receiver
/// says it verified the SHA-256, the sender reports the rate and hangs up, both exit 0.
#[test]
fn a_file_goes_over_a_data_channel_checked_end_to_end() {
    let server = SignalProcess::start(&[]);
    let dir = temp_dir("send-data");
    let file = dir.join("payload.bin");
    let data = write_payload(&file);
    let out = dir.join("received");
    let room = format!("data-{}", std::process::id());
    let mut receiver = PeerProcess::start(
        &server.ws_url,
        &room,
        &["--receive-data", out.to_str().unwrap()],
    );
    receiver.expect_line(false, "joined as peer").unwrap();
    let mut sender = PeerProcess::start(
        &server.ws_url,
        &room,
        &["--send-data", file.to_str().unwrap()],
    );
    sender.expect_line(false, "sent payload.bin").unwrap();
    receiver.expect_line(false, "received payload.bin").unwrap();
    println!("{}", sender.log.last().unwrap());
    assert_eq!(sender.exit_code().unwrap(), Some(0), "{:?}", sender.log);
    assert_eq!(receiver.exit_code().unwrap(), Some(0), "{:?}", receiver.log);
    assert!(std::fs::read(out.join("payload.bin")).unwrap() == data);
    let _ = std::fs::remove_dir_all(&dir);
}

/// ICE restarts while running: every `--restart-every` period, and on a `restart` line typed
/// on standard input; each prints the old and the new selected pair and the switch time.
#[test]
fn restarts_from_the_timer_and_from_standard_input_report_both_pairs() {
    let server = SignalProcess::start(&[]);
    let room = format!("restart-{}", std::process::id());
    let mut a = PeerProcess::start(&server.ws_url, &room, &["--restart-every", "0.7"]);
    a.expect_line(false, "joined as peer").unwrap();
    let mut b = PeerProcess::start(&server.ws_url, &room, &[]);
    b.expect_line(false, "chat channel open").unwrap();
    expect_restart_report(&mut a, 0);
    b.type_line("restart");
    b.expect_line(false, "ICE restart: from ICE generation")
        .unwrap();
    println!("{}", b.log.last().unwrap());
    a.terminate();
    assert_eq!(a.exit_code().unwrap(), Some(0));
    assert_eq!(b.exit_code().unwrap(), Some(0));
}

/// `--unbundled --restart-mid MID`: the timer restarts only that m-section's transport (a
/// partial restart) and reports its old and new pair; an unknown mid is refused with a message
/// and the peer carries on.
#[test]
fn restart_mid_restarts_one_unbundled_transport_and_refuses_an_unknown_mid() {
    let server = SignalProcess::start(&[]);
    let room = format!("restart-mid-{}", std::process::id());
    let mut a = PeerProcess::start(
        &server.ws_url,
        &room,
        &[
            "--unbundled",
            "--restart-mid",
            "0",
            "--restart-every",
            "0.7",
        ],
    );
    a.expect_line(false, "joined as peer").unwrap();
    let mut b = PeerProcess::start(
        &server.ws_url,
        &room,
        &["--unbundled", "--restart-mid", "9"],
    );
    b.expect_line(false, "chat channel open").unwrap();
    expect_restart_report(&mut a, 0);
    b.type_line("restart");
    b.expect_line(false, "cannot restart the transport of mid 9")
        .unwrap();
    println!("{}", b.log.last().unwrap());
    // B carries on: A's next partial restart completes on both sides.
    a.expect_line(false, "ICE restart: from ICE generation 1 selected pair")
        .unwrap();
    a.terminate();
    assert_eq!(a.exit_code().unwrap(), Some(0));
    assert_eq!(b.exit_code().unwrap(), Some(0));
}

/// Waits for `p`'s report of a restart from ICE generation `from` to the next, with both pairs.
fn expect_restart_report(p: &mut PeerProcess, from: u32) {
    p.expect_line(
        false,
        &format!("ICE restart: from ICE generation {from} selected pair"),
    )
    .unwrap();
    let line = p.log.last().unwrap();
    println!("{line}");
    assert!(
        line.contains(&format!("; to ICE generation {} selected pair", from + 1)),
        "{line}"
    );
}

/// A coturn TURN server on 127.0.0.1 with one long-term-credential user, killed (by PID)
/// when dropped.
struct Coturn {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Coturn {
    fn start() -> Self {
        let port = free_udp_port();
        let dir = temp_dir("coturn");
        let child = Command::new("turnserver")
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint"])
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            .args(["--min-port", "49500", "--max-port", "49900"])
            .args([
                "--allow-loopback-peers",
                "--lt-cred-mech",
                "--realm",
                "tether",
            ])
            .args(["--user", "tether:relay-secret"])
            .arg("--userdb")
            .arg(dir.join("turndb"))
            .args(["--no-stdout-log", "--simple-log", "--log-file"])
            .arg(dir.join("turn.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver is required (apt-get install coturn; .ci/run installs it)");
        // Ready once it answers a STUN binding request.
        let deadline = Instant::now() + WAIT;
        while !stun_answers(port) {
            assert!(Instant::now() < deadline, "coturn did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, dir }
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends a STUN binding request to 127.0.0.1:`port` and waits briefly for any answer.
fn stun_answers(port: u16) -> bool {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    request.extend_from_slice(&[7u8; 12]);
    let _ = socket.send_to(&request, ("127.0.0.1", port));
    let mut buf = [0u8; 512];
    socket.recv_from(&mut buf).is_ok()
}

/// `--relay-only` through coturn: both peers gather relayed candidates only, chat over the
/// relay, and a restart's new pair is relayed too.
#[test]
fn relay_only_through_coturn() {
    let turn = Coturn::start();
    let server = SignalProcess::start(&[]);
    let room = format!("relay-{}", std::process::id());
    let url = format!("turn:127.0.0.1:{}", turn.port);
    let relay = |say: &'static str| {
        vec![
            "--relay-only".to_owned(),
            "--ice-server".to_owned(),
            url.clone(),
            "--ice-username".to_owned(),
            "tether".to_owned(),
            "--ice-credential".to_owned(),
            "relay-secret".to_owned(),
            "--say".to_owned(),
            say.to_owned(),
        ]
    };
    let args_a = relay("through the relay from A");
    let args_b = relay("through the relay from B");
    fn as_refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let mut a = PeerProcess::start(&server.ws_url, &room, &as_refs(&args_a));
    a.expect_line(false, "joined as peer").unwrap();
    let mut b = PeerProcess::start(&server.ws_url, &room, &as_refs(&args_b));
    a.expect_line(true, "through the relay from B").unwrap();
    b.expect_line(true, "through the relay from A").unwrap();
    b.type_line("restart");
    b.expect_line(false, "ICE restart:").unwrap();
    let line = b.log.last().unwrap().clone();
    println!("{line}");
    assert_eq!(
        line.matches("relay").count(),
        4,
        "old and new pair relayed on both ends: {line}"
    );
    a.terminate();
    assert_eq!(a.exit_code().unwrap(), Some(0));
    assert_eq!(b.exit_code().unwrap(), Some(0));
}

/// What a user can get wrong is refused before anything connects, with exit code 8.
#[test]
fn unusable_ice_servers_and_data_files_are_exit_code_8() {
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(["peer", "--server", "ws://127.0.0.1:1/ws", "--room", "r"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("tether");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (extra, says) in [
        (
            &[
                "--ice-server",
                "turns:127.0.0.1:5349",
                "--ice-username",
                "u",
                "--ice-credential",
                "p",
            ][..],
            "TURN over TLS",
        ),
        (
            &[
                "--ice-server",
                "turn:127.0.0.1:3478?transport=tcp",
                "--ice-username",
                "u",
                "--ice-credential",
                "p",
            ][..],
            "TURN over TCP",
        ),
        (
            &["--ice-server", "turn:127.0.0.1:3478"][..],
            "user name and a credential",
        ),
        (&["--ice-server", "http://127.0.0.1"][..], "bad ICE server"),
        (
            &["--send-data", "/nonexistent/tether-file"][..],
            "cannot read",
        ),
        (&["--restart-every", "0"][..], "positive number"),
    ] {
        let (code, err) = run(extra);
        assert_eq!(code, Some(8), "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
}

/// Wrong TURN credentials with `--relay-only`: coturn refuses the allocation, the peer gathers
/// no candidate and says so at once (exit code 7 with the reason), instead of checking until
/// ICE times out.
#[test]
fn wrong_turn_credentials_are_a_clear_error() {
    let turn = Coturn::start();
    let server = SignalProcess::start(&[]);
    let room = format!("badcred-{}", std::process::id());
    let url = format!("turn:127.0.0.1:{}", turn.port);
    let args = [
        "--relay-only",
        "--ice-server",
        &url,
        "--ice-username",
        "tether",
        "--ice-credential",
        "not-the-secret",
    ];
    let started = Instant::now();
    let mut a = PeerProcess::start(&server.ws_url, &room, &args);
    a.expect_line(false, "joined as peer").unwrap();
    let mut b = PeerProcess::start(&server.ws_url, &room, &args);
    // The first to finish gathering says why and hangs up; the other either says so too or
    // ends because of that hang-up, whichever comes first.
    let mut reported = 0;
    for peer in [&mut a, &mut b] {
        let code = peer.exit_code().unwrap();
        // Everything it wrote (the reader thread ends at the pipe's end).
        while let Ok(line) = peer.stderr.recv_timeout(WAIT) {
            peer.log.push(line);
        }
        let said = peer
            .log
            .iter()
            .any(|l| l.contains("gathered no local candidate (relay-only"));
        match (code, said) {
            (Some(7), true) => reported += 1,
            (Some(0), false) => assert!(
                peer.log.iter().any(|l| l.contains("closed (Remote)")),
                "{:?}",
                peer.log
            ),
            _ => panic!("exit {code:?}: {:?}", peer.log),
        }
    }
    assert!(reported >= 1, "nobody reported the missing candidates");
    println!(
        "{reported} of 2 refused with the reason after {:?}",
        started.elapsed()
    );
}
