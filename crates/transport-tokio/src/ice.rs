//! One `webrtc-ice` agent per ICE generation: creation with the gathering options, candidate
//! conversion between the core's grammar and the agent's, and connectivity (dial/accept).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use session_core::candidate::{Candidate, CandidateProtocol};
use session_core::config::{IceServer, IceTransportPolicy};
use session_core::ice::IceCredentials;
use session_core::state::IceTransportState;
use session_core::transport::{Generation, IceRole, TransportId};
use tokio::sync::mpsc;
use webrtc_ice::agent::agent_config::AgentConfig;
use webrtc_ice::agent::Agent;
use webrtc_ice::candidate::candidate_base::unmarshal_candidate;
use webrtc_ice::candidate::CandidateType;
use webrtc_ice::mdns::MulticastDnsMode;
use webrtc_ice::network_type::NetworkType;
use webrtc_ice::state::ConnectionState;
use webrtc_ice::udp_network::{EphemeralUDP, UDPNetwork};
use webrtc_ice::url::Url;

use crate::error::TransportError;
use crate::switch::PathConn;

mod generation;
mod socket;
pub(crate) mod udp;
pub(crate) use generation::{GenAgent, RoleOptions};
pub use socket::DEFAULT_UDP_RECEIVE_BUFFER;

/// A filter on local IP addresses used for host candidates.
pub type IpFilter = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;
/// A filter on local interface names used for host candidates.
pub type InterfaceFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Which local addresses ICE gathers host candidates on, and how their sockets are set up.
#[derive(Clone)]
pub struct GatherOptions {
    /// Include loopback addresses (off by default, as in browsers).
    pub include_loopback: bool,
    /// Gather IPv6 candidates too (IPv4 only by default).
    pub ipv6: bool,
    /// Keep only the addresses this returns `true` for.
    pub ip_filter: Option<IpFilter>,
    /// Keep only the interfaces this returns `true` for.
    pub interface_filter: Option<InterfaceFilter>,
    /// The receive buffer (`SO_RCVBUF`) asked for on every host and server-reflexive socket,
    /// in bytes; [`DEFAULT_UDP_RECEIVE_BUFFER`] by default, `None` leaves the system default
    /// (208 KiB on Linux, where the request is capped at `net.core.rmem_max`). A larger
    /// buffer keeps datagrams that arrive while the machine is busy, instead of losing them
    /// in the kernel and stalling SCTP until it retransmits.
    pub udp_receive_buffer: Option<usize>,
    /// Bind the sockets of host and server-reflexive candidates here, and move datagrams in
    /// batches: `recvmmsg` with UDP GRO and `sendmsg` with UDP GSO, and the data path straight
    /// between the socket and the driver instead of through the ICE agent (`true` by default).
    /// `false` leaves the sockets to `webrtc-ice`: one system call and two task hops per
    /// datagram (the comparison in docs/benchmarks.md).
    pub batched_io: bool,
}

impl Default for GatherOptions {
    fn default() -> Self {
        Self {
            include_loopback: false,
            ipv6: false,
            ip_filter: None,
            interface_filter: None,
            udp_receive_buffer: Some(DEFAULT_UDP_RECEIVE_BUFFER),
            batched_io: true,
        }
    }
}

impl std::fmt::Debug for GatherOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatherOptions")
            .field("include_loopback", &self.include_loopback)
            .field("ipv6", &self.ipv6)
            .field("ip_filter", &self.ip_filter.is_some())
            .field("interface_filter", &self.interface_filter.is_some())
            .field("udp_receive_buffer", &self.udp_receive_buffer)
            .field("batched_io", &self.batched_io)
            .finish()
    }
}

impl GatherOptions {
    /// Host candidates on 127.0.0.1 only: for tests and same-machine peers.
    pub fn loopback_only() -> Self {
        Self {
            include_loopback: true,
            ipv6: false,
            ip_filter: Some(Arc::new(|ip: IpAddr| ip == IpAddr::from([127, 0, 0, 1]))),
            ..Self::default()
        }
    }
}

/// Connectivity-check tick of each agent while it is checking (RFC 8445's default pacing
/// `Ta`). `webrtc-ice` defaults to 200 ms and nominates a pair only on the tick after its
/// check succeeded, which made every setup and restart take 200-400 ms on a fast path.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Binding requests per pair before it fails: `webrtc-ice`'s 7 at its 200 ms tick, scaled to
/// our faster tick so a pair gets the same time (1.4 s) to answer.
pub(crate) const MAX_BINDING_REQUESTS: u16 = 28;

/// A generation of a transport.
pub(crate) type GenKey = (TransportId, Generation);

