//! WebSocket signaling for Tether: a relay server with rooms and resume, and a client that
//! reconnects and resumes by itself.
//!
//! WebRTC defines no signaling. This crate is one rendezvous two peers can both reach: a peer
//! joins a room (named by an unguessable token the caller created), learns the other peers, and
//! sends them opaque JSON (`signal {to, data}`) that the server delivers as `{from, data}` with
//! `from` stamped by the server. The server never parses `data`. The protocol is in
//! `docs/signaling-protocol.md`.
//!
//! When a connection drops without `bye`, the peer is *suspended* for a grace window: messages
//! to it are numbered and kept, and a new connection that presents the peer's resume token gets
//! them replayed in order, exactly once. [`SignalingClient`] does that on its own.
//!
//! Rooms live in the server process by default. With [`ServerConfig::redis_url`] they live in
//! Redis instead: any number of server processes serve the same rooms, a client resumes on any
//! of them, and a restart of one loses no message the server accepted.
//!
//! TLS is optional and uses rustls (ring provider): give the server a [`ServerTls`] (PEM
//! certificate chain and key) and it serves `https://`/`wss://`; the client connects to `wss://`
//! URLs, trusting webpki-roots or the roots given by [`client_tls_with_roots`].
//!
//! ```
//! use signaling_ws::{ClientConfig, ClientEvent, Server, ServerConfig, SignalingClient};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let server = Server::bind("127.0.0.1:0".parse()?, ServerConfig::default()).await?;
//! let url = server.ws_url();
//! let alice = SignalingClient::connect(ClientConfig::new(&url, "room-7f3a")).await?;
//! let mut bob = SignalingClient::connect(ClientConfig::new(&url, "room-7f3a")).await?;
//! alice.send_json(&bob.peer_id(), &serde_json::json!({"type": "bye"})).await?;
//! while let Some(event) = bob.recv().await {
//!     if let ClientEvent::Signal { from, data } = event {
//!         assert_eq!(from, alice.peer_id());
//!         assert_eq!(data.get(), r#"{"type":"bye"}"#);
//!         break;
//!     }
//! }
//! alice.close().await;
//! bob.close().await;
//! server.shutdown(std::time::Duration::from_secs(5)).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accept;
mod addrs;
mod backend;
mod client;
mod client_config;
mod config;
mod conn;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod hub;
mod metrics;
mod protocol;
mod server;
mod tls;
mod token;

pub use backend::BackendError;
pub use client::{
    ClientConfig, ClientError, ClientEvent, Reconnector, SignalingClient, TokenSource,
};
pub use config::{EmbeddedFile, Limits, ServerConfig};
pub use protocol::{
    ClientMessage, CloseCode, ErrorCode, PeerId, PeerInfo, ProtocolError, ServerMessage,
    PROTOCOL_VERSION,
};
pub use server::{Server, ServerError, ServerHandle, WS_PATH};
pub use tls::{client_tls_with_roots, ServerTls, TlsError};
pub use token::{random_room_name, RoomTokenKey, TokenError};

/// Re-exported: the rustls these TLS settings are built with (custom server or client configs).
pub use rustls;
/// Re-exported so callers can build `data` without naming `serde_json` themselves.
pub use serde_json::value::RawValue;
