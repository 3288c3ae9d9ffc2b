//! Headless Chromium or Firefox ESR as a test peer, contained in a loopback-only network
//! namespace.
//!
//! ```no_run
//! use std::time::Duration;
//! use tether_tests::browser::{self, Browser};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! if browser::skipped("example") {
//!     return Ok(());
//! }
//! let mut b = Browser::launch("offer.html?audio=1")?; // a page from tests/www/
//! let offer = b.expect("offer", Duration::from_secs(10))?; // {"type": "offer", ...}
//! b.send(serde_json::json!({ "type": "answer", "sdp": "..." }))?;
//! let verdict = b.result(Duration::from_secs(10))?; // the page's POST /result, "ok": true
//! drop(b); // kills Chromium (its process group, by PID), removes the temp profile
//! # let _ = (offer, verdict);
//! # Ok(())
//! # }
//! ```
//!
//! How it works: [`NetNs`] owns a fresh network namespace (only `lo`, up); the page server
//! (`server`) listens on 127.0.0.1:0 inside it and the browser is started inside it (Chromium
//! with the flags of the interop recipe, `/work/shared/interop/README.md`; Firefox with a fresh
//! profile whose `user.js` is [`FIREFOX_PREFS`]), so nothing it does can leave the namespace.
//! [`Launch::firefox`] picks Firefox; everything else (pages, messages, verdicts) is the same. Pages include `/harness.js`, which gives them `tether.send`, `tether.recv`,
//! `tether.log` and `tether.run` (posts the verdict, turning exceptions into `"ok": false`).
//!
//! Environment:
//! - `TETHER_SKIP_BROWSER=1`: [`skipped`] returns true (the only way to skip; without it a
//!   missing Chromium fails the test with instructions).
//! - `TETHER_CHROMIUM`: the Chromium binary (default `/usr/lib/chromium/chromium`, Debian's real
//!   binary; `/usr/bin/chromium` is a wrapper that adds flags).
//! - `TETHER_CHROMIUM_ARGS`: extra flags, space-separated (e.g.
//!   `--enable-logging=stderr --vmodule=*/webrtc/*=1`).
//! - `TETHER_FIREFOX`: the Firefox binary (default `/usr/bin/firefox-esr`, Debian's
//!   `firefox-esr`). Its log: `MOZ_LOG=signaling:4,mtransport:4,nicer:4` in the test's
//!   environment (shown in the stderr block of a failure).

pub mod cdp;
mod error;
pub mod netns;
mod server;

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

pub use error::Error;
pub use netns::NetNs;
use server::{Event, Server};

/// The default Chromium binary (Debian's package).
pub const DEFAULT_CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// The default Firefox binary (Debian's `firefox-esr` package).
pub const DEFAULT_FIREFOX: &str = "/usr/bin/firefox-esr";

/// Which browser a [`Browser`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// Headless Chromium (the DevTools protocol available with [`Launch::devtools`]).
    #[default]
    Chromium,
    /// Headless Firefox ESR.
    Firefox,
}

