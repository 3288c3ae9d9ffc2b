//! `tether token`: fresh room names, optionally with an HMAC-signed room token.

use std::path::Path;
use std::time::Duration;

use signaling_ws::{random_room_name, RoomTokenKey};

/// What `tether token` prints: the room, and its signed token when a secret was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOutput {
    /// The room name (128 random bits, 32 lowercase hex digits, unless given).
    pub room: String,
    /// `v1.<expiry>.<hex mac>` when signed.
    pub token: Option<String>,
}

impl std::fmt::Display for TokenOutput {
    /// One line per value: the room, then the token if any.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.room)?;
        if let Some(token) = &self.token {
            write!(f, "\n{token}")?;
        }
        Ok(())
    }
}

/// A fresh unguessable room name.
pub fn room_token() -> TokenOutput {
    TokenOutput {
        room: random_room_name(),
        token: None,
    }
}

/// Reads a server secret from a file (trailing whitespace and newlines are not part of it).
pub fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut secret =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    while secret.last().is_some_and(|b| b.is_ascii_whitespace()) {
        secret.pop();
    }
    Ok(secret)
}

/// A room (fresh unless given) and a token for it signed with `secret`, valid for `ttl`.
pub fn signed_room_token(
    secret: Vec<u8>,
    room: Option<String>,
    ttl: Duration,
) -> Result<TokenOutput, String> {
    let key = RoomTokenKey::new(secret).map_err(|e| format!("bad secret: {e}"))?;
    let room = room.unwrap_or_else(random_room_name);
    let token = key.sign(&room, ttl);
    Ok(TokenOutput {
        room,
        token: Some(token),
    })
}
