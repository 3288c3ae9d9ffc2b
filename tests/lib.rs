//! Shared helpers for the end-to-end tests (the `e2e` test binary in `e2e/`).
//!
//! - [`browser`]: headless Chromium as a test peer, in a loopback-only network namespace, with a
//!   JSON message channel to its page (pages live in `www/`); Firefox ESR too.
//! - [`coturn`]: coturn's `turnserver` as a real TURN server inside a test's namespace.
//!
//! Run: `cargo test -p tether-tests` (as root, with Debian's `chromium`, `firefox-esr`,
//! `coturn`, `ffmpeg` and `iproute2` installed, as `.ci/run` does; `TETHER_SKIP_BROWSER=1`
//! skips the browser and TURN tests). The peers and scenarios: `docs/interop.md`.
#![forbid(unsafe_code)]

pub mod browser;
pub mod coturn;
