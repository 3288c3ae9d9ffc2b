//! ICE candidate grammar (RFC 8839 section 5.1) with the de-facto extensions browsers send
//! (`ufrag`, `generation`, `network-id`, `network-cost`).
//!
//! Candidates are untrusted input: parsing never panics and fails with a [`CandidateError`].

use std::fmt;
use std::str::FromStr;

/// Transport protocol of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CandidateProtocol {
    /// UDP.
    Udp,
    /// TCP (RFC 6544).
    Tcp,
}

/// Candidate type (`typ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CandidateType {
    /// A local interface address.
    Host,
    /// Server reflexive (learned through STUN).
    ServerReflexive,
    /// Peer reflexive (learned from a connectivity check).
    PeerReflexive,
    /// Relayed through TURN.
    Relay,
}

/// TCP candidate type (`tcptype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcpType {
    /// `active`
    Active,
    /// `passive`
    Passive,
    /// `so` (simultaneous open)
    SimultaneousOpen,
}

/// One ICE candidate, as carried in `a=candidate:` lines and in trickle messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Foundation (1-32 ice-chars).
    pub foundation: String,
    /// Component id (1 = RTP; with rtcp-mux everything is 1).
    pub component: u16,
    /// Transport protocol.
    pub protocol: CandidateProtocol,
    /// Priority.
    pub priority: u32,
    /// Connection address: an IP literal or an mDNS host name.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Candidate type.
    pub typ: CandidateType,
    /// `raddr`, for reflexive and relayed candidates.
    pub related_address: Option<String>,
    /// `rport`, for reflexive and relayed candidates.
    pub related_port: Option<u16>,
    /// `tcptype`, for TCP candidates.
    pub tcp_type: Option<TcpType>,
    /// `ufrag` extension: the ICE generation this candidate belongs to.
    pub ufrag: Option<String>,
    /// `generation` extension (libwebrtc).
    pub generation: Option<u32>,
    /// `network-id` extension (libwebrtc).
    pub network_id: Option<u32>,
    /// `network-cost` extension (libwebrtc).
    pub network_cost: Option<u32>,
    /// Any other extension attributes, in order, preserved on serialization.
    pub extensions: Vec<(String, String)>,
}

/// Why a candidate line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CandidateError {
    /// The line does not start with `candidate:`.
    #[error("candidate does not start with `candidate:`")]
    MissingPrefix,
    /// A mandatory field is missing.
    #[error("candidate is missing the {0} field")]
    MissingField(&'static str),
    /// A field has an invalid value.
    #[error("candidate has an invalid {field}: {value:?}")]
    InvalidField {
        /// The field name.
        field: &'static str,
        /// The offending value (truncated to 64 bytes).
        value: String,
    },
    /// An extension name has no value.
    #[error("candidate extension {0:?} has no value")]
    DanglingExtension(String),
    /// The line is longer than [`Candidate::MAX_LEN`].
    #[error("candidate line is too long ({0} bytes)")]
    TooLong(usize),
}

impl Candidate {
    /// Longest candidate line accepted, in bytes.
    pub const MAX_LEN: usize = 1024;
}

impl FromStr for Candidate {
    type Err = CandidateError;

    /// Parses `candidate:...`, with or without a leading `a=`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_candidate(s)
    }
}

impl fmt::Display for Candidate {
    /// Writes `candidate:...` (without `a=`), extensions included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_candidate(self, f)
    }
}

fn parse_candidate(_s: &str) -> Result<Candidate, CandidateError> {
    Err(CandidateError::MissingPrefix) // HELPER: implement
}

fn write_candidate(_c: &Candidate, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
    Ok(()) // HELPER: implement
}
