//! ICE restart: fresh credentials, detection, promotion after grace, partial restart.

use super::*;

#[test]
fn ice_restart_offer_has_fresh_valid_credentials() {
    let mut p = av_data_pair();
    let before_a = first_ice(&p.a.s.local_description().unwrap());
    let before_b = first_ice(&p.b.s.local_description().unwrap());
    let (offer, answer) = p.exchange_with(OfferOptions { ice_restart: true }, true);
    let creds = ice_of(&offer);
    assert_eq!(creds.len(), 3);
    for (_, c) in &creds {
        valid_fresh_creds(c);
        assert_eq!(*c, creds[0].1, "bundled: one set of credentials");
        assert_ne!(c.ufrag, before_a.ufrag);
        assert_ne!(c.pwd, before_a.pwd);
    }
    // The answerer detects the restart and answers with fresh credentials too.
    let ans = first_ice(&answer);
    valid_fresh_creds(&ans);
    assert_ne!(ans, before_b);
    assert!(!p.a.s.restart_pending() && !p.b.s.restart_pending());
    let (cmds, _, ev) = p.b.drain();
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::IceGenerationStarted {
                generation: Generation(1),
                reason: Some(RestartReason::Remote),
                ..
            }
        )),
        "{ev:?}"
    );
    assert_eq!(start_generations(&cmds).len(), 1);
    let (_, _, ev) = p.a.drain();
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::IceGenerationStarted {
                generation: Generation(1),
                reason: Some(RestartReason::Application),
                ..
            }
        )),
        "{ev:?}"
    );
    // A non-restart renegotiation keeps the credentials.
    let (offer2, answer2) = p.exchange();
    assert_eq!(first_ice(&offer2), creds[0].1);
    assert_eq!(first_ice(&answer2), ans);
}

#[test]
fn restart_ice_raises_negotiation_needed() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let before = first_ice(&p.a.s.local_description().unwrap());
    assert!(!p.a.s.restart_pending());
    p.a.s.restart_ice(now);
    assert!(p.a.s.restart_pending());
    assert!(p.a.events().contains(&Event::NegotiationNeeded));
    // Coalesced: a second request does not fire again.
    p.a.s.restart_ice(now);
    assert!(!p.a.events().contains(&Event::NegotiationNeeded));
    let (offer, _) = p.exchange();
    let fresh = first_ice(&offer);
    valid_fresh_creds(&fresh);
    assert_ne!(fresh, before);
    assert!(!p.a.s.restart_pending());
}

#[test]
fn remote_offer_changing_only_the_pwd_is_a_restart() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let b_before = first_ice(&p.b.s.local_description().unwrap());
    let a_before = first_ice(&p.a.s.local_description().unwrap());
    // A renegotiation offer from A, with only the pwd changed (as another stack would send).
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(first_ice(&offer), a_before);
    let new_pwd = "Zz".repeat(12);
    let offer = desc(
        SdpType::Offer,
        &replace_attr(&offer.sdp, "ice-pwd", &new_pwd),
    );
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    let ans = first_ice(&answer);
    valid_fresh_creds(&ans);
    assert_ne!(ans.ufrag, b_before.ufrag);
    assert_ne!(ans.pwd, b_before.pwd);
    p.b.s.set_local_description(answer, now).unwrap();
    let (cmds, _, _) = p.b.drain();
    let started = start_generations(&cmds);
    assert_eq!(started.len(), 1, "{cmds:?}");
    assert_eq!(started[0].1, Generation(1));
    assert!(
        cmds.iter().any(|c| matches!(
            c,
            TransportCommand::SetRemoteCredentials { generation: Generation(1), remote, .. }
                if remote.pwd == new_pwd && remote.ufrag == a_before.ufrag
        )),
        "{cmds:?}"
    );
}

