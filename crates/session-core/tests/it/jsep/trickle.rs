//! Trickle ICE: queueing, routing by generation, end-of-candidates.

use super::*;

#[test]
fn candidates_before_the_remote_description_are_queued_then_applied() {
    let mut p = Pair::new();
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    let a_ufrag = first_ice(&offer).ufrag;
    // B receives A's candidates before the offer.
    for (i, ufrag) in [Some(a_ufrag.as_str()), None].into_iter().enumerate() {
        let out =
            p.b.s
                .add_ice_candidate(
                    cand(&host_candidate(5000 + i as u16), Some("0"), ufrag),
                    now,
                )
                .unwrap();
        assert_eq!(out, CandidateOutcome::Queued);
    }
    assert!(p.b.cmds().is_empty());
    // The offer arrives: B has no generation yet (it starts with B's answer), still queued.
    p.b.s.set_remote_description(offer, now).unwrap();
    assert!(p.b.cmds().is_empty());
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    let cmds = p.b.cmds();
    let applied: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            TransportCommand::AddRemoteCandidate {
                transport,
                generation,
                candidate,
            } => Some((*transport, *generation, candidate.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(applied.len(), 2, "{cmds:?}");
    for (i, (t, g, c)) in applied.iter().enumerate() {
        assert_eq!((*t, *g), (TransportId(0), Generation(0)));
        assert_eq!(c.port, 5000 + i as u16);
        assert_eq!(c.ufrag.as_deref(), Some(a_ufrag.as_str()));
    }
    // The credentials come before the candidates.
    let creds_at = cmds
        .iter()
        .position(|c| matches!(c, TransportCommand::SetRemoteCredentials { .. }))
        .unwrap();
    let first_cand = cmds
        .iter()
        .position(|c| matches!(c, TransportCommand::AddRemoteCandidate { .. }))
        .unwrap();
    assert!(creds_at < first_cand);

    // Same on the offerer's side: B's candidates before B's answer.
    let b_ufrag = first_ice(&answer).ufrag;
    assert_eq!(
        p.a.s
            .add_ice_candidate(cand(&host_candidate(6000), Some("0"), Some(&b_ufrag)), now)
            .unwrap(),
        CandidateOutcome::Queued
    );
    assert_eq!(
        p.a.s
            .add_ice_candidate(cand("", Some("0"), Some(&b_ufrag)), now)
            .unwrap(),
        CandidateOutcome::Queued
    );
    p.a.drain();
    p.a.s.set_remote_description(answer, now).unwrap();
    let cmds = p.a.cmds();
    assert!(
        cmds.iter().any(|c| matches!(
            c,
            TransportCommand::AddRemoteCandidate { generation: Generation(0), candidate, .. }
                if candidate.port == 6000
        )),
        "{cmds:?}"
    );
    assert!(cmds.contains(&TransportCommand::RemoteEndOfCandidates {
        transport: TransportId(0),
        generation: Generation(0)
    }));
}

#[test]
fn malformed_and_misaddressed_candidates() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let b_ufrag =
        p.a.s
            .negotiated_credentials(TransportId(0))
            .unwrap()
            .1
            .ufrag;
    for bad in [
        "garbage",
        "candidate:",
        "candidate:1 1 udp notanumber 192.0.2.1 1 typ host",
        "candidate:1 1 udp 1 192.0.2.1 99999 typ host",
        "candidate:1 1 udp 1 192.0.2.1 1 typ",
    ] {
        let r = p.a.s.add_ice_candidate(cand(bad, Some("0"), None), now);
        assert!(matches!(r, Err(SessionError::Candidate(_))), "{bad}: {r:?}");
        let (cmds, _, ev) = p.a.drain();
        assert!(cmds.is_empty());
        assert!(ev.iter().any(|e| matches!(
            e,
            Event::CandidateDropped {
                reason: CandidateDropReason::Malformed(_),
                ..
            }
        )));
    }
    // Unknown sdpMid: a typed drop (the ufrag is one we know).
    for ufrag in [Some(b_ufrag.as_str()), None] {
        let out =
            p.a.s
                .add_ice_candidate(cand(&host_candidate(7000), Some("nope"), ufrag), now)
                .unwrap();
        assert_eq!(
            out,
            CandidateOutcome::Dropped(CandidateDropReason::UnknownMid),
            "{ufrag:?}"
        );
    }
    // An out-of-range sdpMLineIndex, too.
    let mut c = cand(&host_candidate(7001), None, Some(&b_ufrag));
    c.sdp_m_line_index = Some(7);
    assert_eq!(
        p.a.s.add_ice_candidate(c, now).unwrap(),
        CandidateOutcome::Dropped(CandidateDropReason::UnknownMid)
    );
    // A valid one by index.
    let mut c = cand(&host_candidate(7002), None, None);
    c.sdp_m_line_index = Some(0);
    assert_eq!(
        p.a.s.add_ice_candidate(c, now).unwrap(),
        CandidateOutcome::Applied {
            transport: TransportId(0),
            generation: Generation(0)
        }
    );
    // Still fully usable.
    let (o, _) = p.exchange();
    assert_eq!(o.kind, SdpType::Offer);
}

#[test]
fn end_of_candidates_both_ways() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let b_ufrag =
        p.a.s
            .negotiated_credentials(TransportId(0))
            .unwrap()
            .1
            .ufrag;
    let eoc = TransportCommand::RemoteEndOfCandidates {
        transport: TransportId(0),
        generation: Generation(0),
    };
    assert_eq!(
        p.a.s
            .add_ice_candidate(cand("", Some("0"), Some(&b_ufrag)), now)
            .unwrap(),
        CandidateOutcome::Applied {
            transport: TransportId(0),
            generation: Generation(0)
        }
    );
    assert_eq!(p.a.cmds(), vec![eoc.clone()]);
    for msg in [
        SignalMessage::EndOfCandidates {
            username_fragment: Some(b_ufrag.clone()),
            sdp_mid: Some("0".into()),
        },
        SignalMessage::EndOfCandidates {
            username_fragment: None,
            sdp_mid: None,
        },
    ] {
        p.a.s.handle_signal(msg, now).unwrap();
        assert_eq!(p.a.cmds(), vec![eoc.clone()]);
    }
    // Also through JSON.
    let json = format!(r#"{{"type":"end-of-candidates","usernameFragment":"{b_ufrag}"}}"#);
    p.a.s.handle_signal_json(&json, now).unwrap();
    assert_eq!(p.a.cmds(), vec![eoc]);
}

#[test]
fn local_candidates_are_signalled_with_their_generation_ufrag() {
    let mut p = connected_data_pair();
    let t = TransportId(0);
    let g0 = p.a.s.negotiated_credentials(t).unwrap().0.ufrag;
    let now = p.tick(Duration::from_millis(1));
    let c: Candidate = host_candidate(8000).parse().unwrap();
    p.a.s.handle_transport_event(
        TransportEvent::LocalCandidate {
            transport: t,
            generation: Generation(0),
            candidate: c.clone(),
        },
        now,
    );
    let (_, sig, _) = p.a.drain();
    assert_eq!(sig.len(), 1, "{sig:?}");
    let SignalMessage::Candidate { candidate } = &sig[0] else {
        panic!("{sig:?}")
    };
    assert_eq!(candidate.username_fragment.as_deref(), Some(g0.as_str()));
    assert_eq!(candidate.sdp_mid.as_deref(), Some("0"));
    assert_eq!(candidate.sdp_m_line_index, Some(0));
    let parsed: Candidate = candidate.candidate.parse().unwrap();
    assert_eq!(parsed.port, 8000);
    // The message round-trips through JSON and B applies it to its generation 0.
    let json = sig[0].to_json();
    assert!(json.contains(r#""usernameFragment""#), "{json}");
    p.b.s.handle_signal_json(&json, now).unwrap();
    assert!(p.b.cmds().iter().any(|c| matches!(
        c,
        TransportCommand::AddRemoteCandidate { generation: Generation(0), candidate, .. }
            if candidate.port == 8000
    )));

    // After a restart, candidates of generation 1 carry the new ufrag.
    let (offer, _) = p.exchange_with(OfferOptions { ice_restart: true }, true);
    p.a.drain();
    let g1 = first_ice(&offer).ufrag;
    let now = p.tick(Duration::from_millis(1));
    p.a.s.handle_transport_event(
        TransportEvent::LocalCandidate {
            transport: t,
            generation: Generation(1),
            candidate: c.clone(),
        },
        now,
    );
    p.a.s.handle_transport_event(
        TransportEvent::GatheringComplete {
            transport: t,
            generation: Generation(1),
        },
        now,
    );
    let (_, sig, _) = p.a.drain();
    assert!(
        matches!(
            &sig[..],
            [
                SignalMessage::Candidate { candidate },
                SignalMessage::EndOfCandidates { username_fragment: Some(u), .. },
            ] if candidate.username_fragment.as_deref() == Some(g1.as_str()) && *u == g1
        ),
        "{sig:?}"
    );
    // Unknown generation: nothing is signalled.
    p.a.s.handle_transport_event(
        TransportEvent::LocalCandidate {
            transport: t,
            generation: Generation(9),
            candidate: c,
        },
        now,
    );
    assert!(p.a.drain().1.is_empty());
}

/// Inserts `lines` after every line that starts with `after` (`a=mid:` for each section,
/// `t=` for session level).
fn insert_after(sdp: &str, after: &str, lines: &[String]) -> String {
    let mut out = Vec::new();
    for l in sdp.split("\r\n") {
        out.push(l.to_owned());
        if l.starts_with(after) {
            out.extend(lines.iter().cloned());
        }
    }
    out.join("\r\n")
}

/// The remote candidates (port) and end-of-candidates a command list applies, with their
/// generation.
fn remote_candidates(cmds: &[TransportCommand]) -> (Vec<(Generation, u16)>, Vec<Generation>) {
    let mut added = Vec::new();
    let mut ends = Vec::new();
    for c in cmds {
        match c {
            TransportCommand::AddRemoteCandidate {
                generation,
                candidate,
                ..
            } => added.push((*generation, candidate.port)),
            TransportCommand::RemoteEndOfCandidates { generation, .. } => ends.push(*generation),
            _ => {}
        }
    }
    (added, ends)
}

/// A peer that does not trickle puts its candidates in its description: in each section
/// (bundled: repeated) or at session level, with or without `a=end-of-candidates`. They are
/// used exactly like trickled ones, once per transport and generation, in an offer, in an
/// answer, and in the answer to a restart (the new generation).
#[test]
fn candidates_inside_descriptions_are_used_like_trickled_ones() {
    let mut p = av_data_pair();
    p.a.drain();
    p.b.drain();
    let now = p.tick(Duration::from_millis(1));

    // A restart offer from A with its candidates in every (bundled) section and
    // end-of-candidates: B applies each candidate once, to the new generation its answer starts.
    let offer =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    let media_level = vec![
        format!("a={}", host_candidate(5000)),
        format!("a={}", host_candidate(5001)),
        "a=end-of-candidates".to_owned(),
    ];
    let offer_sdp = insert_after(&offer.sdp, "a=mid:", &media_level);
    assert_eq!(
        parse(&desc(SdpType::Offer, &offer_sdp)).media[0]
            .candidates
            .len(),
        2
    );
    p.b.s
        .set_remote_description(desc(SdpType::Offer, &offer_sdp), now)
        .unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    let (added, ends) = remote_candidates(&p.b.cmds());
    assert_eq!(added, vec![(Generation(1), 5000), (Generation(1), 5001)]);
    assert_eq!(ends, vec![Generation(1)]);

    // B's answer carries one candidate at session level, no end-of-candidates: A applies it to
    // its new generation as soon as the answer is applied.
    let session_level = vec![format!("a={}", host_candidate(6000))];
    let answer_sdp = insert_after(&answer.sdp, "t=", &session_level);
    p.a.s
        .set_remote_description(desc(SdpType::Answer, &answer_sdp), now)
        .unwrap();
    let (added, ends) = remote_candidates(&p.a.cmds());
    assert_eq!(added, vec![(Generation(1), 6000)]);
    assert!(ends.is_empty());
}

/// A first offer with candidates and no trickle at all: the answerer applies them with the
/// generation its answer starts (nothing arrives any other way).
#[test]
fn candidates_in_a_first_offer_reach_the_answerers_first_generation() {
    let mut p = Pair::new();
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let lines = vec![format!("a={}", host_candidate(7000))];
    let offer_sdp = insert_after(&offer.sdp, "a=mid:", &lines);
    p.b.s
        .set_remote_description(desc(SdpType::Offer, &offer_sdp), now)
        .unwrap();
    assert!(
        remote_candidates(&p.b.cmds()).0.is_empty(),
        "no generation yet"
    );
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer, now).unwrap();
    let (added, _) = remote_candidates(&p.b.cmds());
    assert_eq!(added, vec![(Generation(0), 7000)]);
}