impl Kind {
    /// "Chromium" or "Firefox".
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chromium => "Chromium",
            Kind::Firefox => "Firefox",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `user.js` of every Firefox profile: no first-run pages, updates, telemetry, captive
/// portal or connectivity probes, safe browsing or DNS (the namespace has no network anyway;
/// this keeps Firefox quiet and fast), and what WebRTC tests need: the fake camera and
/// microphone without a permission prompt, plain IP host candidates (no mDNS `.local` names),
/// and 127.0.0.1 as a host candidate.
///
/// Firefox gathers only the "default" address (the source address of a route to the internet)
/// when the page has no camera/microphone permission, and `media.navigator.permission.disabled`
/// grants none: so the namespace also gets a default route through `lo` with source 127.0.0.1
/// ([`NetNs::route_default_via_loopback`]), which makes 127.0.0.1 that default address.
pub const FIREFOX_PREFS: &[(&str, &str)] = &[
    ("media.navigator.streams.fake", "true"),
    ("media.navigator.permission.disabled", "true"),
    ("media.peerconnection.ice.obfuscate_host_addresses", "false"),
    ("media.peerconnection.ice.loopback", "true"),
    ("media.autoplay.default", "0"),
    ("network.proxy.type", "0"),
    ("network.dns.disabled", "true"),
    ("network.captive-portal-service.enabled", "false"),
    ("network.connectivity-service.enabled", "false"),
    ("browser.shell.checkDefaultBrowser", "false"),
    ("browser.startup.homepage_override.mstone", "\"ignore\""),
    ("browser.aboutwelcome.enabled", "false"),
    ("datareporting.policy.dataSubmissionEnabled", "false"),
    ("datareporting.policy.firstRunURL", "\"\""),
    ("datareporting.healthreport.uploadEnabled", "false"),
    ("toolkit.telemetry.enabled", "false"),
    ("toolkit.telemetry.unified", "false"),
    ("app.update.enabled", "false"),
    ("app.update.auto", "false"),
    ("extensions.update.enabled", "false"),
    ("browser.safebrowsing.malware.enabled", "false"),
    ("browser.safebrowsing.phishing.enabled", "false"),
    ("browser.safebrowsing.downloads.enabled", "false"),
    ("browser.safebrowsing.blockedURIs.enabled", "false"),
    ("browser.safebrowsing.provider.mozilla.updateURL", "\"\""),
    ("browser.region.network.url", "\"\""),
    ("network.prefetch-next", "false"),
];

/// Whether the browser (or namespace) test `test` is to be skipped: with
/// `TETHER_SKIP_PRIVILEGED=1` (every test that needs root: see `test_support::privileged`,
/// which fails a run without root that did not ask to skip) or `TETHER_SKIP_BROWSER=1` (the
/// browser tests only). Prints a line naming `test` when it skips.
pub fn skipped(test: &str) -> bool {
    if std::env::var_os("TETHER_SKIP_BROWSER").is_some_and(|v| v == "1") {
        // Straight to the terminal: libtest captures `eprintln!`, not the stderr handle.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: browser test (TETHER_SKIP_BROWSER=1)"
        );
        return true;
    }
    !test_support::privileged(test)
}

/// The folder the page server serves: `tests/www/`.
pub fn www_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www")
}

