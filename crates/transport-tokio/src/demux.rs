//! RFC 7983 demultiplexing: which protocol a packet on an ICE path belongs to, by its first
//! byte.
//!
//! One ICE path carries STUN (the agent's connectivity checks), DTLS, and SRTP/SRTCP. The
//! `webrtc-ice` agent consumes STUN itself; everything else reaches the reader of the agent's
//! connection, and only DTLS may be handed to the DTLS connection.

/// The protocol of a packet, from its first byte (RFC 7983 section 7, with RFC 9443's ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketKind {
    /// STUN: first byte 0..=3.
    Stun,
    /// ZRTP: first byte 16..=19.
    Zrtp,
    /// DTLS: first byte 20..=63.
    Dtls,
    /// TURN channel data: first byte 64..=79.
    TurnChannel,
    /// RTP or RTCP: first byte 128..=191.
    Rtp,
    /// Empty, or a first byte in no range: dropped.
    Unknown,
}

impl PacketKind {
    /// Classifies a packet by its first byte.
    pub fn of(packet: &[u8]) -> Self {
        match packet.first() {
            Some(0..=3) => PacketKind::Stun,
            Some(16..=19) => PacketKind::Zrtp,
            Some(20..=63) => PacketKind::Dtls,
            Some(64..=79) => PacketKind::TurnChannel,
            Some(128..=191) => PacketKind::Rtp,
            _ => PacketKind::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PacketKind;

    #[test]
    fn every_first_byte_has_one_kind() {
        for b in 0..=255u8 {
            let want = match b {
                0..=3 => PacketKind::Stun,
                16..=19 => PacketKind::Zrtp,
                20..=63 => PacketKind::Dtls,
                64..=79 => PacketKind::TurnChannel,
                128..=191 => PacketKind::Rtp,
                _ => PacketKind::Unknown,
            };
            assert_eq!(PacketKind::of(&[b, 0, 0]), want, "first byte {b}");
        }
        assert_eq!(PacketKind::of(&[]), PacketKind::Unknown);
    }

    #[test]
    fn real_headers() {
        // DTLS 1.2 handshake record (content type 22).
        assert_eq!(PacketKind::of(&[22, 0xfe, 0xfd]), PacketKind::Dtls);
        // DTLS application data (23) and alert (21).
        assert_eq!(PacketKind::of(&[23, 0xfe, 0xfd]), PacketKind::Dtls);
        assert_eq!(PacketKind::of(&[21, 0xfe, 0xfd]), PacketKind::Dtls);
        // STUN binding request: type 0x0001.
        assert_eq!(PacketKind::of(&[0x00, 0x01, 0x00, 0x00]), PacketKind::Stun);
        // RTP version 2 (0x80) and RTCP SR (0x80, PT 200).
        assert_eq!(PacketKind::of(&[0x80, 96]), PacketKind::Rtp);
        assert_eq!(PacketKind::of(&[0x81, 200]), PacketKind::Rtp);
    }
}
