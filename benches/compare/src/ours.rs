//! Our stack: two `transport_tokio` peer connections on loopback, negotiating through an
//! in-memory signaling pair (perfect negotiation, trickle ICE).

use std::time::{Duration, Instant};

use session_core::channel::DataChannelInit;
use session_core::session::Event;
use transport_tokio::{
    memory_pair, DataChannel, GatherOptions, Message, PeerConfig, PeerConnection, PeerEvent,
    PeerEvents,
};

use crate::common::{err, payload, BoxError, Outcome, Params, Tracker, SETUP_LIMIT, STALL};

/// A connected pair with its channel open on both sides.
pub struct Pair {
    /// Offerer (impolite).
    pub a: PeerConnection,
    /// Answerer (polite).
    pub b: PeerConnection,
    /// Offerer's events.
    pub a_events: PeerEvents,
    /// Answerer's events (kept alive so the driver does not drop them).
    pub b_events: PeerEvents,
    /// Offerer's channel.
    pub dc_a: DataChannel,
    /// Answerer's channel.
    pub dc_b: DataChannel,
    /// `create_data_channel` (which creates the offer) until open on both sides.
    pub setup: Duration,
}

fn config(polite: bool, udp_receive_buffer: Option<usize>) -> PeerConfig {
    let mut c = PeerConfig::new(polite);
    c.gather = GatherOptions::loopback_only();
    c.gather.udp_receive_buffer = udp_receive_buffer;
    // `TETHER_BATCHED_IO=0`: the agent's own sockets, one system call per datagram (the
    // before/after of `GatherOptions::batched_io` in one run).
    c.gather.batched_io = std::env::var("TETHER_BATCHED_IO").map_or(true, |v| v != "0");
    c
}

/// Connects a pair and opens one reliable ordered channel (`udp_receive_buffer`: see
/// [`Params::receive_buffer`]).
pub async fn connect(udp_receive_buffer: Option<usize>) -> Result<Pair, BoxError> {
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (a, a_events) = PeerConnection::new(config(false, udp_receive_buffer), sa)?;
    let (b, mut b_events) = PeerConnection::new(config(true, udp_receive_buffer), sb)?;
    let start = Instant::now();
    let dc_a = a
        .create_data_channel("bench", DataChannelInit::default())
        .await?;
    let dc_b = tokio::time::timeout(SETUP_LIMIT, async {
        while let Some(ev) = b_events.recv().await {
            if let PeerEvent::DataChannel(dc) = ev {
                return Some(dc);
            }
        }
        None
    })
    .await
    .map_err(|_| err("setup timed out"))?
    .ok_or_else(|| err("answerer stopped before its channel opened"))?;
    tokio::time::timeout(SETUP_LIMIT, dc_a.wait_open())
        .await
        .map_err(|_| err("setup timed out"))??;
    let setup = start.elapsed();
    Ok(Pair {
        a,
        b,
        a_events,
        b_events,
        dc_a,
        dc_b,
        setup,
    })
}

/// One transfer (see [`Params`]).
pub async fn run(p: Params) -> Result<Outcome, BoxError> {
    let mut pair = connect(p.receive_buffer()).await?;
    let mut dc_b = pair.dc_b;
    let count = p.count;
    let receiver = tokio::spawn(async move {
        let mut t = Tracker::default();
        while !t.done(count) {
            match tokio::time::timeout(STALL, dc_b.recv()).await {
                Ok(Some(Message::Binary(data))) => t.on_message(&data, Instant::now()),
                Ok(Some(_)) => t.misordered += 1,
                Ok(None) | Err(_) => break,
            }
        }
        t
    });
    let first_send = Instant::now();
    let first_send_cpu = crate::common::process_cpu();
    let mut restart_started = None;
    let mut switch = None;
    let mut sent = 0;
    for seq in 0..p.count {
        if Some(seq) == p.restart_at {
            // Events of the initial connect (its own promotion included) are not the restart's.
            while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, pair.a_events.recv()).await
            {
            }
            pair.a.restart_ice().await?;
            restart_started = Some(Instant::now());
        }
        pair.dc_a.send(payload(seq, p.size)).await?;
        sent += 1;
        if let Some(started) = restart_started.filter(|_| switch.is_none()) {
            while let Ok(Some(ev)) =
                tokio::time::timeout(Duration::ZERO, pair.a_events.recv()).await
            {
                if let PeerEvent::Session(Event::IceGenerationPromoted { generation, .. }) = ev {
                    if generation.0 > 0 {
                        switch = Some(started.elapsed());
                    }
                }
            }
        }
    }
    let tracker = receiver.await?;
    pair.a.close().await;
    drop(pair.b_events);
    Ok(Outcome {
        setup: pair.setup,
        first_send,
        first_send_cpu,
        tracker,
        sent,
        restart_switch: switch,
    })
}
