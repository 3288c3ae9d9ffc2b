//! A tiny std-only HTTP/1.1 server between a test and its page.
//!
//! | request | meaning |
//! |---|---|
//! | `GET /<file>` | a static file from `tests/www/` (query strings ignored) |
//! | `POST /to-test` | the page sends a JSON message to the test ([`super::Browser::recv`]) |
//! | `GET /to-page` | long poll (up to 10 s): the next JSON message from the test (200), or 204 |
//! | `POST /result` | the page's final verdict, a JSON object with `"ok": bool` |
//! | `POST /log` | one line of the page's log, shown when a test fails |
//!
//! Every response closes its connection; each connection is served on its own thread.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::Error;

/// How long `GET /to-page` holds a request open when nothing is queued.
const LONG_POLL: Duration = Duration::from_secs(10);
/// Largest request body accepted.
const MAX_BODY: usize = 16 << 20;

/// What the page sent to the test.
#[derive(Debug)]
pub(crate) enum Event {
    /// `POST /to-test`.
    Message(Value),
    /// `POST /result`.
    Result(Value),
}

#[derive(Debug, Default)]
struct Shared {
    to_page: Mutex<VecDeque<Value>>,
    queued: Condvar,
    log: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// The running server; stops (and joins its accept thread) when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    port: u16,
    shared: Arc<Shared>,
    events: mpsc::Receiver<Event>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `www` and the message API on `listener` (already bound, usually inside a
    /// namespace: a socket belongs to the namespace it was created in).
    pub(crate) fn start(listener: TcpListener, www: PathBuf) -> Result<Self, Error> {
        let port = listener
            .local_addr()
            .map_err(|e| Error::new(format!("local_addr: {e}")))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::new(format!("set_nonblocking: {e}")))?;
        let shared = Arc::new(Shared::default());
        let (events_tx, events) = mpsc::channel();
        let accept = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("tether-http".into())
                .spawn(move || accept_loop(&listener, &www, &shared, &events_tx))
                .map_err(|e| Error::new(format!("cannot spawn the HTTP thread: {e}")))?
        };
        Ok(Self {
            port,
            shared,
            events,
            accept: Some(accept),
        })
    }

    /// The port on 127.0.0.1 (inside the namespace).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The next event from the page, if one arrives within `timeout`.
    pub(crate) fn next_event(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Queues a message for the page's next `GET /to-page`.
    pub(crate) fn send(&self, msg: Value) {
        self.shared
            .to_page
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(msg);
        self.shared.queued.notify_all();
    }

    /// The page's log so far, one line per entry.
    pub(crate) fn log(&self) -> String {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.queued.notify_all();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    www: &Path,
    shared: &Arc<Shared>,
    events: &mpsc::Sender<Event>,
) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (www, shared, events) = (www.to_path_buf(), shared.clone(), events.clone());
                let _ = thread::Builder::new()
                    .name("tether-http-conn".into())
                    .spawn(move || {
                        let _ = serve(stream, &www, &shared, &events);
                    });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts
        .next()
        .ok_or_else(|| bad("empty request"))?
        .to_string();
    let target = parts.next().ok_or_else(|| bad("no request target"))?;
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad("headers cut short"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("bad content-length"))?;
            }
        }
    }
    if length > MAX_BODY {
        return Err(bad("body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request { method, path, body })
}

fn serve(
    mut stream: TcpStream,
    www: &Path,
    shared: &Shared,
    events: &mpsc::Sender<Event>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = read_request(&stream)?;
    let json = |body: &[u8]| serde_json::from_slice::<Value>(body);
    let (status, ctype, body): (u16, &str, Vec<u8>) = match (req.method.as_str(), req.path.as_str())
    {
        ("POST", "/to-test") | ("POST", "/result") => match json(&req.body) {
            Ok(v) => {
                let ev = if req.path == "/result" {
                    Event::Result(v)
                } else {
                    Event::Message(v)
                };
                let _ = events.send(ev);
                (200, "application/json", b"{}".to_vec())
            }
            Err(e) => {
                push_log(shared, format!("[harness] bad JSON on {}: {e}", req.path));
                (400, "text/plain", format!("bad JSON: {e}").into_bytes())
            }
        },
        ("POST", "/log") => {
            push_log(shared, String::from_utf8_lossy(&req.body).into_owned());
            (200, "application/json", b"{}".to_vec())
        }
        ("GET", "/to-page") => match wait_for_message(shared) {
            Some(v) => (200, "application/json", v.to_string().into_bytes()),
            None => (204, "application/json", Vec::new()),
        },
        ("GET", path) => match static_file(www, path) {
            Some((ctype, bytes)) => (200, ctype, bytes),
            None => (404, "text/plain", b"not found".to_vec()),
        },
        _ => (405, "text/plain", b"method not allowed".to_vec()),
    };
    if req.path != "/log" {
        push_log(
            shared,
            format!("[http] {} {} -> {status}", req.method, req.path),
        );
    }
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()
}

fn push_log(shared: &Shared, line: String) {
    shared
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(line);
}

fn wait_for_message(shared: &Shared) -> Option<Value> {
    let deadline = Instant::now() + LONG_POLL;
    let mut queue = shared.to_page.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(v) = queue.pop_front() {
            return Some(v);
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        queue = shared
            .queued
            .wait_timeout(queue, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

fn static_file(www: &Path, path: &str) -> Option<(&'static str, Vec<u8>)> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let bytes = std::fs::read(www.join(rel)).ok()?;
    let ctype = match rel.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    };
    Some((ctype, bytes))
}
