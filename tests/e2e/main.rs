//! The end-to-end test binary: one module per area.

mod browser_harness;
mod chromium_sdp;
mod interop;
mod interop_echo;
mod interop_firefox;
mod interop_mdns;
mod interop_media;
mod interop_support;
mod interop_unbundled;
mod media_bugs;
mod signal_page;
mod turn_coturn;
