//! DTLS identity: the peer connection's certificate, its SDP fingerprint, and the check of the
//! peer's certificate against its SDP fingerprints (the handshake itself is
//! [`plane::dtls`](crate::plane::dtls)).

use rtc_dtls::crypto::{Certificate, CryptoPrivateKey};
use session_core::sdp::Fingerprint;
use sha2::Digest;

use crate::error::{IdentityError, SetupError};

/// A peer connection's DTLS identity: a certificate (chain) and its private key.
///
/// [`generate`](Self::generate) makes a fresh self-signed ECDSA P-256 certificate (what a
/// [`PeerConfig`](crate::PeerConfig) without an identity gets); [`from_pem`](Self::from_pem)
/// takes one the application keeps (so its fingerprint stays the same across sessions, e.g. to
/// pin it in the peer's configuration). WebRTC authenticates a certificate by the fingerprint in
/// the SDP, not by a CA: any certificate will do, self-signed or not.
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
        let provider =
            rtc_crypto::default_provider().map_err(|e| SetupError::Certificate(Box::new(e)))?;
        let certificate =
            Certificate::generate_self_signed(vec!["tether".to_owned()], provider.crypto())
                .map_err(|e| SetupError::Certificate(Box::new(e)))?;
        Ok(Self { certificate })
    }

    /// The certificate as `rtc-dtls` takes it (its key imported into the default crypto
    /// provider, the one the handshake uses).
    pub(crate) fn certificate(&self) -> Certificate {
        self.certificate.clone()
    }

    /// Takes a certificate and its private key in PEM: `cert_pem` holds one or more
    /// `CERTIFICATE` sections (the leaf first; the leaf is the one the fingerprint names),
    /// `key_pem` one `PRIVATE KEY` (PKCS#8) section with an ECDSA P-256, Ed25519 or RSA key
    /// (what `rtc-dtls` can sign with). Checks that the key is the leaf certificate's.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let made = rcgen::generate_simple_self_signed(vec!["me".to_owned()])?;
    /// # let (cert_pem, key_pem) = (&made.cert.pem(), &made.signing_key.serialize_pem());
    /// // cert_pem, key_pem: e.g. read from files the application keeps.
    /// let identity = transport_tokio::DtlsIdentity::from_pem(cert_pem, key_pem)?;
    /// let mut config = transport_tokio::PeerConfig::new(false);
    /// println!("a=fingerprint:{}", identity.fingerprint());
    /// config.identity = Some(identity);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, IdentityError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};

        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::CertificatePem(e.to_string()))?;
        let Some(leaf) = chain.first() else {
            return Err(IdentityError::NoCertificate);
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref())
            .map_err(|e| IdentityError::BadCertificate(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| IdentityError::KeyPem(e.to_string()))?;
        if !matches!(key, PrivateKeyDer::Pkcs8(_)) {
            return Err(IdentityError::UnsupportedKey(
                "not PKCS#8 (a `PRIVATE KEY` section); convert it with `openssl pkcs8 -topk8 -nocrypt`"
                    .to_owned(),
            ));
        }
        let key_pair = rcgen::KeyPair::try_from(&key)
            .map_err(|e| IdentityError::UnsupportedKey(e.to_string()))?;
        if parsed.public_key().raw
            != rcgen::PublicKeyData::subject_public_key_info(&key_pair).as_slice()
        {
            return Err(IdentityError::KeyMismatch);
        }
        let provider = rtc_crypto::default_provider()
            .map_err(|e| IdentityError::UnsupportedKey(e.to_string()))?;
        let private_key = CryptoPrivateKey::from_key_pair(&key_pair, provider.crypto())
            .map_err(|e| IdentityError::UnsupportedKey(e.to_string()))?;
        Ok(Self {
            certificate: Certificate {
                certificate: chain,
                private_key,
            },
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn made(name: &str) -> (String, String, Vec<u8>) {
        let m = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (
            m.cert.pem(),
            m.signing_key.serialize_pem(),
            m.cert.der().to_vec(),
        )
    }

    #[test]
    fn from_pem_takes_the_certificate_and_its_key() {
        let (cert, key, der) = made("a");
        let id = DtlsIdentity::from_pem(&cert, &key).unwrap();
        assert_eq!(id.certificate.certificate[0].as_ref(), der.as_slice());
        assert_eq!(id.fingerprint().value, sha2::Sha256::digest(&der).to_vec());
        // A chain: the leaf first is the one named.
        let (other, _, _) = made("b");
        let id = DtlsIdentity::from_pem(&format!("{cert}{other}"), &key).unwrap();
        assert_eq!(id.certificate.certificate.len(), 2);
        assert_eq!(id.fingerprint().value, sha2::Sha256::digest(&der).to_vec());
    }

    #[test]
    fn from_pem_refuses_bad_input() {
        let (cert, key, _) = made("a");
        let (other_cert, other_key, _) = made("b");
        let err = |c: &str, k: &str| DtlsIdentity::from_pem(c, k).unwrap_err();
        assert_eq!(err(&cert, &other_key), IdentityError::KeyMismatch);
        assert_eq!(err(&other_cert, &key), IdentityError::KeyMismatch);
        assert_eq!(err("", &key), IdentityError::NoCertificate);
        assert_eq!(err(&key, &key), IdentityError::NoCertificate);
        assert!(matches!(err(&cert, ""), IdentityError::KeyPem(_)));
        assert!(matches!(err(&cert, &cert), IdentityError::KeyPem(_)));
        // Broken base64 inside the markers.
        let broken = cert.replacen("MII", "M!I", 1);
        assert!(matches!(
            err(&broken, &key),
            IdentityError::CertificatePem(_)
        ));
        // Well-formed PEM whose content is not a certificate.
        let not_x509 = "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            err(not_x509, &key),
            IdentityError::BadCertificate(_)
        ));
        // A key DTLS cannot sign with (P-384).
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let c384 = rcgen::CertificateParams::new(vec!["c".to_owned()])
            .unwrap()
            .self_signed(&p384)
            .unwrap();
        assert!(matches!(
            err(&c384.pem(), &p384.serialize_pem()),
            IdentityError::UnsupportedKey(_)
        ));
        // A SEC1 (`EC PRIVATE KEY`) key is refused with a hint, not misread.
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAECAwQF\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(err(&cert, sec1), IdentityError::UnsupportedKey(_)));
    }

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
