//! SDP: parsing untrusted session descriptions into [`SessionDesc`] and writing ours.
//!
//! Parsing uses the `sdp` crate for the grammar and then validates what JSEP requires
//! (mids, ICE credentials, fingerprints, setup) with typed errors. Writing produces
//! descriptions that browsers (Chromium) accept.

mod model;
mod parse;
mod write;
pub mod codecs;

pub use model::*;
pub use parse::parse;
pub use write::write;

/// Why a session description was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The text is not valid SDP.
    #[error("malformed SDP: {0}")]
    Syntax(String),
    /// The description is larger than [`MAX_SDP_LEN`].
    #[error("SDP too large: {0} bytes")]
    TooLarge(usize),
    /// An m-section has no `a=mid`.
    #[error("m-section {index} has no a=mid")]
    MissingMid {
        /// Index of the m-section.
        index: usize,
    },
    /// Two m-sections share a mid.
    #[error("duplicate mid {0:?}")]
    DuplicateMid(String),
    /// A mid is not 1-32 token characters.
    #[error("invalid mid {0:?}")]
    InvalidMid(String),
    /// An m-section has no ICE ufrag/pwd (neither media nor session level).
    #[error("m-section {mid:?} has no ICE credentials")]
    MissingIceCredentials {
        /// The mid.
        mid: String,
    },
    /// ICE ufrag/pwd present but not valid ice-chars of the required length.
    #[error("m-section {mid:?} has invalid ICE credentials")]
    InvalidIceCredentials {
        /// The mid.
        mid: String,
    },
    /// An m-section has no DTLS fingerprint.
    #[error("m-section {mid:?} has no DTLS fingerprint")]
    MissingFingerprint {
        /// The mid.
        mid: String,
    },
    /// A fingerprint is not `<hash> <hex:hex:...>` with a supported hash.
    #[error("invalid fingerprint {0:?}")]
    InvalidFingerprint(String),
    /// `a=setup` missing or not one of actpass/active/passive/holdconn.
    #[error("m-section {mid:?} has a missing or invalid a=setup")]
    InvalidSetup {
        /// The mid.
        mid: String,
    },
    /// A BUNDLE group names a mid that has no m-section.
    #[error("BUNDLE group names unknown mid {0:?}")]
    BundleUnknownMid(String),
    /// An unsupported media type or protocol.
    #[error("unsupported m-section {0:?}")]
    UnsupportedMedia(String),
    /// A candidate line inside the SDP is malformed.
    #[error("m-section {mid:?}: {source}")]
    Candidate {
        /// The mid.
        mid: String,
        /// What was wrong.
        source: crate::candidate::CandidateError,
    },
    /// Some other attribute has an invalid value.
    #[error("invalid attribute {0:?}")]
    InvalidAttribute(String),
}

/// Largest SDP accepted, in bytes.
pub const MAX_SDP_LEN: usize = 256 * 1024;
