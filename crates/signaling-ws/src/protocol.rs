//! The wire protocol: JSON text frames, one message per frame, documented in
//! `docs/signaling-protocol.md`.
//!
//! Every message is an object with a string field `type`. Client messages are parsed leniently
//! about unknown *fields* (ignored, for forward compatibility) and strictly about unknown *types*
//! and missing fields (answered with an [`ErrorCode`]). The `data` of a signal is carried as raw
//! JSON text ([`RawValue`]): the server never parses, rewrites or logs it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The protocol version this crate speaks; `join` and `resume` carry it in their `v` field.
pub const PROTOCOL_VERSION: u32 = 1;

/// A peer id, assigned by the server when a peer joins (never chosen by the client).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub String);

impl PeerId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message from a client to the server.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// Enter a room. Answered by `joined`, or an error.
    Join {
        /// Protocol version; must be [`PROTOCOL_VERSION`].
        v: u32,
        /// The room name: the unguessable token the caller created.
        room: String,
        /// A signed room token, when the server requires one.
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Take over a suspended (or still attached) peer after a reconnect.
    Resume {
        /// Protocol version; must be [`PROTOCOL_VERSION`].
        v: u32,
        /// The secret from `joined` (or the last `resumed`).
        resume_token: String,
        /// The highest `seq` the client has processed (0 when none).
        last_seq: u64,
    },
    /// Relay `data` to the peer `to` in the same room.
    Signal {
        /// The recipient.
        to: PeerId,
        /// Opaque JSON, delivered byte for byte.
        data: Box<RawValue>,
        /// The sender's own number for this signal (1, 2, 3, ... per peer; 0 or absent: not
        /// numbered). The server relays each numbered signal once, drops a repeat, and reports
        /// the highest one it accepted in `resumed` and `accepted`, so a client can re-send
        /// exactly what a lost connection swallowed.
        #[serde(skip_serializing_if = "is_zero")]
        cseq: u64,
    },
    /// Acknowledge every message up to `seq`; lets the server free its resume buffer early.
    Ack {
        /// The highest `seq` processed.
        seq: u64,
    },
    /// Application-level ping; answered by `pong` with the same `nonce`.
    Ping {
        /// Echoed in the `pong`.
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// Leave the room for good (no resume).
    Bye,
}

impl ClientMessage {
    /// Serializes the message to its JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: keys are strings, no maps with non-string keys.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one text frame; the error says what is wrong in terms of the protocol.
    pub fn from_json(text: &str) -> Result<Self, ProtocolError> {
        must_be_object(text)?;
        let wire: WireClient<'_> = serde_json::from_str(text).map_err(bad_json)?;
        let missing = |field: &'static str| ProtocolError::MissingField {
            kind: wire.kind.to_owned(),
            field,
        };
        Ok(match wire.kind {
            "join" => ClientMessage::Join {
                v: wire.v.ok_or_else(|| missing("v"))?,
                room: wire.room.ok_or_else(|| missing("room"))?,
                token: wire.token,
            },
            "resume" => ClientMessage::Resume {
                v: wire.v.ok_or_else(|| missing("v"))?,
                resume_token: wire.resume_token.ok_or_else(|| missing("resume_token"))?,
                last_seq: wire.last_seq.ok_or_else(|| missing("last_seq"))?,
            },
            "signal" => ClientMessage::Signal {
                to: wire.to.ok_or_else(|| missing("to"))?,
                data: wire.data.ok_or_else(|| missing("data"))?,
                cseq: wire.cseq.unwrap_or(0),
            },
            "ack" => ClientMessage::Ack {
                seq: wire.seq.ok_or_else(|| missing("seq"))?,
            },
            "ping" => ClientMessage::Ping { nonce: wire.nonce },
            "bye" => ClientMessage::Bye,
            other => return Err(ProtocolError::UnknownType(truncate(other, 64))),
        })
    }
}

/// A peer in a roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's id.
    pub id: PeerId,
    /// Whether the peer is suspended (its connection dropped; it may resume).
    #[serde(default)]
    pub suspended: bool,
}

