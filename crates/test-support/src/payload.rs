//! Verifiable test payloads: a message's bytes follow from its number, so a receiver can check
//! every byte and the order without keeping what was sent.

use bytes::Bytes;

/// Message `seq` of a transfer, `len` bytes (at least 8): its sequence number (big endian),
/// then bytes derived from it (xorshift).
pub fn payload(seq: u64, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    Bytes::from(v)
}

/// The sequence number of a [`payload`] whose every byte is what it should be; `None` if any
/// byte differs (or it is shorter than 8 bytes).
pub fn check_payload(bytes: &[u8]) -> Option<u64> {
    let seq = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    (payload(seq, bytes.len())[..] == *bytes).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_checks_and_a_changed_byte_does_not() {
        let p = payload(7, 100);
        assert_eq!(p.len(), 100);
        assert_eq!(check_payload(&p), Some(7));
        let mut bad = p.to_vec();
        bad[50] ^= 1;
        assert_eq!(check_payload(&bad), None);
        assert_ne!(payload(8, 100)[8..], p[8..]);
    }
}
