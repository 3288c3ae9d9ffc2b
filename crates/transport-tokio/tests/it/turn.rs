//! STUN and TURN against a local server on loopback (the `turn` crate's server, which also
//! answers STUN binding requests): server-reflexive gathering, and `set_configuration` to
//! relay-only plus an ICE restart moving a live transfer onto a relayed path. Nothing is sent
//! to any address but 127.0.0.1.

use test_support::{config, connect_pair, flow};

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use session_core::candidate::CandidateType;
use session_core::channel::DataChannelInit;
use session_core::config::{IceServer, IceTransportPolicy};
use session_core::signal::SignalMessage;
use transport_tokio::{
    memory_pair, MemorySignaling, PeerConnection, Signaling, SignalingError, Stats,
};
use turn::auth::{generate_auth_key, AuthHandler};
use turn::relay::relay_static::RelayAddressGeneratorStatic;
use turn::server::config::{ConnConfig, ServerConfig};
use turn::server::Server;
use webrtc_util::vnet::net::Net;

const USER: &str = "tether";
const PASS: &str = "relay-secret";
const REALM: &str = "tether.test";

struct Auth(Vec<u8>);

impl AuthHandler for Auth {
    fn auth_handle(
        &self,
        username: &str,
        _realm: &str,
        _src: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        if username == USER {
            Ok(self.0.clone())
        } else {
            Err(turn::Error::ErrNoSuchUser)
        }
    }
}

/// A TURN (and STUN) server on 127.0.0.1 with one user; relays are allocated on 127.0.0.1.
async fn turn_server() -> (Server, SocketAddr) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let server = Server::new(ServerConfig {
        conn_configs: vec![ConnConfig {
            conn: Arc::new(socket),
            relay_addr_generator: Box::new(RelayAddressGeneratorStatic {
                relay_address: IpAddr::from([127, 0, 0, 1]),
                address: "127.0.0.1".into(),
                net: Arc::new(Net::new(None)),
            }),
        }],
        realm: REALM.into(),
        auth_handler: Arc::new(Auth(generate_auth_key(USER, REALM, PASS))),
        channel_bind_timeout: Duration::ZERO,
        alloc_close_notify: None,
    })
    .await
    .unwrap();
    (server, addr)
}

fn turn_url(server: SocketAddr) -> IceServer {
    IceServer {
        urls: vec![format!("turn:{server}?transport=udp")],
        username: Some(USER.into()),
        credential: Some(PASS.into()),
    }
}

/// The selected path of a peer whose only live generation is promoted, if it has settled.
fn settled(stats: &Stats) -> Option<(Option<CandidateType>, Option<CandidateType>)> {
    match stats.generations.as_slice() {
        [g] if g.promoted && g.local.is_some() => Some((g.local_type, g.remote_type)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_after_set_configuration_and_restart() {
    let (server, server_addr) = turn_server().await;
    let p = connect_pair(
        config(false, Some(21)),
        config(true, Some(22)),
        DataChannelInit::default(),
        Duration::ZERO,
    )
    .await;
    let before = p.a.stats().await.unwrap();
    // The remote end is peer-reflexive when B's check arrived before its trickled candidate.
    assert!(
        matches!(
            settled(&before),
            Some((
                Some(CandidateType::Host),
                Some(CandidateType::Host | CandidateType::PeerReflexive)
            ))
        ),
        "not on host candidates first: {before:?}"
    );

    let mut f = flow::start(p.dc_a, p.dc_b, 16 * 1024, None);
    f.advance(200, Duration::from_secs(20)).await;

    let relay = vec![turn_url(server_addr)];
    let start = Instant::now();
    p.a.set_configuration(relay.clone(), IceTransportPolicy::Relay)
        .await
        .unwrap();
    p.b.set_configuration(relay, IceTransportPolicy::Relay)
        .await
        .unwrap();
    p.a.restart_ice().await.unwrap();

    // Both sides end on one promoted generation (the old one is retired after
    // `retire_grace`, 2 s; two restarts may run, one per side's configuration change) whose pair is relayed at both ends.
    let relayed = Some((Some(CandidateType::Relay), Some(CandidateType::Relay)));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (sa, sb) = loop {
        let (sa, sb) = (p.a.stats().await.unwrap(), p.b.stats().await.unwrap());
        if settled(&sa) == relayed && settled(&sb) == relayed {
            break (sa, sb);
        }
        assert!(
            Instant::now() < deadline,
            "not relayed after 30 s: A {sa:?} B {sb:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let switched = start.elapsed();
    // The relayed addresses are the TURN server's allocations on 127.0.0.1.
    for s in [&sa, &sb] {
        let g = &s.generations[0];
        assert!(g.generation.0 >= 1, "still the first generation: {s:?}");
        for addr in [g.local, g.remote].into_iter().flatten() {
            assert_eq!(addr.ip(), IpAddr::from([127, 0, 0, 1]));
            assert_ne!(addr, server_addr, "a relay is not the server's own port");
        }
    }
    // Data keeps flowing over the relay.
    f.advance(200, Duration::from_secs(20)).await;
    let (sent, r, dc_a, _dc_b) = f.finish().await;
    println!(
        "relay-only: set_configuration -> both on relay/relay in {switched:?}; {sent} messages \
         ({:.1} MiB) checked, longest gap {:?}; A {:?}",
        r.bytes as f64 / (1024.0 * 1024.0),
        r.longest_gap,
        sa.generations[0]
    );
    drop(dc_a);
    p.a.close().await;
    p.b.close().await;
    p.a.wait_closed().await;
    p.b.wait_closed().await;
    server.close().await.unwrap();
}

/// Records the candidates a peer sends.
struct Spy {
    inner: MemorySignaling,
    candidates: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Signaling for Spy {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        if let SignalMessage::Candidate { candidate } = &msg {
            self.candidates
                .lock()
                .unwrap()
                .push(candidate.candidate.clone());
        }
        self.inner.send(msg).await
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        self.inner.recv().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_reflexive_and_relayed_candidates_are_gathered() {
    let (server, server_addr) = turn_server().await;
    let (sa, sb) = memory_pair(Duration::ZERO);
    let candidates = Arc::new(Mutex::new(Vec::new()));
    let spy = Spy {
        inner: sa,
        candidates: Arc::clone(&candidates),
    };
    let mut ca = config(false, Some(23));
    ca.ice_servers = vec![
        IceServer {
            urls: vec![format!("stun:{server_addr}")],
            username: None,
            credential: None,
        },
        turn_url(server_addr),
    ];
    let cb = config(true, Some(24));
    let (a, _a_events) = PeerConnection::new(ca, spy).unwrap();
    let (b, _b_events) = PeerConnection::new(cb, sb).unwrap();
    let dc = a
        .create_data_channel("data", DataChannelInit::default())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), dc.wait_open())
        .await
        .unwrap()
        .unwrap();
    // Gathering goes on after the connection: wait for both kinds.
    let has = |typ: &str| {
        candidates
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.contains(&format!(" typ {typ}")))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(has("srflx") && has("relay")) {
        assert!(
            Instant::now() < deadline,
            "missing candidates: {:?}",
            candidates.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let list = candidates.lock().unwrap().clone();
    for c in &list {
        // Every candidate is on loopback: host 127.0.0.1, srflx as the server saw us, relays
        // allocated on 127.0.0.1.
        assert!(c.contains(" 127.0.0.1 "), "candidate off loopback: {c}");
    }
    println!("A's candidates: {list:#?}");
    a.close().await;
    b.close().await;
    a.wait_closed().await;
    b.wait_closed().await;
    server.close().await.unwrap();
}
