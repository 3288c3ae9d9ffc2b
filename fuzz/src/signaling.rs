//! signaling-ws: WebSocket text frames in both directions.

/// A client→server frame (join, resume, signal, ack, ping, bye; room tokens) as the server
/// reads it (`signaling_ws::fuzzing::client_frame`).
pub fn ws_client_frame(data: &[u8]) {
    // WebSocket text frames are UTF-8 (tungstenite rejects the rest before we see them).
    if let Ok(text) = std::str::from_utf8(data) {
        signaling_ws::fuzzing::client_frame(text);
    }
}

/// A server→client frame as the client reads it (`signaling_ws::fuzzing::server_frame`).
pub fn ws_server_frame(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        signaling_ws::fuzzing::server_frame(text);
    }
}
