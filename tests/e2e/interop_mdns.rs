//! Chromium and Firefox with their defaults for host candidates (mDNS `<uuid>.local` names,
//! only the default route's address: for Chromium no
//! `--disable-features=WebRtcHideLocalIpsWithMdns`, for Firefox
//! `media.peerconnection.ice.obfuscate_host_addresses` left on, no media permission for
//! either) against a Tether peer on another "host": two network namespaces joined by a veth
//! pair, the browser in one (10.204.0.1, its default route pointing at the other end), the
//! signaling server and the Tether peer in the other (10.204.0.2).
//!
//! Our ICE agent does not resolve mDNS names (`webrtc-ice` runs with mDNS disabled: resolving
//! would mean multicast queries). The session still connects, through a peer-reflexive
//! candidate: the browser's checks to our host candidate arrive from 10.204.0.1, our agent learns
//! that address from them and answers. The test asserts exactly that, so a change in either
//! behaviour shows up here.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use session_core::candidate::CandidateType;
use tether_tests::browser::{self, Kind, Launch, NetNs};
use transport_tokio::PeerConfig;

use crate::interop_support::{
    recv_text, room, run_in, runtime_in, signaling_server_on, Page, RustPeer, TestResult, T,
};

/// The browser's host.
const BROWSER_IP: Ipv4Addr = Ipv4Addr::new(10, 204, 0, 1);
/// The Tether peer's host (and the signaling server's).
const TETHER_IP: Ipv4Addr = Ipv4Addr::new(10, 204, 0, 2);

const LIMIT: Duration = Duration::from_secs(60);

/// Chromium (impolite, offers, opens "chat") with mDNS host candidates; the Tether peer
/// (default gathering: its non-loopback interface, the veth) answers. Chromium's candidates
/// are `.local` names only; the channel opens, text crosses both ways; our selected remote
/// candidate is peer-reflexive, at Chromium's real address. (The whole scenario is
/// `mdns_host_candidates`, for either browser.)
#[test]
fn chromium_mdns_host_candidates_connect_via_peer_reflexive() -> TestResult {
    if browser::skipped("chromium_mdns_host_candidates_connect_via_peer_reflexive") {
        return Ok(());
    }
    mdns_host_candidates(Kind::Chromium)
}

/// The same with Firefox ESR and its defaults (`obfuscate_host_addresses` on).
#[test]
fn firefox_mdns_host_candidates_connect_via_peer_reflexive() -> TestResult {
    if browser::skipped("firefox_mdns_host_candidates_connect_via_peer_reflexive") {
        return Ok(());
    }
    mdns_host_candidates(Kind::Firefox)
}

fn mdns_host_candidates(kind: Kind) -> TestResult {
    let browser_ns = Arc::new(NetNs::new()?);
    let tether_ns = NetNs::new()?;
    browser_ns.link_to(&tether_ns, BROWSER_IP, TETHER_IP)?;
    browser_ns.route_default_via(TETHER_IP)?;
    let launched = Instant::now();
    let mut page = Page::launch_with(
        Launch::page("interop.html")
            .kind(kind)
            .in_netns(Arc::clone(&browser_ns))
            .default_host_candidates()
            .reachable(IpAddr::V4(TETHER_IP)),
    )?;
    let rt = runtime_in(&tether_ns)?;
    run_in(&rt, LIMIT, async move {
        let server = signaling_server_on(TETHER_IP).await?;
        let room = room();
        page.start(&server, &room, "impolite", "create").await?;
        // Default gathering: host candidates on non-loopback interfaces (the veth).
        let mut rust = RustPeer::join_with(&server.ws_url(), &room, PeerConfig::new(true)).await?;
        let mut dc = rust.next_channel().await?;
        page.channel_open("chat").await?;
        let opened = launched.elapsed();
        dc.send_text("hello, mDNS peer").await?;
        page.message("hello, mDNS peer").await?;
        let hello = format!("hello from {kind} on a .local host");
        page.cmd("send", json!({ "text": hello })).await?;
        assert_eq!(recv_text(&mut dc).await?, hello);

        // The browser's own candidates: mDNS names, never its address.
        let local: Vec<String> = page
            .events()
            .iter()
            .filter(|e| e["kind"] == "candidate" && e["side"] == "local")
            .filter_map(|e| e["candidate"].as_str().map(str::to_owned))
            .filter(|c| c != "end-of-candidates")
            .collect();
        let udp_hosts: Vec<&String> = local
            .iter()
            .filter(|c| c.to_lowercase().contains(" udp ") && c.contains(" typ host"))
            .collect();
        assert!(!udp_hosts.is_empty(), "no UDP host candidate: {local:?}");
        for c in &udp_hosts {
            let address = c.split_whitespace().nth(4).unwrap_or("");
            assert!(
                address.ends_with(".local"),
                "a host candidate with an address, not an mDNS name: {c}"
            );
        }
        assert!(
            !local.iter().any(|c| c.contains(&BROWSER_IP.to_string())),
            "{kind} revealed its address: {local:?}"
        );

        // Our side: the selected remote candidate is peer-reflexive, the browser's real address.
        let deadline = Instant::now() + T;
        let (remote, remote_type, local_addr) = loop {
            let stats = rust.pc.stats().await?;
            let settled = stats
                .generations
                .iter()
                .find(|g| g.promoted)
                .and_then(|g| Some((g.remote?, g.remote_type, g.local?)));
            if let Some(s) = settled {
                break s;
            }
            if Instant::now() >= deadline {
                return Err(format!("no promoted path: {stats:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let pair = page.selected_pair(T).await?;
        eprintln!(
            "{kind} with mDNS host candidates {udp_hosts:?}: chat open {opened:.1?} after \
             launch; our path {local_addr} -> {remote} ({remote_type:?}); {kind}'s pair {pair}"
        );
        assert_eq!(remote.ip(), IpAddr::V4(BROWSER_IP), "our remote address");
        assert_eq!(
            remote_type,
            Some(CandidateType::PeerReflexive),
            "our remote candidate type"
        );
        assert_eq!(local_addr.ip(), IpAddr::V4(TETHER_IP), "our local address");
        assert_eq!(
            pair["remote"]["port"].as_u64(),
            Some(u64::from(local_addr.port())),
            "{kind}'s remote is our host candidate: {pair}"
        );

        page.cmd("hangup", json!({})).await?;
        rust.wait_closed().await?;
        page.done().await?;
        server.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    })
}
