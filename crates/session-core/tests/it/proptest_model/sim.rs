//! Property 1: random operations on both peers of the simulator (perfect negotiation).

use super::*;

/// The simulated signaling network of a case.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NetProfile {
    /// A constant delay (so in order, like a WebSocket), no loss, no duplication: liveness
    /// is checked.
    Clean,
    /// Wide delay spread (so reordering) and duplication, no loss: liveness is checked too.
    Jittery,
    /// Loss, duplication and reordering: safety is checked (no `handle_signal` error is
    /// excused); liveness is not, since a lost `bye` or every candidate lost can legitimately
    /// keep a pair apart for longer than the bounded run.
    Lossy { loss: f64 },
}

#[derive(Debug, Clone)]
enum SimOp {
    /// An in-band data channel.
    DataChannel {
        side: PeerId,
        label: u8,
        ordered: bool,
    },
    /// A negotiated data channel created on both sides with the same stream id.
    NegotiatedPair {
        id: u16,
        label: u8,
    },
    AddTransceiver {
        side: PeerId,
        video: bool,
        dir: Direction,
    },
    AddTrack {
        side: PeerId,
        video: bool,
    },
    SetDirection {
        side: PeerId,
        idx: usize,
        dir: Direction,
    },
    StopTransceiver {
        side: PeerId,
        idx: usize,
    },
    RestartIce {
        side: PeerId,
    },
    /// A partial restart: `restart_ice_transport` for the first mid of the side's transport
    /// number `idx` (modulo their count; one transport per m-section when unbundled).
    RestartIceTransport {
        side: PeerId,
        idx: usize,
    },
    /// `set_configuration` with ice servers variant `servers` (3: an invalid URL).
    SetConfiguration {
        side: PeerId,
        servers: u8,
        relay: bool,
    },
    /// `set_configuration` that changes an immutable field (bundle policy or certificate).
    IllegalConfiguration {
        side: PeerId,
        certificate: bool,
    },
    NetworkChanged {
        side: PeerId,
    },
    Link {
        up: bool,
    },
    Advance {
        ms: u64,
    },
}

#[derive(Debug, Clone)]
struct SimCase {
    seed: u64,
    net: NetProfile,
    /// Connect (and settle) before the operations.
    warmup: bool,
    /// Both peers use `BundlePolicy::MaxCompat` (a transport per m-section) instead of
    /// max-bundle.
    unbundled: bool,
    ops: Vec<SimOp>,
    /// Close `side` before operation `at` (rare).
    close: Option<(usize, PeerId)>,
}

fn peer() -> impl Strategy<Value = PeerId> {
    prop_oneof![Just(PeerId::A), Just(PeerId::B)]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive),
    ]
}

fn sim_op() -> impl Strategy<Value = SimOp> {
    prop_oneof![
        3 => (peer(), 0..4u8, any::<bool>())
            .prop_map(|(side, label, ordered)| SimOp::DataChannel { side, label, ordered }),
        1 => (1000..1004u16, 0..4u8).prop_map(|(id, label)| SimOp::NegotiatedPair { id, label }),
        2 => (peer(), any::<bool>(), direction())
            .prop_map(|(side, video, dir)| SimOp::AddTransceiver { side, video, dir }),
        1 => (peer(), any::<bool>()).prop_map(|(side, video)| SimOp::AddTrack { side, video }),
        2 => (peer(), 0..8usize, direction())
            .prop_map(|(side, idx, dir)| SimOp::SetDirection { side, idx, dir }),
        1 => (peer(), 0..8usize).prop_map(|(side, idx)| SimOp::StopTransceiver { side, idx }),
        2 => peer().prop_map(|side| SimOp::RestartIce { side }),
        2 => (peer(), 0..4usize).prop_map(|(side, idx)| SimOp::RestartIceTransport { side, idx }),
        1 => (peer(), 0..4u8, any::<bool>())
            .prop_map(|(side, servers, relay)| SimOp::SetConfiguration { side, servers, relay }),
        1 => (peer(), any::<bool>())
            .prop_map(|(side, certificate)| SimOp::IllegalConfiguration { side, certificate }),
        1 => peer().prop_map(|side| SimOp::NetworkChanged { side }),
        1 => any::<bool>().prop_map(|up| SimOp::Link { up }),
        4 => prop_oneof![0..50u64, 50..800u64, 800..12_000u64].prop_map(|ms| SimOp::Advance { ms }),
    ]
}

