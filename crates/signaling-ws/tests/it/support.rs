//! A raw protocol client and helpers shared by the tests.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use signaling_ws::{Server, ServerConfig, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any single wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) async fn start(config: ServerConfig) -> ServerHandle {
    Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("server starts")
}

/// A client that speaks the protocol frame by frame.
pub(crate) struct Raw {
    pub(crate) ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    pub(crate) async fn connect(url: &str) -> Raw {
        let (ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Raw { ws }
    }

    /// Connects and joins `room`; returns the client, its peer id and resume token.
    pub(crate) async fn join(url: &str, room: &str) -> (Raw, String, String) {
        let mut raw = Raw::connect(url).await;
        raw.send(json!({"type": "join", "v": 1, "room": room}))
            .await;
        let joined = raw.recv().await;
        assert_eq!(joined["type"], "joined", "{joined}");
        let id = joined["peer_id"].as_str().unwrap().to_owned();
        let token = joined["resume_token"].as_str().unwrap().to_owned();
        (raw, id, token)
    }

    pub(crate) async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        timeout(WAIT, self.ws.send(Message::text(text)))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// The next text frame as JSON (control frames skipped). Panics on close or timeout.
    pub(crate) async fn recv(&mut self) -> Value {
        loop {
            let frame = timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("stream open")
                .expect("frame ok");
            match frame {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Close(c) => panic!("unexpected close: {c:?}"),
                _ => {}
            }
        }
    }

    /// The next message of `kind`, skipping others (at most 100).
    pub(crate) async fn recv_type(&mut self, kind: &str) -> Value {
        for _ in 0..100 {
            let v = self.recv().await;
            if v["type"] == kind {
                return v;
            }
        }
        panic!("no `{kind}` within 100 messages");
    }

    /// Reads until the close frame and returns its code (None: closed without a frame).
    pub(crate) async fn close_code(&mut self) -> Option<u16> {
        for _ in 0..10_000 {
            match timeout(WAIT, self.ws.next()).await.expect("close in time") {
                Some(Ok(Message::Close(c))) => return c.map(|c| u16::from(c.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
        panic!("no close within 10,000 frames");
    }

    /// Asserts nothing but `pong` is pending: sends a ping and expects the pong next.
    pub(crate) async fn fence(&mut self) {
        self.send(json!({"type": "ping", "nonce": 77})).await;
        let v = self.recv().await;
        assert_eq!(
            v,
            json!({"type": "pong", "nonce": 77}),
            "unexpected message before pong"
        );
    }
}

/// `GET path` over plain HTTP/1.1; returns (status, body).
pub(crate) async fn http_get(server: &ServerHandle, path: &str) -> (u16, String) {
    http_get_at(server.local_addr(), path).await
}

/// `GET path` from `addr` over plain HTTP/1.1; returns (status, body).
pub(crate) async fn http_get_at(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let fetch = async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        tcp.read_to_end(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    };
    let text = timeout(WAIT, fetch).await.expect("http in time");
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of one metric line (exact series name, labels included).
pub(crate) async fn metric(server: &ServerHandle, series: &str) -> u64 {
    let (_, body) = http_get_at(server.metrics_addr(), "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series}"))
}

/// Polls `series` until `pred` holds (bounded by `WAIT`).
pub(crate) async fn wait_metric(server: &ServerHandle, series: &str, pred: impl Fn(u64) -> bool) {
    let start = tokio::time::Instant::now();
    loop {
        let v = metric(server, series).await;
        if pred(v) {
            return;
        }
        assert!(start.elapsed() < WAIT, "{series} stuck at {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn signal(to: &str, data: Value) -> Value {
    json!({"type": "signal", "to": to, "data": data})
}

impl Raw {
    /// The next text frame, verbatim.
    pub(crate) async fn ws_text(&mut self) -> String {
        loop {
            let frame = timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("stream open")
                .expect("frame ok");
            if let Message::Text(t) = frame {
                return t.as_str().to_owned();
            }
        }
    }
}
