//! Fuzzing entry points (feature `fuzzing`): every frame a client can send, as the server reads
//! it, and every frame a server can send, as the client reads it.
//!
//! Each function takes untrusted text, runs the same parsing and validation the connection code
//! runs, and panics (which the fuzzer reports) only when an invariant breaks: a message that
//! parses must serialize back to a message that parses to the same thing, and no input may
//! panic. The fuzz targets in `fuzz/` are thin shims over these.

use std::time::Duration;

use crate::config::Limits;
use crate::conn::check_room;
use crate::protocol::{json_depth, ClientMessage, ServerMessage};
use crate::token::{RoomTokenKey, TokenError};

/// The room token secret the fuzz entry points verify tokens with (seed corpora sign with it).
pub const FUZZ_TOKEN_SECRET: [u8; 32] = [0x5a; 32];

/// "Now" for token checks, in unix seconds (fixed so that runs are reproducible).
pub const FUZZ_NOW: u64 = 1_800_000_000;

/// A client→server text frame as the server reads it: [`ClientMessage::from_json`], then the
/// checks the server makes on the parsed message before touching any room (room name, room
/// token, nesting depth of `data`), then a serialization round trip.
pub fn client_frame(text: &str) {
    let limits = Limits::default();
    let msg = match ClientMessage::from_json(text) {
        Ok(msg) => msg,
        Err(e) => {
            // The error text goes back to the client: it must be short, whatever the frame.
            let shown = e.to_string();
            assert!(
                shown.len() <= 300,
                "error text of {} bytes: {shown}",
                shown.len()
            );
            return;
        }
    };
    let json = msg.to_json();
    let again = ClientMessage::from_json(&json)
        .unwrap_or_else(|e| panic!("client frame does not survive a round trip: {e}\n{json}"));
    assert_eq!(again.to_json(), json, "client frame round trip changed it");
    match msg {
        ClientMessage::Join { room, token, .. } => {
            let room_ok = check_room(&room, limits.max_room_name).is_ok();
            if let Some(token) = token {
                token_checks(&room, &token, room_ok);
            }
        }
        ClientMessage::Signal { data, .. } => {
            let depth = json_depth(data.get());
            // Anything deeper than serde_json's own limit would not have parsed.
            assert!(depth <= 128 + 1, "depth {depth} of parsed data");
            let _ = depth > limits.max_data_depth;
        }
        ClientMessage::Resume { resume_token, .. } => {
            let _ = crate::token::digest(&resume_token);
        }
        _ => {}
    }
}

/// A room token as the server checks it, and the signing side: a token we sign for this room
/// verifies until its expiry and no longer.
fn token_checks(room: &str, token: &str, room_ok: bool) {
    let Ok(key) = RoomTokenKey::new(FUZZ_TOKEN_SECRET.to_vec()) else {
        unreachable!("32-byte secret")
    };
    let verdict = key.verify_at(room, token, FUZZ_NOW);
    let _ = key.verify_within(room, token, Duration::from_secs(3600));
    if verdict.is_ok() {
        // Only the canonical spelling is accepted: signing again gives the same text.
        let expiry: u64 = token
            .split('.')
            .nth(1)
            .and_then(|e| e.parse().ok())
            .unwrap_or_else(|| panic!("accepted token without an expiry: {token:?}"));
        assert_eq!(
            key.sign_until(room, expiry),
            token,
            "non-canonical token accepted"
        );
    }
    if room_ok {
        let signed = key.sign_until(room, FUZZ_NOW + 60);
        assert_eq!(key.verify_at(room, &signed, FUZZ_NOW), Ok(()));
        assert_eq!(
            key.verify_at(room, &signed, FUZZ_NOW + 60),
            Err(TokenError::Expired)
        );
    }
}

/// A server→client text frame as the client reads it: [`ServerMessage::from_json`], then a
/// serialization round trip.
pub fn server_frame(text: &str) {
    let Ok(msg) = ServerMessage::from_json(text) else {
        return;
    };
    let _ = msg.seq();
    if let ServerMessage::Error { code, .. } = &msg {
        let _ = code.close_code();
    }
    let json = msg.to_json();
    let again = ServerMessage::from_json(&json)
        .unwrap_or_else(|e| panic!("server frame does not survive a round trip: {e}\n{json}"));
    assert_eq!(again.to_json(), json, "server frame round trip changed it");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_accept_valid_and_invalid_frames() {
        let key = RoomTokenKey::new(FUZZ_TOKEN_SECRET.to_vec()).unwrap();
        let token = key.sign_until("room-1", FUZZ_NOW + 30);
        client_frame(&format!(
            r#"{{"type":"join","v":1,"room":"room-1","token":"{token}"}}"#
        ));
        client_frame(r#"{"type":"signal","to":"p1","data":{"a":[1,2]},"cseq":3}"#);
        client_frame(r#"{"type":"resume","v":1,"resume_token":"x","last_seq":0}"#);
        client_frame("[\"join\"]");
        client_frame("\u{0}");
        server_frame(r#"{"type":"pong","nonce":7}"#);
        server_frame(r#"{"type":"error","code":"room-full","message":"full"}"#);
        server_frame("{");
    }
}
