//! [`SessionDesc`] to SDP text.

use super::SessionDesc;

/// Writes a JSEP session description (CRLF line endings).
pub fn write(_desc: &SessionDesc) -> String {
    String::new() // HELPER: implement
}
