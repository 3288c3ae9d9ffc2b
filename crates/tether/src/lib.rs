//! The glue behind the `tether` command line.
//!
//! - [`WsSignaling`]: the transport's `Signaling` trait over the WebSocket signaling client
//!   (`signaling-ws` depends on no transport crate; the adapter lives here).
//! - [`run_demo`]: `tether demo` as a library call.
//! - [`room_token`] / [`signed_room_token`]: `tether token`.
//! - [`run_signal`] and [`run_peer`]: `tether signal` and `tether peer`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod commands;
mod demo;
mod glue;
mod timeline;
mod token;

pub use commands::{run_peer, run_signal, PeerOptions, SignalOptions};
pub use demo::{run_demo, DemoError, DemoOptions, DemoReport};
pub use glue::WsSignaling;
pub use timeline::Timeline;
pub use token::{read_secret, room_token, signed_room_token, TokenOutput};
