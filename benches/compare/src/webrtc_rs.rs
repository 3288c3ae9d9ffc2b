//! webrtc-rs (`webrtc` 0.17.1): two `RTCPeerConnection`s on loopback. Offer and answer are
//! exchanged once gathering is complete (host candidates on 127.0.0.1 only; no trickle).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::APIBuilder;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::data_channel::RTCDataChannel;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::offer_answer_options::RTCOfferOptions;
use webrtc::peer_connection::RTCPeerConnection;

use crate::common::{
    err, payload, BoxError, Outcome, Params, Tracker, HIGH_WATER, LOW_WATER, SETUP_LIMIT, STALL,
};

async fn peer() -> Result<Arc<RTCPeerConnection>, BoxError> {
    let mut s = SettingEngine::default();
    s.set_include_loopback_candidate(true);
    s.set_ip_filter(Box::new(|ip: std::net::IpAddr| ip.is_loopback()));
    s.set_network_types(vec![NetworkType::Udp4]);
    s.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    let api = APIBuilder::new().with_setting_engine(s).build();
    Ok(Arc::new(
        api.new_peer_connection(RTCConfiguration::default()).await?,
    ))
}

/// Offer from `a` (with ICE restart if asked), answer from `b`, each after gathering.
async fn negotiate(
    a: &RTCPeerConnection,
    b: &RTCPeerConnection,
    ice_restart: bool,
) -> Result<(), BoxError> {
    let options = ice_restart.then(|| RTCOfferOptions {
        ice_restart: true,
        ..Default::default()
    });
    let offer = a.create_offer(options).await?;
    let mut gathered = a.gathering_complete_promise().await;
    a.set_local_description(offer).await?;
    let _ = gathered.recv().await;
    let offer = a
        .local_description()
        .await
        .ok_or_else(|| err("no local offer"))?;
    b.set_remote_description(offer).await?;
    let answer = b.create_answer(None).await?;
    let mut gathered = b.gathering_complete_promise().await;
    b.set_local_description(answer).await?;
    let _ = gathered.recv().await;
    let answer = b
        .local_description()
        .await
        .ok_or_else(|| err("no local answer"))?;
    a.set_remote_description(answer).await?;
    Ok(())
}

/// One transfer (see [`Params`]).
pub async fn run(p: Params) -> Result<Outcome, BoxError> {
    let a = peer().await?;
    let b = peer().await?;
    let count = p.count;
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let (b_open_tx, mut b_open_rx) = mpsc::channel::<()>(1);
    {
        let tracker = Arc::clone(&tracker);
        b.on_data_channel(Box::new(move |dc: Arc<RTCDataChannel>| {
            let tracker = Arc::clone(&tracker);
            let done_tx = done_tx.clone();
            let b_open_tx = b_open_tx.clone();
            dc.on_open(Box::new(move || {
                Box::pin(async move {
                    let _ = b_open_tx.try_send(());
                })
            }));
            dc.on_message(Box::new(move |msg: DataChannelMessage| {
                let now = Instant::now();
                let finished = tracker
                    .lock()
                    .map(|mut t| {
                        t.on_message(&msg.data, now);
                        t.done(count)
                    })
                    .unwrap_or(true);
                let done_tx = done_tx.clone();
                Box::pin(async move {
                    if finished {
                        let _ = done_tx.try_send(());
                    }
                })
            }));
            Box::pin(async {})
        }));
    }

    let start = Instant::now();
    let dc = a.create_data_channel("bench", None).await?;
    let (a_open_tx, mut a_open_rx) = mpsc::channel::<()>(1);
    dc.on_open(Box::new(move || {
        Box::pin(async move {
            let _ = a_open_tx.try_send(());
        })
    }));
    let low = Arc::new(Notify::new());
    dc.set_buffered_amount_low_threshold(LOW_WATER).await;
    {
        let low = Arc::clone(&low);
        dc.on_buffered_amount_low(Box::new(move || {
            let low = Arc::clone(&low);
            Box::pin(async move { low.notify_one() })
        }))
        .await;
    }
    tokio::time::timeout(SETUP_LIMIT, async {
        negotiate(&a, &b, false).await?;
        a_open_rx.recv().await;
        b_open_rx.recv().await;
        Ok::<(), BoxError>(())
    })
    .await
    .map_err(|_| err("setup timed out"))??;
    let setup = start.elapsed();

    let first_send = Instant::now();
    let mut restart = None;
    let mut sent = 0;
    for seq in 0..p.count {
        if Some(seq) == p.restart_at {
            let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
            restart = Some(tokio::spawn(async move {
                let started = Instant::now();
                negotiate(&a2, &b2, true)
                    .await
                    .map(|()| started.elapsed())
                    .map_err(|e| e.to_string())
            }));
        }
        while dc.buffered_amount().await > HIGH_WATER {
            let _ = tokio::time::timeout(Duration::from_millis(20), low.notified()).await;
        }
        dc.send(&Bytes::from(payload(seq, p.size))).await?;
        sent += 1;
    }
    let _ = tokio::time::timeout(STALL, done_rx.recv()).await;
    if let Some(task) = restart {
        // The renegotiation's own duration is not the path switch; only its success counts.
        task.await?.map_err(err)?;
    }
    let tracker = std::mem::take(&mut *tracker.lock().map_err(|_| err("poisoned"))?);
    a.close().await?;
    b.close().await?;
    Ok(Outcome {
        setup,
        first_send,
        tracker,
        sent,
        restart_switch: None,
    })
}
