//! Full offer/answer, pranswer, rollback and illegal transitions.

use super::*;

#[test]
fn full_offer_answer_audio_video_data() {
    let mut p = Pair::new();
    let now = p.now;
    let audio = p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    let video = p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    let chat =
        p.a.s
            .create_data_channel("chat", DataChannelInit::default())
            .unwrap();
    // B sends audio only; its video transceiver is created by the remote offer.
    let b_audio = p.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    let (_, _, ev) = p.a.drain();
    assert!(ev.contains(&Event::NegotiationNeeded), "{ev:?}");
    p.b.drain();

    // A: create and apply the offer.
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(offer.kind, SdpType::Offer);
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    assert!(p.a.cmds().is_empty(), "create_offer changes nothing");
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::HaveLocalOffer]);
    assert!(
        matches!(
            cmds.as_slice(),
            [TransportCommand::StartGeneration {
                transport: TransportId(0),
                generation: Generation(0),
                role: IceRole::Controlling,
                ..
            }]
        ),
        "{cmds:?}"
    );
    assert_eq!(
        p.a.s.local_description().map(|d| d.kind),
        Some(SdpType::Offer)
    );
    assert!(p.a.s.current_local_description().is_none());

    let parsed = parse(&offer);
    let mids: Vec<_> = parsed.media.iter().map(|m| m.mid.as_str()).collect();
    assert_eq!(mids, ["0", "1", "2"]);
    let kinds: Vec<_> = parsed.media.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [MediaKind::Audio, MediaKind::Video, MediaKind::Application]
    );
    assert_eq!(parsed.bundle_groups, vec![vec!["0", "1", "2"]]);
    for m in &parsed.media {
        assert_eq!(m.setup, Some(sdp::Setup::ActPass));
        assert_eq!(m.fingerprints, vec![fingerprint(0xA)]);
        assert!(m.trickle);
    }
    let tr = p.a.s.transceivers();
    assert_eq!(tr[audio.index() as usize].mid.as_deref(), Some("0"));
    assert_eq!(tr[video.index() as usize].mid.as_deref(), Some("1"));
    assert!(tr.iter().all(|t| t.current_direction.is_none()));

    // B: apply the offer and answer it.
    p.b.s.set_remote_description(offer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveRemoteOffer);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(
        signaling_changes(&ev),
        vec![SignalingState::HaveRemoteOffer]
    );
    assert!(cmds.is_empty(), "a remote offer starts nothing: {cmds:?}");
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Track { kind: MediaKind::Audio, mid, .. } if mid == "0")));
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Track { kind: MediaKind::Video, mid, .. } if mid == "1")));
    let answer = p.b.s.create_answer(now).unwrap();
    assert_eq!(answer.kind, SdpType::Answer);
    let pa = parse(&answer);
    assert_eq!(
        pa.media.iter().map(|m| m.mid.as_str()).collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert!(pa.media.iter().all(|m| m.setup == Some(sdp::Setup::Active)));
    assert_eq!(pa.bundle_groups, vec![vec!["0", "1", "2"]]);
    assert_eq!(pa.media[0].direction, Direction::SendRecv);
    assert_eq!(pa.media[1].direction, Direction::RecvOnly);
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    let seq: Vec<&str> = cmds.iter().map(cmd_name).collect();
    assert_eq!(
        seq,
        [
            "StartGeneration",
            "SetRemoteCredentials",
            "StartDtls",
            "StartSctp"
        ],
        "{cmds:?}"
    );
    assert!(matches!(
        &cmds[0],
        TransportCommand::StartGeneration {
            role: IceRole::Controlled,
            ..
        }
    ));
    assert!(matches!(
        &cmds[1],
        TransportCommand::SetRemoteCredentials { remote, .. } if *remote == first_ice(&offer)
    ));
    assert!(matches!(
        &cmds[2],
        TransportCommand::StartDtls { role: DtlsRole::Client, remote_fingerprints, .. }
            if *remote_fingerprints == vec![fingerprint(0xA)]
    ));
    assert!(matches!(
        &cmds[3],
        TransportCommand::StartSctp {
            local_port: 5000,
            remote_port: 5000,
            max_message_size: 262_144,
            ..
        }
    ));
    assert_eq!(p.b.s.dtls_role(), Some(DtlsRole::Client));

    // A: apply the answer.
    p.a.s.set_remote_description(answer.clone(), now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    let seq: Vec<&str> = cmds.iter().map(cmd_name).collect();
    assert_eq!(
        seq,
        [
            "SetRemoteCredentials",
            "StartDtls",
            "StartSctp",
            "OpenDataChannel"
        ],
        "{cmds:?}"
    );
    assert!(matches!(
        &cmds[0],
        TransportCommand::SetRemoteCredentials { generation: Generation(0), remote, .. }
            if *remote == first_ice(&answer)
    ));
    assert!(matches!(
        &cmds[1],
        TransportCommand::StartDtls { role: DtlsRole::Server, remote_fingerprints, .. }
            if *remote_fingerprints == vec![fingerprint(0xB)]
    ));
    // The offerer is the DTLS server: odd stream ids.
    assert!(matches!(
        &cmds[3],
        TransportCommand::OpenDataChannel { channel, stream_id: 1, label, .. }
            if *channel == chat && label == "chat"
    ));
    assert_eq!(p.a.s.dtls_role(), Some(DtlsRole::Server));
    assert_eq!(p.a.s.data_channel(chat).unwrap().stream_id, Some(1));

    // Descriptions and transceivers.
    assert!(p.a.s.current_local_description().is_some());
    assert!(p.a.s.current_remote_description().is_some());
    assert_eq!(p.a.s.remote_description().unwrap().sdp, answer.sdp);
    assert_eq!(p.b.s.remote_description().unwrap().sdp, offer.sdp);
    let a_tr = p.a.s.transceivers();
    assert_eq!(a_tr[0].current_direction, Some(Direction::SendRecv));
    assert_eq!(a_tr[1].current_direction, Some(Direction::SendOnly));
    let b_tr = p.b.s.transceivers();
    assert_eq!(b_tr.len(), 2);
    assert_eq!(b_tr[b_audio.index() as usize].mid.as_deref(), Some("0"));
    assert_eq!(b_tr[0].current_direction, Some(Direction::SendRecv));
    assert_eq!(b_tr[1].kind, MediaKind::Video);
    assert_eq!(b_tr[1].mid.as_deref(), Some("1"));
    assert_eq!(b_tr[1].current_direction, Some(Direction::RecvOnly));

    // Negotiated credentials are crossed.
    let (al, ar) = p.a.s.negotiated_credentials(TransportId(0)).unwrap();
    let (bl, br) = p.b.s.negotiated_credentials(TransportId(0)).unwrap();
    assert_eq!((al, ar), (br, bl));

    // Nothing more to negotiate.
    assert!(!p.a.events().contains(&Event::NegotiationNeeded));
    assert!(!p.a.s.restart_pending());
}

fn cmd_name(c: &TransportCommand) -> &'static str {
    match c {
        TransportCommand::StartGeneration { .. } => "StartGeneration",
        TransportCommand::SetRemoteCredentials { .. } => "SetRemoteCredentials",
        TransportCommand::AddRemoteCandidate { .. } => "AddRemoteCandidate",
        TransportCommand::RemoteEndOfCandidates { .. } => "RemoteEndOfCandidates",
        TransportCommand::StartDtls { .. } => "StartDtls",
        TransportCommand::PromoteGeneration { .. } => "PromoteGeneration",
        TransportCommand::RetireGeneration { .. } => "RetireGeneration",
        TransportCommand::StartSctp { .. } => "StartSctp",
        TransportCommand::OpenDataChannel { .. } => "OpenDataChannel",
        TransportCommand::CloseDataChannel { .. } => "CloseDataChannel",
        TransportCommand::Close => "Close",
    }
}

