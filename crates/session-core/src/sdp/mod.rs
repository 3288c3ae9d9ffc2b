//! SDP: parsing untrusted session descriptions into [`SessionDesc`] and writing ours.
//!
//! Parsing uses the `sdp` crate for the grammar and then validates what JSEP requires
//! (mids, ICE credentials, fingerprints, setup) with typed errors. Writing produces
//! descriptions that browsers (Chromium) accept.

pub mod codecs;
mod model;
mod parse;
mod write;

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

/// Fuzzing entry point: parses untrusted bytes and checks that what parses writes back to itself.
///
/// Runs [`parse`] on the lossy UTF-8 of `data`; when that succeeds, [`write`]s the result and
/// parses it again, panicking (which the fuzzer reports) if the second parse fails or differs.
#[cfg(feature = "fuzzing")]
pub fn fuzz_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(desc) = parse(&text) else {
        return;
    };
    let written = write(&desc);
    if written.len() > MAX_SDP_LEN {
        // Writing repeats session-level attributes per m-section and may outgrow the limit.
        return;
    }
    match parse(&written) {
        Ok(again) => assert_eq!(again, desc, "parse(write(d)) != d for:\n{written}"),
        Err(e) => panic!("parse(write(d)) failed: {e}\n{written}"),
    }
}

/// Largest SDP accepted, in bytes.
pub const MAX_SDP_LEN: usize = 256 * 1024;

#[cfg(all(test, feature = "fuzzing"))]
mod fuzz_tests {
    #[test]
    fn fuzz_parse_handles_valid_and_invalid_input() {
        super::fuzz_parse(b"");
        super::fuzz_parse(b"\xff\xfe garbage \x00");
        super::fuzz_parse(
            b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
              m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
              a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n\
              a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\r\n\
              a=setup:active\r\na=mid:d\r\na=sctp-port:5000\r\n",
        );
    }
}
