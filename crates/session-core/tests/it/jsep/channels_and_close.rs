//! Data channels and close.

use super::*;

fn opened(cmds: &[TransportCommand]) -> Vec<(String, u16)> {
    cmds.iter()
        .filter_map(|c| match c {
            TransportCommand::OpenDataChannel {
                stream_id, label, ..
            } => Some((label.clone(), *stream_id)),
            _ => None,
        })
        .collect()
}

#[test]
fn data_channel_ids_follow_the_dtls_role() {
    // B offers this time; A answers (active: DTLS client, even ids), B is the server (odd).
    let mut p = Pair::new();
    let now = p.now;
    for l in ["b0", "b1"] {
        p.b.s
            .create_data_channel(l, DataChannelInit::default())
            .unwrap();
    }
    for l in ["a0", "a1"] {
        p.a.s
            .create_data_channel(l, DataChannelInit::default())
            .unwrap();
    }
    let neg =
        p.a.s
            .create_data_channel(
                "negotiated",
                DataChannelInit {
                    negotiated: Some(7),
                    ..DataChannelInit::default()
                },
            )
            .unwrap();
    assert_eq!(p.a.s.data_channel(neg).unwrap().stream_id, Some(7));
    let ch = p.a.s.data_channel(neg).unwrap().clone();
    assert_eq!(ch.state, DataChannelState::Connecting);
    assert!(p.a.s.data_channels().all(|c| !c.remote));
    // Taken: same id again.
    assert!(matches!(
        p.a.s.create_data_channel(
            "dup",
            DataChannelInit {
                negotiated: Some(7),
                ..DataChannelInit::default()
            }
        ),
        Err(SessionError::DataChannel(_))
    ));
    p.a.drain();
    p.b.drain();
    p.exchange_with(OfferOptions::default(), false);
    assert_eq!(p.a.s.dtls_role(), Some(DtlsRole::Client));
    assert_eq!(p.b.s.dtls_role(), Some(DtlsRole::Server));
    let a_open = opened(&p.a.cmds());
    let b_open = opened(&p.b.cmds());
    assert_eq!(
        a_open,
        vec![
            ("a0".to_owned(), 0),
            ("a1".to_owned(), 2),
            ("negotiated".to_owned(), 7)
        ]
    );
    assert_eq!(b_open, vec![("b0".to_owned(), 1), ("b1".to_owned(), 3)]);
    let _ = now;
}

#[test]
fn channels_after_sctp_open_without_renegotiation_and_close() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    // A is the DTLS server (it offered, B answered active): odd ids; "chat" has 1.
    let second =
        p.a.s
            .create_data_channel("second", DataChannelInit::default())
            .unwrap();
    let (cmds, sig, ev) = p.a.drain();
    assert!(
        matches!(
            &cmds[..],
            [TransportCommand::OpenDataChannel { channel, stream_id: 3, label, .. }]
                if *channel == second && label == "second"
        ),
        "{cmds:?}"
    );
    assert!(sig.is_empty());
    assert!(!ev.contains(&Event::NegotiationNeeded), "{ev:?}");
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    // The transport reports it open.
    p.a.s
        .handle_transport_event(TransportEvent::DataChannelOpen { stream_id: 3 }, now);
    assert!(p.a.events().contains(&Event::DataChannelOpen(second)));
    assert_eq!(
        p.a.s.data_channel(second).unwrap().state,
        DataChannelState::Open
    );
    // Close it: the stream is reset, then the transport reports it closed.
    p.a.s.close_data_channel(second);
    assert_eq!(
        p.a.cmds(),
        vec![TransportCommand::CloseDataChannel {
            channel: second,
            stream_id: 3
        }]
    );
    assert_eq!(
        p.a.s.data_channel(second).unwrap().state,
        DataChannelState::Closing
    );
    p.a.s.close_data_channel(second);
    assert!(p.a.cmds().is_empty(), "closing twice does nothing");
    p.a.s
        .handle_transport_event(TransportEvent::DataChannelClosed { stream_id: 3 }, now);
    assert!(p.a.events().contains(&Event::DataChannelClose(second)));
    assert_eq!(
        p.a.s.data_channel(second).unwrap().state,
        DataChannelState::Closed
    );
    // Its id is free again.
    let third =
        p.a.s
            .create_data_channel("third", DataChannelInit::default())
            .unwrap();
    assert_eq!(p.a.s.data_channel(third).unwrap().stream_id, Some(3));
    // A channel closed before it ever opened closes at once.
    let mut q = Pair::new();
    let early =
        q.a.s
            .create_data_channel("early", DataChannelInit::default())
            .unwrap();
    q.a.drain();
    q.a.s.close_data_channel(early);
    let (cmds, _, ev) = q.a.drain();
    assert!(cmds.is_empty());
    assert!(ev.contains(&Event::DataChannelClose(early)));
}

