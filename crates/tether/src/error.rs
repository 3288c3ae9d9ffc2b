//! [`CliError`]: why a `tether` command failed, and the exit code that says so.

use signaling_ws::{ClientError, ErrorCode};

/// Why a command failed. Each cause has its own exit code ([`CliError::exit_code`]), so
/// scripts can tell a typo from a full room.
///
/// | exit code | cause |
/// |---|---|
/// | 0 | success |
/// | 1 | [`Failed`](Self::Failed): anything else (e.g. a demo step) |
/// | 2 | usage: a missing or malformed argument (printed by the argument parser) |
/// | 3 | [`BadInput`](Self::BadInput): the signaling URL or the room name is malformed |
/// | 4 | [`Unreachable`](Self::Unreachable): the signaling server cannot be reached (refused, timeout, TLS) |
/// | 5 | [`RoomFull`](Self::RoomFull): the room already has its maximum number of peers |
/// | 6 | [`BadToken`](Self::BadToken): the server refused the room token (missing, wrongly signed, expired) |
/// | 7 | [`ConnectionFailed`](Self::ConnectionFailed): the peer connection failed (ICE, DTLS, SCTP) |
/// | 8 | [`Config`](Self::Config): a local setting is unusable (address in use, unreadable secret, TLS or data files, an ICE server the agent cannot use) |
/// | 9 | [`DataMismatch`](Self::DataMismatch): a file sent with `--send-data` arrived different (size or SHA-256) |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The signaling URL or the room name is malformed.
    #[error("{0}")]
    BadInput(String),
    /// The signaling server cannot be reached.
    #[error("cannot reach the signaling server at {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The room is full.
    #[error("room {room:?} is full: {message}")]
    RoomFull {
        /// The room.
        room: String,
        /// The server's message.
        message: String,
    },
    /// The server refused the room token.
    #[error("the server refused the room token for {room:?} ({code}): {message}")]
    BadToken {
        /// The room.
        room: String,
        /// `invalid-token` or `token-expired`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The peer connection failed.
    #[error("the connection failed: {0}")]
    ConnectionFailed(String),
    /// A local setting is unusable.
    #[error("{0}")]
    Config(String),
    /// A transferred file's size or SHA-256 differs between the two ends.
    #[error("data mismatch: {0}")]
    DataMismatch(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error (see the table on [`CliError`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed(_) => 1,
            CliError::BadInput(_) => 3,
            CliError::Unreachable { .. } => 4,
            CliError::RoomFull { .. } => 5,
            CliError::BadToken { .. } => 6,
            CliError::ConnectionFailed(_) => 7,
            CliError::Config(_) => 8,
            CliError::DataMismatch(_) => 9,
        }
    }

    /// Classifies a failed join of `room` at `url`.
    pub fn from_join(url: &str, room: &str, e: ClientError) -> Self {
        match e {
            ClientError::Refused { code, message } => match code {
                ErrorCode::RoomFull => CliError::RoomFull {
                    room: room.to_owned(),
                    message,
                },
                ErrorCode::InvalidToken | ErrorCode::TokenExpired => CliError::BadToken {
                    room: room.to_owned(),
                    code: code.to_string(),
                    message,
                },
                ErrorCode::InvalidRoom => {
                    CliError::BadInput(format!("bad room name {room:?}: {message}"))
                }
                code => CliError::Failed(format!(
                    "the server refused to let us join {room:?} ({code}): {message}"
                )),
            },
            ClientError::Connect(_)
            | ClientError::Tls(_)
            | ClientError::TlsSetup(_)
            | ClientError::Timeout => CliError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            },
            other => CliError::Failed(format!("cannot join room {room:?} at {url}: {other}")),
        }
    }
}

/// Checks that `url` looks like a signaling URL: `ws://HOST[:PORT]/PATH` or `wss://...`.
pub fn check_ws_url(url: &str) -> Result<(), CliError> {
    let bad = |why: &str| {
        CliError::BadInput(format!(
            "bad signaling URL {url:?}: {why} (expected e.g. ws://127.0.0.1:8080/ws)"
        ))
    };
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| bad("the scheme must be ws:// or wss://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains white space"));
    }
    if let Some((_, port)) = authority.rsplit_once(':') {
        // An IPv6 literal without a port ends in `]`.
        if !port.ends_with(']') && port.parse::<u16>().is_err() {
            return Err(bad("the port is not a number from 0 to 65535"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "ws://127.0.0.1:8080/ws",
            "wss://example.org/ws",
            "ws://[::1]:80/ws",
            "ws://[::1]/ws",
            "ws://localhost",
        ] {
            assert!(check_ws_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1/ws",
            "not a url",
            "ws://",
            "ws:///ws",
            "ws://host:port/ws",
            "ws://host:99999/ws",
            "ws://a b/ws",
        ] {
            let e = check_ws_url(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 3, "{bad}");
        }
    }
}