/// What a generation's agent reports to the driver.
pub(crate) enum IceReport {
    /// A local candidate was gathered.
    Candidate(Candidate),
    /// Gathering finished.
    GatheringComplete,
    /// The agent's state changed.
    State(IceTransportState),
    /// Connectivity established: the generation's path.
    Connected(PathConn),
    /// `dial`/`accept` failed (cancelled, closed, ...).
    ConnectFailed(String),
    /// The agent of this epoch checked for [`RoleOptions::flip_after`] without connecting.
    Stalled(u32),
}

impl std::fmt::Debug for IceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IceReport::Candidate(c) => f.debug_tuple("Candidate").field(c).finish(),
            IceReport::GatheringComplete => f.write_str("GatheringComplete"),
            IceReport::State(s) => f.debug_tuple("State").field(s).finish(),
            IceReport::Connected(_) => f.write_str("Connected"),
            IceReport::ConnectFailed(e) => f.debug_tuple("ConnectFailed").field(e).finish(),
            IceReport::Stalled(epoch) => f.debug_tuple("Stalled").field(epoch).finish(),
        }
    }
}

/// Sends an agent's reports to the driver, tagged with the generation.
pub(crate) type ReportTx = mpsc::Sender<(GenKey, IceReport)>;

fn map_state(s: ConnectionState) -> Option<IceTransportState> {
    Some(match s {
        ConnectionState::New => IceTransportState::New,
        ConnectionState::Checking => IceTransportState::Checking,
        ConnectionState::Connected => IceTransportState::Connected,
        ConnectionState::Completed => IceTransportState::Completed,
        ConnectionState::Disconnected => IceTransportState::Disconnected,
        ConnectionState::Failed => IceTransportState::Failed,
        ConnectionState::Closed => IceTransportState::Closed,
        _ => return None,
    })
}

/// Checks ICE servers before anything uses them: every URL parses, the agent can speak its
/// transport (UDP only), and TURN servers have a user name and a credential. The agent itself
/// would only log and skip such a server, leaving a relay-only session without candidates.
/// [`PeerConnection::new`](crate::PeerConnection::new) calls it; an application can call it
/// first to refuse bad input early.
pub fn check_ice_servers(servers: &[IceServer]) -> Result<(), crate::SetupError> {
    use crate::SetupError;
    use webrtc_ice::url::{ProtoType, SchemeType};
    for server in servers {
        for raw in &server.urls {
            let url = Url::parse_url(raw).map_err(|e| SetupError::BadIceServer {
                url: raw.clone(),
                reason: e.to_string(),
            })?;
            let unsupported = |reason| SetupError::UnsupportedIceServer {
                url: raw.clone(),
                reason,
            };
            match url.scheme {
                SchemeType::Stuns => return Err(unsupported("STUN over TLS (stuns:)")),
                SchemeType::Turns => return Err(unsupported("TURN over TLS (turns:)")),
                _ => {}
            }
            if url.proto == ProtoType::Tcp {
                return Err(unsupported("TURN over TCP (?transport=tcp)"));
            }
            let blank = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
            if url.scheme == SchemeType::Turn
                && (blank(&server.username) || blank(&server.credential))
            {
                return Err(SetupError::BadIceServer {
                    url: raw.clone(),
                    reason: "a TURN server needs a user name and a credential".into(),
                });
            }
        }
    }
    Ok(())
}

fn urls(servers: &[IceServer]) -> Vec<Url> {
    let mut out = Vec::new();
    for server in servers {
        for raw in &server.urls {
            match Url::parse_url(raw) {
                Ok(mut url) => {
                    url.username = server.username.clone().unwrap_or_default();
                    url.password = server.credential.clone().unwrap_or_default();
                    out.push(url);
                }
                Err(e) => tracing::warn!(url = %raw, error = %e, "ICE server URL ignored"),
            }
        }
    }
    out
}

/// How ICE watches the path it selected (RFC 7675 consent freshness, as `webrtc-ice` does it).
///
/// A path that goes silent (Wi-Fi gone bad, a NAT rebinding: the interface stays up, no OS event
/// says so) is noticed only by these timers; the restart policy then acts after its
/// `on_disconnected_after`. The defaults leave a silently dead path in about 2.5 s (the
/// goal is 3 s; libwebrtc calls a connection not receiving after 2.5 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IceTimeouts {
    /// A consent check (a STUN binding request, answered by any ICE peer) goes to the selected
    /// pair at least this often, so that an idle path is heard from. Default 1 s
    /// (`webrtc-ice`'s: 2 s).
    pub keepalive: Duration,
    /// Nothing received on the selected pair for this long: ICE reports `Disconnected`.
    /// Default 2 s, two consent checks (`webrtc-ice`'s: 5 s).
    pub disconnected: Duration,
    /// Then, this much longer: `Failed`. Default 25 s (`webrtc-ice`'s).
    pub failed: Duration,
}

