//! webrtc-rs (`webrtc` 0.21.1: the async API on the sans-IO `rtc` 0.21 crates, ring crypto):
//! two `PeerConnection`s on loopback, each driven by its own driver task on the tokio runtime.
//! Offer and answer are exchanged once gathering is complete (one host candidate on 127.0.0.1
//! each, mDNS off; no trickle). The sockets the driver binds get `p`'s receive buffer through
//! a [`Runtime`] that wraps tokio's and sets `SO_RCVBUF` before wrapping each UDP socket.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::ice::mdns::MulticastDnsMode;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, SettingEngineBuilder,
};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

use crate::common::{
    err, payload, BoxError, Outcome, Params, Tracker, HIGH_WATER, SETUP_LIMIT, STALL,
};

/// Tokio's runtime for webrtc-rs, with `SO_RCVBUF` set on every UDP socket it wraps.
#[derive(Debug)]
struct Tokio {
    receive_buffer: Option<usize>,
}

impl Runtime for Tokio {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        TokioRuntime.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        TokioRuntime.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        if let Some(bytes) = self.receive_buffer {
            nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBuf, &bytes)?;
        }
        TokioRuntime.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        TokioRuntime.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        Box::pin(async move { TokioRuntime.connect_tcp(remote_addr).await })
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        Box::pin(async move { TokioRuntime.resolve_host(host).await })
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        TokioRuntime.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        TokioRuntime.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        TokioRuntime.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        TokioRuntime.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio (SO_RCVBUF)"
    }
}

/// A peer's events: gathering complete, and (answerer) the remote channel.
struct Handler {
    gathered: mpsc::UnboundedSender<()>,
    channel: Option<mpsc::UnboundedSender<Arc<dyn DataChannel>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(());
        }
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        if let Some(tx) = &self.channel {
            let _ = tx.send(data_channel);
        }
    }
}

type Pc = Arc<dyn PeerConnection>;

struct Peer {
    pc: Pc,
    gathered: mpsc::UnboundedReceiver<()>,
}

async fn peer(
    p: &Params,
    channel: Option<mpsc::UnboundedSender<Arc<dyn DataChannel>>>,
) -> Result<Peer, BoxError> {
    let (gathered_tx, gathered) = mpsc::unbounded_channel();
    let settings = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(settings)
        .with_runtime(Arc::new(Tokio {
            receive_buffer: p.receive_buffer(),
        }))
        .with_handler(Arc::new(Handler {
            gathered: gathered_tx,
            channel,
        }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        // `send` waits while HIGH_WATER bytes are outstanding, like every other sender here.
        .with_data_channel_send_buffer_limit(HIGH_WATER)
        .build()
        .await?;
    Ok(Peer {
        pc: Arc::new(pc),
        gathered,
    })
}

/// How long to wait for gathering to complete before sending the description as it is.
const GATHER_LIMIT: Duration = Duration::from_secs(2);

/// Sets `desc` locally and returns the local description once gathering is complete.
async fn set_local_and_gather(
    peer: &mut Peer,
    desc: webrtc::peer_connection::RTCSessionDescription,
) -> Result<webrtc::peer_connection::RTCSessionDescription, BoxError> {
    while peer.gathered.try_recv().is_ok() {}
    peer.pc.set_local_description(desc).await?;
    // A restart that keeps its candidates may not gather again: then the description already
    // holds them.
    let _ = tokio::time::timeout(GATHER_LIMIT, peer.gathered.recv()).await;
    peer.pc
        .local_description()
        .await
        .ok_or_else(|| err("no local description"))
}

/// Offer from `a` (after `restart_ice` if asked), answer from `b`, each after gathering.
async fn negotiate(a: &mut Peer, b: &mut Peer, ice_restart: bool) -> Result<(), BoxError> {
    if ice_restart {
        a.pc.restart_ice().await?;
    }
    let offer = a.pc.create_offer(None).await?;
    let offer = set_local_and_gather(a, offer).await?;
    b.pc.set_remote_description(offer).await?;
    let answer = b.pc.create_answer(None).await?;
    let answer = set_local_and_gather(b, answer).await?;
    a.pc.set_remote_description(answer).await?;
    Ok(())
}

/// One transfer (see [`Params`]).
pub async fn run(p: Params) -> Result<Outcome, BoxError> {
    let (channel_tx, mut channel_rx) = mpsc::unbounded_channel();
    let mut a = peer(&p, None).await?;
    let mut b = peer(&p, Some(channel_tx)).await?;
    let count = p.count;
    let tracker = Arc::new(Mutex::new(Tracker::default()));

    let start = Instant::now();
    let dc = a.pc.create_data_channel("bench", None).await?;
    // The offerer's events: open, then buffered-amount notices nobody needs (drained so they
    // never queue up in the driver).
    let (a_open_tx, mut a_open_rx) = mpsc::channel::<()>(1);
    {
        let dc = Arc::clone(&dc);
        tokio::spawn(async move {
            while let Some(event) = dc.poll().await {
                if let DataChannelEvent::OnOpen = event {
                    let _ = a_open_tx.try_send(());
                }
            }
        });
    }
    // The answerer's channel: open, then every message into the tracker.
    let (b_open_tx, mut b_open_rx) = mpsc::channel::<()>(1);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let receiver = {
        let tracker = Arc::clone(&tracker);
        tokio::spawn(async move {
            let Some(dc) = channel_rx.recv().await else {
                return;
            };
            while let Some(event) = dc.poll().await {
                match event {
                    DataChannelEvent::OnOpen => {
                        let _ = b_open_tx.try_send(());
                    }
                    DataChannelEvent::OnMessage(msg) => {
                        let finished = tracker
                            .lock()
                            .map(|mut t| {
                                t.on_message(&msg.data, Instant::now());
                                t.done(count)
                            })
                            .unwrap_or(true);
                        if finished {
                            let _ = done_tx.try_send(());
                            return;
                        }
                    }
                    _ => {}
                }
            }
        })
    };
    tokio::time::timeout(SETUP_LIMIT, async {
        negotiate(&mut a, &mut b, false).await?;
        a_open_rx.recv().await;
        b_open_rx.recv().await;
        Ok::<(), BoxError>(())
    })
    .await
    .map_err(|_| err("setup timed out"))??;
    let setup = start.elapsed();

    let first_send = Instant::now();
    let first_send_cpu = crate::common::process_cpu();
    let mut restart = None;
    let mut sent = 0;
    let mut peers = Some((a, b));
    for seq in 0..p.count {
        if Some(seq) == p.restart_at {
            if let Some((mut a, mut b)) = peers.take() {
                restart = Some(tokio::spawn(async move {
                    let result = negotiate(&mut a, &mut b, true)
                        .await
                        .map_err(|e| e.to_string());
                    (a, b, result)
                }));
            }
        }
        dc.send(BytesMut::from(&payload(seq, p.size)[..])).await?;
        sent += 1;
    }
    let _ = tokio::time::timeout(STALL, done_rx.recv()).await;
    let (a, b) = match (restart, peers) {
        // The renegotiation's own duration is not the path switch; only its success counts.
        (Some(task), _) => {
            let (a, b, result) = task.await?;
            result.map_err(err)?;
            (a, b)
        }
        (None, Some(peers)) => peers,
        (None, None) => return Err(err("lost the peers")),
    };
    receiver.abort();
    let tracker = std::mem::take(&mut *tracker.lock().map_err(|_| err("poisoned"))?);
    a.pc.close().await?;
    b.pc.close().await?;
    Ok(Outcome {
        setup,
        first_send,
        first_send_cpu,
        tracker,
        sent,
        restart_switch: None,
    })
}
