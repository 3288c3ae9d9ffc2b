//! Per-track counters.

/// Counters of the send side of a track.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SenderStats {
    /// RTP packets sent (first transmissions).
    pub packets_sent: u64,
    /// Payload bytes sent (first transmissions).
    pub payload_bytes_sent: u64,
    /// Frames sent.
    pub frames_sent: u64,
    /// Keyframes sent.
    pub keyframes_sent: u64,
    /// NACK packets received about this track.
    pub nacks_received: u64,
    /// Packets resent (as they were, or as RTX).
    pub retransmitted_packets: u64,
    /// Payload bytes resent.
    pub retransmitted_bytes: u64,
    /// NACKed packets no longer in the history.
    pub nacked_packets_missing: u64,
    /// NACKed packets not resent: resent too recently, or the resend queue was full.
    pub resends_refused: u64,
    /// PLIs received.
    pub plis_received: u64,
    /// FIRs received.
    pub firs_received: u64,
    /// Fraction lost from the last receiver report (n/256).
    pub remote_fraction_lost: u8,
    /// Cumulative loss from the last receiver report.
    pub remote_total_lost: u32,
    /// Interarrival jitter from the last receiver report (RTP clock units).
    pub remote_jitter: u32,
    /// Round-trip time from the last receiver report that referred to one of our sender
    /// reports (RFC 3550 6.4.1).
    pub rtt: Option<std::time::Duration>,
}

/// Counters of the receive side of a track.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// Distinct RTP packets received for this track (including recovered retransmissions).
    pub packets_received: u64,
    /// Payload bytes of those packets.
    pub payload_bytes_received: u64,
    /// Packets that arrived through a retransmission (RTX or resent) and filled a gap.
    pub packets_recovered: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets never received (expected minus received, RFC 3550 cumulative loss).
    pub packets_lost: i64,
    /// Interarrival jitter (RFC 3550 A.8), in RTP clock units.
    pub jitter: f64,
    /// Complete frames delivered to the application.
    pub frames_delivered: u64,
    /// Keyframes delivered.
    pub keyframes_delivered: u64,
    /// Gaps given up on after waiting for retransmissions (each may cover several frames).
    pub frames_lost: u64,
    /// Complete frames dropped while waiting for a keyframe.
    pub frames_dropped_waiting_keyframe: u64,
    /// Frames whose payload could not be depacketized.
    pub frames_malformed: u64,
    /// NACK packets sent.
    pub nacks_sent: u64,
    /// Sequence numbers requested in NACKs (retries included).
    pub nacked_packets: u64,
    /// Missing packets given up on after the NACK retry limit.
    pub nack_give_ups: u64,
    /// PLIs sent.
    pub plis_sent: u64,
    /// Receiver reports sent.
    pub receiver_reports_sent: u64,
    /// RTP packets dropped as malformed.
    pub malformed_rtp: u64,
    /// RTCP packets dropped as malformed.
    pub malformed_rtcp: u64,
    /// RTP packets dropped for another reason (unknown SSRC/PT, too old, too far ahead).
    pub rtp_dropped: u64,
    /// Padding-only RTX packets (bandwidth probes) received and dropped.
    pub padding_packets: u64,
}