#[test]
fn answer_with_new_credentials_without_restart_is_a_peer_error() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.a.drain();
    for (attr, value) in [
        ("ice-ufrag", "NewUfrag"),
        ("ice-pwd", "NewPasswordNewPassword1"),
    ] {
        let bad = desc(SdpType::Answer, &replace_attr(&answer.sdp, attr, value));
        let r = p.a.s.set_remote_description(bad, now);
        assert!(
            matches!(
                r,
                Err(SessionError::Peer(PeerError::UnexpectedIceRestartInAnswer { ref mid })) if mid == "0"
            ),
            "{attr}: {r:?}"
        );
        assert_eq!(r.unwrap_err().fault(), session_core::error::Fault::Peer);
        let (cmds, _, ev) = p.a.drain();
        assert!(
            ev.iter().any(|e| matches!(
                e,
                Event::PeerMisbehaved(PeerError::UnexpectedIceRestartInAnswer { .. })
            )),
            "{ev:?}"
        );
        assert!(cmds.is_empty(), "{cmds:?}");
        assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
    }
    // The genuine answer still applies.
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn completed_restart_promotes_then_retires_after_grace() {
    let mut p = connected_data_pair();
    let grace = Duration::from_secs(2); // Config::new default.
    let t = TransportId(0);
    let old_remote = p.a.s.negotiated_credentials(t).unwrap().1;
    let (offer, answer) = p.exchange_with(OfferOptions { ice_restart: true }, true);
    let (cmds, _, _) = p.a.drain();
    assert_eq!(
        count(&cmds, |c| matches!(
            c,
            TransportCommand::RetireGeneration { .. }
        )),
        0,
        "nothing retired before the new generation connected: {cmds:?}"
    );
    assert_eq!(p.a.s.transports()[0].active, Some(Generation(0)));
    // Time passes, the new generation has not connected: still nothing retired.
    let later = p.tick(Duration::from_secs(30));
    p.a.s.handle_timeout(later);
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(1),
            state: IceTransportState::Checking,
        },
        later,
    );
    let cmds = p.a.cmds();
    assert_eq!(
        count(&cmds, |c| matches!(
            c,
            TransportCommand::RetireGeneration { .. } | TransportCommand::PromoteGeneration { .. }
        )),
        0,
        "{cmds:?}"
    );
    // The new generation connects: promoted at once; the old one keeps receiving for the
    // grace period.
    let now = p.tick(Duration::from_millis(10));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(1),
            state: IceTransportState::Connected,
        },
        now,
    );
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(
        cmds,
        vec![TransportCommand::PromoteGeneration {
            transport: t,
            generation: Generation(1)
        }]
    );
    assert!(ev.contains(&Event::IceGenerationPromoted {
        transport: t,
        generation: Generation(1)
    }));
    assert_eq!(p.a.s.transports()[0].active, Some(Generation(1)));
    assert_eq!(p.a.s.poll_timeout(), Some(now + grace));
    p.a.s.handle_timeout(now + grace - Duration::from_millis(1));
    assert!(p.a.cmds().is_empty());
    p.a.s.handle_timeout(now + grace);
    assert_eq!(
        p.a.cmds(),
        vec![TransportCommand::RetireGeneration {
            transport: t,
            generation: Generation(0)
        }]
    );
    assert_eq!(p.a.s.poll_timeout(), None);
    let gens = &p.a.s.transports()[0].generations;
    assert_eq!(gens[0].status, GenerationStatus::Retired);
    assert_eq!(gens[1].status, GenerationStatus::Live);
    assert_eq!(
        p.a.s.negotiated_credentials(t).unwrap(),
        (first_ice(&offer), first_ice(&answer))
    );
    // A late candidate of the retired generation is dropped, typed.
    let now = p.tick(Duration::from_millis(1));
    let out =
        p.a.s
            .add_ice_candidate(
                cand(&host_candidate(4000), Some("0"), Some(&old_remote.ufrag)),
                now,
            )
            .unwrap();
    assert_eq!(
        out,
        CandidateOutcome::Dropped(CandidateDropReason::RetiredGeneration)
    );
    let (cmds, _, ev) = p.a.drain();
    assert!(cmds.is_empty());
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::CandidateDropped {
            reason: CandidateDropReason::RetiredGeneration,
            ..
        }
    )));
    // The ufrag extension inside the candidate line works the same.
    let line = format!("{} ufrag {}", host_candidate(4001), old_remote.ufrag);
    assert_eq!(
        p.a.s
            .add_ice_candidate(cand(&line, Some("0"), None), now)
            .unwrap(),
        CandidateOutcome::Dropped(CandidateDropReason::RetiredGeneration)
    );
    // A candidate of the new generation is applied to generation 1.
    let new_ufrag = first_ice(&answer).ufrag;
    assert_eq!(
        p.a.s
            .add_ice_candidate(
                cand(&host_candidate(4002), Some("0"), Some(&new_ufrag)),
                now
            )
            .unwrap(),
        CandidateOutcome::Applied {
            transport: t,
            generation: Generation(1)
        }
    );
}

