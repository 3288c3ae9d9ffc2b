//! The switch for tests that need root.
//!
//! Tests that create network namespaces, change links and firewall rules, or contain a browser
//! or a TURN server in a namespace need root (`CAP_SYS_ADMIN`, `CAP_NET_ADMIN`). Each such test
//! starts with `if !privileged("name") { return; }`:
//! - as root, it runs (CI runs as root: every test runs there);
//! - with `TETHER_SKIP_PRIVILEGED=1`, it is skipped, and a line saying so goes straight to the
//!   terminal (not through the test harness's output capture, so it shows for a passing test);
//! - without root and without the switch, it fails at once with a message naming the switch,
//!   rather than failing later on a confusing `ip netns` or `unshare` error.

use std::io::Write;

/// The environment variable that skips privileged tests (`1`).
pub const SKIP_PRIVILEGED: &str = "TETHER_SKIP_PRIVILEGED";

/// Does this process run as root (effective uid 0)?
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            // "Uid:\treal\teffective\tsaved\tfs"
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Whether the privileged test `test` runs: as root, yes; with `TETHER_SKIP_PRIVILEGED=1`, no
/// (and a `SKIPPED` line goes straight to the terminal, past the test harness's capture).
///
/// # Panics
/// Without root and without `TETHER_SKIP_PRIVILEGED=1`.
pub fn privileged(test: &str) -> bool {
    if std::env::var_os(SKIP_PRIVILEGED).is_some_and(|v| v == "1") {
        // Straight to the terminal: libtest captures `eprintln!`, not the stderr handle.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: needs root ({SKIP_PRIVILEGED}=1)"
        );
        return false;
    }
    assert!(
        is_root(),
        "{test} needs root (network namespaces, links, firewall rules, or a browser or TURN \
         server contained in a namespace): run the tests as root, or set \
         {SKIP_PRIVILEGED}=1 to skip the privileged ones (CI runs them all)"
    );
    true
}