// ----- pranswer, rollback, illegal transitions -----

#[test]
fn pranswer_then_answer_on_both_sides() {
    let mut p = Pair::new();
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    p.a.drain();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    p.a.drain();
    p.b.drain();

    // B: provisional answer.
    let answer = p.b.s.create_answer(now).unwrap();
    let pranswer = desc(SdpType::Pranswer, &answer.sdp);
    p.b.s.set_local_description(pranswer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveLocalPranswer);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(
        signaling_changes(&ev),
        vec![SignalingState::HaveLocalPranswer]
    );
    assert_eq!(start_generations(&cmds).len(), 1, "{cmds:?}");
    assert!(p.b.s.current_local_description().is_none());
    assert_eq!(
        p.b.s.local_description().map(|d| d.kind),
        Some(SdpType::Pranswer)
    );

    // A: provisional answer as remote.
    p.a.s.set_remote_description(pranswer.clone(), now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveRemotePranswer);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(
        signaling_changes(&ev),
        vec![SignalingState::HaveRemotePranswer]
    );
    assert!(
        cmds.iter()
            .any(|c| matches!(c, TransportCommand::SetRemoteCredentials { .. })),
        "{cmds:?}"
    );
    assert!(p.a.s.current_remote_description().is_none());
    // A second pranswer is allowed in have-remote-pranswer.
    p.a.s.set_remote_description(pranswer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveRemotePranswer);
    // Rollback is not allowed in a pranswer state (W3C InvalidStateError).
    assert!(is_invalid_state(
        &p.a.s.set_remote_description(rollback(), now)
    ));
    assert!(is_invalid_state(
        &p.b.s.set_local_description(rollback(), now)
    ));

    // B: final answer (same credentials as the pranswer: no second generation).
    let answer = p.b.s.create_answer(now).unwrap();
    assert_eq!(first_ice(&answer), {
        let d = p.b.s.local_description().unwrap();
        first_ice(&d)
    });
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    assert!(start_generations(&cmds).is_empty(), "{cmds:?}");
    assert!(p.b.s.current_local_description().is_some());

    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    assert!(cmds
        .iter()
        .any(|c| matches!(c, TransportCommand::StartSctp { .. })));
    assert_eq!(
        cmds.iter()
            .filter(|c| matches!(c, TransportCommand::StartDtls { .. }))
            .count(),
        0,
        "DTLS already started with the pranswer: {cmds:?}"
    );
    assert!(p.a.s.current_local_description().is_some());
    assert!(p.a.s.current_remote_description().is_some());
    let (al, ar) = p.a.s.negotiated_credentials(TransportId(0)).unwrap();
    let (bl, br) = p.b.s.negotiated_credentials(TransportId(0)).unwrap();
    assert_eq!((al, ar), (br, bl));
}