#[test]
fn partial_restart_with_max_compat_changes_one_transport_only() {
    let mut p = Pair::with(compat_cfg(0xA), compat_cfg(0xB));
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let (offer, answer) = p.exchange();
    assert!(parse(&offer).bundle_groups.is_empty());
    assert!(parse(&answer).bundle_groups.is_empty());
    let off1 = ice_of(&offer);
    let ans1 = ice_of(&answer);
    assert_eq!(off1.len(), 3);
    // One transport per m-section, with distinct credentials.
    for i in 0..3 {
        for j in (i + 1)..3 {
            assert_ne!(off1[i].1, off1[j].1);
            assert_ne!(ans1[i].1, ans1[j].1);
        }
    }
    assert_eq!(p.a.s.transports().len(), 3);
    assert_eq!(p.b.s.transports().len(), 3);
    let (cmds, _, _) = p.a.drain();
    assert_eq!(
        count(&cmds, |c| matches!(c, TransportCommand::StartDtls { .. })),
        3
    );
    p.b.drain();
    p.connect_all();

    let now = p.tick(Duration::from_millis(1));
    p.a.s.restart_ice_transport("1", now);
    assert!(p.a.s.restart_pending());
    assert!(p.a.events().contains(&Event::NegotiationNeeded));
    let (offer, answer) = p.exchange();
    let off2 = ice_of(&offer);
    let ans2 = ice_of(&answer);
    assert_eq!(off2[0], off1[0]);
    assert_ne!(off2[1].1, off1[1].1);
    valid_fresh_creds(&off2[1].1);
    assert_eq!(off2[2], off1[2]);
    assert_eq!(ans2[0], ans1[0]);
    assert_ne!(
        ans2[1].1, ans1[1].1,
        "the answerer restarts that transport too"
    );
    assert_eq!(ans2[2], ans1[2]);
    assert!(!p.a.s.restart_pending());
    for peer in [&mut p.a, &mut p.b] {
        let (cmds, _, _) = peer.drain();
        let started = start_generations(&cmds);
        assert_eq!(started.len(), 1, "{cmds:?}");
        assert_eq!(started[0].1, Generation(1));
        let tr = peer.s.transports();
        let restarted: Vec<_> = tr.iter().filter(|t| t.generations.len() == 2).collect();
        assert_eq!(restarted.len(), 1);
        assert_eq!(restarted[0].tag, "1");
    }
    // Unknown mids are ignored.
    let now = p.tick(Duration::from_millis(1));
    p.a.s.restart_ice_transport("nope", now);
    assert!(!p.a.s.restart_pending());
}