fn net_profile() -> impl Strategy<Value = NetProfile> {
    prop_oneof![
        6 => Just(NetProfile::Clean),
        3 => Just(NetProfile::Jittery),
        1 => (0.05..0.4f64).prop_map(|loss| NetProfile::Lossy { loss }),
    ]
}

fn sim_case() -> impl Strategy<Value = SimCase> {
    (
        any::<u64>(),
        net_profile(),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.3),
        prop::collection::vec(sim_op(), 0..14),
        prop::option::weighted(0.08, (0..14usize, peer())),
    )
        .prop_map(|(seed, net, warmup, unbundled, ops, close)| SimCase {
            seed,
            net,
            warmup,
            unbundled,
            ops,
            close,
        })
}

fn sim_config(case: &SimCase) -> SimConfig {
    let base = SimConfig {
        seed: case.seed,
        // `SIM_TRACE=1`: failure reports list every signal message and what it did.
        trace_signals: std::env::var_os("SIM_TRACE").is_some(),
        ..SimConfig::default()
    };
    match case.net {
        NetProfile::Clean => SimConfig {
            signal_delay: (Duration::from_millis(20), Duration::from_millis(20)),
            ..base
        },
        NetProfile::Jittery => SimConfig {
            signal_delay: (Duration::from_millis(1), Duration::from_millis(400)),
            signal_duplicate: 0.3,
            ..base
        },
        NetProfile::Lossy { loss } => SimConfig {
            signal_delay: (Duration::from_millis(5), Duration::from_millis(300)),
            signal_loss: loss,
            signal_duplicate: 0.2,
            ..base
        },
    }
}

fn ice_servers(variant: u8) -> Vec<IceServer> {
    match variant {
        0 => Vec::new(),
        1 => vec![IceServer {
            urls: vec!["stun:stun.example.org:3478".into()],
            username: None,
            credential: None,
        }],
        2 => vec![IceServer {
            urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
            username: Some("user".into()),
            credential: Some("secret".into()),
        }],
        _ => vec![IceServer {
            urls: vec!["http://not-an-ice-server.example.org".into()],
            username: None,
            credential: None,
        }],
    }
}

/// What the reference model expects of the simulated pair.
#[derive(Debug, Default)]
struct SimModel {
    /// `close()` was called on this side (index 0: A, 1: B).
    closed_called: [bool; 2],
    /// The side was observed closed: it must stay closed.
    seen_closed: [bool; 2],
    /// Configuration of each side as the model knows it: (ice servers variant, relay).
    config: [(u8, bool); 2],
    /// A full ICE restart (every transport) was requested by either side after the baseline:
    /// `restart_ice`, a configuration change, a network change.
    restart_requested: bool,
    /// Mids whose transport alone was restarted (`restart_ice_transport`, either side) after
    /// the baseline: that transport's credentials must change, and no other's because of it.
    partial_restarts: Vec<String>,
    /// The bundle policy of both peers.
    bundle_policy: BundlePolicy,
    /// In-band channels created per side: (channel index, label).
    inband: [Vec<(u32, String)>; 2],
    /// Negotiated channels created on both sides: (A's index, B's index).
    negotiated: Vec<(u32, u32)>,
    /// Stream ids of negotiated channels.
    negotiated_ids: Vec<u16>,
}

fn idx(p: PeerId) -> usize {
    match p {
        PeerId::A => 0,
        _ => 1,
    }
}

fn dump(sim: &Sim) -> String {
    let mut s = sim.report();
    for id in [PeerId::A, PeerId::B] {
        s += &format!(
            "{id:?} transceivers: {:#?}\n",
            sim.peer(id).session.transceivers()
        );
    }
    s
}

/// Negotiated credentials of A (local and remote) per transport.
fn credentials(sim: &Sim) -> BTreeMap<TransportId, String> {
    let a = sim.a();
    a.transports()
        .iter()
        .filter_map(|t| {
            let (l, r) = a.negotiated_credentials(t.id)?;
            Some((t.id, format!("{}:{}/{}:{}", l.ufrag, l.pwd, r.ufrag, r.pwd)))
        })
        .collect()
}

fn automatic_restarts(sim: &Sim, from: [usize; 2]) -> usize {
    [PeerId::A, PeerId::B]
        .iter()
        .map(|&p| {
            sim.peer(p).events[from[idx(p)]..]
                .iter()
                .filter(|(_, e)| matches!(e, Event::AutomaticRestart(_)))
                .count()
        })
        .sum()
}

