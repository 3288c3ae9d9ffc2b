//! Firefox ESR (Debian's `firefox-esr`, headless) against a Rust peer: the Chromium scenarios of
//! `interop.rs` and `interop_media.rs`, run with the other browser. Same page
//! (`tests/www/interop.html` running the served `tether-peer.js`), same signaling server, one
//! loopback-only namespace per test (plus a default route through `lo`, which Firefox needs to
//! gather 127.0.0.1: see `tests/browser/mod.rs`, `FIREFOX_PREFS`).

use tether_tests::browser::{self, Kind};

use crate::interop_support::TestResult;
use crate::{interop, interop_media};

/// Firefox is impolite and opens "chat": it offers; the Rust peer answers; text both ways;
/// Firefox hangs up and the Rust session closes.
#[test]
fn firefox_offers_rust_answers() -> TestResult {
    if browser::skipped("firefox_offers_rust_answers") {
        return Ok(());
    }
    interop::browser_offers_rust_answers(Kind::Firefox)
}

/// The Rust peer is impolite and opens "chat": it offers; Firefox answers; text both ways; the
/// Rust side hangs up and the page sees `bye`.
#[test]
fn rust_offers_firefox_answers() -> TestResult {
    if browser::skipped("rust_offers_firefox_answers") {
        return Ok(());
    }
    interop::rust_offers_browser_answers(Kind::Firefox)
}

/// ICE restart by Firefox (`restartIce()`), then by Rust (`restart_ice()`), while both sides
/// send a message every 10 ms: both ufrags change each time, Firefox's selected pair changes
/// (Firefox has no "transport" stats: the candidate-pair marked `selected`), our promoted path
/// moves to a new generation and local address; every message arrives, in order.
#[test]
fn ice_restart_both_ways_with_firefox_nothing_lost() -> TestResult {
    if browser::skipped("ice_restart_both_ways_with_firefox_nothing_lost") {
        return Ok(());
    }
    interop::ice_restart_both_ways(Kind::Firefox)
}

/// Firefox adds its fake camera and microphone (VP8 first) and offers; the Rust peer records
/// both for 4 s to IVF and Ogg (`target/tmp/tether-browser/firefox-{camera.ivf,mic.ogg}`);
/// `ffprobe` decodes them.
#[test]
fn firefox_camera_and_microphone_recorded_by_rust() -> TestResult {
    if browser::skipped("firefox_camera_and_microphone_recorded_by_rust") {
        return Ok(());
    }
    interop_media::camera_and_microphone_recorded_by_rust(Kind::Firefox)
}

/// The Rust peer offers and sends the VP8 and Opus samples; Firefox decodes them
/// (`getStats()`: `framesDecoded` growing, audio packets received, our sender reports parsed).
#[test]
fn rust_sends_vp8_and_opus_firefox_decodes() -> TestResult {
    if browser::skipped("rust_sends_vp8_and_opus_firefox_decodes") {
        return Ok(());
    }
    interop_media::rust_sends_vp8_and_opus_browser_decodes(Kind::Firefox)
}
