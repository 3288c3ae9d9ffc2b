//! Transceivers: one per audio/video m-section (W3C `RTCRtpTransceiver`).

use crate::sdp::{Codec, Direction, MediaKind};

/// Handle of a transceiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransceiverId(pub(crate) u32);

impl TransceiverId {
    /// The handle's number (creation order).
    pub fn index(self) -> u32 {
        self.0
    }
}

/// A transceiver's public state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transceiver {
    /// Handle.
    pub id: TransceiverId,
    /// Audio or video.
    pub kind: MediaKind,
    /// The m-section's mid, once negotiated (or offered).
    pub mid: Option<String>,
    /// Preferred direction (what the application wants).
    pub direction: Direction,
    /// Negotiated direction, from our point of view.
    pub current_direction: Option<Direction>,
    /// Stopped transceivers are rejected (port 0) in the next negotiation.
    pub stopped: bool,
    /// Our SSRC for sending (and the RTX SSRC for video).
    pub ssrc: u32,
    /// RTX SSRC (video).
    pub rtx_ssrc: Option<u32>,
    /// Media stream id for `a=msid`.
    pub stream_id: String,
    /// Track id for `a=msid`.
    pub track_id: String,
    /// Codecs negotiated for this m-section (remote payload types when we answered).
    pub codecs: Vec<Codec>,
    /// SSRCs the remote announced.
    pub remote_ssrcs: Vec<u32>,
    /// Created by a remote offer (not by the application).
    pub(crate) from_remote: bool,
    /// A `Track` event was fired for the current remote sender.
    pub(crate) track_fired: bool,
}

/// The direction we can answer with, given what we want and what the remote offered
/// (the remote's direction is from its own point of view).
pub fn answer_direction(ours: Direction, remote: Direction) -> Direction {
    let (we_send, we_recv) = (sends(ours), receives(ours));
    let send = we_send && receives(remote);
    let recv = we_recv && sends(remote);
    from_flags(send, recv)
}

/// Does this direction include sending?
pub fn sends(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::SendOnly)
}

/// Does this direction include receiving?
pub fn receives(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::RecvOnly)
}

/// The direction with these send/receive flags.
pub fn from_flags(send: bool, recv: bool) -> Direction {
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// The same direction seen from the other side.
pub fn reverse(d: Direction) -> Direction {
    from_flags(receives(d), sends(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    #[test]
    fn answer_direction_table() {
        assert_eq!(answer_direction(SendRecv, SendRecv), SendRecv);
        assert_eq!(answer_direction(SendRecv, SendOnly), RecvOnly);
        assert_eq!(answer_direction(SendRecv, RecvOnly), SendOnly);
        assert_eq!(answer_direction(SendRecv, Inactive), Inactive);
        assert_eq!(answer_direction(RecvOnly, SendRecv), RecvOnly);
        assert_eq!(answer_direction(SendOnly, SendRecv), SendOnly);
        assert_eq!(answer_direction(SendOnly, SendOnly), Inactive);
        assert_eq!(answer_direction(Inactive, SendRecv), Inactive);
    }

    #[test]
    fn reverse_is_involution() {
        for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
            assert_eq!(reverse(reverse(d)), d);
        }
        assert_eq!(reverse(SendOnly), RecvOnly);
    }
}
