//! SRTP keys from DTLS (RFC 5764): the negotiated protection profile and the two
//! cryptographic contexts (ours for protecting, the peer's for unprotecting), derived from the
//! DTLS exporter once the handshake is done. Replay protection is not the context's: the
//! packet path keeps its own windows, moved only by authentic packets (`rtp_path::replay`).
//!
//! The contexts belong to the DTLS transport, not to an ICE generation: an ICE restart changes
//! the path under DTLS, and the same contexts keep protecting and unprotecting.

use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

use crate::error::TransportError;

/// SRTP replay window (packets). Wider than the RFC 3711 minimum of 64 so that video bursts
/// reordered on the path are not mistaken for replays.
pub(crate) const SRTP_REPLAY_WINDOW: usize = 512;
/// SRTCP replay window (packets).
pub(crate) const SRTCP_REPLAY_WINDOW: usize = 128;

/// The keying material SRTP needs from a connected association.
pub(crate) struct SrtpMaterial {
    pub(crate) profile: SrtpProtectionProfile,
    /// `2 * (key_len + salt_len)` bytes of the exporter, in RFC 5764 order (client key, server
    /// key, client salt, server salt).
    pub(crate) material: Vec<u8>,
    pub(crate) is_client: bool,
}

impl std::fmt::Debug for SrtpMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The material is secret.
        f.debug_struct("SrtpMaterial")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The SRTP state of one DTLS transport.
pub(crate) struct SrtpKeys {
    /// The negotiated profile.
    pub(crate) profile: ProtectionProfile,
    /// Protects what we send.
    pub(crate) local: Context,
    /// Unprotects what the peer sends (no replay protection of its own: see
    /// `rtp_path::replay`).
    pub(crate) remote: Context,
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: only the profile is shown.
        f.debug_struct("SrtpKeys")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The SRTP profile for a DTLS `use_srtp` profile; `None` when none was negotiated (a peer
/// without media, or one that offered none of ours).
pub(crate) fn profile_of(p: SrtpProtectionProfile) -> Option<ProtectionProfile> {
    match p {
        SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => Some(ProtectionProfile::AeadAes128Gcm),
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => {
            Some(ProtectionProfile::Aes128CmHmacSha1_80)
        }
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32 => {
            Some(ProtectionProfile::Aes128CmHmacSha1_32)
        }
        _ => None,
    }
}

/// The length of an SRTCP packet's trailer (auth tag, and for AES-CM the SRTCP index) beyond
/// the 8-byte RTCP header: anything shorter cannot be unprotected.
pub(crate) fn min_srtcp_len(profile: ProtectionProfile) -> usize {
    let tag = match profile {
        ProtectionProfile::AeadAes128Gcm | ProtectionProfile::AeadAes256Gcm => {
            profile.aead_auth_tag_len()
        }
        _ => profile.rtcp_auth_tag_len(),
    };
    8 + 4 + tag
}

/// The SRTCP index of a packet at least [`min_srtcp_len`] long (RFC 3711 sec. 3.4: the 31
/// bits after the E flag, before the authentication tag for AES-CM, at the end for AEAD (RFC
/// 7714 sec. 9.1)). In the clear: it is checked against the replay window before decryption and
/// recorded only after authentication.
pub(crate) fn srtcp_index(profile: ProtectionProfile, packet: &[u8]) -> u32 {
    let tag = match profile {
        ProtectionProfile::AeadAes128Gcm | ProtectionProfile::AeadAes256Gcm => 0,
        _ => profile.rtcp_auth_tag_len(),
    };
    let end = packet.len() - tag;
    let word = u32::from_be_bytes([
        packet[end - 4],
        packet[end - 3],
        packet[end - 2],
        packet[end - 1],
    ]);
    word & 0x7fff_ffff
}

/// How many bytes of the DTLS exporter the profile's keys take (RFC 5764 sec. 4.2: two master
/// keys and two master salts); `None` when no SRTP profile was negotiated.
pub(crate) fn material_len(p: SrtpProtectionProfile) -> Option<usize> {
    profile_of(p).map(|p| 2 * (p.key_len() + p.salt_len()))
}

/// Derives the SRTP contexts from a connected DTLS transport's keying material. `Ok(None)`:
/// DTLS negotiated no SRTP profile (data channels only).
pub(crate) fn derive(material: &SrtpMaterial) -> Result<Option<SrtpKeys>, TransportError> {
    let Some(profile) = profile_of(material.profile) else {
        return Ok(None);
    };
    let (key_len, salt_len) = (profile.key_len(), profile.salt_len());
    let m = &material.material;
    if m.len() != 2 * (key_len + salt_len) {
        return Err(TransportError::Srtp(format!(
            "keying material of {} bytes, {} expected",
            m.len(),
            2 * (key_len + salt_len)
        )));
    }
    // RFC 5764 sec. 4.2: client key, server key, client salt, server salt.
    let (client_key, rest) = m.split_at(key_len);
    let (server_key, rest) = rest.split_at(key_len);
    let (client_salt, server_salt) = rest.split_at(salt_len);
    let ((local_key, local_salt), (remote_key, remote_salt)) = if material.is_client {
        ((client_key, client_salt), (server_key, server_salt))
    } else {
        ((server_key, server_salt), (client_key, client_salt))
    };
    let local = Context::new(local_key, local_salt, profile, None, None)
        .map_err(|e| TransportError::Srtp(e.to_string()))?;
    let remote = Context::new(remote_key, remote_salt, profile, None, None)
        .map_err(|e| TransportError::Srtp(e.to_string()))?;
    Ok(Some(SrtpKeys {
        profile,
        local,
        remote,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_we_offer_map_to_srtp() {
        assert!(matches!(
            profile_of(SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm),
            Some(ProtectionProfile::AeadAes128Gcm)
        ));
        assert!(matches!(
            profile_of(SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80),
            Some(ProtectionProfile::Aes128CmHmacSha1_80)
        ));
        assert!(profile_of(SrtpProtectionProfile::Unsupported).is_none());
        assert_eq!(
            material_len(SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm),
            Some(2 * (16 + 12))
        );
        assert_eq!(
            material_len(SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80),
            Some(2 * (16 + 14))
        );
        assert_eq!(min_srtcp_len(ProtectionProfile::AeadAes128Gcm), 8 + 4 + 16);
        assert_eq!(
            min_srtcp_len(ProtectionProfile::Aes128CmHmacSha1_80),
            8 + 4 + 10
        );
    }
}