impl Default for IceTimeouts {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(1),
            disconnected: Duration::from_secs(2),
            failed: Duration::from_secs(25),
        }
    }
}

/// The agent's UDP sockets: ours ([`udp::BatchedUdp`], through vendor/webrtc-ice's binder)
/// when [`GatherOptions::batched_io`] is set, `webrtc-ice`'s otherwise.
fn udp_network(gather: &GatherOptions) -> UDPNetwork {
    let mut ephemeral = EphemeralUDP::default();
    if gather.batched_io {
        ephemeral.set_binder(Arc::new(|addr| {
            Ok(Arc::new(udp::BatchedUdp::bind(addr)?) as Arc<dyn webrtc_util::Conn + Send + Sync>)
        }));
    }
    UDPNetwork::Ephemeral(ephemeral)
}

/// Creates a generation's agent with `local` credentials and starts gathering; reports go to
/// `tx`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start_agent(
    key: GenKey,
    local: &IceCredentials,
    ice_servers: &[IceServer],
    policy: IceTransportPolicy,
    gather: &GatherOptions,
    timeouts: &IceTimeouts,
    live: &Arc<AtomicBool>,
    tx: ReportTx,
) -> Result<Arc<Agent>, TransportError> {
    let urls = urls(ice_servers);
    let candidate_types = match policy {
        IceTransportPolicy::Relay => vec![CandidateType::Relay],
        _ if urls.is_empty() => vec![CandidateType::Host],
        _ => vec![
            CandidateType::Host,
            CandidateType::ServerReflexive,
            CandidateType::Relay,
        ],
    };
    let mut network_types = vec![NetworkType::Udp4];
    if gather.ipv6 {
        network_types.push(NetworkType::Udp6);
    }
    let ip_filter = gather
        .ip_filter
        .clone()
        .map(|f| Box::new(move |ip: IpAddr| f(ip)) as Box<dyn Fn(IpAddr) -> bool + Send + Sync>);
    let interface_filter = gather
        .interface_filter
        .clone()
        .map(|f| Box::new(move |name: &str| f(name)) as Box<dyn Fn(&str) -> bool + Send + Sync>);
    let config = AgentConfig {
        urls,
        local_ufrag: local.ufrag.clone(),
        local_pwd: local.pwd.clone(),
        // mDNS would send to a multicast group; candidates carry IP addresses instead.
        multicast_dns_mode: MulticastDnsMode::Disabled,
        network_types,
        candidate_types,
        include_loopback: gather.include_loopback,
        ip_filter: Arc::new(ip_filter),
        interface_filter: Arc::new(interface_filter),
        check_interval: CHECK_INTERVAL,
        keepalive_interval: Some(timeouts.keepalive),
        disconnected_timeout: Some(timeouts.disconnected),
        failed_timeout: Some(timeouts.failed),
        max_binding_requests: Some(MAX_BINDING_REQUESTS),
        // A peer-reflexive remote candidate is, with trickle, nearly always a host candidate
        // of the peer whose signaling message is still in flight (or was dropped with an
        // offer ignored on glare): the agent's default 1 s wait before nominating it was the
        // ~1 s outlier of setups and restarts.
        prflx_acceptance_min_wait: Some(Duration::ZERO),
        // Relay-only: every local candidate is relayed, there is nothing better to wait for.
        relay_acceptance_min_wait: (policy == IceTransportPolicy::Relay).then_some(Duration::ZERO),
        udp_network: udp_network(gather),
        ..AgentConfig::default()
    };
    let agent = Arc::new(
        Agent::new(config)
            .await
            .map_err(|e| TransportError::Ice(e.to_string()))?,
    );

    let cand_tx = tx.clone();
    let cand_live = Arc::clone(live);
    let receive_buffer = gather.udp_receive_buffer;
    agent.on_candidate(Box::new(move |c| {
        let tx = cand_tx.clone();
        let live = Arc::clone(&cand_live);
        if let (Some(bytes), Some(conn)) = (receive_buffer, c.as_ref().and_then(|c| c.get_conn())) {
            let granted = socket::set_receive_buffer(&**conn, bytes);
            tracing::debug!(requested = bytes, ?granted, "UDP receive buffer");
        }
        Box::pin(async move {
            if !live.load(Ordering::Acquire) {
                return; // replaced by an agent of the other role
            }
            let report = match c {
                None => Some(IceReport::GatheringComplete),
                Some(c) => {
                    let line = format!("candidate:{}", c.marshal());
                    match line.parse::<Candidate>() {
                        Ok(c) => Some(IceReport::Candidate(c)),
                        Err(e) => {
                            tracing::warn!(error = %e, "local candidate not representable");
                            None
                        }
                    }
                }
            };
            if let Some(r) = report {
                let _ = tx.send((key, r)).await;
            }
        })
    }));
    let state_tx = tx;
    let state_live = Arc::clone(live);
    agent.on_connection_state_change(Box::new(move |s| {
        let tx = state_tx.clone();
        let live = Arc::clone(&state_live);
        Box::pin(async move {
            if !live.load(Ordering::Acquire) {
                return;
            }
            if let Some(s) = map_state(s) {
                let _ = tx.send((key, IceReport::State(s))).await;
            }
        })
    }));
    agent
        .gather_candidates()
        .map_err(|e| TransportError::Ice(e.to_string()))?;
    Ok(agent)
}

