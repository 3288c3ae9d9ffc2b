//! coturn as the TURN server (Debian's `coturn`, started by the test inside its own network
//! namespace on 10.203.0.1, a second address of the namespace's `lo`; long-term credentials;
//! TURN over UDP, the only transport `webrtc-ice` 0.17 gathers relayed candidates with, see
//! `docs/interop.md`): relay-only sessions.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use session_core::candidate::CandidateType;
use session_core::config::{IceServer, IceTransportPolicy};
use tether::WsSignaling;
use tether_tests::browser::{self, Kind, Launch, NetNs};
use tether_tests::coturn::{self, Coturn};
use transport_tokio::{PeerConfig, Stats};

use crate::interop_support::{
    loopback_config, recv_text, room, run_in, runtime_in, signaling_server, Page, RustPeer,
    TestResult, T,
};

/// Where coturn listens and relays (inside the test's namespace only).
const TURN_IP: Ipv4Addr = Ipv4Addr::new(10, 203, 0, 1);

/// Whole-test limit.
const LIMIT: Duration = Duration::from_secs(60);

/// Relay-only through `turn`, with its long-term credentials.
fn relay_only(polite: bool, turn: &str) -> PeerConfig {
    let mut config = loopback_config(polite);
    config.ice_servers = vec![IceServer {
        urls: vec![turn.to_owned()],
        username: Some(coturn::USER.into()),
        credential: Some(coturn::PASSWORD.into()),
    }];
    config.ice_transport_policy = IceTransportPolicy::Relay;
    config
}

/// A namespace with coturn running in it, and a runtime whose threads live there.
fn namespace_with_coturn() -> Result<(Arc<NetNs>, Coturn), crate::interop_support::BoxError> {
    let ns = Arc::new(NetNs::new()?);
    ns.add_address(TURN_IP)?;
    let turn = Coturn::start(&ns, TURN_IP)?;
    Ok((ns, turn))
}

/// The promoted generation's (local, remote, local type, remote type), once it is the only one.
fn settled(
    stats: &Stats,
) -> Option<(
    SocketAddr,
    SocketAddr,
    Option<CandidateType>,
    Option<CandidateType>,
)> {
    match stats.generations.as_slice() {
        [g] if g.promoted => Some((g.local?, g.remote?, g.local_type, g.remote_type)),
        _ => None,
    }
}

fn is_relay_allocation(addr: SocketAddr) -> bool {
    addr.ip() == TURN_IP && coturn::RELAY_PORTS.contains(&addr.port())
}

