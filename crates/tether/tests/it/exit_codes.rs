//! Each documented failure cause of the binary has its own exit code (see `tether --help`),
//! and `tether signal` serves the page, over TLS too.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::SignalProcess;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use signaling_ws::{
    client_tls_with_roots, ClientConfig, Limits, RoomTokenKey, Server, ServerConfig,
    SignalingClient,
};

fn tether(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run tether")
}

fn code_and_stderr(out: &Output) -> (Option<i32>, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    tcp.read_to_string(&mut text).expect("read");
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn bad_url_is_3_and_unreachable_server_is_4() {
    for url in ["not a url", "http://127.0.0.1:8080/ws", "ws://host:port/ws"] {
        let (code, err) = code_and_stderr(&tether(&["peer", "--server", url, "--room", "r"]));
        assert_eq!(code, Some(3), "{url}: {err}");
        assert!(err.starts_with("tether: bad signaling URL"), "{err}");
    }
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let out = tether(&["peer", "--server", "ws://127.0.0.1:1/ws", "--room", "r"]);
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.starts_with("tether: cannot reach the signaling server at ws://127.0.0.1:1/ws"),
        "{err}"
    );
}

#[test]
fn room_full_is_5_and_bad_token_is_6_and_bad_room_is_3() {
    let rt = runtime();
    let key = RoomTokenKey::new(vec![7u8; 32]).expect("key");
    let config = ServerConfig {
        limits: Limits {
            max_peers_per_room: 2,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (open, signed) = rt.block_on(async {
        let open = Server::bind("127.0.0.1:0".parse().unwrap(), config)
            .await
            .expect("server");
        let signed = ServerConfig {
            room_tokens: Some(key.clone()),
            ..ServerConfig::default()
        };
        let signed = Server::bind("127.0.0.1:0".parse().unwrap(), signed)
            .await
            .expect("server");
        (open, signed)
    });
    let url = open.ws_url();
    let _peers = rt.block_on(async {
        let a = SignalingClient::connect(ClientConfig::new(&url, "full"))
            .await
            .expect("a");
        let b = SignalingClient::connect(ClientConfig::new(&url, "full"))
            .await
            .expect("b");
        (a, b)
    });
    let (code, err) = code_and_stderr(&tether(&["peer", "--server", &url, "--room", "full"]));
    assert_eq!(code, Some(5), "{err}");
    assert!(err.starts_with("tether: room \"full\" is full"), "{err}");

    let (code, err) = code_and_stderr(&tether(&["peer", "--server", &url, "--room", "a/b"]));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("bad room name"), "{err}");

    let url = signed.ws_url();
    let (code, err) = code_and_stderr(&tether(&["peer", "--server", &url, "--room", "r"]));
    assert_eq!(code, Some(6), "no token: {err}");
    assert!(
        err.starts_with("tether: the server refused the room token"),
        "{err}"
    );
    let other_room = key.sign("another-room", Duration::from_secs(60));
    let out = tether(&[
        "peer",
        "--server",
        &url,
        "--room",
        "r",
        "--token",
        &other_room,
    ]);
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, Some(6), "token of another room: {err}");
    drop(_peers);
    rt.block_on(async {
        let _ = open.shutdown(Duration::from_secs(5)).await;
        let _ = signed.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn unusable_local_settings_are_8() {
    // An address in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (code, err) = code_and_stderr(&tether(&["signal", "--listen", &addr]));
    assert_eq!(code, Some(8), "{err}");
    assert!(err.starts_with("tether: cannot listen on"), "{err}");
    // TLS files that do not exist.
    let out = tether(&[
        "signal",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, Some(8), "{err}");
    assert!(err.contains("cannot use the TLS certificate"), "{err}");
    // --tls-cert without --tls-key is a usage error.
    let out = tether(&["signal", "--tls-cert", "c.pem"]);
    assert_eq!(out.status.code(), Some(2));
    // A secret that is too short.
    let dir = temp_dir("secret");
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "short").expect("write");
    let out = tether(&["signal", "--secret-file", secret.to_str().expect("utf-8")]);
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, Some(8), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn signal_serves_the_page() {
    let server = SignalProcess::start(&[]);
    let port = server.port();
    let (status, html) = http_get(port, "/");
    assert_eq!(status, 200);
    assert!(html.contains("<title>Tether call</title>"), "{html}");
    for (path, needle) in [
        ("/app.js", "window.tetherApp"),
        ("/tether-peer.js", "class TetherCall"),
        ("/style.css", "--accent"),
    ] {
        let (status, body) = http_get(port, path);
        assert_eq!(status, 200, "{path}");
        assert!(body.contains(needle), "{path}");
    }
    assert_eq!(http_get(port, "/healthz"), (200, "ok\n".into()));

    let server = SignalProcess::start(&["--no-page"]);
    assert_eq!(http_get(server.port(), "/").0, 404);
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("tether-cli-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn signal_with_tls_flags_speaks_wss() {
    // A throwaway CA and a certificate it signed for 127.0.0.1.
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tether test CA");
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let ca = ca.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    let dir = temp_dir("tls");
    let (cert, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, leaf.pem()).expect("write");
    std::fs::write(&key_file, key.serialize_pem()).expect("write");

    let server = SignalProcess::start(&[
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key_file.to_str().expect("utf-8"),
    ]);
    assert!(
        server.ws_url.starts_with("wss://127.0.0.1:"),
        "{}",
        server.ws_url
    );
    let rt = runtime();
    rt.block_on(async {
        let tls = client_tls_with_roots(ca.pem().as_bytes()).expect("roots");
        let client = SignalingClient::connect(ClientConfig::new(&server.ws_url, "r").with_tls(tls))
            .await
            .expect("a wss:// join with the CA trusted");
        client.close().await;
    });
    // `tether peer` without the CA does not trust the server: unreachable (4).
    let out = tether(&["peer", "--server", &server.ws_url, "--room", "r"]);
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, Some(4), "{err}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