/// Safety invariants, after every operation: no simulator violation, no `handle_signal`
/// error on either peer.
fn check_safety_in(sim: &Sim, model: &mut SimModel, ctx: &str) -> Result<(), String> {
    if !sim.violations().is_empty() {
        return Err(format!(
            "{ctx}: invariant violations: {:?}",
            sim.violations()
        ));
    }
    for p in [PeerId::A, PeerId::B] {
        let peer = sim.peer(p);
        if !peer.signal_errors.is_empty() {
            return Err(format!(
                "{ctx}: {p:?} handle_signal errors: {:?}\n{}",
                peer.signal_errors,
                sim.report()
            ));
        }
        let s = &peer.session;
        let i = idx(p);
        if model.closed_called[i] && !s.is_closed() {
            return Err(format!("{ctx}: {p:?} not closed after close()"));
        }
        if model.seen_closed[i] || s.is_closed() {
            model.seen_closed[i] = true;
            if !s.is_closed()
                || s.signaling_state() != SignalingState::Closed
                || s.connection_state() != PeerConnectionState::Closed
                || s.ice_connection_state() != IceConnectionState::Closed
                || s.poll_timeout().is_some()
            {
                return Err(format!(
                    "{ctx}: {p:?} left closed: closed={} signaling={:?} connection={:?} ice={:?} timeout={:?}",
                    s.is_closed(),
                    s.signaling_state(),
                    s.connection_state(),
                    s.ice_connection_state(),
                    s.poll_timeout()
                ));
            }
        }
    }
    Ok(())
}