#[test]
fn transport_of_mid_and_mids_of_transport_tell_bundled_from_unbundled() {
    // Bundled (the default policy): one transport carries the three mids.
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    let video = p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    // Offered but not answered yet: not negotiated.
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    assert_eq!(p.a.s.transport_of_mid("0"), None);
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    for s in [&p.a.s, &p.b.s] {
        let t = s.transport_of_mid("0").expect("mid 0 negotiated");
        assert_eq!(s.transport_of_mid("1"), Some(t));
        assert_eq!(s.transport_of_mid("2"), Some(t));
        assert_eq!(s.mids_of_transport(t), ["0", "1", "2"]);
        assert_eq!(s.transport_of_mid("nope"), None);
    }
    // A stopped transceiver's mid leaves its transport (at once here, after the exchange that
    // rejects its m-section at the peer).
    p.a.s.stop_transceiver(video);
    let t = p.a.s.transport_of_mid("0").unwrap();
    assert_eq!(p.a.s.transport_of_mid("1"), None);
    assert_eq!(p.a.s.mids_of_transport(t), ["0", "2"]);
    p.exchange();
    for s in [&p.a.s, &p.b.s] {
        let t = s.transport_of_mid("0").unwrap();
        assert_eq!(s.transport_of_mid("1"), None);
        assert_eq!(s.mids_of_transport(t), ["0", "2"]);
    }

    // MaxCompat: one transport per mid.
    let mut p = Pair::with(compat_cfg(0xA), compat_cfg(0xB));
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    p.exchange();
    for s in [&p.a.s, &p.b.s] {
        let ts: Vec<_> = ["0", "1", "2"]
            .iter()
            .map(|m| s.transport_of_mid(m).expect("negotiated"))
            .collect();
        assert!(ts[0] != ts[1] && ts[1] != ts[2] && ts[0] != ts[2], "{ts:?}");
        for (mid, t) in ["0", "1", "2"].iter().zip(&ts) {
            assert_eq!(s.mids_of_transport(*t), [*mid]);
        }
    }
}

#[test]
fn restart_intent_survives_answering_and_remote_rollback() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let a_before = first_ice(&p.a.s.local_description().unwrap());
    p.a.s.restart_ice(now);
    // B offers (no restart); A rolls it back: intent kept.
    let offer = p.b.s.create_offer(OfferOptions::default(), now).unwrap();
    p.b.s.set_local_description(offer.clone(), now).unwrap();
    p.a.s.set_remote_description(offer.clone(), now).unwrap();
    p.a.s.set_remote_description(rollback(), now).unwrap();
    assert!(p.a.s.restart_pending());
    // A answers B's offer: the answer keeps the negotiated credentials, the intent stays.
    p.a.s.set_remote_description(offer, now).unwrap();
    let answer = p.a.s.create_answer(now).unwrap();
    assert_eq!(first_ice(&answer), a_before);
    p.a.s.set_local_description(answer.clone(), now).unwrap();
    p.b.s.set_remote_description(answer, now).unwrap();
    assert!(p.a.s.restart_pending());
    // A's next offer restarts.
    let (offer, _) = p.exchange();
    assert_ne!(first_ice(&offer), a_before);
    assert!(!p.a.s.restart_pending());
}

