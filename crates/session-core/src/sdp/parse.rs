//! SDP text to [`SessionDesc`].

use super::{SdpError, SessionDesc};

/// Parses and validates an SDP (untrusted input: never panics).
pub fn parse(_sdp: &str) -> Result<SessionDesc, SdpError> {
    Err(SdpError::Syntax("not implemented".into())) // HELPER: implement
}