/// Two Tether peers, both relay-only, through the real signaling server: each gathers a relayed
/// candidate from coturn (an allocation on 10.203.0.1), the selected path is relayed at both
/// ends (each side's local address is a coturn allocation and is the other side's remote
/// address), and text crosses both ways. coturn's log shows the two allocations and their
/// permissions.
#[test]
fn two_tether_peers_relay_only_through_coturn() -> TestResult {
    if browser::skipped("two_tether_peers_relay_only_through_coturn") {
        return Ok(());
    }
    let (ns, mut turn) = namespace_with_coturn()?;
    let rt = runtime_in(&ns)?;
    let url = turn.url();
    eprintln!("coturn {} on {}", turn.version(), turn.addr());
    let result = run_in(&rt, LIMIT, async move {
        let server = signaling_server().await?;
        let room = room();
        let sig_a = WsSignaling::connect(&server.ws_url(), &room, None).await?;
        let sig_b = WsSignaling::connect(&server.ws_url(), &room, None).await?;
        let started = Instant::now();
        let a = RustPeer::with_config(sig_a, relay_only(false, &url))?;
        let mut b = RustPeer::with_config(sig_b, relay_only(true, &url))?;
        let mut dc_a = a.pc.create_data_channel("chat", Default::default()).await?;
        let mut dc_b = b.next_channel().await?;
        dc_a.send_text("from A over the relays").await?;
        assert_eq!(recv_text(&mut dc_b).await?, "from A over the relays");
        let first_message = started.elapsed();
        dc_b.send_text("from B over the relays").await?;
        assert_eq!(recv_text(&mut dc_a).await?, "from B over the relays");

        let deadline = Instant::now() + T;
        let (pa, pb) = loop {
            let (sa, sb) = (a.pc.stats().await?, b.pc.stats().await?);
            if let (Some(pa), Some(pb)) = (settled(&sa), settled(&sb)) {
                break (pa, pb);
            }
            if Instant::now() >= deadline {
                return Err(format!("no settled path: A {sa:?}\nB {sb:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        eprintln!(
            "relay-only Tether <-> Tether through coturn: first message after {first_message:.1?}; \
             A {} ({:?}) -> {} ({:?}); B {} ({:?}) -> {} ({:?})",
            pa.0, pa.2, pa.1, pa.3, pb.0, pb.2, pb.1, pb.3
        );
        for (who, p) in [("A", &pa), ("B", &pb)] {
            assert_eq!(
                p.2,
                Some(CandidateType::Relay),
                "{who}'s local candidate: {p:?}"
            );
            assert!(
                is_relay_allocation(p.0),
                "{who}'s local address {} is not a coturn allocation",
                p.0
            );
            assert!(
                is_relay_allocation(p.1),
                "{who}'s remote address {} is not a coturn allocation",
                p.1
            );
            // A check that arrives before the trickled candidate makes it peer-reflexive: the
            // same relayed address.
            assert!(
                matches!(
                    p.3,
                    Some(CandidateType::Relay | CandidateType::PeerReflexive)
                ),
                "{who}'s remote candidate: {p:?}"
            );
        }
        assert_eq!(pa.0, pb.1, "A's relayed address is B's remote");
        assert_eq!(pb.0, pa.1, "B's relayed address is A's remote");
        assert_ne!(pa.0, pb.0, "two allocations");

        a.pc.close().await;
        b.wait_closed().await?;
        server.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    });
    let log = turn.log();
    if let Err(e) = result {
        return Err(turn.fail(format!("{e}")).into());
    }
    // coturn's own account: two allocations for our user, and permissions (and channels) on
    // its relay address for the other side's allocation.
    let count = |what: &str| {
        let needle = format!(
            "user <{}>: incoming packet {what} processed, success",
            coturn::USER
        );
        log.lines().filter(|l| l.contains(&needle)).count()
    };
    let (allocations, permissions) = (count("ALLOCATE"), count("CREATE_PERMISSION"));
    assert!(
        allocations >= 2 && permissions >= 2,
        "coturn logged {allocations} allocations and {permissions} permissions for our user:\n{log}"
    );
    eprintln!(
        "coturn: {allocations} allocations, {permissions} permissions, {} channel binds, {} \
         refreshes for user {}",
        count("CHANNEL_BIND"),
        count("REFRESH"),
        coturn::USER
    );
    Ok(())
}

/// Chromium and a Tether peer, both relay-only through coturn (Chromium: the page's
/// `iceTransportPolicy: "relay"` and coturn as its ICE server; both in the namespace coturn runs
/// in): Chromium offers, both select a relayed path (Chromium's selected pair has a local relay
/// candidate, ours a local relayed address), text crosses both ways.
#[test]
fn chromium_and_tether_relay_only_through_coturn() -> TestResult {
    if browser::skipped("chromium_and_tether_relay_only_through_coturn") {
        return Ok(());
    }
    browser_and_tether_relay_only(Kind::Chromium)
}

/// The same with Firefox ESR.
#[test]
fn firefox_and_tether_relay_only_through_coturn() -> TestResult {
    if browser::skipped("firefox_and_tether_relay_only_through_coturn") {
        return Ok(());
    }
    browser_and_tether_relay_only(Kind::Firefox)
}

fn browser_and_tether_relay_only(kind: Kind) -> TestResult {
    let (ns, mut turn) = namespace_with_coturn()?;
    let mut page = Page::launch_with(
        Launch::page("interop.html")
            .kind(kind)
            .in_netns(Arc::clone(&ns)),
    )?;
    let rt = runtime_in(&ns)?;
    let url = turn.url();
    let result = run_in(&rt, LIMIT, async move {
        let server = signaling_server().await?;
        let room = room();
        let ice = json!({
            "iceServers": [{ "urls": [url], "username": coturn::USER, "credential": coturn::PASSWORD }],
            "relayOnly": true,
        });
        page.start_with(&server, &room, "impolite", "create", ice)
            .await?;
        let mut rust = RustPeer::join_with(&server.ws_url(), &room, relay_only(true, &url)).await?;
        let mut dc = rust.next_channel().await?;
        page.channel_open("chat").await?;
        dc.send_text("from Rust over the relays").await?;
        page.message("from Rust over the relays").await?;
        let hello = format!("from {kind} over the relays");
        page.cmd("send", json!({ "text": hello })).await?;
        assert_eq!(recv_text(&mut dc).await?, hello);

        let pair = page.selected_pair(T).await?;
        let deadline = Instant::now() + T;
        let ours = loop {
            let stats = rust.pc.stats().await?;
            if let Some(p) = settled(&stats) {
                break p;
            }
            if Instant::now() >= deadline {
                return Err(format!("no settled path: {stats:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        eprintln!(
            "relay-only {kind} <-> Tether through coturn: {kind}'s pair {pair}; ours {} ({:?}) \
             -> {} ({:?})",
            ours.0, ours.2, ours.1, ours.3
        );
        assert_eq!(
            pair["local"]["type"], "relay",
            "{kind}'s local candidate: {pair}"
        );
        assert_eq!(pair["local"]["address"], TURN_IP.to_string(), "{pair}");
        assert_eq!(
            ours.2,
            Some(CandidateType::Relay),
            "our local candidate: {ours:?}"
        );
        assert!(
            is_relay_allocation(ours.0),
            "our local address {} is not a coturn allocation",
            ours.0
        );
        assert!(
            is_relay_allocation(ours.1),
            "our remote address {} is not a coturn allocation",
            ours.1
        );
        assert_eq!(
            pair["remote"]["port"].as_u64(),
            Some(u64::from(ours.0.port())),
            "{kind}'s remote is our relayed address: {pair}"
        );
        page.cmd("hangup", json!({})).await?;
        rust.wait_closed().await?;
        page.done().await?;
        server.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    });
    if let Err(e) = result {
        return Err(turn.fail(format!("{e}")).into());
    }
    Ok(())
}
