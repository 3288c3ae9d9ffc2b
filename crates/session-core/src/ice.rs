//! ICE credentials and generations: every set of local ICE credentials is a generation.

use std::fmt;

/// An ICE username fragment and password pair.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IceCredentials {
    /// `ice-ufrag` (4-256 ice-chars).
    pub ufrag: String,
    /// `ice-pwd` (22-256 ice-chars). Never logged.
    pub pwd: String,
}

impl fmt::Debug for IceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password is a secret: never print it.
        f.debug_struct("IceCredentials")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .finish()
    }
}

/// Is `c` an RFC 8839 `ice-char` (`ALPHA / DIGIT / "+" / "/"`)?
pub fn is_ice_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

impl IceCredentials {
    /// Do the ufrag and password have the lengths and characters RFC 8839 requires?
    pub fn is_valid(&self) -> bool {
        let ok = |s: &str, min: usize| (min..=256).contains(&s.len()) && s.chars().all(is_ice_char);
        ok(&self.ufrag, 4) && ok(&self.pwd, 22)
    }
}
