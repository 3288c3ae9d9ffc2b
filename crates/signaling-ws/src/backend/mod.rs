//! Where rooms live: the [`Backend`] trait and its two implementations.
//!
//! - [`MemoryBackend`] (the default): one process, no dependency; a restart loses every room.
//! - [`RedisBackend`]: rooms, membership, sequence numbers and resume buffers in Redis, with
//!   fan-out between processes over Redis pub/sub; any number of server processes serve the
//!   same rooms, a client resumes on any of them, and a restart of one loses no accepted message.
//!
//! A backend numbers each frame for its recipient, keeps it for resume, and offers it to the
//! recipient's connection (a [`ConnHandle`]) wherever that connection is.

use std::fmt;
use std::net::IpAddr;

use async_trait::async_trait;
use serde_json::value::RawValue;

use crate::hub::{ConnHandle, Departure};
use crate::metrics::Gauges;
use crate::protocol::{CloseCode, ErrorCode, PeerId};

mod memory;
mod redis;

pub(crate) use memory::MemoryBackend;
pub use redis::BackendError;
pub(crate) use redis::RedisBackend;

/// Rooms, peers, per-recipient sequence numbers, resume buffers and fan-out.
///
/// Errors are protocol [`ErrorCode`]s; a backend that cannot reach its store answers
/// [`ErrorCode::Unavailable`] (the connection is closed with 4013 and the client resumes later).
#[async_trait]
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// Adds a peer for `conn` to `room`; queues `joined` on `conn` and tells the others.
    async fn join(&self, room: &str, conn: ConnHandle, addr: IpAddr) -> Result<PeerId, ErrorCode>;

    /// Attaches the peer owning `secret` to `conn` (closing any older connection); queues
    /// `resumed` and every kept message after `last_seq` on `conn`.
    async fn resume(
        &self,
        secret: &str,
        last_seq: u64,
        conn: ConnHandle,
        addr: IpAddr,
    ) -> Result<PeerId, ErrorCode>;

    /// Relays `data` from `from` (attached as `conn_id`) to `to` in the same room; a `cseq`
    /// other than 0 that is not above the sender's last accepted one is a repeat and is
    /// dropped (as accepted).
    async fn signal(
        &self,
        from: &PeerId,
        conn_id: u64,
        to: &PeerId,
        data: &RawValue,
        cseq: u64,
    ) -> Result<(), ErrorCode>;

    /// Frees the resume buffer of `peer` up to and including `seq`.
    async fn ack(&self, peer: &PeerId, seq: u64);

    /// The connection `conn_id` of `peer` ended: the peer leaves (`bye`) or is suspended for
    /// the grace window.
    async fn disconnected(&self, peer: &PeerId, conn_id: u64, how: Departure);

    /// Resolves once the backend can serve (Redis answers); the startup check.
    async fn ready(&self) -> Result<(), BackendError> {
        Ok(())
    }

    /// Room and peer gauges for `/metrics` (this process's view).
    fn gauges(&self) -> Gauges;

    /// Closes every connection of this process with `code` (server shutdown).
    fn close_all(&self, code: CloseCode);
}
