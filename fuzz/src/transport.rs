//! transport-tokio: what arrives on an ICE path (RFC 7983 demultiplexing, SRTP/SRTCP
//! unprotection and routing, DTLS), DCEP, and the SCTP association's incoming streams.

/// Datagrams read on an ICE path: `[options] ([flags] [u16 length] [datagram])*`, classified
/// by their first byte and handed where the reader hands them: DTLS to a DTLS server, SRTP
/// and SRTCP (optionally sealed with the peer's keys first) to the unprotect-parse-route path
/// (`transport_tokio::fuzzing::demux`).
pub fn demux(data: &[u8]) {
    transport_tokio::fuzzing::demux(data);
}

/// A DCEP message as the first message of a stream the peer started: an accepted
/// `DATA_CHANNEL_OPEN` re-encodes to the same settings (`transport_tokio::fuzzing::dcep`).
pub fn dcep(data: &[u8]) {
    transport_tokio::fuzzing::dcep(data);
}

/// An SCTP association after a real handshake, driven by a peer association and forged
/// packets (`transport_tokio::fuzzing::sctp_plane`).
pub fn sctp_plane(data: &[u8]) {
    transport_tokio::fuzzing::sctp_plane(data);
}
