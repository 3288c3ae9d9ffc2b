//! The browser harness itself: namespace containment, the message channel, failure reporting,
//! and a first real Chromium offer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;
use tether_tests::browser::{self, Browser, NetNs};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T: Duration = Duration::from_secs(15);

/// Sockets created in a [`NetNs`] live in a namespace that has only `lo`, and a listener there is
/// invisible from the test's own namespace.
#[test]
fn netns_is_loopback_only_and_isolated() -> TestResult {
    if browser::skipped("netns_is_loopback_only_and_isolated") {
        return Ok(());
    }
    let ns = NetNs::new()?;
    let (ifaces, port) = ns.run(|| -> std::io::Result<(Vec<String>, u16)> {
        let dev = std::fs::read_to_string("/proc/thread-self/net/dev")?;
        let ifaces = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|s| s.trim().to_string())
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        // Keep serving one greeting from inside, on a thread that inherits the namespace.
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = s.write_all(b"inside");
            }
        });
        Ok((ifaces, port))
    })??;
    assert_eq!(
        ifaces,
        ["lo"],
        "the namespace must have only a loopback interface"
    );

    // From the machine's namespace the listener does not exist.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "a listener inside the namespace must not be reachable from outside"
    );
    // From inside it does.
    let greeting = ns.run(move || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })??;
    assert_eq!(greeting, "inside");
    Ok(())
}

/// Messages both ways, then the page's verdict.
#[test]
fn messages_round_trip() -> TestResult {
    if browser::skipped("messages_round_trip") {
        return Ok(());
    }
    let mut b = Browser::launch("echo.html?x=1")?;
    let hello = b.expect("hello", T)?;
    assert_eq!(hello["params"]["x"], "1");
    for i in 0..3 {
        b.send(json!({ "type": "ping", "i": i }))?;
        let echo = b.expect("echo", T)?;
        assert_eq!(echo["msg"], json!({ "type": "ping", "i": i }));
    }
    b.send(json!({ "type": "done" }))?;
    let verdict = b.result(T)?;
    assert_eq!(verdict["echoed"], 3);
    Ok(())
}

/// A page that throws fails the waiting `recv` at once, with its error in the message.
#[test]
fn page_failure_is_reported() -> TestResult {
    if browser::skipped("page_failure_is_reported") {
        return Ok(());
    }
    let mut b = Browser::launch("echo.html")?;
    b.expect("hello", T)?;
    b.send(json!({ "type": "throw", "why": "on purpose" }))?;
    let started = Instant::now();
    let err = b
        .recv(T)
        .expect_err("the page threw, recv must fail")
        .to_string();
    assert!(err.contains("asked to throw: on purpose"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the failure must not wait for the timeout"
    );
    assert!(b.result(T).is_err(), "the verdict is ok: false");
    Ok(())
}

/// Chromium creates an offer (audio, video, data) in its namespace; the test gets its SDP.
#[test]
fn chromium_offer_reaches_the_test() -> TestResult {
    if browser::skipped("chromium_offer_reaches_the_test") {
        return Ok(());
    }
    let started = Instant::now();
    let mut b = Browser::launch("offer.html?media=1")?;
    let offer = b.expect("offer", T)?;
    let sdp = offer["sdp"].as_str().ok_or("offer without sdp")?;
    assert!(
        sdp.contains("a=fingerprint:sha-256 "),
        "no sha-256 fingerprint in:\n{sdp}"
    );
    for m in ["m=audio ", "m=video ", "m=application "] {
        assert!(sdp.contains(m), "no {m} in:\n{sdp}");
    }
    b.send(json!({ "type": "bye" }))?;
    let verdict = b.result(T)?;
    assert!(
        verdict["userAgent"]
            .as_str()
            .unwrap_or("")
            .contains("Chrome/"),
        "{verdict}"
    );
    drop(b);
    eprintln!("chromium_offer_reaches_the_test: {:.1?}", started.elapsed());
    Ok(())
}

/// Firefox ESR through the same harness (its own loopback-only namespace, a fresh profile):
/// messages both ways, then a real offer (fake camera and microphone, a data channel).
#[test]
fn firefox_offer_reaches_the_test() -> TestResult {
    if browser::skipped("firefox_offer_reaches_the_test") {
        return Ok(());
    }
    let started = Instant::now();
    let mut b = Browser::launch_firefox("echo.html?x=2")?;
    let hello = b.expect("hello", T)?;
    let loaded = started.elapsed();
    assert_eq!(hello["params"]["x"], "2");
    b.send(json!({ "type": "ping" }))?;
    assert_eq!(b.expect("echo", T)?["msg"], json!({ "type": "ping" }));
    b.send(json!({ "type": "done" }))?;
    b.result(T)?;
    drop(b);

    let mut b = Browser::launch_firefox("offer.html?media=1")?;
    let offer = b.expect("offer", T)?;
    let sdp = offer["sdp"].as_str().ok_or("offer without sdp")?;
    for m in [
        "m=audio ",
        "m=video ",
        "m=application ",
        "a=fingerprint:sha-256 ",
    ] {
        assert!(sdp.contains(m), "no {m} in:\n{sdp}");
    }
    b.send(json!({ "type": "bye" }))?;
    let verdict = b.result(T)?;
    assert!(
        verdict["userAgent"]
            .as_str()
            .unwrap_or("")
            .contains("Firefox/"),
        "{verdict}"
    );
    drop(b);
    eprintln!(
        "firefox_offer_reaches_the_test: first page message {loaded:.1?} after launch; both \
         pages {:.1?}",
        started.elapsed()
    );
    Ok(())
}