/// A message from the server to a client.
///
/// Messages that carry a `seq` are numbered per recipient (1, 2, 3, ...) and kept for resume.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// The answer to `join`.
    Joined {
        /// Protocol version.
        v: u32,
        /// The id the server assigned to this peer.
        peer_id: PeerId,
        /// The secret to resume this peer after a drop; never share it.
        resume_token: String,
        /// The other peers in the room.
        peers: Vec<PeerInfo>,
        /// The grace window, in milliseconds, within which a dropped peer can resume.
        grace_ms: u64,
    },
    /// The answer to a successful `resume`: a fresh roster; missed messages follow in order.
    Resumed {
        /// Protocol version.
        v: u32,
        /// This peer's id (unchanged).
        peer_id: PeerId,
        /// A new resume secret; the previous one is no longer valid.
        resume_token: String,
        /// The other peers in the room, as of now.
        peers: Vec<PeerInfo>,
        /// How many missed messages follow.
        replayed: u64,
        /// The highest `cseq` of this peer's signals the server accepted (0 when none): the
        /// client re-sends its later ones.
        #[serde(default)]
        last_cseq: u64,
    },
    /// A peer entered the room.
    PeerJoined {
        /// Per-recipient sequence number.
        seq: u64,
        /// The peer.
        peer_id: PeerId,
    },
    /// A peer left the room (bye, or its grace window expired).
    PeerLeft {
        /// Per-recipient sequence number.
        seq: u64,
        /// The peer.
        peer_id: PeerId,
    },
    /// A peer's connection dropped; it may come back within the grace window.
    PeerSuspended {
        /// Per-recipient sequence number.
        seq: u64,
        /// The peer.
        peer_id: PeerId,
    },
    /// A suspended peer came back.
    PeerResumed {
        /// Per-recipient sequence number.
        seq: u64,
        /// The peer.
        peer_id: PeerId,
    },
    /// A relayed signal; `from` is stamped by the server.
    Signal {
        /// Per-recipient sequence number.
        seq: u64,
        /// The sender, as the server knows it.
        from: PeerId,
        /// The sender's `data`, byte for byte.
        data: Box<RawValue>,
    },
    /// The server accepted every numbered signal of this peer up to `cseq` (sent after every
    /// 32nd numbered signal, so the client can forget them).
    Accepted {
        /// The highest accepted `cseq`.
        cseq: u64,
    },
    /// The answer to `ping`.
    Pong {
        /// The ping's nonce.
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// Something went wrong; see [`ErrorCode`] for which errors also close the connection.
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable detail (never contains message bodies).
        message: String,
    },
}

impl ServerMessage {
    /// Serializes the message to its JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The per-recipient sequence number, for messages that have one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ServerMessage::PeerJoined { seq, .. }
            | ServerMessage::PeerLeft { seq, .. }
            | ServerMessage::PeerSuspended { seq, .. }
            | ServerMessage::PeerResumed { seq, .. }
            | ServerMessage::Signal { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// Parses one text frame from the server.
    pub fn from_json(text: &str) -> Result<Self, ProtocolError> {
        must_be_object(text)?;
        let w: WireServer<'_> = serde_json::from_str(text).map_err(bad_json)?;
        let missing = |field: &'static str| ProtocolError::MissingField {
            kind: w.kind.to_owned(),
            field,
        };
        let seq = || w.seq.ok_or_else(|| missing("seq"));
        let peer_id = || w.peer_id.clone().ok_or_else(|| missing("peer_id"));
        Ok(match w.kind {
            "joined" => ServerMessage::Joined {
                v: w.v.ok_or_else(|| missing("v"))?,
                peer_id: peer_id()?,
                resume_token: w
                    .resume_token
                    .clone()
                    .ok_or_else(|| missing("resume_token"))?,
                peers: w.peers.clone().ok_or_else(|| missing("peers"))?,
                grace_ms: w.grace_ms.unwrap_or(0),
            },
            "resumed" => ServerMessage::Resumed {
                v: w.v.ok_or_else(|| missing("v"))?,
                peer_id: peer_id()?,
                resume_token: w
                    .resume_token
                    .clone()
                    .ok_or_else(|| missing("resume_token"))?,
                peers: w.peers.clone().ok_or_else(|| missing("peers"))?,
                replayed: w.replayed.unwrap_or(0),
                last_cseq: w.last_cseq.unwrap_or(0),
            },
            "peer-joined" => ServerMessage::PeerJoined {
                seq: seq()?,
                peer_id: peer_id()?,
            },
            "peer-left" => ServerMessage::PeerLeft {
                seq: seq()?,
                peer_id: peer_id()?,
            },
            "peer-suspended" => ServerMessage::PeerSuspended {
                seq: seq()?,
                peer_id: peer_id()?,
            },
            "peer-resumed" => ServerMessage::PeerResumed {
                seq: seq()?,
                peer_id: peer_id()?,
            },
            "signal" => ServerMessage::Signal {
                seq: seq()?,
                from: w.from.clone().ok_or_else(|| missing("from"))?,
                data: w.data.ok_or_else(|| missing("data"))?,
            },
            "pong" => ServerMessage::Pong { nonce: w.nonce },
            "accepted" => ServerMessage::Accepted {
                cseq: w.cseq.ok_or_else(|| missing("cseq"))?,
            },
            "error" => ServerMessage::Error {
                code: w
                    .code
                    .as_deref()
                    .map(ErrorCode::parse)
                    .ok_or_else(|| missing("code"))?,
                message: w.message.clone().unwrap_or_default(),
            },
            other => return Err(ProtocolError::UnknownType(truncate(other, 64))),
        })
    }
}

