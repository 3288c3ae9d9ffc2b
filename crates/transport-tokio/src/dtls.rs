//! DTLS: the peer connection's certificate, its SDP fingerprint, and the handshake over the
//! switchable connection with the peer's certificate checked against its SDP fingerprint.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dtls::config::{ClientAuthType, Config as DtlsConfig, ExtendedMasterSecretType};
use dtls::conn::DTLSConn;
use dtls::crypto::Certificate;
use dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use session_core::sdp::Fingerprint;
use sha2::Digest;

use crate::error::{SetupError, TransportError};
use crate::switch::SwitchConn;

/// How long a DTLS handshake may take before the transport is failed.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A peer connection's DTLS identity: a self-signed ECDSA P-256 certificate.
#[derive(Clone)]
pub struct DtlsIdentity {
    certificate: Certificate,
}

impl std::fmt::Debug for DtlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is a secret: only the fingerprint is shown.
        f.debug_struct("DtlsIdentity")
            .field("fingerprint", &self.fingerprint().to_string())
            .finish()
    }
}

impl DtlsIdentity {
    /// Generates a fresh self-signed certificate.
    pub fn generate() -> Result<Self, SetupError> {
        let certificate = Certificate::generate_self_signed(vec!["tether".to_owned()])
            .map_err(|e| SetupError::Certificate(e.to_string()))?;
        Ok(Self { certificate })
    }

    /// The certificate's `sha-256` fingerprint, as `a=fingerprint` carries it.
    pub fn fingerprint(&self) -> Fingerprint {
        let der = self
            .certificate
            .certificate
            .first()
            .map(|c| c.as_ref())
            .unwrap_or_default();
        Fingerprint {
            algorithm: "sha-256".to_owned(),
            value: sha2::Sha256::digest(der).to_vec(),
        }
    }
}

/// The digest of `der` with the fingerprint's algorithm; `None` for an algorithm we cannot
/// compute (sha-1 is not supported: it never matches).
fn digest(algorithm: &str, der: &[u8]) -> Option<Vec<u8>> {
    Some(match algorithm {
        "sha-224" => sha2::Sha224::digest(der).to_vec(),
        "sha-256" => sha2::Sha256::digest(der).to_vec(),
        "sha-384" => sha2::Sha384::digest(der).to_vec(),
        "sha-512" => sha2::Sha512::digest(der).to_vec(),
        _ => return None,
    })
}

/// Does the peer's leaf certificate match one of the SDP fingerprints?
pub(crate) fn matches(certs: &[Vec<u8>], fingerprints: &[Fingerprint]) -> bool {
    let Some(leaf) = certs.first() else {
        return false;
    };
    fingerprints
        .iter()
        .any(|fp| digest(&fp.algorithm, leaf).is_some_and(|d| d == fp.value))
}

/// Runs the DTLS handshake over `conn`; the peer's certificate must match `fingerprints`.
pub(crate) async fn handshake(
    conn: Arc<SwitchConn>,
    identity: &DtlsIdentity,
    is_client: bool,
    fingerprints: Vec<Fingerprint>,
) -> Result<Arc<DTLSConn>, TransportError> {
    let mismatch = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&mismatch);
    let config = DtlsConfig {
        certificates: vec![identity.certificate.clone()],
        // WebRTC authenticates by fingerprint, not by a CA: skip chain verification, require
        // the client's certificate, and check the leaf against the SDP in the callback.
        insecure_skip_verify: true,
        client_auth: ClientAuthType::RequireAnyClientCert,
        extended_master_secret: ExtendedMasterSecretType::Require,
        srtp_protection_profiles: vec![
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ],
        server_name: "tether".to_owned(),
        verify_peer_certificate: Some(Arc::new(move |certs: &[Vec<u8>], _chains: &[_]| {
            if matches(certs, &fingerprints) {
                Ok(())
            } else {
                flag.store(true, Ordering::SeqCst);
                Err(dtls::Error::Other(
                    "certificate fingerprint mismatch".to_owned(),
                ))
            }
        })),
        ..DtlsConfig::default()
    };
    let dyn_conn: Arc<dyn webrtc_util::Conn + Send + Sync> = conn;
    let result = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        DTLSConn::new(dyn_conn, config, is_client, None),
    )
    .await;
    match result {
        Ok(Ok(c)) => Ok(Arc::new(c)),
        Ok(Err(_)) | Err(_) if mismatch.load(Ordering::SeqCst) => {
            Err(TransportError::FingerprintMismatch)
        }
        Ok(Err(e)) => Err(TransportError::Dtls(e.to_string())),
        Err(_) => Err(TransportError::Dtls("handshake timed out".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_of_the_certificate() {
        let id = DtlsIdentity::generate().unwrap();
        let fp = id.fingerprint();
        assert_eq!(fp.algorithm, "sha-256");
        assert_eq!(fp.value.len(), 32);
        let der = id.certificate.certificate[0].as_ref().to_vec();
        assert!(matches(
            std::slice::from_ref(&der),
            std::slice::from_ref(&fp)
        ));
        // Round trip through the SDP form.
        let parsed = Fingerprint::parse(&fp.to_string()).unwrap();
        assert!(matches(std::slice::from_ref(&der), &[parsed]));
        let other = DtlsIdentity::generate().unwrap().fingerprint();
        assert!(!matches(&[der], &[other]));
        assert!(!matches(&[], &[fp]));
    }
}
