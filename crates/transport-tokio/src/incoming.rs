//! SCTP streams the peer started, told apart by their first message: a DCEP
//! `DATA_CHANNEL_OPEN` (a channel the peer opened in-band, acknowledged here), or data (a
//! negotiated channel the peer created, and wrote on, before the application here created its
//! side with the same id).
//!
//! `webrtc-data`'s `DataChannel::accept` only knows the first kind: data first fails the accept
//! (and the message is gone), and a later `open_stream` of the same id fails because the peer's
//! data already created the stream. Here the first message is kept and the stream waits for the
//! local negotiated channel (see `driver/channels.rs`).

use std::sync::Arc;

use bytes::Bytes;
use webrtc_data::data_channel::{Config as RawConfig, DataChannel as RawChannel};
use webrtc_data::message::message_channel_ack::DataChannelAck;
use webrtc_data::message::message_channel_open::ChannelType;
use webrtc_data::message::Message as Dcep;
use webrtc_sctp::chunk::chunk_payload_data::PayloadProtocolIdentifier as Ppi;
use webrtc_sctp::stream::{ReliabilityType, Stream};
use webrtc_util::marshal::{Marshal, Unmarshal};

use crate::channel::Message;

/// What a stream the peer started carries.
pub(crate) enum Incoming {
    /// A channel the peer opened with DCEP; the `DATA_CHANNEL_ACK` was sent.
    Dcep(Arc<RawChannel>),
    /// Data on a stream nobody opened here: its first message; the rest waits in SCTP.
    Data {
        /// The stream.
        stream: Arc<Stream>,
        /// The first message, already read.
        first: Message,
    },
}

/// Why a stream the peer started was refused (the peer misbehaved or reset it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum IncomingError {
    /// The stream was reset before its first message.
    #[error("reset before its first message")]
    Reset,
    /// Reading the first message failed (the crate's message, e.g. a message too large).
    #[error("first message unreadable: {0}")]
    Read(String),
    /// A DCEP message that is not a well-formed `DATA_CHANNEL_OPEN`.
    #[error("bad DCEP message: {0}")]
    BadDcep(String),
    /// The DCEP acknowledgement could not be sent.
    #[error("DCEP ack not sent: {0}")]
    Ack(String),
}

/// Reads the first message of a stream the peer started and classifies it.
pub(crate) async fn classify(stream: Arc<Stream>) -> Result<Incoming, IncomingError> {
    stream.set_default_payload_type(Ppi::Binary);
    let mut buf = crate::readbuf::ReadBuf::take();
    let (n, ppi) = stream
        .read_sctp(&mut buf)
        .await
        .map_err(|e| IncomingError::Read(e.to_string()))?;
    match ppi {
        Ppi::Unknown if n == 0 => Err(IncomingError::Reset),
        Ppi::Dcep => {
            let mut data = &buf[..n];
            let open = match Dcep::unmarshal(&mut data) {
                Ok(Dcep::DataChannelOpen(open)) => open,
                Ok(other) => {
                    return Err(IncomingError::BadDcep(format!(
                        "{:?} before any DATA_CHANNEL_OPEN",
                        other.message_type()
                    )))
                }
                Err(e) => return Err(IncomingError::BadDcep(e.to_string())),
            };
            let label = String::from_utf8(open.label)
                .map_err(|_| IncomingError::BadDcep("label is not UTF-8".to_owned()))?;
            let protocol = String::from_utf8(open.protocol)
                .map_err(|_| IncomingError::BadDcep("protocol is not UTF-8".to_owned()))?;
            let config = RawConfig {
                channel_type: open.channel_type,
                negotiated: false,
                priority: open.priority,
                reliability_parameter: open.reliability_parameter,
                label,
                protocol,
                max_message_size: 0,
            };
            let ack = Dcep::DataChannelAck(DataChannelAck {})
                .marshal()
                .map_err(|e| IncomingError::Ack(e.to_string()))?;
            stream
                .write_sctp(&ack, Ppi::Dcep)
                .await
                .map_err(|e| IncomingError::Ack(e.to_string()))?;
            commit_reliability(&stream, &config);
            Ok(Incoming::Dcep(Arc::new(RawChannel::new(stream, config))))
        }
        ppi => {
            let first = message_of(&buf[..n], ppi);
            Ok(Incoming::Data { stream, first })
        }
    }
}

/// The application message of an SCTP user message (RFC 8831 PPIDs; the empty ones carry
/// one ignored byte; anything that is not a string is binary, as in `webrtc-data`).
pub(crate) fn message_of(data: &[u8], ppi: Ppi) -> Message {
    match ppi {
        Ppi::String => Message::Text(String::from_utf8_lossy(data).into_owned()),
        Ppi::StringEmpty => Message::Text(String::new()),
        Ppi::BinaryEmpty => Message::Binary(Bytes::new()),
        _ => Message::Binary(Bytes::copy_from_slice(data)),
    }
}

/// Applies a channel's reliability (ordered, partial reliability) to its stream. DCEP channels
/// opened here get it from `webrtc-data` when the ACK arrives; negotiated channels never would
/// (`webrtc-data` 0.17 commits it only on a DCEP exchange), and the peer's DCEP channels get it
/// in [`classify`].
pub(crate) fn commit_reliability(stream: &Stream, config: &RawConfig) {
    let (unordered, kind) = match config.channel_type {
        ChannelType::Reliable => (false, ReliabilityType::Reliable),
        ChannelType::ReliableUnordered => (true, ReliabilityType::Reliable),
        ChannelType::PartialReliableRexmit => (false, ReliabilityType::Rexmit),
        ChannelType::PartialReliableRexmitUnordered => (true, ReliabilityType::Rexmit),
        ChannelType::PartialReliableTimed => (false, ReliabilityType::Timed),
        ChannelType::PartialReliableTimedUnordered => (true, ReliabilityType::Timed),
    };
    stream.set_reliability_params(unordered, kind, config.reliability_parameter);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_message_kinds() {
        assert_eq!(
            message_of(b"hi", Ppi::String),
            Message::Text("hi".to_owned())
        );
        assert_eq!(
            message_of(&[0], Ppi::StringEmpty),
            Message::Text(String::new())
        );
        assert_eq!(
            message_of(&[0], Ppi::BinaryEmpty),
            Message::Binary(Bytes::new())
        );
        assert_eq!(
            message_of(&[1, 2], Ppi::Binary),
            Message::Binary(Bytes::from_static(&[1, 2]))
        );
    }
}
