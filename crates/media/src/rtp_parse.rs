//! RTP packets from the wire, checked before the `rtp` crate parses them.
//!
//! `rtp::header::Header::unmarshal` (0.17) reads RFC 8285 header extension elements without
//! checking that they fit: a one-byte element announcing 16 bytes, or a two-byte element
//! announcing 255, at the end of the packet makes it read past the packet and panic (found by
//! transport-tokio's `demux` fuzz target, before SRTP authentication: any datagram on the path
//! could end the reader). [`parse_rtp_header`] and [`parse_rtp`] walk the extension block first
//! and reject an element that does not fit in it.

use rtp::header::Header;
use rtp::packet::Packet;
use webrtc_util::marshal::Unmarshal;

use crate::error::RtpDropReason;

/// RFC 8285 one-byte header extension profile.
const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// RFC 8285 two-byte header extension profile (the `rtp` crate reads only this exact value).
const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Parses an RTP header from the wire; a malformed or truncated one is an error, never a panic.
pub fn parse_rtp_header(data: &[u8]) -> Result<Header, RtpDropReason> {
    if !extensions_fit(data) {
        return Err(RtpDropReason::Malformed);
    }
    Header::unmarshal(&mut &data[..]).map_err(|_| RtpDropReason::Malformed)
}

/// Parses an RTP packet from the wire; a malformed or truncated one is an error, never a panic.
pub fn parse_rtp(data: &[u8]) -> Result<Packet, RtpDropReason> {
    if !extensions_fit(data) {
        return Err(RtpDropReason::Malformed);
    }
    Packet::unmarshal(&mut &data[..]).map_err(|_| RtpDropReason::Malformed)
}

/// Does every RFC 8285 element of the header extension fit in the extension block? (A packet
/// too short for its CSRCs or its extension block passes: the crate refuses it itself.)
fn extensions_fit(data: &[u8]) -> bool {
    let (Some(&b0), true) = (data.first(), data.len() >= 12) else {
        return true;
    };
    if b0 & 0x10 == 0 {
        return true;
    }
    let mut at = 12 + 4 * usize::from(b0 & 0x0f);
    let Some(ext) = data.get(at..at + 4) else {
        return true;
    };
    let profile = u16::from_be_bytes([ext[0], ext[1]]);
    let end = at + 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    at += 4;
    if data.len() < end {
        return true;
    }
    match profile {
        ONE_BYTE_PROFILE => {
            while at < end {
                let b = data[at];
                at += 1;
                if b == 0 {
                    continue; // padding
                }
                if b >> 4 == 0x0f {
                    break; // reserved id: the rest is not read
                }
                at += usize::from(b & 0x0f) + 1;
                if at > end {
                    return false;
                }
            }
        }
        TWO_BYTE_PROFILE => {
            while at < end {
                let b = data[at];
                at += 1;
                if b == 0 {
                    continue; // padding
                }
                let Some(&len) = data.get(at).filter(|_| at < end) else {
                    return false; // no length byte
                };
                at += 1 + usize::from(len);
                if at > end {
                    return false;
                }
            }
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_extension(profile: u16, elements: &[u8]) -> Vec<u8> {
        let mut p = vec![0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
        let words = elements.len().div_ceil(4);
        p.extend_from_slice(&profile.to_be_bytes());
        p.extend_from_slice(&(words as u16).to_be_bytes());
        p.extend_from_slice(elements);
        p.resize(16 + 4 * words, 0);
        p
    }

    #[test]
    fn extension_elements_that_overrun_are_malformed_not_a_panic() {
        // transport-tokio's `demux` fuzz target's saved crash: a two-byte element of 249 bytes
        // in a one-word extension at the end of the packet.
        let crash = [
            0xb0, 0x00, 0x02, 0x10, 0, 0, 0, 0, 0, 0, 0xb0, 0x00, 0x10, 0x00, 0x00, 0x01, 0xf8,
            0xf9, 0xb4, 0x06,
        ];
        assert_eq!(parse_rtp_header(&crash), Err(RtpDropReason::Malformed));
        assert_eq!(parse_rtp(&crash).unwrap_err(), RtpDropReason::Malformed);
        // One-byte: id 3, 16 bytes, in a one-word block.
        let one = with_extension(ONE_BYTE_PROFILE, &[0x3f, 1, 2, 3]);
        assert_eq!(parse_rtp_header(&one), Err(RtpDropReason::Malformed));
        // Two-byte: an id without its length byte.
        let two = with_extension(TWO_BYTE_PROFILE, &[0, 0, 0, 7]);
        assert_eq!(parse_rtp_header(&two), Err(RtpDropReason::Malformed));
    }

    #[test]
    fn extensions_that_fit_parse() {
        // MID "1" (one-byte id 4, 1 byte), padding.
        let one = with_extension(ONE_BYTE_PROFILE, &[0x40, b'1', 0, 0]);
        let h = parse_rtp_header(&one).unwrap();
        assert_eq!(h.get_extension(4).as_deref(), Some(&b"1"[..]));
        // Two-byte id 4 with 2 bytes, then the reserved-id stop of one-byte does not apply.
        let two = with_extension(TWO_BYTE_PROFILE, &[4, 2, b'a', b'b']);
        assert_eq!(
            parse_rtp_header(&two).unwrap().get_extension(4).as_deref(),
            Some(&b"ab"[..])
        );
        // A one-byte block ended by the reserved id 15.
        let stop = with_extension(ONE_BYTE_PROFILE, &[0xf0, 0xff, 0xff, 0xff]);
        assert!(parse_rtp_header(&stop).is_ok());
        // Without extension, and too short: the crate's own errors.
        assert!(parse_rtp(&[0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 9]).is_ok());
        assert!(parse_rtp(&[0x80, 96]).is_err());
    }
}
