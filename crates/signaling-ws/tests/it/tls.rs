//! TLS: a server with a certificate from a throwaway CA (rcgen), `wss://` clients that trust it
//! and clients that do not, `/healthz` over https.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use serde_json::json;
use signaling_ws::rustls::pki_types::ServerName;
use signaling_ws::{
    client_tls_with_roots, rustls, ClientConfig, ClientError, ClientEvent, ServerConfig, ServerTls,
    SignalingClient, TlsError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::{start, WAIT};

/// A CA and a server certificate it signed, for `localhost` and 127.0.0.1.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

pub(crate) fn make_pki(ca_name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let ca = ca.self_signed(&ca_key).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "tether signaling test");
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// Writes the server's PEM files to a fresh directory (removed by the caller).
fn write_pem_files(pki: &Pki, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "tether-signaling-tls-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    (dir, cert, key)
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into()
}

async fn next_signal(client: &mut SignalingClient) -> (String, String) {
    loop {
        let event = timeout(WAIT, client.recv())
            .await
            .expect("an event in time")
            .expect("client running");
        if let ClientEvent::Signal { from, data } = event {
            return (from.to_string(), data.get().to_owned());
        }
    }
}

/// `GET path` over https, trusting `tls`; returns the raw response.
async fn https_get(addr: SocketAddr, tls: Arc<rustls::ClientConfig>, path: &str) -> String {
    let fetch = async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::IpAddress(addr.ip().into());
        let mut stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        // The server may end the stream without close_notify; what was read is enough.
        let _ = stream.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    };
    timeout(WAIT, fetch).await.expect("https in time")
}

#[tokio::test]
async fn wss_relay_resume_and_healthz_over_https() {
    let pki = make_pki("Tether test CA");
    let (dir, cert, key) = write_pem_files(&pki, "relay");
    let tls = ServerTls::from_pem_files(&cert, &key).expect("PEM files load");
    std::fs::remove_dir_all(&dir).unwrap();
    let server = start(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    })
    .await;
    assert!(server.is_tls());
    let url = server.ws_url();
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");

    let trust = client_tls_with_roots(pki.ca_pem.as_bytes()).unwrap();
    let config = ClientConfig::new(&url, "room-tls").with_tls(Arc::clone(&trust));
    let alice = SignalingClient::connect(config.clone()).await.unwrap();
    let mut bob = SignalingClient::connect(config).await.unwrap();
    alice
        .send_json(&bob.peer_id(), &json!({"sdp": "offer"}))
        .await
        .unwrap();
    assert_eq!(
        next_signal(&mut bob).await,
        (alice.peer_id().to_string(), r#"{"sdp":"offer"}"#.to_owned())
    );

    // A dropped TLS connection resumes over TLS too.
    bob.reconnect().await.unwrap();
    alice
        .send_json(&bob.peer_id(), &json!({"sdp": "again"}))
        .await
        .unwrap();
    assert_eq!(next_signal(&mut bob).await.1, r#"{"sdp":"again"}"#);

    let health = https_get(server.local_addr(), Arc::clone(&trust), "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");

    alice.close().await;
    bob.close().await;
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn untrusted_certificate_is_a_typed_tls_error() {
    let pki = make_pki("Tether test CA");
    let tls = ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let server = start(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();

    // The default root store (webpki-roots) does not know the test CA.
    let err = SignalingClient::connect(ClientConfig::new(&url, "room-x"))
        .await
        .expect_err("an untrusted server is refused");
    assert!(
        matches!(
            err,
            ClientError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("TLS handshake failed"), "{err}");

    // Nor does a client that trusts another CA.
    let other = make_pki("Some other CA");
    let wrong = client_tls_with_roots(other.ca_pem.as_bytes()).unwrap();
    let err = SignalingClient::connect(ClientConfig::new(&url, "room-x").with_tls(wrong))
        .await
        .expect_err("another CA is refused");
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");

    // A plain ws:// client gets no WebSocket either.
    let plain = url.replacen("wss://", "ws://", 1);
    let err = SignalingClient::connect(ClientConfig::new(&plain, "room-x"))
        .await
        .expect_err("plain HTTP is not served");
    assert!(matches!(err, ClientError::Connect(_)), "{err:?}");

    // The failed handshakes did not hurt the server.
    let trust = client_tls_with_roots(pki.ca_pem.as_bytes()).unwrap();
    let ok = SignalingClient::connect(ClientConfig::new(&url, "room-x").with_tls(trust))
        .await
        .expect("a trusting client connects");
    ok.close().await;
    server.shutdown(WAIT).await.unwrap();
}

#[test]
fn bad_tls_inputs_are_reported() {
    let pki = make_pki("Tether test CA");
    let missing = std::env::temp_dir().join("tether-signaling-no-such-cert.pem");
    assert!(matches!(
        ServerTls::from_pem_files(&missing, &missing),
        Err(TlsError::Read { .. })
    ));
    assert!(matches!(
        ServerTls::from_pem(pki.key_pem.as_bytes(), pki.key_pem.as_bytes()),
        Err(TlsError::NoCertificate)
    ));
    assert!(matches!(
        ServerTls::from_pem(pki.cert_pem.as_bytes(), b"not a key"),
        Err(TlsError::Pem { .. })
    ));
    // A key that does not belong to the certificate.
    let other = make_pki("Some other CA");
    assert!(matches!(
        ServerTls::from_pem(pki.cert_pem.as_bytes(), other.key_pem.as_bytes()),
        Err(TlsError::Rustls(_))
    ));
    assert!(matches!(
        client_tls_with_roots(b""),
        Err(TlsError::NoCertificate)
    ));
}