#[test]
fn rollback_of_a_local_offer() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let before = p.a.s.local_description().unwrap();
    p.a.s.restart_ice(now);
    assert!(p.a.s.restart_pending());
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let restart_creds = first_ice(&offer);
    assert_ne!(restart_creds, first_ice(&before));
    p.a.s.set_local_description(offer, now).unwrap();
    let (cmds, _, _) = p.a.drain();
    let started = start_generations(&cmds);
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].1, Generation(1));

    p.a.s.set_local_description(rollback(), now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    assert!(
        cmds.contains(&TransportCommand::RetireGeneration {
            transport: TransportId(0),
            generation: Generation(1)
        }),
        "the rolled-back offer's generation is retired: {cmds:?}"
    );
    assert_eq!(p.a.s.local_description().unwrap().sdp, before.sdp);
    // The restart intent survives the rollback.
    assert!(p.a.s.restart_pending());
    // The next offer carries fresh credentials, neither the old nor the rolled-back ones.
    let next = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let creds = first_ice(&next);
    valid_fresh_creds(&creds);
    assert_ne!(creds, first_ice(&before));
    assert_ne!(creds, restart_creds);
    // And it completes.
    p.a.s.set_local_description(next.clone(), now).unwrap();
    p.b.s.set_remote_description(next, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert!(!p.a.s.restart_pending());
    assert_eq!(
        p.a.s.negotiated_credentials(TransportId(0)).unwrap().0,
        creds
    );
}

#[test]
fn rollback_of_a_remote_offer() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let b_local = p.b.s.local_description().unwrap();
    let a_remote = p.b.s.remote_description().unwrap();
    // A restarts; B applies the offer and then rolls it back.
    let offer =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveRemoteOffer);
    p.b.drain();
    p.b.s.set_remote_description(rollback(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    assert!(start_generations(&cmds).is_empty());
    assert_eq!(p.b.s.remote_description().unwrap().sdp, a_remote.sdp);
    assert_eq!(p.b.s.local_description().unwrap().sdp, b_local.sdp);
    // Nothing left to negotiate on B's side after the rollback.
    assert!(!ev.contains(&Event::NegotiationNeeded), "{ev:?}");
    assert!(!p.b.s.restart_pending());
    // Candidates of the rolled-back offer's generation are stale.
    let ufrag = first_ice(&offer).ufrag;
    let out =
        p.b.s
            .add_ice_candidate(cand(&host_candidate(1000), Some("0"), Some(&ufrag)), now)
            .unwrap();
    assert_eq!(
        out,
        CandidateOutcome::Dropped(CandidateDropReason::RetiredGeneration)
    );
    // The same offer can be applied again and answered.
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    assert_ne!(first_ice(&answer), first_ice(&b_local), "remote restart");
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn rollback_of_a_first_remote_offer_leaves_no_transceivers_behind() {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    assert_eq!(p.b.s.transceivers().len(), 2);
    p.b.drain();
    p.b.s.set_remote_description(rollback(), now).unwrap();
    let ev = p.b.events();
    // W3C: transceivers created by applying the rolled-back remote offer are removed (and
    // must not make the application negotiate).
    assert!(
        p.b.s.transceivers().is_empty(),
        "{:?}",
        p.b.s.transceivers()
    );
    assert!(!ev.contains(&Event::NegotiationNeeded), "{ev:?}");
    assert!(p.b.s.remote_description().is_none());
}

#[test]
fn create_answer_in_the_wrong_state() {
    let mut p = Pair::new();
    let now = p.now;
    for state in ["stable", "have-local-offer"] {
        let r = p.a.s.create_answer(now);
        assert!(
            matches!(
                r,
                Err(SessionError::InvalidState(ref t))
                    if t.kind == SdpType::Answer
            ),
            "{state}: {r:?}"
        );
        if state == "stable" {
            let o = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
            p.a.s.set_local_description(o, now).unwrap();
        }
    }
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
}

#[test]
fn munged_local_description_is_invalid_modification() {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    let now = p.now;
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let munged = desc(
        SdpType::Offer,
        &offer.sdp.replace("a=sendrecv", "a=sendonly"),
    );
    assert_ne!(munged.sdp, offer.sdp);
    assert!(matches!(
        p.a.s.set_local_description(munged, now),
        Err(SessionError::InvalidModification(_))
    ));
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    assert!(p.a.cmds().is_empty());
    // The unmodified offer (line endings do not matter) still applies.
    let lf = desc(SdpType::Offer, &offer.sdp.replace("\r\n", "\n"));
    p.a.s.set_local_description(lf, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);

    // Same for a munged answer.
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    let munged = desc(
        SdpType::Answer,
        &replace_attr(&answer.sdp, "ice-pwd", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    );
    assert!(matches!(
        p.b.s.set_local_description(munged, now),
        Err(SessionError::InvalidModification(_))
    ));
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveRemoteOffer);
    p.b.s.set_local_description(answer, now).unwrap();
    // An empty SDP means "the one just created" (parameterless setLocalDescription).
    let mut q = Pair::new();
    q.a.s
        .create_data_channel("x", DataChannelInit::default())
        .unwrap();
    q.a.s
        .set_local_description(desc(SdpType::Offer, ""), now)
        .unwrap();
    assert_eq!(q.a.s.signaling_state(), SignalingState::HaveLocalOffer);
}

/// Brings a fresh pair's `a` into `state` (with `b` as the other side).
fn pair_in(state: SignalingState) -> Pair {
    let mut p = Pair::new();
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    p.b.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = p.now;
    match state {
        SignalingState::Stable => {}
        SignalingState::HaveLocalOffer | SignalingState::HaveRemotePranswer => {
            let o = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
            p.a.s.set_local_description(o.clone(), now).unwrap();
            if state == SignalingState::HaveRemotePranswer {
                p.b.s.set_remote_description(o, now).unwrap();
                let ans = p.b.s.create_answer(now).unwrap();
                p.a.s
                    .set_remote_description(desc(SdpType::Pranswer, &ans.sdp), now)
                    .unwrap();
            }
        }
        SignalingState::HaveRemoteOffer | SignalingState::HaveLocalPranswer => {
            let o = p.b.s.create_offer(OfferOptions::default(), now).unwrap();
            p.a.s.set_remote_description(o, now).unwrap();
            if state == SignalingState::HaveLocalPranswer {
                let ans = p.a.s.create_answer(now).unwrap();
                p.a.s
                    .set_local_description(desc(SdpType::Pranswer, &ans.sdp), now)
                    .unwrap();
            }
        }
        SignalingState::Closed => p.a.s.close(now),
        _ => unreachable!(),
    }
    assert_eq!(p.a.s.signaling_state(), state);
    p.a.drain();
    p
}

#[test]
fn every_illegal_transition_is_invalid_state_and_changes_nothing() {
    use SdpType::{Answer, Offer, Pranswer, Rollback};
    use SignalingState::*;
    let states = [
        Stable,
        HaveLocalOffer,
        HaveRemoteOffer,
        HaveLocalPranswer,
        HaveRemotePranswer,
    ];
    let mut illegal = 0;
    for state in states {
        for local in [true, false] {
            for kind in [Offer, Pranswer, Answer, Rollback] {
                let legal = session_core::signaling::transition(
                    state,
                    if local {
                        session_core::signaling::Side::Local
                    } else {
                        session_core::signaling::Side::Remote
                    },
                    kind,
                )
                .is_ok();
                if legal {
                    continue;
                }
                illegal += 1;
                let mut p = pair_in(state);
                let now = p.now;
                // A description that would be valid in the right state.
                let sdp = match (local, kind) {
                    (_, Rollback) => String::new(),
                    (true, _) => String::new(),
                    (false, Offer) => {
                        let mut q = Pair::new();
                        q.b.s
                            .create_data_channel("c", DataChannelInit::default())
                            .unwrap();
                        q.b.s
                            .create_offer(OfferOptions::default(), now)
                            .unwrap()
                            .sdp
                    }
                    (false, _) => {
                        // An answer to one of A's offers (whatever its state).
                        let mut q = pair_in(Stable);
                        let o = q.a.s.create_offer(OfferOptions::default(), now).unwrap();
                        q.b.s.set_remote_description(o, now).unwrap();
                        q.b.s.create_answer(now).unwrap().sdp
                    }
                };
                let before = p.a.s.local_description();
                let before_remote = p.a.s.remote_description();
                let d = desc(kind, &sdp);
                let r = if local {
                    p.a.s.set_local_description(d, now)
                } else {
                    p.a.s.set_remote_description(d, now)
                };
                assert!(
                    is_invalid_state(&r),
                    "{state:?} local={local} {kind:?}: {r:?}"
                );
                assert_eq!(p.a.s.signaling_state(), state);
                assert_eq!(p.a.s.local_description(), before);
                assert_eq!(p.a.s.remote_description(), before_remote);
                let (cmds, _, ev) = p.a.drain();
                assert!(cmds.is_empty(), "{state:?} {kind:?}: {cmds:?}");
                assert!(signaling_changes(&ev).is_empty());
            }
        }
    }
    assert_eq!(illegal, 40 - 16);
}

#[test]
fn operations_after_close_are_closed_errors() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.b.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.close(now);
    p.a.drain();
    let closed = |r: Result<(), SessionError>| assert_eq!(r, Err(SessionError::Closed));
    closed(p.a.s.create_offer(OfferOptions::default(), now).map(|_| ()));
    closed(p.a.s.create_answer(now).map(|_| ()));
    closed(p.a.s.set_local_description(desc(SdpType::Offer, ""), now));
    closed(p.a.s.set_local_description(rollback(), now));
    closed(p.a.s.set_remote_description(offer.clone(), now));
    closed(p.a.s.set_remote_description(rollback(), now));
    closed(
        p.a.s
            .add_ice_candidate(cand(&host_candidate(9), Some("0"), None), now)
            .map(|_| ()),
    );
    closed(
        p.a.s
            .create_data_channel("late", DataChannelInit::default())
            .map(|_| ()),
    );
    closed(p.a.s.set_configuration(
        ConfigUpdate {
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            bundle_policy: BundlePolicy::MaxBundle,
            certificate_fingerprints: vec![fingerprint(0xA)],
        },
        now,
    ));
    assert_eq!(
        SessionError::Closed.fault(),
        session_core::error::Fault::Closed
    );
    // Inputs that cannot fail are ignored.
    p.a.s.restart_ice(now);
    p.a.s.restart_ice_transport("0", now);
    p.a.s.handle_timeout(now + Duration::from_secs(100));
    p.a.s
        .handle_transport_event(TransportEvent::NetworkChanged, now);
    assert_eq!(
        p.a.s
            .handle_signal(SignalMessage::Description { description: offer }, now),
        Ok(())
    );
    assert_eq!(p.a.s.signaling_state(), SignalingState::Closed);
    assert!(!p.a.s.restart_pending());
    let (cmds, sig, ev) = p.a.drain();
    assert!(
        cmds.is_empty() && sig.is_empty() && ev.is_empty(),
        "{cmds:?} {sig:?} {ev:?}"
    );
    assert_eq!(p.a.s.poll_timeout(), None);
}

/// Sets the `o=` session version of an SDP text.
fn with_version(sdp: &str, version: u64) -> String {
    sdp.split("\r\n")
        .map(|l| match l.strip_prefix("o=") {
            Some(rest) => {
                let mut f: Vec<&str> = rest.split(' ').collect();
                let v = version.to_string();
                f[2] = &v;
                format!("o={}", f.join(" "))
            }
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The descriptions `p` signalled since the last drain.
fn described(p: &mut Peer) -> Vec<SessionDescription> {
    p.drain()
        .1
        .into_iter()
        .filter_map(|m| match m {
            SignalMessage::Description { description } => Some(description),
            _ => None,
        })
        .collect()
}

/// A perfect-negotiation session against a peer whose `o=` versions are not Tether's: its
/// first offer carries a timestamp, its next one skips versions, and it answers two of our
/// offers under one unchanged `o=` line. Every description is taken at once (RFC 3264 only
/// says versions grow), none held or dropped.
#[test]
fn perfect_negotiation_takes_versions_that_start_anywhere_skip_and_repeat() {
    let mut p = Pair::with(
        manual_cfg(0xA),
        Config::new([0xB; 32], vec![fingerprint(0xB)], true),
    );
    let t1 = 1_733_500_000_123;
    let t2 = t1 + 9_876;
    let mut now = p.tick(Duration::from_millis(1));
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    // The peer's first offer, version t1: answered at once.
    for (version, restart) in [(t1, false), (t2, true)] {
        let offer =
            p.a.s
                .create_offer(
                    OfferOptions {
                        ice_restart: restart,
                    },
                    now,
                )
                .unwrap();
        p.a.s.set_local_description(offer.clone(), now).unwrap();
        let sent = desc(SdpType::Offer, &with_version(&offer.sdp, version));
        p.b.s
            .handle_signal(SignalMessage::Description { description: sent }, now)
            .unwrap();
        let answers = described(&mut p.b);
        assert_eq!(
            answers.len(),
            1,
            "offer version {version} not answered at once"
        );
        assert_eq!(answers[0].kind, SdpType::Answer);
        p.a.s
            .set_remote_description(answers[0].clone(), now)
            .unwrap();
        now = p.tick(Duration::from_millis(1));
    }
    // Our session offers twice; the peer answers both under the o= line of its last offer.
    let mut answered = Vec::new();
    for kind in [MediaKind::Audio, MediaKind::Video] {
        p.b.s.add_transceiver(kind, Direction::SendRecv);
        p.b.s.handle_timeout(now);
        let offers = described(&mut p.b);
        assert_eq!(offers.len(), 1, "{offers:?}");
        assert_eq!(offers[0].kind, SdpType::Offer);
        p.a.s
            .set_remote_description(offers[0].clone(), now)
            .unwrap();
        let answer = p.a.s.create_answer(now).unwrap();
        p.a.s.set_local_description(answer.clone(), now).unwrap();
        let sent = desc(SdpType::Answer, &with_version(&answer.sdp, t2));
        answered.push(sent.clone());
        p.b.s
            .handle_signal(SignalMessage::Description { description: sent }, now)
            .unwrap();
        assert_eq!(
            p.b.s.signaling_state(),
            SignalingState::Stable,
            "the answer under an unchanged o= line was not taken"
        );
        now = p.tick(Duration::from_millis(1));
    }
    assert_eq!(p.b.s.transceivers().len(), 2);
    // An exact copy of the last answer, arriving late, is only a duplicate.
    p.b.drain();
    let last = answered.pop().unwrap();
    p.b.s
        .handle_signal(SignalMessage::Description { description: last }, now)
        .unwrap();
    assert!(described(&mut p.b).is_empty());
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
}

/// An offer held while our own is unanswered makes us send our offer again once (its answer is
/// probably what is missing), not once per copy: copies of held offers from a duplicating
/// signaling channel, or a peer doing the same, must not turn into a storm of offers (found by
/// the `session` fuzz target: two peers holding each other's offers resent theirs forever).
#[test]
fn copies_of_a_held_offer_resend_our_offer_once() {
    let mut p = Pair::with(
        manual_cfg(0xA),
        Config::new([0xB; 32], vec![fingerprint(0xB)], true),
    );
    let now = p.tick(Duration::from_millis(1));
    p.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.b.s.handle_timeout(now);
    let ours = described(&mut p.b);
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveLocalOffer);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    for (version, resends) in [(5, 1), (6, 1)] {
        let held = desc(SdpType::Offer, &with_version(&offer.sdp, version));
        for _ in 0..10 {
            p.b.s
                .handle_signal(
                    SignalMessage::Description {
                        description: held.clone(),
                    },
                    now,
                )
                .unwrap();
        }
        let sent = described(&mut p.b);
        assert_eq!(
            sent.len(),
            resends,
            "ten copies of held offer {version} made {} descriptions",
            sent.len()
        );
        assert!(sent
            .iter()
            .all(|d| d.kind == SdpType::Offer && d.sdp == ours[0].sdp));
        assert_eq!(p.b.s.signaling_state(), SignalingState::HaveLocalOffer);
    }
}