#[test]
fn remote_data_channels_must_have_the_peers_parity() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    // A is the DTLS server: B (client) opens even ids.
    p.a.s.handle_transport_event(
        TransportEvent::RemoteDataChannel {
            stream_id: 3,
            label: "wrong".into(),
            init: DataChannelInit::default(),
        },
        now,
    );
    let ev = p.a.events();
    assert!(
        !ev.iter().any(|e| matches!(e, Event::DataChannel { .. })),
        "{ev:?}"
    );
    assert!(p.a.s.data_channels().all(|c| c.label != "wrong"));
    p.a.s.handle_transport_event(
        TransportEvent::RemoteDataChannel {
            stream_id: 4,
            label: "right".into(),
            init: DataChannelInit::default(),
        },
        now,
    );
    let ev = p.a.events();
    let id = ev
        .iter()
        .find_map(|e| match e {
            Event::DataChannel { channel, label } if label == "right" => Some(*channel),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{ev:?}"));
    let info = p.a.s.data_channel(id).unwrap();
    assert!(info.remote);
    assert_eq!(info.stream_id, Some(4));
    assert_eq!(info.state, DataChannelState::Open);
    // The same id again is refused.
    p.a.s.handle_transport_event(
        TransportEvent::RemoteDataChannel {
            stream_id: 4,
            label: "again".into(),
            init: DataChannelInit::default(),
        },
        now,
    );
    assert!(!p
        .a
        .events()
        .iter()
        .any(|e| matches!(e, Event::DataChannel { .. })));
}

// ----- close -----

#[test]
fn close_emits_everything_once() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let chat = p.a.s.data_channels().next().unwrap().id;
    p.a.s.close(now);
    assert!(p.a.s.is_closed());
    assert_eq!(p.a.s.signaling_state(), SignalingState::Closed);
    let (cmds, sig, ev) = p.a.drain();
    assert_eq!(cmds, vec![TransportCommand::Close]);
    assert_eq!(sig, vec![SignalMessage::Bye { reason: None }]);
    assert_eq!(ev.last(), Some(&Event::Closed(ClosedBy::Local)));
    assert!(ev.contains(&Event::SignalingStateChange(SignalingState::Closed)));
    assert!(ev.contains(&Event::DataChannelClose(chat)));
    assert_eq!(
        p.a.s.connection_state(),
        session_core::state::PeerConnectionState::Closed
    );
    assert_eq!(p.a.s.poll_timeout(), None);
    assert!(p.a.s.transceivers().iter().all(|t| t.stopped));
    // Idempotent.
    p.a.s.close(now);
    let (cmds, sig, ev) = p.a.drain();
    assert!(cmds.is_empty() && sig.is_empty() && ev.is_empty());

    // The bye reaches B (through JSON): closed by the remote.
    let json = SignalMessage::Bye { reason: None }.to_json();
    assert_eq!(json, r#"{"type":"bye"}"#);
    p.b.s.handle_signal_json(&json, now).unwrap();
    assert!(p.b.s.is_closed());
    let (cmds, sig, ev) = p.b.drain();
    assert_eq!(cmds, vec![TransportCommand::Close]);
    assert!(sig.is_empty(), "no bye back: {sig:?}");
    assert_eq!(ev.last(), Some(&Event::Closed(ClosedBy::Remote)));
    assert_eq!(p.b.s.poll_timeout(), None);
    p.b.s.close(now);
    p.b.s
        .handle_signal(
            SignalMessage::Bye {
                reason: Some("again".into()),
            },
            now,
        )
        .unwrap();
    let (cmds, sig, ev) = p.b.drain();
    assert!(cmds.is_empty() && sig.is_empty() && ev.is_empty());
}

#[test]
fn close_mid_negotiation_drops_queued_candidates_and_timers() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    // A pending retirement timer exists after a restart...
    p.exchange_with(OfferOptions { ice_restart: true }, true);
    p.connect_all();
    p.a.drain();
    assert!(p.a.s.poll_timeout().is_some());
    // ... and an offer is in flight with a queued candidate.
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer, now).unwrap();
    let out =
        p.a.s
            .add_ice_candidate(
                cand(&host_candidate(1), Some("0"), Some("unknownufrag")),
                now,
            )
            .unwrap();
    assert_eq!(out, CandidateOutcome::Queued);
    p.a.drain();
    p.a.s.close(now);
    assert_eq!(p.a.s.poll_timeout(), None);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(cmds, vec![TransportCommand::Close]);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::CandidateDropped {
                reason: CandidateDropReason::Closed,
                ..
            }
        )),
        "{ev:?}"
    );
    assert!(p
        .a
        .s
        .transports()
        .iter()
        .flat_map(|t| t.generations.iter())
        .all(|g| g.status == GenerationStatus::Retired));
}

