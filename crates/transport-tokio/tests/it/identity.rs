//! A supplied DTLS identity (`DtlsIdentity::from_pem`) over real sockets on 127.0.0.1: the SDP of
//! each peer carries its supplied certificate's fingerprint, and DTLS (which checks each peer's
//! certificate against those fingerprints) connects and carries data.

use test_support::{config, connect_pair};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use session_core::channel::DataChannelInit;
use session_core::sdp::Fingerprint;
use session_core::signal::SignalMessage;
use sha2::Digest;
use transport_tokio::{DtlsIdentity, IdentityError, Message, Signaling, SignalingError};

/// A signaling wrapper that records the SDP it sends.
struct Recording<S> {
    inner: S,
    sent: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl<S: Signaling> Signaling for Recording<S> {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        if let SignalMessage::Description { description } = &msg {
            self.sent.lock().unwrap().push(description.sdp.clone());
        }
        self.inner.send(msg).await
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        self.inner.recv().await
    }
}

/// Every `a=fingerprint` of the SDP texts.
fn fingerprints(sdps: &[String]) -> Vec<Fingerprint> {
    sdps.iter()
        .flat_map(|sdp| sdp.lines())
        .filter_map(|l| l.trim_end().strip_prefix("a=fingerprint:"))
        .map(|v| Fingerprint::parse(v).expect("a=fingerprint parses"))
        .collect()
}

/// A self-signed certificate and its key in PEM, and the certificate's SHA-256.
fn made(name: &str) -> (String, String, Vec<u8>) {
    let m = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let sha = sha2::Sha256::digest(m.cert.der()).to_vec();
    (m.cert.pem(), m.signing_key.serialize_pem(), sha)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supplied_identities_are_the_ones_in_sdp_and_dtls_connects() {
    let (cert_a, key_a, sha_a) = made("peer-a");
    let (cert_b, key_b, sha_b) = made("peer-b");
    let mut ca = config(false, Some(51));
    ca.identity = Some(DtlsIdentity::from_pem(&cert_a, &key_a).unwrap());
    let mut cb = config(true, Some(52));
    cb.identity = Some(DtlsIdentity::from_pem(&cert_b, &key_b).unwrap());

    let (sa, sb) = transport_tokio::memory_pair(Duration::ZERO);
    let (sent_a, sent_b) = (Arc::default(), Arc::default());
    let sa = Recording {
        inner: sa,
        sent: Arc::clone(&sent_a),
    };
    let sb = Recording {
        inner: sb,
        sent: Arc::clone(&sent_b),
    };
    let (a, _a_events) = transport_tokio::PeerConnection::new(ca, sa).unwrap();
    let (b, mut b_events) = transport_tokio::PeerConnection::new(cb, sb).unwrap();
    assert_eq!(a.fingerprint().value, sha_a);
    assert_eq!(b.fingerprint().value, sha_b);

    let dc_a = a
        .create_data_channel("data", DataChannelInit::default())
        .await
        .unwrap();
    let mut dc_b =
        test_support::wait_event(&mut b_events, Duration::from_secs(20), |ev| match ev {
            transport_tokio::PeerEvent::DataChannel(dc) => Some(dc),
            transport_tokio::PeerEvent::TransportError(e) => panic!("B: {e}"),
            _ => None,
        })
        .await;
    tokio::time::timeout(Duration::from_secs(20), dc_a.wait_open())
        .await
        .expect("not open in 20 s")
        .unwrap();
    dc_a.send_text("pinned").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), dc_b.recv())
        .await
        .expect("no message in 10 s");
    assert_eq!(got, Some(Message::Text("pinned".into())));

    // Each side's SDP (offer or answer) named only its supplied certificate.
    for (sent, sha) in [(&sent_a, &sha_a), (&sent_b, &sha_b)] {
        let fps = fingerprints(&sent.lock().unwrap());
        assert!(!fps.is_empty(), "no a=fingerprint sent");
        for fp in fps {
            assert_eq!(fp.algorithm, "sha-256");
            assert_eq!(&fp.value, sha, "SDP names another certificate");
        }
    }
    a.close().await;
    a.wait_closed().await;
    b.wait_closed().await;
}

#[tokio::test]
async fn bad_pem_is_refused_before_any_connection() {
    let (cert, key, _) = made("x");
    let (_, other_key, _) = made("y");
    assert_eq!(
        DtlsIdentity::from_pem(&cert, &other_key).unwrap_err(),
        IdentityError::KeyMismatch
    );
    assert!(matches!(
        DtlsIdentity::from_pem("not pem", &key).unwrap_err(),
        IdentityError::NoCertificate
    ));
    assert!(matches!(
        DtlsIdentity::from_pem(&cert, "-----BEGIN PRIVATE KEY-----\nAA\n").unwrap_err(),
        IdentityError::KeyPem(_)
    ));
    // The generated identity still works alongside.
    let p = connect_pair(
        config(false, Some(53)),
        config(true, Some(54)),
        DataChannelInit::default(),
        Duration::ZERO,
    )
    .await;
    assert_ne!(p.a.fingerprint(), p.b.fingerprint());
    p.a.close().await;
}
