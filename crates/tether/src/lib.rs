//! The glue behind the `tether` command line.
//!
//! - [`WsSignaling`]: the transport's `Signaling` trait over the WebSocket signaling client
//!   (`signaling-ws` depends on no transport crate; the adapter lives here).
//! - [`run_demo`]: `tether demo` as a library call.
//! - [`room_token`] / [`signed_room_token`]: `tether token`.
//! - [`run_signal`] and [`run_peer`]: `tether signal` (with the browser page [`PAGE`]) and
//!   `tether peer`; [`CliError`] says why one failed and maps the cause to an exit code.
//!
//! # Example: a peer through the signaling server
//!
//! What `tether peer --role auto` does, in short: join a room, wait for the other peer (a Rust
//! peer or a browser tab on the page), take the role both compute from the peer ids, and run a
//! peer connection over the WebSocket signaling.
//!
//! ```no_run
//! use session_core::channel::DataChannelInit;
//! use tether::{polite_by_ids, WsSignaling};
//! use transport_tokio::{PeerConfig, PeerConnection};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut sig = WsSignaling::connect("ws://127.0.0.1:8080/ws", "4355db44e89d766c", None).await?;
//! let remote = sig.wait_for_remote().await?;
//! let polite = polite_by_ids(&sig.peer_id(), &remote);
//! let (pc, _events) = PeerConnection::new(PeerConfig::new(polite), sig)?;
//! if !polite {
//!     let chat = pc.create_data_channel("chat", DataChannelInit::default()).await?;
//!     chat.send_text("hello").await?;
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod commands;
mod demo;
mod demo_check;
mod demo_media;
mod error;
mod glue;
mod page;
mod peer_media;
mod signal_tap;
mod timeline;
mod token;
mod transfer;

pub use commands::{run_peer, run_peer_with_media, run_signal, PeerOptions, Role, SignalOptions};
pub use demo::{run_demo, DemoError, DemoOptions, DemoReport, MediaSummary};
pub use demo_check::DataLoss;
pub use error::{check_ws_url, CliError};
pub use glue::{polite_by_ids, WsSignaling};
pub use page::PAGE;
pub use peer_media::{record_path, FileSource, PeerMediaOptions, H264_FPS};
pub use timeline::Timeline;
pub use token::{read_secret, room_token, signed_room_token, TokenOutput};
pub use transfer::TransferReport;

/// The README's library example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctest;