/// Found by the property tests under lossy signaling: A offers an ICE restart, B answers it but
/// the answer is lost, then B's own next offer (built on that answer, so with B's new
/// credentials) reaches A still in have-local-offer. A rolls its offer back and answers B's
/// offer, which from A's point of view restarts ICE. Fresh credentials in that answer would
/// look to B like an answer restarting ICE on its own (B holds A's offered credentials as A's
/// current ones): A answers with the credentials of its rolled-back offer, and both sides agree.
#[test]
fn answer_after_rolling_back_an_answered_restart_reuses_its_credentials() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let a_before = first_ice(&p.a.s.local_description().unwrap());
    let restart =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    p.a.s.set_local_description(restart.clone(), now).unwrap();
    let a_offered = first_ice(&restart);
    assert_ne!(a_offered, a_before);
    // B answers A's restart; the answer never arrives.
    p.b.s.set_remote_description(restart, now).unwrap();
    let lost = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(lost.clone(), now).unwrap();
    let b_creds = first_ice(&lost);
    // B's next offer (not a restart for B) reaches A in have-local-offer: A rolls back.
    let now = p.tick(Duration::from_millis(1));
    let b_offer = p.b.s.create_offer(OfferOptions::default(), now).unwrap();
    p.b.s.set_local_description(b_offer.clone(), now).unwrap();
    assert_eq!(first_ice(&b_offer), b_creds);
    p.a.s.set_remote_description(rollback(), now).unwrap();
    p.a.s.set_remote_description(b_offer, now).unwrap();
    let answer = p.a.s.create_answer(now).unwrap();
    p.a.s.set_local_description(answer.clone(), now).unwrap();
    assert_eq!(first_ice(&answer), a_offered);
    // B accepts it: both now agree on (A: a_offered, B: b_creds).
    p.b.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    // The next exchange forgets the rolled-back credentials: a later remote restart gets
    // fresh ones.
    let (_, answer) = p.exchange_with(OfferOptions { ice_restart: true }, false);
    let again = first_ice(&answer);
    assert_ne!(again, a_offered);
    assert_ne!(again, a_before);
}

/// A peer without ICE restart answers our restart offer with the credentials it already uses:
/// the new generation is dropped at the answer, the working one stays active, the decline is
/// reported once, and nothing is offered again or restarted in a loop afterwards.
#[test]
fn a_restart_answered_with_the_old_credentials_is_declined_not_retried() {
    let mut p = connected_data_pair();
    let t = TransportId(0);
    let old_remote = p.a.s.negotiated_credentials(t).unwrap().1;
    let now = p.tick(Duration::from_millis(1));
    p.a.s.restart_ice(now);
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    // The peer keeps its ufrag and pwd (it ignores restarts).
    let kept = replace_attr(&answer.sdp, "ice-ufrag", &old_remote.ufrag);
    let kept = replace_attr(&kept, "ice-pwd", &old_remote.pwd);
    p.a.drain();
    p.a.s
        .set_remote_description(desc(SdpType::Answer, &kept), now)
        .expect("a declined restart is not an error");
    let (cmds, signals, events) = p.a.drain();
    let declined: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::IceRestartDeclined { .. }))
        .collect();
    assert_eq!(
        declined,
        vec![&Event::IceRestartDeclined {
            transport: t,
            kept: Generation(0)
        }]
    );
    assert!(cmds.contains(&TransportCommand::RetireGeneration {
        transport: t,
        generation: Generation(1)
    }));
    assert!(
        !cmds.iter().any(|c| matches!(
            c,
            TransportCommand::SetRemoteCredentials {
                generation: Generation(1),
                ..
            }
        )),
        "{cmds:?}"
    );
    assert!(signals.is_empty(), "{signals:?}");
    assert!(!p.a.s.restart_pending());
    assert_eq!(p.a.s.transports()[0].active, Some(Generation(0)));
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    // Minutes pass: no new offer, no new generation, no negotiation-needed.
    for _ in 0..10 {
        let later = p.tick(Duration::from_secs(30));
        p.a.s.handle_timeout(later);
    }
    let (cmds, signals, events) = p.a.drain();
    assert!(start_generations(&cmds).is_empty(), "{cmds:?}");
    assert!(signals.is_empty(), "{signals:?}");
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::NegotiationNeeded | Event::IceRestartDeclined { .. }
        )),
        "{events:?}"
    );
    // The next offer carries the working generation's credentials again (B here is a Tether
    // session that did restart, so the test stops at the offer).
    let now = p.tick(Duration::from_millis(1));
    let offer2 = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(
        first_ice(&offer2).ufrag,
        p.a.s.transports()[0].generations[0].local_ufrag
    );
}