/// Why a frame could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not JSON, or not an object with a string `type`.
    #[error("not a protocol message: {0}")]
    BadJson(String),
    /// The `type` is not one this version knows.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// A required field is absent.
    #[error("`{kind}` is missing the field `{field}`")]
    MissingField {
        /// The message type.
        kind: String,
        /// The field.
        field: &'static str,
    },
}

/// The machine-readable code of an `error` message.
///
/// Errors marked *closes* are followed by a close frame with the matching [`CloseCode`];
/// the others leave the connection open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame was not JSON or lacked a field.
    BadMessage,
    /// The `type` is unknown.
    UnknownType,
    /// A binary frame was received; the protocol is text only.
    BinaryUnsupported,
    /// The `v` of `join`/`resume` is not supported. *Closes* (4002).
    UnsupportedVersion,
    /// The room name is empty, too long, or has characters outside `[A-Za-z0-9._~-]`.
    InvalidRoom,
    /// The room token is missing, malformed, or its signature is wrong. *Closes* (4003).
    InvalidToken,
    /// The room token has expired. *Closes* (4003).
    TokenExpired,
    /// The room has reached its peer limit. *Closes* (4004).
    RoomFull,
    /// `signal`/`ack` before `join`, or `join` twice.
    NotJoined,
    /// `join` or `resume` on a connection that already has a peer.
    AlreadyJoined,
    /// The `to` of a signal is not in the sender's room.
    UnknownPeer,
    /// The connection sends faster than its rate; the message was dropped.
    RateLimited,
    /// The resume token is unknown or its grace window expired: join again.
    ResumeUnknown,
    /// The messages after `last_seq` are no longer all kept: join again.
    ResumeGap,
    /// The shared backend (Redis) cannot be reached. *Closes* (4013); reconnect later or
    /// elsewhere and resume.
    Unavailable,
    /// A code this version does not know (from a newer server).
    Other,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad-message",
            ErrorCode::UnknownType => "unknown-type",
            ErrorCode::BinaryUnsupported => "binary-unsupported",
            ErrorCode::UnsupportedVersion => "unsupported-version",
            ErrorCode::InvalidRoom => "invalid-room",
            ErrorCode::InvalidToken => "invalid-token",
            ErrorCode::TokenExpired => "token-expired",
            ErrorCode::RoomFull => "room-full",
            ErrorCode::NotJoined => "not-joined",
            ErrorCode::AlreadyJoined => "already-joined",
            ErrorCode::UnknownPeer => "unknown-peer",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::ResumeUnknown => "resume-unknown",
            ErrorCode::ResumeGap => "resume-gap",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Other => "other",
        }
    }

    /// The code for a wire string; unknown strings map to [`ErrorCode::Other`].
    pub fn parse(s: &str) -> Self {
        const ALL: [ErrorCode; 15] = [
            ErrorCode::BadMessage,
            ErrorCode::UnknownType,
            ErrorCode::BinaryUnsupported,
            ErrorCode::UnsupportedVersion,
            ErrorCode::InvalidRoom,
            ErrorCode::InvalidToken,
            ErrorCode::TokenExpired,
            ErrorCode::RoomFull,
            ErrorCode::NotJoined,
            ErrorCode::AlreadyJoined,
            ErrorCode::UnknownPeer,
            ErrorCode::RateLimited,
            ErrorCode::ResumeUnknown,
            ErrorCode::ResumeGap,
            ErrorCode::Unavailable,
        ];
        ALL.into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(ErrorCode::Other)
    }

    /// The close code that follows this error, when it ends the connection.
    pub fn close_code(self) -> Option<CloseCode> {
        match self {
            ErrorCode::UnsupportedVersion => Some(CloseCode::UnsupportedVersion),
            ErrorCode::InvalidToken | ErrorCode::TokenExpired => Some(CloseCode::Unauthorized),
            ErrorCode::RoomFull => Some(CloseCode::RoomFull),
            ErrorCode::Unavailable => Some(CloseCode::Unavailable),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// WebSocket close codes the server uses (RFC 6455 section 7.4; 4000-4999 are ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: after `bye`.
    Normal,
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1009: a frame exceeded the maximum message size.
    TooBig,
    /// 4001: no `join`/`resume` within the join deadline.
    JoinTimeout,
    /// 4002: unsupported protocol version.
    UnsupportedVersion,
    /// 4003: invalid or expired room token.
    Unauthorized,
    /// 4004: the room is full.
    RoomFull,
    /// 4008: the connection kept sending beyond its rate.
    RateLimited,
    /// 4009: the peer was resumed on another connection.
    Replaced,
    /// 4010: the outbound queue overflowed (slow consumer); the peer is suspended and may resume.
    SlowConsumer,
    /// 4011: no pong within the liveness deadline.
    LivenessTimeout,
    /// 4012: the peer's resume buffer overflowed while suspended; the peer was removed.
    Evicted,
    /// 4013: the shared backend (Redis) cannot be reached; the peer may resume later or on
    /// another server process.
    Unavailable,
    /// 1002: a WebSocket protocol violation (bad framing, reserved bits, unmasked frames).
    ProtocolViolation,
    /// 1007: a text frame that is not valid UTF-8.
    InvalidUtf8,
}

impl CloseCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::TooBig => 1009,
            CloseCode::JoinTimeout => 4001,
            CloseCode::UnsupportedVersion => 4002,
            CloseCode::Unauthorized => 4003,
            CloseCode::RoomFull => 4004,
            CloseCode::RateLimited => 4008,
            CloseCode::Replaced => 4009,
            CloseCode::SlowConsumer => 4010,
            CloseCode::LivenessTimeout => 4011,
            CloseCode::Evicted => 4012,
            CloseCode::Unavailable => 4013,
            CloseCode::ProtocolViolation => 1002,
            CloseCode::InvalidUtf8 => 1007,
        }
    }

    /// The short reason sent in the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "bye",
            CloseCode::GoingAway => "server shutting down: reconnect and resume",
            CloseCode::TooBig => "message too big",
            CloseCode::JoinTimeout => "join deadline passed",
            CloseCode::UnsupportedVersion => "unsupported protocol version",
            CloseCode::Unauthorized => "invalid room token",
            CloseCode::RoomFull => "room full",
            CloseCode::RateLimited => "rate limit exceeded",
            CloseCode::Replaced => "resumed on another connection",
            CloseCode::SlowConsumer => "slow consumer",
            CloseCode::LivenessTimeout => "liveness timeout",
            CloseCode::Evicted => "resume buffer overflow",
            CloseCode::Unavailable => "backend unavailable",
            CloseCode::ProtocolViolation => "protocol error",
            CloseCode::InvalidUtf8 => "invalid utf-8",
        }
    }
}

