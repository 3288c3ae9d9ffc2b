//! Errors, one enum per operation, split by cause.

/// A media file or stream could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Reading the file failed.
    #[error("reading the media file: {0}")]
    Io(#[from] std::io::Error),
    /// The container is malformed (bad signature, truncated header, bad length).
    #[error("malformed {container} data: {reason}")]
    Malformed {
        /// `IVF`, `Ogg`, `H.264 Annex-B`.
        container: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file holds a codec this source cannot carry.
    #[error("unsupported codec {0:?}")]
    UnsupportedCodec(String),
}

/// A frame could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing failed.
    #[error("writing the media file: {0}")]
    Io(#[from] std::io::Error),
    /// The frame cannot be stored in this container (too large, wrong codec).
    #[error("frame rejected: {0}")]
    Rejected(&'static str),
}

/// A frame could not be packetized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PacketizeError {
    /// The frame is empty.
    #[error("empty frame")]
    EmptyFrame,
    /// The payloader of the `rtp` crate refused the frame.
    #[error("payloader: {0}")]
    Payloader(#[from] rtp::Error),
    /// The configuration is invalid (MTU too small for the headers, bad extension id).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

/// An RTP packet from the network was dropped (counted in the receiver stats).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpDropReason {
    /// It does not parse as RTP.
    #[error("malformed RTP packet")]
    Malformed,
    /// Its SSRC is neither the media nor the RTX SSRC of this track.
    #[error("unknown SSRC {0:#010x}")]
    UnknownSsrc(u32),
    /// Its payload type is not the negotiated one (or its RTX).
    #[error("unexpected payload type {0}")]
    UnexpectedPayloadType(u8),
    /// An RTX packet too short to hold the original sequence number.
    #[error("RTX packet without original sequence number")]
    MalformedRtx,
    /// Already received (duplicate or late retransmission).
    #[error("duplicate packet")]
    Duplicate,
    /// Older than the frames already delivered.
    #[error("packet too old")]
    TooOld,
    /// So far ahead of the stream that it looks like garbage or a restart.
    #[error("sequence number jump too large")]
    TooFarAhead,
    /// An RTX packet that is only padding (libwebrtc probes bandwidth with them): valid, with
    /// nothing to play.
    #[error("padding-only RTX packet")]
    Padding,
}

/// An RTCP compound packet from the network was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpDropReason {
    /// It does not parse as RTCP.
    #[error("malformed RTCP packet")]
    Malformed,
}