/// Starts connectivity checks with the remote credentials (dial when controlling, accept
/// when controlled). The path is reported as [`IceReport::Connected`]. Dropping the returned
/// sender cancels the attempt.
fn connect(
    key: GenKey,
    agent: &Arc<Agent>,
    role: IceRole,
    remote: IceCredentials,
    live: &Arc<AtomicBool>,
    tx: ReportTx,
) -> mpsc::Sender<()> {
    let (cancel_tx, cancel_rx) = mpsc::channel(1);
    let agent = Arc::clone(agent);
    let live = Arc::clone(live);
    tokio::spawn(async move {
        let result = if role == IceRole::Controlling {
            agent
                .dial(cancel_rx, remote.ufrag, remote.pwd)
                .await
                .map(|c| c as PathConn)
        } else {
            agent
                .accept(cancel_rx, remote.ufrag, remote.pwd)
                .await
                .map(|c| c as PathConn)
        };
        if !live.load(Ordering::Acquire) {
            return; // replaced: its path must not reach the switch
        }
        let report = match result {
            Ok(conn) => IceReport::Connected(conn),
            Err(e) => IceReport::ConnectFailed(e.to_string()),
        };
        let _ = tx.send((key, report)).await;
    });
    cancel_tx
}

/// Adds a remote candidate of the core's grammar to an agent. TCP and unparsable candidates are
/// skipped (logged).
fn add_remote_candidate(agent: &Agent, c: &Candidate) {
    if c.protocol != CandidateProtocol::Udp {
        tracing::debug!(address = %c.address, "non-UDP remote candidate skipped");
        return;
    }
    // The agent's grammar: no `candidate:` prefix, no extensions after raddr/rport.
    let mut line = format!(
        "{} {} {} {} {} {} typ {}",
        c.foundation,
        c.component,
        c.protocol.as_str(),
        c.priority,
        c.address,
        c.port,
        c.typ.as_str()
    );
    if let (Some(addr), Some(port)) = (&c.related_address, c.related_port) {
        line.push_str(&format!(" raddr {addr} rport {port}"));
    }
    match unmarshal_candidate(&line) {
        Ok(cand) => {
            let cand: Arc<dyn webrtc_ice::candidate::Candidate + Send + Sync> = Arc::new(cand);
            if let Err(e) = agent.add_remote_candidate(&cand) {
                tracing::warn!(error = %e, "remote candidate refused by the agent");
            }
        }
        Err(e) => tracing::warn!(error = %e, "remote candidate not understood by the agent"),
    }
}

/// The core's name of a `webrtc-ice` candidate type.
pub(crate) fn candidate_type(t: CandidateType) -> session_core::candidate::CandidateType {
    use session_core::candidate::CandidateType as Core;
    match t {
        CandidateType::ServerReflexive => Core::ServerReflexive,
        CandidateType::PeerReflexive => Core::PeerReflexive,
        CandidateType::Relay => Core::Relay,
        // `Host`, and `Unspecified`, which a selected pair never has.
        _ => Core::Host,
    }
}

