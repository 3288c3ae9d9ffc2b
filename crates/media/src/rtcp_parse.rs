//! RTCP compound packets from the wire, checked before the `rtcp` crate parses them.
//!
//! `rtcp::packet::unmarshal` (0.17) trusts some length fields: a NACK whose length leaves no
//! room for its two SSRCs, for one, makes it read past the packet and panic (found by the `rtcp`
//! fuzz target). [`parse_rtcp`] walks the compound packet first and rejects every packet too
//! short for what its type and count announce, so the crate only sees packets it can read.

use bytes::Bytes;
use rtcp::packet::Packet as RtcpPacket;

use crate::error::RtcpDropReason;

/// Parses an RTCP compound packet from the wire; a malformed or truncated one is an error,
/// never a panic.
pub fn parse_rtcp(data: &[u8]) -> Result<Vec<Box<dyn RtcpPacket + Send + Sync>>, RtcpDropReason> {
    check_compound(data)?;
    let mut buf = Bytes::copy_from_slice(data);
    rtcp::packet::unmarshal(&mut buf).map_err(|_| RtcpDropReason::Malformed)
}

/// The smallest size (header included) a packet of this type and count can have, in bytes.
fn min_size(packet_type: u8, count: usize) -> usize {
    match packet_type {
        // SR: sender SSRC and sender info, then report blocks.
        200 => 28 + 24 * count,
        // RR: sender SSRC, then report blocks.
        201 => 8 + 24 * count,
        // BYE: the SSRCs.
        203 => 4 + 4 * count,
        // Transport-wide CC: SSRCs, base sequence, status count, reference time, fb count.
        205 if count == 15 => 20,
        // REMB: SSRCs, "REMB", SSRC count, exponent and mantissa.
        206 if count == 15 => 20,
        // Other feedback (NACK, PLI, SLI, FIR, RRR, ...): sender and media SSRC.
        205 | 206 => 12,
        // XR: sender SSRC.
        207 => 8,
        _ => 4,
    }
}

fn check_compound(mut data: &[u8]) -> Result<(), RtcpDropReason> {
    if data.is_empty() {
        return Err(RtcpDropReason::Malformed);
    }
    while !data.is_empty() {
        let [b0, packet_type, hi, lo, ..] = *data else {
            return Err(RtcpDropReason::Malformed);
        };
        if b0 >> 6 != 2 {
            return Err(RtcpDropReason::Malformed);
        }
        let size = 4 * (usize::from(u16::from_be_bytes([hi, lo])) + 1);
        let count = usize::from(b0 & 0x1f);
        if size > data.len() || size < min_size(packet_type, count) {
            return Err(RtcpDropReason::Malformed);
        }
        // FIR entries are 8 bytes each; REMB lists the SSRCs it counts.
        match (packet_type, count) {
            (206, 4) if (size - 12) % 8 != 0 => return Err(RtcpDropReason::Malformed),
            (206, 15) if size < 20 + 4 * usize::from(data[16]) => {
                return Err(RtcpDropReason::Malformed)
            }
            // Transport-wide CC: `rtcp` 0.17 adds each status vector chunk's 7 or 14 symbols
            // to a u16 count of packets processed without checking, so a status count within
            // 14 of 65,535 overflows it (a panic with overflow checks; found by the `rtcp` fuzz
            // target). No real feedback reports that many packets.
            (205, 15) if u16::from_be_bytes([data[14], data[15]]) > u16::MAX - 14 => {
                return Err(RtcpDropReason::Malformed)
            }
            _ => {}
        }
        data = &data[size..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `rtcp` fuzz target: a NACK of 8 bytes (length 1) made `rtcp` 0.17 panic.
    #[test]
    fn truncated_feedback_is_malformed_not_a_panic() {
        assert!(parse_rtcp(&[0x81, 205, 0, 1, 0, 0, 0, 0]).is_err());
        assert!(parse_rtcp(&[0x81, 206, 0, 1, 0, 0, 0, 0]).is_err());
        assert!(parse_rtcp(&[]).is_err());
        assert!(parse_rtcp(&[0x80, 201, 0]).is_err());
    }

    /// Found by the `rtcp` fuzz target (CI smoke): a transport-wide CC feedback whose status
    /// count is 65,535 overflowed `rtcp` 0.17's u16 count of processed packets.
    #[test]
    fn transport_cc_with_a_status_count_near_the_limit_is_malformed_not_a_panic() {
        // The saved input: 156 bytes, status count 0xffff, 7-symbol status vector chunks.
        let crash = include_bytes!(
            "../../../fuzz/regressions/rtcp/crash-b5938d787966e926ba3ef9dc7c3082a3d5b2d533"
        );
        assert!(parse_rtcp(crash).is_err());
        let mut twcc = vec![
            0x8f, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff,
        ];
        twcc.extend_from_slice(&[0, 0, 0, 0]);
        assert!(parse_rtcp(&twcc).is_err());
    }

    #[test]
    fn valid_packets_parse() {
        // RR without report blocks, then a PLI.
        let mut data = vec![0x80, 201, 0, 1, 0, 0, 0, 2];
        data.extend_from_slice(&[0x81, 206, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]);
        assert_eq!(parse_rtcp(&data).expect("valid").len(), 2);
    }
}