fn apply_sim_op(sim: &mut Sim, model: &mut SimModel, op: &SimOp) -> Result<(), String> {
    let now = sim.now();
    match *op {
        SimOp::DataChannel {
            side,
            label,
            ordered,
        } => {
            let label = format!("dc{label}");
            let init = DataChannelInit {
                ordered,
                ..Default::default()
            };
            let closed = sim.peer(side).session.is_closed();
            match sim.peer_mut(side).session.create_data_channel(&label, init) {
                Ok(id) if !closed => model.inband[idx(side)].push((id.index(), label)),
                Err(SessionError::Closed) if closed => {}
                other => return Err(format!("create_data_channel: unexpected {other:?}")),
            }
        }
        SimOp::NegotiatedPair { id, label } => {
            let label = format!("neg{label}");
            let init = DataChannelInit {
                negotiated: Some(id),
                ..Default::default()
            };
            let in_use = model.negotiated_ids.contains(&id);
            // After a close, the peer's channels close too (freeing their stream ids).
            let any_closed = model.closed_called.iter().any(|&c| c)
                || sim.a().is_closed()
                || sim.b().is_closed();
            let mut got = Vec::new();
            for side in [PeerId::A, PeerId::B] {
                let closed = sim.peer(side).session.is_closed();
                let r = sim
                    .peer_mut(side)
                    .session
                    .create_data_channel(&label, init.clone());
                match r {
                    Ok(c) if !closed && !in_use => got.push(c.index()),
                    Ok(_) if !closed && any_closed => {}
                    Err(SessionError::Closed) if closed => {}
                    Err(SessionError::DataChannel(
                        session_core::channel::DataChannelError::StreamIdInUse(x),
                    )) if !closed && in_use && x == id => {}
                    other => {
                        return Err(format!(
                            "negotiated create_data_channel({id}) on {side:?} (in use: {in_use}): unexpected {other:?}"
                        ))
                    }
                }
            }
            if !in_use {
                model.negotiated_ids.push(id);
            }
            if let [a, b] = got[..] {
                model.negotiated.push((a, b));
            }
        }
        SimOp::AddTransceiver { side, video, dir } => {
            let kind = if video {
                MediaKind::Video
            } else {
                MediaKind::Audio
            };
            let _ = sim.peer_mut(side).session.add_transceiver(kind, dir);
        }
        SimOp::AddTrack { side, video } => {
            let kind = if video {
                MediaKind::Video
            } else {
                MediaKind::Audio
            };
            let _ = sim.peer_mut(side).session.add_track(kind);
        }
        SimOp::SetDirection { side, idx: i, dir } => {
            let ids: Vec<_> = sim
                .peer(side)
                .session
                .transceivers()
                .iter()
                .map(|t| t.id)
                .collect();
            if !ids.is_empty() {
                let id = ids[i % ids.len()];
                sim.peer_mut(side).session.set_direction(id, dir);
            }
        }
        SimOp::StopTransceiver { side, idx: i } => {
            let ids: Vec<_> = sim
                .peer(side)
                .session
                .transceivers()
                .iter()
                .map(|t| t.id)
                .collect();
            if !ids.is_empty() {
                let id = ids[i % ids.len()];
                sim.peer_mut(side).session.stop_transceiver(id);
            }
        }
        SimOp::RestartIce { side } => {
            model.restart_requested = true;
            sim.peer_mut(side).session.restart_ice(now);
        }
        SimOp::RestartIceTransport { side, idx: i } => {
            let s = &sim.peer(side).session;
            let mids: Vec<String> = s
                .transports()
                .iter()
                .filter_map(|t| s.mids_of_transport(t.id).into_iter().next())
                .collect();
            if !mids.is_empty() {
                let mid = mids[i % mids.len()].clone();
                sim.peer_mut(side).session.restart_ice_transport(&mid, now);
                model.partial_restarts.push(mid);
            }
        }
        SimOp::SetConfiguration {
            side,
            servers,
            relay,
        } => {
            let update = ConfigUpdate {
                ice_servers: ice_servers(servers),
                ice_transport_policy: if relay {
                    IceTransportPolicy::Relay
                } else {
                    IceTransportPolicy::All
                },
                bundle_policy: model.bundle_policy,
                certificate_fingerprints: vec![sim_fingerprint(side)],
            };
            let closed = sim.peer(side).session.is_closed();
            let r = sim.peer_mut(side).session.set_configuration(update, now);
            match r {
                Err(SessionError::Closed) if closed => {}
                Err(SessionError::Config(ConfigError::InvalidIceServer(_)))
                    if !closed && servers == 3 => {}
                Ok(()) if !closed && servers != 3 => {
                    if model.config[idx(side)] != (servers, relay) {
                        model.restart_requested = true;
                        model.config[idx(side)] = (servers, relay);
                    }
                }
                other => return Err(format!("set_configuration: unexpected {other:?}")),
            }
        }
        SimOp::IllegalConfiguration { side, certificate } => {
            let update = ConfigUpdate {
                ice_servers: ice_servers(model.config[idx(side)].0),
                ice_transport_policy: if model.config[idx(side)].1 {
                    IceTransportPolicy::Relay
                } else {
                    IceTransportPolicy::All
                },
                bundle_policy: match (certificate, model.bundle_policy) {
                    (true, p) => p,
                    (false, BundlePolicy::MaxCompat) => BundlePolicy::MaxBundle,
                    (false, _) => BundlePolicy::MaxCompat,
                },
                certificate_fingerprints: if certificate {
                    vec![sim_fingerprint(side.other_peer())]
                } else {
                    vec![sim_fingerprint(side)]
                },
            };
            let closed = sim.peer(side).session.is_closed();
            let r = sim.peer_mut(side).session.set_configuration(update, now);
            match r {
                Err(SessionError::Closed) if closed => {}
                Err(SessionError::Config(ConfigError::BundlePolicyChanged))
                    if !closed && !certificate => {}
                Err(SessionError::Config(ConfigError::CertificateChanged))
                    if !closed && certificate => {}
                other => {
                    return Err(format!(
                        "illegal set_configuration must be a ConfigError: {other:?}"
                    ))
                }
            }
        }
        SimOp::NetworkChanged { side } => {
            if !sim.peer(side).session.is_closed() {
                model.restart_requested = true;
            }
            sim.network_changed(side);
        }
        SimOp::Link { up } => sim.set_link(up),
        SimOp::Advance { ms } => sim.run_for(Duration::from_millis(ms)),
    }
    Ok(())
}

trait OtherPeer {
    fn other_peer(self) -> PeerId;
}

impl OtherPeer for PeerId {
    fn other_peer(self) -> PeerId {
        if self == PeerId::A {
            PeerId::B
        } else {
            PeerId::A
        }
    }
}

fn count_events(sim: &Sim, p: PeerId, f: impl Fn(&Event) -> bool) -> usize {
    sim.peer(p).events.iter().filter(|(_, e)| f(e)).count()
}

