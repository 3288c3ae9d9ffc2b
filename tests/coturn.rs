//! coturn (Debian's `coturn`, `/usr/bin/turnserver`) as a real TURN server for the tests,
//! started inside a test's network namespace.
//!
//! [`Coturn::start`] runs `turnserver` on an address of a [`NetNs`] (see [`NetNs::add_address`]),
//! UDP only (no TCP, TLS or DTLS listeners: the ICE agent, `webrtc-ice` 0.17, gathers relayed
//! candidates over TURN/UDP only, see `docs/interop.md`), with the long-term credential
//! mechanism and one user, relaying on the same address. No configuration file is read (`-n`),
//! its user database and pid file are in a temporary folder, it logs to stdout (kept in a file
//! the test prints on failure). Dropping it kills it (its process group, by PID) and removes the
//! folder.
//!
//! Environment: `TETHER_TURNSERVER`, the binary (default `/usr/bin/turnserver`). A missing
//! binary fails the test with instructions (never a skip).

use std::fmt;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::browser::{Error, NetNs};

/// The default coturn binary (Debian's package).
pub const DEFAULT_TURNSERVER: &str = "/usr/bin/turnserver";

/// The TURN port (inside the namespace, where nothing else listens).
pub const PORT: u16 = 3478;

/// The relay ports coturn allocates from.
pub const RELAY_PORTS: std::ops::RangeInclusive<u16> = 49160..=49359;

/// The long-term credentials of the one user.
pub const USER: &str = "tether";
/// Its password.
pub const PASSWORD: &str = "relay-secret";
/// The realm.
pub const REALM: &str = "tether.test";

/// A running `turnserver`; see the module docs.
pub struct Coturn {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
    version: String,
}

impl fmt::Debug for Coturn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coturn")
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Coturn {
    /// Starts `turnserver` in `ns`, listening and relaying on `ip` (which must be one of the
    /// namespace's addresses), and waits until it answers a STUN binding request (10 s).
    pub fn start(ns: &NetNs, ip: Ipv4Addr) -> Result<Self, Error> {
        let bin = std::env::var_os("TETHER_TURNSERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_TURNSERVER));
        if !bin.is_file() {
            return Err(Error::new(format!(
                "coturn not found at {}: the TURN tests need it. Run `.ci/run` (it installs it) \
                 or `apt-get update && apt-get install -y --no-install-recommends coturn` as \
                 root; set TETHER_TURNSERVER=/path/to/turnserver to use another binary.",
                bin.display()
            )));
        }
        let dir = temp_dir()?;
        let log_path = dir.join("turnserver.log");
        let ip_s = ip.to_string();
        let mut cmd = Command::new(&bin);
        cmd.arg("-n") // no configuration file: only these flags
            .args(["--listening-ip", &ip_s, "--relay-ip", &ip_s])
            .args(["--listening-port", &PORT.to_string()])
            .args(["--min-port", &RELAY_PORTS.start().to_string()])
            .args(["--max-port", &RELAY_PORTS.end().to_string()])
            .args(["--lt-cred-mech", "--user", &format!("{USER}:{PASSWORD}")])
            .args(["--realm", REALM])
            .args(["--no-cli", "--no-tls", "--no-dtls", "--no-tcp"])
            .args(["--no-multicast-peers", "--no-software-attribute"])
            .arg("--fingerprint")
            .arg("--verbose") // one line per allocation, permission, channel bind and refresh
            .args(["--log-file", "stdout", "--simple-log"])
            .arg("--userdb")
            .arg(dir.join("turndb"))
            .arg("--pidfile")
            .arg(dir.join("turnserver.pid"))
            .stdin(Stdio::null())
            .process_group(0);
        let log_for_child = log_path.clone();
        let spawned = ns
            .run(move || -> Result<Child, String> {
                let log = File::create(&log_for_child).map_err(|e| format!("create log: {e}"))?;
                let log2 = log.try_clone().map_err(|e| format!("dup log: {e}"))?;
                cmd.stdout(log)
                    .stderr(log2)
                    .spawn()
                    .map_err(|e| format!("spawn: {e}"))
            })
            .and_then(|r| {
                r.map_err(|e| Error::new(format!("cannot start {}: {e}", bin.display())))
            });
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut server = Self {
            child: Some(child),
            addr: SocketAddr::from((ip, PORT)),
            dir,
            version: String::new(),
        };
        server.wait_ready(ns, Duration::from_secs(10))?;
        server.version = server
            .log()
            .lines()
            .find_map(|l| l.trim().strip_prefix("Version "))
            .unwrap_or("unknown")
            .to_owned();
        Ok(server)
    }

    /// Where it listens (UDP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `turn:IP:PORT?transport=udp`.
    pub fn url(&self) -> String {
        format!("turn:{}?transport=udp", self.addr)
    }

    /// The version it printed (e.g. `Coturn-4.6.1 'Gorst'`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turnserver.log")).unwrap_or_default()
    }

    /// Sends STUN binding requests from inside `ns` until one is answered.
    fn wait_ready(&mut self, ns: &NetNs, timeout: Duration) -> Result<(), Error> {
        let addr = self.addr;
        let answered = ns.run(move || -> Result<bool, String> {
            let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("bind: {e}"))?;
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            let deadline = Instant::now() + timeout;
            // A STUN binding request: type 0x0001, length 0, the magic cookie, a transaction id.
            let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
            request.extend_from_slice(b"tether-ready");
            while Instant::now() < deadline {
                let _ = socket.send_to(&request, addr);
                let mut buf = [0u8; 1500];
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    // A binding success response (0x0101) with our transaction id.
                    if from == addr
                        && n >= 20
                        && buf[..2] == [0x01, 0x01]
                        && buf[8..20] == request[8..20]
                    {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        })?;
        match answered {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.fail(format!(
                "turnserver did not answer a STUN binding request on {addr} within {timeout:?}"
            ))),
            Err(e) => Err(self.fail(format!("STUN probe of {addr}: {e}"))),
        }
    }

    /// An error with the server's log appended.
    pub fn fail(&mut self, msg: String) -> Error {
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
            .map(|s| format!(" (turnserver exited: {s})"))
            .unwrap_or_default();
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Error::new(format!(
            "{msg}{exited}\n--- turnserver log (last 60 lines) ---\n{}",
            tail.join("\n")
        ))
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir() -> Result<PathBuf, Error> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "tether-coturn-{}-{n}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::create_dir(&dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}
