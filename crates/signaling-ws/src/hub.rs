//! What connection tasks share: the room backend, the per-address limits, the configuration
//! and the metrics; and the handle through which a backend reaches one connection.
//!
//! Rooms, peers, sequence numbers and resume buffers live behind [`Backend`]: in this process
//! ([`MemoryBackend`], the default) or in Redis ([`RedisBackend`], shared by any number of server
//! processes). Frames for a connection are offered to its bounded queue without waiting
//! (`try_send`): a full queue marks a slow consumer, whose connection is closed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

use crate::addrs::Addresses;
use crate::backend::{Backend, MemoryBackend, RedisBackend};
use crate::config::ServerConfig;
use crate::metrics::{Gauges, Metrics};
use crate::protocol::CloseCode;
use crate::server::ServerError;

/// Asks one connection task to close with a code; remembers the first request.
#[derive(Debug, Default)]
pub(crate) struct Closer {
    code: Mutex<Option<CloseCode>>,
    notify: Notify,
}

impl Closer {
    /// Asks for a close with `code`; true when this is the first request.
    pub(crate) fn close(&self, code: CloseCode) -> bool {
        let mut slot = lock(&self.code);
        if slot.is_none() {
            *slot = Some(code);
            self.notify.notify_one();
            true
        } else {
            false
        }
    }

    /// Resolves once `close` has been called (cancel-safe: the permit is kept).
    pub(crate) async fn closed(&self) -> CloseCode {
        loop {
            if let Some(code) = *lock(&self.code) {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

/// One frame on a connection's outbound queue.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) frame: Utf8Bytes,
    /// Whether the frame counts against `outbound_queue_bytes`: relayed frames do; `joined`,
    /// `resumed` and a resume's replay (already counted in the resume buffer) do not.
    pub(crate) counted: bool,
}

/// What the hub holds of a connection: its id, its outbound queue and its closer.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::Sender<Out>,
    pub(crate) closer: Arc<Closer>,
    /// Bytes of counted frames in `tx` not yet taken by the connection task.
    pub(crate) queued: Arc<AtomicUsize>,
}

/// Why a frame could not be offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// The queue is over its byte or frame bound: a slow consumer.
    Full,
    /// The connection task has ended (a plain disconnect, not a slow consumer).
    Gone,
}

impl ConnHandle {
    /// Queues an uncounted frame (`joined`, `resumed`, replay); the queue is sized for them.
    pub(crate) fn push_uncounted(&self, frame: Utf8Bytes) {
        let _ = self.tx.try_send(Out {
            frame,
            counted: false,
        });
    }

    /// Queues a relayed frame if the queue's byte bound allows it.
    pub(crate) fn offer(&self, frame: Utf8Bytes, max_bytes: usize, metrics: &Metrics) -> Offer {
        let len = frame.len();
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > 0 && queued.saturating_add(len) > max_bytes {
            return Offer::Full;
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        metrics.queued(len as isize);
        match self.tx.try_send(Out {
            frame,
            counted: true,
        }) {
            Ok(()) => Offer::Queued,
            Err(e) => {
                self.queued.fetch_sub(len, Ordering::Relaxed);
                metrics.queued(-(len as isize));
                match e {
                    mpsc::error::TrySendError::Full(_) => Offer::Full,
                    mpsc::error::TrySendError::Closed(_) => Offer::Gone,
                }
            }
        }
    }

    /// The connection task took `out` off the queue.
    pub(crate) fn taken(&self, out: &Out, metrics: &Metrics) {
        if out.counted {
            let len = out.frame.len();
            self.queued.fetch_sub(len, Ordering::Relaxed);
            metrics.queued(-(len as isize));
        }
    }
}

/// How a connection ended, for [`Backend::disconnected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Departure {
    /// `bye`: the peer leaves for good.
    Bye,
    /// Anything else: the peer is suspended for the grace window.
    Dropped,
}

/// The rooms of one server (through its backend), its address limits, configuration and
/// metrics.
#[derive(Debug)]
pub(crate) struct Hub {
    backend: Box<dyn Backend>,
    addrs: Arc<Addresses>,
    config: Arc<ServerConfig>,
    metrics: Arc<Metrics>,
    next_id: AtomicU64,
}

impl Hub {
    /// A hub on the backend `config` asks for (Redis when `config.redis_url` is set).
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServerError> {
        let addrs = Arc::new(Addresses::new(
            &config.limits,
            config.trusted_proxies.clone(),
        ));
        let backend: Box<dyn Backend> = match &config.redis_url {
            Some(url) => Box::new(
                RedisBackend::new(
                    url,
                    Arc::clone(&config),
                    Arc::clone(&metrics),
                    Arc::clone(&addrs),
                )
                .map_err(ServerError::Backend)?,
            ),
            None => Box::new(MemoryBackend::new(
                Arc::clone(&config),
                Arc::clone(&metrics),
                Arc::clone(&addrs),
            )),
        };
        Ok(Self {
            backend,
            addrs,
            config,
            metrics,
            next_id: AtomicU64::new(1),
        })
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn addrs(&self) -> &Arc<Addresses> {
        &self.addrs
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// A fresh connection id.
    pub(crate) fn conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Room and peer gauges for `/metrics`.
    pub(crate) fn gauges(&self) -> Gauges {
        self.backend.gauges()
    }

    /// Closes every attached connection with `code` (server shutdown).
    pub(crate) fn close_all(&self, code: CloseCode) {
        self.backend.close_all(code);
    }
}

/// Locks a mutex; a poisoned lock (a panic elsewhere) still yields the data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