/// Liveness after quiescence with a working network: channels open on both sides,
/// transceivers agree, credentials changed iff a restart was requested.
fn check_settled(
    sim: &Sim,
    model: &SimModel,
    baseline: Option<&BTreeMap<TransportId, String>>,
    from: [usize; 2],
) -> Result<(), String> {
    // Data channels.
    for p in [PeerId::A, PeerId::B] {
        let o = p.other_peer();
        for (id, label) in &model.inband[idx(p)] {
            let opened = count_events(
                sim,
                p,
                |e| matches!(e, Event::DataChannelOpen(c) if c.index() == *id),
            );
            if opened != 1 {
                return Err(format!(
                    "{p:?}'s channel {id} ({label}) opened {opened} times"
                ));
            }
        }
        let mut want: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, label) in &model.inband[idx(p)] {
            *want.entry(label.as_str()).or_default() += 1;
        }
        let mut got: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, e) in &sim.peer(o).events {
            if let Event::DataChannel { label, .. } = e {
                *got.entry(label.as_str()).or_default() += 1;
            }
        }
        if want != got {
            return Err(format!(
                "{o:?} saw remote channels {got:?}, {p:?} created {want:?}"
            ));
        }
    }
    for (a, b) in &model.negotiated {
        for (p, id) in [(PeerId::A, *a), (PeerId::B, *b)] {
            let opened = count_events(
                sim,
                p,
                |e| matches!(e, Event::DataChannelOpen(c) if c.index() == id),
            );
            if opened != 1 {
                return Err(format!(
                    "{p:?}'s negotiated channel {id} opened {opened} times"
                ));
            }
        }
    }
    // Transceivers: every live one is negotiated on both sides with the direction both
    // preferences allow; stopped ones are stopped on both sides.
    for p in [PeerId::A, PeerId::B] {
        let o = p.other_peer();
        let ours = sim.peer(p).session.transceivers();
        let theirs = sim.peer(o).session.transceivers();
        for t in ours {
            let peer_t = t
                .mid
                .as_ref()
                .and_then(|m| theirs.iter().find(|u| u.mid.as_ref() == Some(m)));
            if t.stopped {
                if let Some(u) = peer_t {
                    if !u.stopped || t.current_direction.is_some() {
                        return Err(format!(
                            "{p:?} stopped transceiver {t:?} but the peer has {u:?}"
                        ));
                    }
                }
                continue;
            }
            let Some(u) = peer_t else {
                return Err(format!("{p:?}'s transceiver {t:?} is not negotiated"));
            };
            let want = answer_direction(t.direction, u.direction);
            if u.stopped || u.kind != t.kind || t.current_direction != Some(want) {
                return Err(format!(
                    "{p:?}'s transceiver {:?} (mid {:?}, wants {:?}, current {:?}) vs peer's (wants {:?}, current {:?}, stopped {}): expected current {want:?}",
                    t.id, t.mid, t.direction, t.current_direction, u.direction, u.current_direction, u.stopped
                ));
            }
        }
    }
    // Credentials of a transport (of those negotiated at the baseline and still in use)
    // changed iff a restart of it was requested: a full one, or a partial one of one of its
    // m-sections. A partial restart's intent survives rollbacks and glare (the exchange must
    // complete) and does not leak to the other transports. Automatic restarts (a full or a
    // partial one, the event does not say which transports) excuse any change, but something
    // must have changed.
    if let Some(before) = baseline {
        let after = credentials(sim);
        let automatic = automatic_restarts(sim, from);
        let partial: Vec<TransportId> = model
            .partial_restarts
            .iter()
            .filter_map(|mid| sim.a().transport_of_mid(mid))
            .collect();
        let detail = || {
            format!(
                "full restart requested: {}, partial restarts (mids): {:?} -> A's transports {partial:?}, automatic restarts: {automatic}\nbefore {before:?}\nafter  {after:?}",
                model.restart_requested, model.partial_restarts
            )
        };
        let mut any_changed = false;
        for (t, old) in before {
            let Some(new) = after.get(t) else { continue };
            let changed = new != old;
            any_changed |= changed;
            let requested = model.restart_requested || partial.contains(t);
            if automatic == 0 && changed != requested {
                return Err(format!(
                    "transport {t:?}: credentials changed: {changed}, restart requested: {requested}\n{}",
                    detail()
                ));
            }
        }
        // (A transport created after the baseline may be the one that restarted.)
        let new_transport = after.keys().any(|t| !before.contains_key(t));
        if automatic > 0 && !any_changed && !new_transport {
            return Err(format!(
                "automatic restart(s) but no credentials changed\n{}",
                detail()
            ));
        }
    }
    Ok(())
}