/// Every message is a JSON object: serde would also read a struct from an array of its
/// fields in order (`["join", 1, "room"]`), which is not the protocol.
fn must_be_object(text: &str) -> Result<(), ProtocolError> {
    if text.trim_start().starts_with('{') {
        Ok(())
    } else {
        Err(ProtocolError::BadJson(
            "a message is a JSON object".to_owned(),
        ))
    }
}

/// The deepest nesting of arrays and objects in a JSON text (0 for a scalar); strings are
/// skipped, escapes included. Linear in the text, no recursion.
pub(crate) fn json_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Flat view of a client frame: every field optional, so a missing field is reported by name.
#[derive(Deserialize)]
struct WireClient<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    v: Option<u32>,
    room: Option<String>,
    token: Option<String>,
    resume_token: Option<String>,
    last_seq: Option<u64>,
    to: Option<PeerId>,
    data: Option<Box<RawValue>>,
    seq: Option<u64>,
    nonce: Option<u64>,
    cseq: Option<u64>,
}

/// Flat view of a server frame.
#[derive(Deserialize)]
struct WireServer<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    v: Option<u32>,
    seq: Option<u64>,
    peer_id: Option<PeerId>,
    resume_token: Option<String>,
    peers: Option<Vec<PeerInfo>>,
    grace_ms: Option<u64>,
    replayed: Option<u64>,
    last_cseq: Option<u64>,
    cseq: Option<u64>,
    from: Option<PeerId>,
    data: Option<Box<RawValue>>,
    nonce: Option<u64>,
    code: Option<String>,
    message: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Longest parser message kept in [`ProtocolError::BadJson`], in bytes: the server sends it back