/// Closes an agent in the background (closing can wait on the agent's internal tasks).
pub(crate) fn close_agent(agent: Arc<Agent>) {
    tokio::spawn(async move {
        let _ = agent.close().await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc_ice::candidate::Candidate as _;

    /// The core's simulator failed a dead path after 8 s, the real agent after 30 s,
    /// so simulated recovery looked faster than the real one.
    #[test]
    fn the_core_simulator_times_out_paths_as_our_agents_do() {
        let sim = session_core::sim::SimConfig::default();
        let ours = IceTimeouts::default();
        assert_eq!(sim.consent_timeout, ours.disconnected);
        assert_eq!(sim.failed_timeout, ours.failed);
    }

    #[test]
    fn candidate_round_trip_through_the_agent_grammar() {
        let line = "candidate:1234 1 udp 2130706431 127.0.0.1 50000 typ host ufrag abcd";
        let c: Candidate = line.parse().unwrap();
        let raw = format!(
            "{} {} {} {} {} {} typ {}",
            c.foundation,
            c.component,
            c.protocol.as_str(),
            c.priority,
            c.address,
            c.port,
            c.typ.as_str()
        );
        let ice = unmarshal_candidate(&raw).unwrap();
        let back: Candidate = format!("candidate:{}", ice.marshal()).parse().unwrap();
        assert_eq!(back.address, "127.0.0.1");
        assert_eq!(back.port, 50000);
        assert_eq!(back.priority, 2130706431);
        assert_eq!(back.foundation, "1234");
    }

    #[test]
    fn loopback_filter_keeps_only_127_0_0_1() {
        let g = GatherOptions::loopback_only();
        let f = g.ip_filter.unwrap();
        assert!(f(IpAddr::from([127, 0, 0, 1])));
        assert!(!f(IpAddr::from([192, 168, 1, 1])));
        assert!(!f(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])));
    }

    /// The agent's real sockets get the receive buffer asked for, as soon as their candidate
    /// is gathered (and the system default when `None`).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn gathered_sockets_get_the_receive_buffer_asked_for() {
        use socket::tests::rmem;
        let cases = [
            (
                Some(DEFAULT_UDP_RECEIVE_BUFFER),
                2 * DEFAULT_UDP_RECEIVE_BUFFER.min(rmem("rmem_max")),
            ),
            (Some(300_000), 2 * 300_000usize.min(rmem("rmem_max"))),
            (None, rmem("rmem_default")),
        ];
        for (asked, expected) in cases {
            let gather = GatherOptions {
                udp_receive_buffer: asked,
                ..GatherOptions::loopback_only()
            };
            let (tx, mut rx) = mpsc::channel(16);
            let creds = IceCredentials {
                ufrag: "abcd".to_owned(),
                pwd: "abcdefghijklmnopqrstuvwxyz".to_owned(),
            };
            let live = Arc::new(AtomicBool::new(true));
            let key = (TransportId(0), Generation(0));
            let agent = start_agent(
                key,
                &creds,
                &[],
                IceTransportPolicy::All,
                &gather,
                &IceTimeouts::default(),
                &live,
                tx,
            )
            .await
            .unwrap();
            let mut gathered = 0;
            while let Some((_, report)) = rx.recv().await {
                match report {
                    IceReport::Candidate(_) => gathered += 1,
                    IceReport::GatheringComplete => break,
                    _ => {}
                }
            }
            assert_eq!(gathered, 1, "one host candidate on 127.0.0.1");
            let local = agent.get_local_candidates().await.unwrap();
            let conn = local[0].get_conn().expect("a host candidate has a socket");
            assert_eq!(
                socket::receive_buffer(&**conn),
                Some(expected),
                "asked {asked:?}"
            );
            agent.close().await.unwrap();
        }
    }

    fn server(url: &str, user: Option<&str>) -> IceServer {
        IceServer {
            urls: vec![url.to_owned()],
            username: user.map(str::to_owned),
            credential: user.map(|_| "secret".to_owned()),
        }
    }

    #[test]
    fn ice_servers_the_agent_cannot_use_are_typed_errors() {
        use crate::SetupError;
        for ok in [
            server("stun:127.0.0.1:3478", None),
            server("turn:127.0.0.1:3478", Some("u")),
            server("turn:127.0.0.1:3478?transport=udp", Some("u")),
        ] {
            check_ice_servers(&[ok]).unwrap();
        }
        for (bad, tls) in [
            (server("turns:127.0.0.1:5349", Some("u")), true),
            (server("stuns:127.0.0.1:5349", None), true),
            (
                server("turn:127.0.0.1:3478?transport=tcp", Some("u")),
                false,
            ),
        ] {
            match check_ice_servers(&[bad]) {
                Err(SetupError::UnsupportedIceServer { reason, .. }) => {
                    assert_eq!(reason.contains("TLS"), tls, "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            check_ice_servers(&[server("turn:127.0.0.1:3478", None)]),
            Err(SetupError::BadIceServer { .. })
        ));
        assert!(matches!(
            check_ice_servers(&[server("http://127.0.0.1", None)]),
            Err(SetupError::BadIceServer { .. })
        ));
    }
}