fn run_sim_case(case: &SimCase) -> Result<(), String> {
    let cfg = sim_config(case);
    let (mut a, mut b) = Sim::default_configs(&cfg);
    let bundle_policy = if case.unbundled {
        BundlePolicy::MaxCompat
    } else {
        BundlePolicy::MaxBundle
    };
    a.bundle_policy = bundle_policy;
    b.bundle_policy = bundle_policy;
    let mut sim = Sim::with_configs(cfg, a, b, t0());
    let mut model = SimModel {
        bundle_policy,
        ..SimModel::default()
    };
    let lossy = matches!(case.net, NetProfile::Lossy { .. });
    let mut baseline = None;
    let mut from = [0, 0];
    if case.warmup {
        sim.a_mut()
            .create_data_channel("warmup", DataChannelInit::default())
            .map_err(|e| format!("warmup channel: {e}"))?;
        let settled = sim.run_until_settled(Duration::from_secs(60));
        if !lossy && !settled {
            return Err("warmup did not settle".into());
        }
        check_safety_in(&sim, &mut model, "warmup")?;
        model.inband[0].push((0, "warmup".into()));
        if settled {
            baseline = Some(credentials(&sim));
            from = [
                sim.peer(PeerId::A).events.len(),
                sim.peer(PeerId::B).events.len(),
            ];
        }
    }
    for (i, op) in case.ops.iter().enumerate() {
        if let Some((at, side)) = case.close {
            if at == i {
                let now = sim.now();
                sim.peer_mut(side).session.close(now);
                model.closed_called[idx(side)] = true;
                sim.run_for(Duration::ZERO);
                check_safety_in(&sim, &mut model, &format!("close {side:?}"))?;
            }
        }
        apply_sim_op(&mut sim, &mut model, op).map_err(|e| format!("op {i} {op:?}: {e}"))?;
        check_safety_in(&sim, &mut model, &format!("after op {i} {op:?}"))?;
    }
    // Quiescence with the link up.
    sim.set_link(true);
    let closed_any = sim.a().is_closed() || sim.b().is_closed();
    if closed_any {
        sim.run_for(Duration::from_secs(10));
        check_safety_in(&sim, &mut model, "after close")?;
        let both_closed = sim.a().is_closed() && sim.b().is_closed();
        if !lossy && !both_closed {
            return Err("one side closed, the other did not follow (bye lost?)".into());
        }
        return Ok(());
    }
    if lossy {
        // The signaling channel heals (duplication and reordering stay): from here on the pair
        // must converge like in the other profiles.
        sim.set_signal_loss(0.0);
    }
    if !sim.run_until_settled(Duration::from_secs(300)) {
        check_safety_in(&sim, &mut model, "quiescence")?;
        let wants_media = [PeerId::A, PeerId::B].iter().any(|&p| {
            sim.peer(p)
                .session
                .transceivers()
                .iter()
                .any(|t| !t.stopped)
        });
        let wants_data = case.warmup || !model.inband[0].is_empty() || !model.inband[1].is_empty();
        if !wants_media && !wants_data && model.negotiated.is_empty() {
            // Nothing to connect: the pair only has to come to rest in stable.
            check_safety_in(&sim, &mut model, "quiescence without media")?;
            for p in [PeerId::A, PeerId::B] {
                let st = sim.peer(p).session.signaling_state();
                if st != SignalingState::Stable {
                    return Err(format!("{p:?} in {st:?} with nothing to negotiate"));
                }
            }
            return Ok(());
        }

        return Err(format!(
            "did not settle within 300 s of virtual time\n{}",
            dump(&sim)
        ));
    }
    check_safety_in(&sim, &mut model, "settled")?;
    if !model.inband[0].is_empty() || !model.inband[1].is_empty() || !model.negotiated.is_empty() {
        // Channels created just before settling may still be opening: give them time.
        sim.run_for(Duration::from_secs(2));
        check_safety_in(&sim, &mut model, "settled + 2 s")?;
    }
    check_settled(&sim, &model, baseline.as_ref(), from)
        .map_err(|e| format!("after quiescence: {e}\n{}", dump(&sim)))
}

proptest! {
    #![proptest_config(config_from_env("SIM_CASES", SIM_CASES))]

    #[test]
    fn sim_operations_keep_invariants(case in sim_case()) {
        let result = run_sim_case(&case);
        prop_assert!(
            result.is_ok(),
            "SimConfig seed {} ({:?}): {}",
            case.seed,
            case.net,
            result.unwrap_err()
        );
    }
}

/// Cases the property test found, kept as they were printed (each failed before its fix).
mod found;