/// to the client, and serde's message quotes the offending value (escaped, so up to six bytes
/// per input byte).
const MAX_JSON_ERROR: usize = 200;

fn bad_json(e: serde_json::Error) -> ProtocolError {
    ProtocolError::BadJson(truncate(&e.to_string(), MAX_JSON_ERROR))
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_round_trip() {
        let data = RawValue::from_string(r#"{"type":"bye"}"#.to_owned()).unwrap();
        let msgs = [
            ClientMessage::Join {
                v: 1,
                room: "r".into(),
                token: None,
            },
            ClientMessage::Resume {
                v: 1,
                resume_token: "t".into(),
                last_seq: 3,
            },
            ClientMessage::Signal {
                to: PeerId("p".into()),
                data,
                cseq: 12,
            },
            ClientMessage::Ack { seq: 9 },
            ClientMessage::Ping { nonce: Some(4) },
            ClientMessage::Bye,
        ];
        for m in msgs {
            let text = m.to_json();
            let back = ClientMessage::from_json(&text).unwrap();
            assert_eq!(back.to_json(), text);
        }
    }

    #[test]
    fn signal_data_is_kept_byte_for_byte() {
        let text = r#"{"type":"signal","to":"p1","data":{"b": 1,  "a":[1, 2]}}"#;
        let ClientMessage::Signal { data, .. } = ClientMessage::from_json(text).unwrap() else {
            panic!("not a signal");
        };
        assert_eq!(data.get(), r#"{"b": 1,  "a":[1, 2]}"#);
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(
            ClientMessage::from_json("nope"),
            Err(ProtocolError::BadJson(_))
        ));
        assert_eq!(
            ClientMessage::from_json(r#"{"type":"signal","data":1}"#).err(),
            Some(ProtocolError::MissingField {
                kind: "signal".into(),
                field: "to"
            })
        );
        assert_eq!(
            ClientMessage::from_json(r#"{"type":"dance"}"#).err(),
            Some(ProtocolError::UnknownType("dance".into()))
        );
    }

    #[test]
    fn server_messages_round_trip() {
        let m = ServerMessage::Error {
            code: ErrorCode::RoomFull,
            message: "full".into(),
        };
        let text = m.to_json();
        assert_eq!(
            text,
            r#"{"type":"error","code":"room-full","message":"full"}"#
        );
        assert!(matches!(
            ServerMessage::from_json(&text).unwrap(),
            ServerMessage::Error {
                code: ErrorCode::RoomFull,
                ..
            }
        ));
        let s = ServerMessage::Signal {
            seq: 2,
            from: PeerId("a".into()),
            data: RawValue::from_string("[1]".into()).unwrap(),
        };
        assert_eq!(
            ServerMessage::from_json(&s.to_json()).unwrap().seq(),
            Some(2)
        );
    }

    /// Found by the `ws_client_frame` fuzz target: serde's message quotes a bad `type` with
    /// every control character escaped, so the error the server sent back was up to six times
    /// the frame. It is bounded now.
    #[test]
    fn parser_errors_are_bounded() {
        let frame = format!(r#"{{"type":"{}\tg"}}"#, "\u{7f}".repeat(5_000));
        let Err(e) = ClientMessage::from_json(&frame) else {
            panic!("not a message")
        };
        assert!(
            e.to_string().len() <= MAX_JSON_ERROR + 64,
            "{}",
            e.to_string().len()
        );
        let Err(e) = ServerMessage::from_json(&frame) else {
            panic!("not a message")
        };
        assert!(e.to_string().len() <= MAX_JSON_ERROR + 64);
    }

    #[test]
    fn arrays_are_not_messages() {
        assert!(ClientMessage::from_json(r#"["join", 1, "room"]"#).is_err());
        assert!(ClientMessage::from_json(r#" {"type":"ping"}"#).is_ok());
        assert!(ServerMessage::from_json(r#"["pong"]"#).is_err());
    }

    #[test]
    fn depth_of_json() {
        assert_eq!(json_depth("1"), 0);
        assert_eq!(json_depth(r#"{"a":[1,{"b":2}]}"#), 3);
        assert_eq!(json_depth(r#"["[[[[", "\\\"{{"]"#), 1);
        assert_eq!(json_depth(&"[".repeat(100)), 100);
    }
}