// ----- more restart and state details -----

#[test]
fn re_offer_in_have_local_offer_keeps_or_replaces_the_generation() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let o1 =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    p.a.s.set_local_description(o1.clone(), now).unwrap();
    assert_eq!(start_generations(&p.a.cmds()).len(), 1);
    // Creating the offer again in have-local-offer keeps the pending generation.
    let o2 = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(first_ice(&o2), first_ice(&o1));
    p.a.s.set_local_description(o2, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
    let cmds = p.a.cmds();
    assert!(start_generations(&cmds).is_empty(), "{cmds:?}");
    assert_eq!(
        count(&cmds, |c| matches!(
            c,
            TransportCommand::RetireGeneration { .. }
        )),
        0
    );
    let answer = {
        let offer = p.a.s.local_description().unwrap();
        p.b.s.set_remote_description(offer, now).unwrap();
        p.b.s.create_answer(now).unwrap()
    };
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(
        p.a.s.negotiated_credentials(TransportId(0)).unwrap().0,
        first_ice(&o1)
    );
}

#[test]
fn candidates_of_a_remote_restart_wait_for_our_answer() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let offer =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    let new_ufrag = first_ice(&offer).ufrag;
    let old_ufrag =
        p.b.s
            .negotiated_credentials(TransportId(0))
            .unwrap()
            .1
            .ufrag;
    // The restart candidate overtakes the offer.
    assert_eq!(
        p.b.s
            .add_ice_candidate(
                cand(&host_candidate(9100), Some("0"), Some(&new_ufrag)),
                now
            )
            .unwrap(),
        CandidateOutcome::Queued
    );
    p.b.s.set_remote_description(offer, now).unwrap();
    // One more in have-remote-offer: still queued (B's generation 1 starts with its answer).
    assert_eq!(
        p.b.s
            .add_ice_candidate(
                cand(&host_candidate(9101), Some("0"), Some(&new_ufrag)),
                now
            )
            .unwrap(),
        CandidateOutcome::Queued
    );
    // Old-generation candidates still go to generation 0 meanwhile.
    assert_eq!(
        p.b.s
            .add_ice_candidate(
                cand(&host_candidate(9102), Some("0"), Some(&old_ufrag)),
                now
            )
            .unwrap(),
        CandidateOutcome::Applied {
            transport: TransportId(0),
            generation: Generation(0)
        }
    );
    p.b.drain();
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer, now).unwrap();
    let cmds = p.b.cmds();
    let to_g1: Vec<u16> = cmds
        .iter()
        .filter_map(|c| match c {
            TransportCommand::AddRemoteCandidate {
                generation: Generation(1),
                candidate,
                ..
            } => Some(candidate.port),
            TransportCommand::AddRemoteCandidate { .. } => panic!("wrong generation: {c:?}"),
            _ => None,
        })
        .collect();
    assert_eq!(to_g1, vec![9100, 9101], "{cmds:?}");
}

#[test]
fn connection_state_holds_through_a_restart_and_old_path_retires_at_once_if_down() {
    use session_core::state::{DtlsTransportState, PeerConnectionState};
    let mut p = connected_data_pair();
    let t = TransportId(0);
    let now = p.tick(Duration::from_millis(1));
    for peer in [&mut p.a, &mut p.b] {
        peer.s.handle_transport_event(
            TransportEvent::DtlsStateChanged {
                transport: t,
                state: DtlsTransportState::Connected,
            },
            now,
        );
        assert_eq!(peer.s.connection_state(), PeerConnectionState::Connected);
        peer.drain();
    }
    p.exchange_with(OfferOptions { ice_restart: true }, true);
    assert_eq!(p.a.s.connection_state(), PeerConnectionState::Connected);
    let ev = p.a.events();
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::ConnectionStateChange(_))),
        "{ev:?}"
    );
    // The old path goes down before the new one connects.
    let now = p.tick(Duration::from_millis(5));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(0),
            state: IceTransportState::Disconnected,
        },
        now,
    );
    assert_eq!(p.a.cmds(), vec![]);
    let now = p.tick(Duration::from_millis(5));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(1),
            state: IceTransportState::Connected,
        },
        now,
    );
    // Promoted, and the old generation (no longer carrying anything) retired at once.
    assert_eq!(
        p.a.cmds(),
        vec![
            TransportCommand::PromoteGeneration {
                transport: t,
                generation: Generation(1)
            },
            TransportCommand::RetireGeneration {
                transport: t,
                generation: Generation(0)
            }
        ]
    );
    assert_eq!(p.a.s.poll_timeout(), None);
    assert_eq!(p.a.s.connection_state(), PeerConnectionState::Connected);
}

