//! (7) The page `tether signal` serves: two Chromium instances open it on one room, connect
//! through the server, chat, restart ICE with the page's button and hang up; a screenshot of each page after connecting is saved as a test
//! artifact (`target/tmp/tether-browser/signal-page-{a,b}.png`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tether_tests::browser::{self, cdp::Cdp, Browser, Launch, NetNs};

use crate::interop_support::{room, run_in, runtime_in, signaling_server, TestResult, T};

/// Where the screenshots go.
fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tether-browser")
}

/// Polls `window.tetherApp.seen` until `pred` holds.
async fn wait_seen(
    cdp: &mut Cdp,
    who: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let seen = cdp
            .eval("window.tetherApp ? JSON.parse(JSON.stringify(window.tetherApp.seen)) : null")
            .await
            .map_err(|e| e.to_string())?;
        if pred(&seen) {
            return Ok(seen);
        }
        if tokio::time::Instant::now() >= deadline {
            let timeline = cdp
                .eval("document.getElementById('timeline').innerText")
                .await
                .unwrap_or_default();
            return Err(format!(
                "page {who}: not {what} within {T:?}: {seen}\ntimeline:\n{}",
                timeline.as_str().unwrap_or("")
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn two_chromium_tabs_call_each_other_through_the_signal_page() -> TestResult {
    if browser::skipped("two_chromium_tabs_call_each_other_through_the_signal_page") {
        return Ok(());
    }
    let ns = Arc::new(NetNs::new()?);
    let rt = runtime_in(&ns)?;
    // The server first (inside the namespace), then the two browsers on its page.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    run_in(&rt, T, async move {
        let server = signaling_server().await?;
        tx.send(server.local_addr())?;
        tokio::spawn(async move {
            let _ = stop_rx.await;
            let _ = server.shutdown(Duration::from_secs(5)).await;
        });
        Ok(())
    })?;
    let addr = rx.recv_timeout(T)?;
    let url = format!("http://{addr}/#room={}", room());
    let mut a = Browser::launch_with(Launch::url(&url).in_netns(Arc::clone(&ns)).devtools())?;
    let mut b = Browser::launch_with(Launch::url(&url).in_netns(Arc::clone(&ns)).devtools())?;
    let (port_a, port_b) = (a.devtools_port(T)?, b.devtools_port(T)?);
    let dir = artifacts();
    let result = run_in(&rt, Duration::from_secs(60), async move {
        let mut pa = Cdp::connect(port_a, T).await?;
        let mut pb = Cdp::connect(port_b, T).await?;
        let connected = |s: &Value| s["channelOpen"] == true && s["connectionState"] == "connected";
        let sa = wait_seen(&mut pa, "A", "connected", connected).await?;
        let sb = wait_seen(&mut pb, "B", "connected", connected).await?;
        assert_ne!(
            sa["polite"], sb["polite"],
            "exactly one side is polite: {sa} {sb}"
        );

        pa.eval("window.tetherApp.send('hello from A')").await?;
        pb.eval("window.tetherApp.send('hello from B')").await?;
        let has = |text: &'static str| {
            move |s: &Value| {
                s["messages"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|x| x == text))
            }
        };
        wait_seen(&mut pb, "B", "given A's message", has("hello from A")).await?;
        wait_seen(&mut pa, "A", "given B's message", has("hello from B")).await?;

        // "Restart ICE" on A: new ufrags on both ends, a new selected pair, the call goes on.
        let stats = "window.tetherApp.call.stats()";
        let before = pa.eval(stats).await?;
        pa.eval("document.getElementById('restart').click()")
            .await?;
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let now = pa.eval(stats).await?;
            if now["localUfrag"] != before["localUfrag"]
                && now["remoteUfrag"] != before["remoteUfrag"]
                && now["selectedPairId"] != before["selectedPairId"]
                && now["selectedPairId"].is_string()
            {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("no restart: before {before}\nnow {now}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        pb.eval("window.tetherApp.send('after the restart')")
            .await?;
        wait_seen(
            &mut pa,
            "A",
            "given B's message after the restart",
            has("after the restart"),
        )
        .await?;

        // The stats panel shows the selected pair and the timeline has the whole story.
        for cdp in [&mut pa, &mut pb] {
            cdp.eval("window.tetherApp.refreshStats()").await?;
            let stats = cdp
                .eval("document.getElementById('stats').innerText")
                .await?;
            let stats = stats.as_str().unwrap_or("");
            assert!(stats.contains("127.0.0.1:"), "stats panel: {stats}");
            let timeline = cdp
                .eval("document.getElementById('timeline').innerText")
                .await?;
            let timeline = timeline.as_str().unwrap_or("");
            for needle in [
                "signaling joined",
                "local candidate",
                "dtlsState",
                "selected pair",
            ] {
                assert!(
                    timeline.contains(needle),
                    "no {needle:?} in the timeline:\n{timeline}"
                );
            }
        }
        let timeline = pa
            .eval("document.getElementById('timeline').innerText")
            .await?;
        assert!(
            timeline
                .as_str()
                .is_some_and(|t| t.contains("restartIce() requested")),
            "A's timeline shows the restart: {timeline}"
        );
        pa.screenshot(&dir.join("signal-page-a.png")).await?;
        pb.screenshot(&dir.join("signal-page-b.png")).await?;
        eprintln!("screenshots in {}", dir.display());

        // Hang up on A: B sees the call end.
        pa.eval("document.getElementById('hangup').click()").await?;
        wait_seen(&mut pb, "B", "ended", |s| s["ended"].is_string()).await?;
        Ok(())
    });
    let _ = stop_tx.send(());
    drop((a, b));
    result
}