/// A headless browser (Chromium or Firefox) showing one page, and the message channel to that
/// page.
///
/// Dropping it prints the page log and the tail of the browser's stderr (cargo test shows them
/// only for a failed test), kills the browser's process group (by PID), waits for it, and
/// removes the temporary profile.
pub struct Browser {
    // Field order is drop order: the browser is killed in `Drop::drop`, then the server stops,
    // then the namespace thread ends.
    kind: Kind,
    child: Option<Child>,
    server: Server,
    netns: Arc<NetNs>,
    dir: PathBuf,
    started: Instant,
    unread: VecDeque<Value>,
    result: Option<Value>,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("kind", &self.kind)
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("port", &self.server.port())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts Chromium in a new loopback-only namespace on `page` (a path under `tests/www/`,
    /// query string allowed, e.g. `"offer.html?x=1"`).
    pub fn launch(page: &str) -> Result<Self, Error> {
        Self::launch_with(Launch::page(page))
    }

    /// Starts Firefox in a new loopback-only namespace on `page` (see [`Browser::launch`]).
    pub fn launch_firefox(page: &str) -> Result<Self, Error> {
        Self::launch_with(Launch::page(page).firefox())
    }

    /// Starts the browser as `launch` says (see [`Launch`]).
    pub fn launch_with(launch: Launch) -> Result<Self, Error> {
        let kind = launch.kind;
        let bin = browser_binary(kind)?;
        let dir = temp_dir(kind)?;
        let profile = dir.join("profile");
        std::fs::create_dir(&profile)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", profile.display())))?;
        let cleanup = |e: Error| {
            let _ = std::fs::remove_dir_all(&dir);
            e
        };
        let netns = match launch.netns {
            Some(ns) => ns,
            None => Arc::new(NetNs::new().map_err(cleanup)?),
        };
        if kind == Kind::Firefox && !launch.default_host_candidates {
            netns.route_default_via_loopback().map_err(cleanup)?;
        }
        let listener = netns
            .run(|| TcpListener::bind("127.0.0.1:0"))
            .and_then(|r| r.map_err(|e| Error::new(format!("bind 127.0.0.1:0: {e}"))))
            .map_err(cleanup)?;
        let server = Server::start(listener, www_dir()).map_err(cleanup)?;
        let url = match launch.url {
            Some(url) => url,
            None => format!(
                "http://127.0.0.1:{}/{}",
                server.port(),
                launch.page.trim_start_matches('/')
            ),
        };
        let mut cmd = Command::new(&bin);
        match kind {
            Kind::Chromium => {
                let mut flags =
                    chromium_flags(&profile, launch.default_host_candidates, &launch.reachable);
                if launch.devtools {
                    // The port Chromium picks is written to <profile>/DevToolsActivePort.
                    flags.push("--remote-debugging-port=0".into());
                    flags.push("--window-size=1280,1000".into());
                }
                cmd.args(flags);
            }
            Kind::Firefox => {
                if launch.devtools {
                    return Err(cleanup(Error::new(
                        "the DevTools protocol harness is Chromium's only",
                    )));
                }
                write_firefox_profile(&profile, launch.default_host_candidates).map_err(cleanup)?;
                cmd.args(firefox_flags(&profile))
                    // Nothing outside the temporary folder: Firefox also writes under $HOME.
                    .env("HOME", &dir)
                    .env("XDG_CACHE_HOME", dir.join("cache"))
                    .env("XDG_CONFIG_HOME", dir.join("config"))
                    .env("MOZ_CRASHREPORTER_DISABLE", "1")
                    .env("MOZ_HEADLESS", "1");
            }
        }
        let log_path = dir.join("stderr.log");
        cmd.arg(&url)
            .env("TMPDIR", &profile)
            .stdin(Stdio::null())
            .process_group(0);
        let child = netns
            .run(move || -> Result<Child, String> {
                let log = File::create(&log_path).map_err(|e| format!("create stderr log: {e}"))?;
                let log2 = log
                    .try_clone()
                    .map_err(|e| format!("dup stderr log: {e}"))?;
                cmd.stdout(log)
                    .stderr(log2)
                    .spawn()
                    .map_err(|e| format!("spawn: {e}"))
            })
            .and_then(|r| {
                r.map_err(|e| Error::new(format!("cannot start {kind} ({}): {e}", bin.display())))
            })
            .map_err(cleanup)?;
        Ok(Self {
            kind,
            child: Some(child),
            server,
            netns,
            dir,
            started: Instant::now(),
            unread: VecDeque::new(),
            result: None,
        })
    }

    /// Which browser this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The next message the page sent with `tether.send` (`POST /to-test`).
    ///
    /// Fails on timeout, when the browser exits, or when the page posts its verdict first (the
    /// error then carries that verdict, e.g. a JavaScript exception).
    pub fn recv(&mut self, timeout: Duration) -> Result<Value, Error> {
        if let Some(msg) = self.unread.pop_front() {
            return Ok(msg);
        }
        if let Some(result) = &self.result {
            return Err(self.fail(format!(
                "the page finished before sending a message: {result}"
            )));
        }
        match self.next_event(Instant::now() + timeout)? {
            Event::Message(msg) => Ok(msg),
            Event::Result(result) => {
                let err = self.fail(format!(
                    "the page finished instead of sending a message: {result}"
                ));
                self.result = Some(result);
                Err(err)
            }
        }
    }

    /// Like [`Browser::recv`], and checks that the message's `"type"` field is `kind`.
    pub fn expect(&mut self, kind: &str, timeout: Duration) -> Result<Value, Error> {
        let msg = self.recv(timeout)?;
        if msg.get("type").and_then(Value::as_str) == Some(kind) {
            Ok(msg)
        } else {
            Err(self.fail(format!(
                "expected a {kind:?} message from the page, got {msg}"
            )))
        }
    }

    /// Queues `msg` for the page (its next `tether.recv()`, `GET /to-page`).
    pub fn send(&mut self, msg: Value) -> Result<(), Error> {
        if let Some(status) = self.exited() {
            let kind = self.kind;
            return Err(self.fail(format!("cannot send: {kind} exited ({status})")));
        }
        self.server.send(msg);
        Ok(())
    }

    /// The page's verdict (`POST /result`), which must have `"ok": true`.
    ///
    /// Messages that arrive meanwhile are kept for [`Browser::recv`].
    pub fn result(&mut self, timeout: Duration) -> Result<Value, Error> {
        let deadline = Instant::now() + timeout;
        while self.result.is_none() {
            match self.next_event(deadline)? {
                Event::Message(msg) => self.unread.push_back(msg),
                Event::Result(result) => self.result = Some(result),
            }
        }
        let result = self.result.clone().unwrap_or_default();
        if result.get("ok") == Some(&Value::Bool(true)) {
            Ok(result)
        } else {
            Err(self.fail(format!("the page reported failure: {result}")))
        }
    }

    /// The namespace the browser runs in: run Rust peers with [`NetNs::spawn`] to reach it.
    pub fn netns(&self) -> &NetNs {
        &self.netns
    }

    /// The namespace, shared (to start another Chromium or a runtime in it).
    pub fn shared_netns(&self) -> Arc<NetNs> {
        Arc::clone(&self.netns)
    }

    /// Chromium's DevTools port inside the namespace (launched with [`Launch::devtools`]);
    /// waits up to `timeout` for Chromium to write it.
    pub fn devtools_port(&mut self, timeout: Duration) -> Result<u16, Error> {
        let file = self.dir.join("profile").join("DevToolsActivePort");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                    return Ok(port);
                }
            }
            if let Some(status) = self.exited() {
                return Err(self.fail(format!("Chromium exited early ({status})")));
            }
            if Instant::now() >= deadline {
                return Err(self.fail(format!(
                    "no DevTools port in {} (launched without devtools?)",
                    file.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page server's port on 127.0.0.1 inside the namespace.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Everything the browser wrote to stderr so far (Chromium logs its errors there, e.g.
    /// libwebrtc's).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// The page log and the tail of Chromium's stderr, as printed on failure.
    pub fn diagnostics(&self) -> String {
        let pid = self.pid();
        self.fail(format!(
            "{} pid {pid:?}, {:.1?} since launch",
            self.kind,
            self.started.elapsed()
        ))
        .to_string()
    }

    fn next_event(&mut self, deadline: Instant) -> Result<Event, Error> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                let waited = self.started.elapsed();
                return Err(self.fail(format!(
                    "timed out waiting for the page ({waited:.1?} since launch)"
                )));
            }
            let slice = (deadline - now).min(Duration::from_millis(100));
            if let Some(ev) = self.server.next_event(slice) {
                return Ok(ev);
            }
            if let Some(status) = self.exited() {
                // Whatever the page sent just before the browser exited is still worth reading.
                if let Some(ev) = self.server.next_event(Duration::from_millis(50)) {
                    return Ok(ev);
                }
                let kind = self.kind;
                return Err(self.fail(format!("{kind} exited early ({status})")));
            }
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn fail(&self, msg: String) -> Error {
        let title = format!(
            "{} stderr (last 60 lines, D-Bus and shutdown noise left out)",
            self.kind
        );
        Error::new(msg)
            .with_context("page log", &self.server.log())
            .with_context(&title, &self.stderr_tail(60))
    }

    fn stderr_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        // D-Bus complaints (no system bus in a container) and Firefox's children noticing the
        // parent is gone are noise: leave them out.
        let all: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains(":ERROR:dbus/") && !l.contains("Exiting due to channel error"))
            .collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // cargo test shows a test's output only when it fails: that is when this is read.
        eprintln!("[browser harness] {}", self.diagnostics());
        if let Some(mut child) = self.child.take() {
            // The browser was started as the leader of its own process group (Chromium's
            // renderers, GPU and utility processes, Firefox's content and socket processes
            // join it). The leader is reaped only after the group is killed,
            // so the group id cannot have been reused by then.
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How [`Browser::launch_with`] starts a browser (Chromium unless [`Launch::firefox`]).
#[derive(Debug, Default)]
pub struct Launch {
    kind: Kind,
    page: String,
    url: Option<String>,
    netns: Option<Arc<NetNs>>,
    devtools: bool,
    default_host_candidates: bool,
    reachable: Vec<std::net::IpAddr>,
}

impl Launch {
    /// A page of `tests/www/` (served by the harness), query string allowed.
    pub fn page(page: &str) -> Self {
        Self {
            page: page.to_owned(),
            ..Self::default()
        }
    }

    /// Any URL instead (e.g. a page of a server the test runs in the namespace). The harness
    /// channel (`tether.send`, results) is then unused unless the page talks to it.
    pub fn url(url: &str) -> Self {
        Self {
            url: Some(url.to_owned()),
            ..Self::default()
        }
    }

    /// Firefox ESR instead of Chromium.
    pub fn firefox(mut self) -> Self {
        self.kind = Kind::Firefox;
        self
    }

    /// This browser.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Starts the browser in this namespace instead of a new one (two browsers that must reach
    /// each other, or a server started first).
    pub fn in_netns(mut self, netns: Arc<NetNs>) -> Self {
        self.netns = Some(netns);
        self
    }

    /// The browser's own defaults for host candidates: mDNS `<uuid>.local` names instead of IP
    /// addresses, and, the page having no camera/microphone permission, only the address of
    /// the default route (so the namespace needs one, e.g. [`NetNs::route_default_via`]).
    /// Chromium: leaves out `--disable-features=WebRtcHideLocalIpsWithMdns`,
    /// `--use-fake-ui-for-media-stream` and `--allow-loopback-in-peer-connection`. Firefox:
    /// leaves out the `obfuscate_host_addresses` and `loopback` prefs and the default route
    /// through `lo`.
    pub fn default_host_candidates(mut self) -> Self {
        self.default_host_candidates = true;
        self
    }

    /// Lets Chromium load URLs with this IP literal (its host resolver otherwise refuses every
    /// host but 127.0.0.1), e.g. a signaling server on the other end of a veth pair.
    pub fn reachable(mut self, ip: std::net::IpAddr) -> Self {
        self.reachable.push(ip);
        self
    }

    /// Enables the DevTools protocol on a free port ([`Browser::devtools_port`], [`cdp`]) and a
    /// 1280x1000 window for screenshots (Chromium only).
    pub fn devtools(mut self) -> Self {
        self.devtools = true;
        self
    }
}

fn browser_binary(kind: Kind) -> Result<PathBuf, Error> {
    let (var, default, package) = match kind {
        Kind::Chromium => ("TETHER_CHROMIUM", DEFAULT_CHROMIUM, "chromium"),
        Kind::Firefox => ("TETHER_FIREFOX", DEFAULT_FIREFOX, "firefox-esr"),
    };
    let bin = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(Error::new(format!(
            "{kind} not found at {}: browser tests need it. Run `.ci/run` (it installs it) or \
             `apt-get update && apt-get install -y --no-install-recommends {package} iproute2` \
             as root; set {var}=/path/to/binary to use another binary, or \
             TETHER_SKIP_BROWSER=1 to skip browser tests.",
            bin.display()
        )))
    }
}

/// The prefs of [`FIREFOX_PREFS`] that change how Firefox gathers host candidates, left out by
/// [`Launch::default_host_candidates`].
const FIREFOX_HOST_CANDIDATE_PREFS: &[&str] = &[
    "media.peerconnection.ice.obfuscate_host_addresses",
    "media.peerconnection.ice.loopback",
];

/// Writes [`FIREFOX_PREFS`] as the profile's `user.js` (without the host candidate prefs for
/// Firefox's defaults).
fn write_firefox_profile(profile: &Path, default_host_candidates: bool) -> Result<(), Error> {
    let user_js: String = FIREFOX_PREFS
        .iter()
        .filter(|(k, _)| !(default_host_candidates && FIREFOX_HOST_CANDIDATE_PREFS.contains(k)))
        .map(|(k, v)| format!("user_pref(\"{k}\", {v});\n"))
        .collect();
    let path = profile.join("user.js");
    std::fs::write(&path, user_js)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}

/// Headless, this profile only, no remote control of (or by) another running Firefox.
fn firefox_flags(profile: &Path) -> Vec<String> {
    let mut flags: Vec<String> = vec![
        "--headless".into(),
        "--no-remote".into(),
        "--new-instance".into(),
        "--profile".into(),
        profile.display().to_string(),
    ];
    if let Some(extra) = std::env::var_os("TETHER_FIREFOX_ARGS") {
        flags.extend(
            extra
                .to_string_lossy()
                .split_whitespace()
                .map(str::to_string),
        );
    }
    flags
}

/// The interop recipe's flags (`/work/shared/interop/chromium-flags.sh`), plus a fake camera and
/// microphone; the namespace keeps Chromium off every network but its own loopback (and the
/// links the test adds). `default_host_candidates`: see [`Launch::default_host_candidates`];
/// `reachable`: more IP literals the host resolver lets through.
fn chromium_flags(
    profile: &Path,
    default_host_candidates: bool,
    reachable: &[std::net::IpAddr],
) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-device-for-media-stream",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rules = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".to_string();
    for ip in reachable {
        rules.push_str(&format!(" , EXCLUDE {ip}"));
    }
    flags.push(rules);
    if !default_host_candidates {
        flags.extend(
            [
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                "--use-fake-ui-for-media-stream",
                "--allow-loopback-in-peer-connection",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
    }
    flags.push(format!("--user-data-dir={}", profile.display()));
    if let Some(extra) = std::env::var_os("TETHER_CHROMIUM_ARGS") {
        flags.extend(
            extra
                .to_string_lossy()
                .split_whitespace()
                .map(str::to_string),
        );
    }
    flags
}

fn temp_dir(kind: Kind) -> Result<PathBuf, Error> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "tether-{}-{}-{n}-{nanos:08x}",
        kind.name().to_lowercase(),
        std::process::id()
    ));
    std::fs::create_dir(&dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}