#[test]
fn a_failed_restart_keeps_the_old_path_and_restarts_again() {
    let mut p = connected_data_pair();
    let t = TransportId(0);
    p.exchange_with(OfferOptions { ice_restart: true }, true);
    assert!(!p.a.s.restart_pending(), "the exchange completed");
    p.a.drain();
    let now = p.tick(Duration::from_secs(10));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(1),
            state: IceTransportState::Failed,
        },
        now,
    );
    // The old path keeps carrying traffic, and nothing is torn down: generation 1 holds the
    // credentials both peers agreed on until a newer generation connects.
    assert!(!p
        .a
        .cmds()
        .iter()
        .any(|c| matches!(c, TransportCommand::RetireGeneration { .. })),);
    assert_eq!(p.a.s.transports()[0].active, Some(Generation(0)));
    assert_eq!(
        p.a.s.ice_connection_state(),
        session_core::state::IceConnectionState::Connected
    );
    // The restart did not really complete: another one follows, after the policy's backoff.
    let due = p.a.s.poll_timeout().expect("a retry is scheduled");
    let now = p.tick(due.saturating_duration_since(p.now));
    p.a.s.handle_timeout(now);
    let events = p.a.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::AutomaticRestart(RestartReason::Failed))),
        "{events:?}"
    );
    assert!(p.a.s.restart_pending());
}

#[test]
fn an_offer_created_but_not_applied_does_not_reserve_mids() {
    // A creates an offer (mids 0 = video, 1 = data) but, before applying it, receives B's
    // offer (0 = audio, 1 = video, 2 = data). W3C assigns mids when a description is applied,
    // so B's offer must be accepted and A's transceivers and data channel follow B's mids.
    let mut p = Pair::new();
    let now = p.now;
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    let chat =
        p.a.s
            .create_data_channel("chat", DataChannelInit::default())
            .unwrap();
    let stale = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(parse(&stale).media[0].kind, MediaKind::Video);
    p.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.b.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.b.s
        .create_data_channel("b", DataChannelInit::default())
        .unwrap();
    p.a.drain();
    p.b.drain();
    p.exchange_with(OfferOptions::default(), false);
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let tr = p.a.s.transceivers();
    let video = tr.iter().find(|t| t.kind == MediaKind::Video).unwrap();
    assert_eq!(video.mid.as_deref(), Some("1"));
    assert_eq!(video.current_direction, Some(Direction::SendRecv));
    let cmds = p.a.cmds();
    assert!(
        cmds.iter()
            .any(|c| matches!(c, TransportCommand::StartSctp { .. })),
        "{cmds:?}"
    );
    // A is the DTLS client (it answered): its channel gets an even id.
    assert_eq!(opened(&cmds), vec![("chat".to_owned(), 0)]);
    assert_eq!(p.a.s.data_channel(chat).unwrap().stream_id, Some(0));
    // The stale offer cannot be applied any more.
    let r = p.a.s.set_local_description(stale, now);
    assert!(
        matches!(r, Err(SessionError::InvalidModification(_))),
        "{r:?}"
    );
}

#[test]
fn answering_after_an_unapplied_restart_offer_does_not_restart() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let a_before = first_ice(&p.a.s.local_description().unwrap());
    let restart =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    assert_ne!(first_ice(&restart), a_before);
    // B's (non-restart) offer arrives before A applied its own: A answers with the
    // negotiated credentials, and B accepts the answer.
    let (_, answer) = p.exchange_with(OfferOptions::default(), false);
    assert_eq!(first_ice(&answer), a_before);
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    // The restart is still wanted and happens with A's next offer.
    assert!(p.a.s.restart_pending());
    let (offer, _) = p.exchange();
    assert_ne!(first_ice(&offer), a_before);
    assert!(!p.a.s.restart_pending());
}
