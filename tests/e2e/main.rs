//! The end-to-end test binary: one module per area.

mod browser_harness;
mod chromium_sdp;