/// Unbundled (MaxCompat) audio and data: when only the audio transport's path fails, the
/// policy restarts that transport alone; data keeps its credentials and generation.
#[test]
fn the_policy_restarts_only_the_transport_whose_path_failed() {
    let mut a = compat_cfg(0xA);
    a.restart_policy = session_core::policy::RestartPolicy::default();
    let mut p = Pair::with(a, compat_cfg(0xB));
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let (first, _) = p.exchange();
    p.connect_all();
    p.a.drain();
    let audio = p.a.s.transport_of_mid("0").expect("audio transport");
    let data = p.a.s.transport_of_mid("1").expect("data transport");
    assert_ne!(audio, data);
    let now = p.tick(Duration::from_millis(1));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: audio,
            generation: Generation(0),
            state: IceTransportState::Failed,
        },
        now,
    );
    // The policy's restart is due at once or after its delay.
    for _ in 0..100 {
        if p.a.s.restart_pending() {
            break;
        }
        let later = p.tick(Duration::from_millis(100));
        p.a.s.handle_timeout(later);
    }
    assert!(p.a.s.restart_pending(), "no automatic restart");
    let (offer, _) = p.exchange();
    let before: std::collections::BTreeMap<_, _> = ice_of(&first).into_iter().collect();
    let after: std::collections::BTreeMap<_, _> = ice_of(&offer).into_iter().collect();
    assert_ne!(before["0"], after["0"], "audio did not restart");
    assert_eq!(before["1"], after["1"], "data restarted too");
    let gens = |t| {
        p.a.s
            .transports()
            .into_iter()
            .find(|x| x.id == t)
            .unwrap()
            .generations
            .len()
    };
    assert_eq!(gens(data), 1, "a new generation for data");
    assert_eq!(gens(audio), 2);
}

/// The old path keeps working while every restart's new generation fails (or never connects):
/// each newly negotiated generation supersedes the one before it, which is retired at once.
/// Before, a negotiated generation that failed was kept until a newer one connected, so a long
/// outage of the new paths (or a peer restarting over and over) piled up one agent per restart
/// for good (found by the `session` fuzz target: 55 live generations per side, every step
/// slower).
#[test]
fn restarts_that_never_connect_do_not_pile_up_generations() {
    let mut p = connected_data_pair();
    let t = TransportId(0);
    for i in 1..=20u32 {
        // Either side restarts: our own restarts and the peer's.
        p.exchange_with(OfferOptions { ice_restart: true }, i % 2 == 1);
        let now = p.tick(Duration::from_secs(30));
        for peer in [&mut p.a, &mut p.b] {
            let (cmds, _, _) = peer.drain();
            if i > 1 {
                assert_eq!(
                    cmds.iter()
                        .filter_map(|c| match c {
                            TransportCommand::RetireGeneration { generation, .. } =>
                                Some(*generation),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                    vec![Generation(i - 1)],
                    "restart {i}: the superseded generation is retired, nothing else"
                );
            }
            // Every other new generation fails; the rest never get anywhere.
            if i % 4 < 2 {
                peer.s.handle_transport_event(
                    TransportEvent::IceStateChanged {
                        transport: t,
                        generation: Generation(i),
                        state: IceTransportState::Failed,
                    },
                    now,
                );
            }
            peer.s.handle_timeout(now);
            peer.drain();
            let info = &peer.s.transports()[0];
            assert_eq!(info.active, Some(Generation(0)), "restart {i}");
            let kept: Vec<_> = info
                .generations
                .iter()
                .filter(|g| g.status != GenerationStatus::Retired)
                .map(|g| g.generation)
                .collect();
            assert_eq!(kept, vec![Generation(0), Generation(i)], "restart {i}");
        }
    }
    // The newest one is still the negotiated one: it connects and takes over.
    p.connect_all();
    assert_eq!(p.a.s.transports()[0].active, Some(Generation(20)));
    assert_eq!(p.b.s.transports()[0].active, Some(Generation(20)));
}
