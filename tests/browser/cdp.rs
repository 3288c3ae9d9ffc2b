//! A minimal Chrome DevTools Protocol client: evaluate JavaScript in a page and take a
//! screenshot, for pages the harness does not serve (e.g. the page of `tether signal`).
//!
//! Async (tokio); run it on a runtime whose threads live in the browser's namespace (its
//! sockets must be created there). Chromium must be launched with
//! [`Launch::devtools`](super::Launch::devtools).

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::error::Error;

/// Time allowed for one DevTools request.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A DevTools session attached to the first page target of a Chromium.
#[derive(Debug)]
pub struct Cdp {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Cdp {
    /// Attaches to the first `page` target of the Chromium whose DevTools listen on `port`
    /// (127.0.0.1, inside the namespace); retries for up to `timeout` while it starts.
    pub async fn connect(port: u16, timeout: Duration) -> Result<Self, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let ws_url = loop {
            match page_ws_url(port).await {
                Ok(url) => break url,
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .map_err(|e| Error::new(format!("DevTools WebSocket {ws_url}: {e}")))?;
        Ok(Self { ws, next_id: 1 })
    }

    /// Calls a DevTools method and returns its `result` (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({ "id": id, "method": method, "params": params });
        let fut = async {
            self.ws
                .send(Message::text(req.to_string()))
                .await
                .map_err(|e| Error::new(format!("DevTools send: {e}")))?;
            while let Some(msg) = self.ws.next().await {
                let msg = msg.map_err(|e| Error::new(format!("DevTools recv: {e}")))?;
                let Message::Text(text) = msg else { continue };
                let v: Value = serde_json::from_str(text.as_str())
                    .map_err(|e| Error::new(format!("DevTools JSON: {e}")))?;
                if v["id"] != json!(id) {
                    continue;
                }
                if let Some(err) = v.get("error") {
                    return Err(Error::new(format!("DevTools {method}: {err}")));
                }
                return Ok(v["result"].clone());
            }
            Err(Error::new("DevTools connection closed"))
        };
        tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| Error::new(format!("DevTools {method}: no answer in {CALL_TIMEOUT:?}")))?
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value as JSON.
    pub async fn eval(&mut self, expression: &str) -> Result<Value, Error> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(Error::new(format!("{expression}: {ex}")));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Saves a PNG screenshot of the page to `path` (creating its folder).
    pub async fn screenshot(&mut self, path: &Path) -> Result<(), Error> {
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let data = r["data"]
            .as_str()
            .ok_or_else(|| Error::new("Page.captureScreenshot: no data"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| Error::new(format!("screenshot base64: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(path, png)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
    }
}

/// The `webSocketDebuggerUrl` of the first page target (`GET /json/list`).
async fn page_ws_url(port: u16) -> Result<String, Error> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| Error::new(format!("DevTools port {port}: {e}")))?;
    let req =
        format!("GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes())
        .await
        .map_err(|e| Error::new(format!("DevTools /json/list: {e}")))?;
    // Chromium keeps the connection open: read up to Content-Length.
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = tcp.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                });
                if length.is_some_and(|len| body.len() >= len) {
                    break;
                }
            }
        }
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(CALL_TIMEOUT, read)
        .await
        .map_err(|_| Error::new("DevTools /json/list: timeout"))?
        .map_err(|e| Error::new(format!("DevTools /json/list: {e}")))?;
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let targets: Value = serde_json::from_str(body)
        .map_err(|e| Error::new(format!("DevTools /json/list: {e}: {body}")))?;
    targets
        .as_array()
        .and_then(|ts| {
            ts.iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        })
        .map(str::to_owned)
        .ok_or_else(|| Error::new(format!("no page target in {body}")))
}
