//! A generation's agent and its ICE role-conflict recovery.
//!
//! `webrtc-ice` 0.17 fixes an agent's role at `dial`/`accept` and has no RFC 8445 §7.3.1.1
//! role-conflict handling: a check carrying the same role as ours is dropped, a 487 answer is
//! ignored. When both agents end up with the same role (Chromium keeps controlling after rolling
//! back its glare offer, while our offerer is controlling too), neither nominates and ICE fails.
//! The peer's conflicting checks are invisible to us, so the conflict is inferred: a generation
//! that has the remote credentials and candidates, has not connected [`RoleOptions::flip_after`]
//! after its last new remote candidate, and has no pair that ever got a success response (in a
//! conflict no check can: the peer drops it or answers 487) gets its agent replaced by one of
//! the other role, with the same local credentials and the remote candidates re-added; the new
//! agent's local candidates are trickled for the same generation (and the peer learns them as
//! peer-reflexive anyway from the new agent's checks). Each generation flips at most once, and
//! the two peers wait for different times (the impolite one first), so two Tether peers cannot
//! flip into a new conflict together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use session_core::candidate::Candidate;
use session_core::config::{IceServer, IceTransportPolicy};
use session_core::ice::IceCredentials;
use session_core::transport::IceRole;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use webrtc_ice::agent::Agent;
use webrtc_ice::candidate::CandidatePairState;

use super::{GatherOptions, GenKey, IceReport, IceTimeouts, ReportTx};
use crate::error::TransportError;

/// How long the impolite peer lets a generation check before it suspects a role conflict. A
/// healthy pair answers within a few round trips; the agent gives a silent pair 1.4 s
/// ([`super::MAX_BINDING_REQUESTS`]), so a path that works is normally up well before this.
pub(crate) const FLIP_AFTER_IMPOLITE: Duration = Duration::from_millis(2000);
/// The polite peer's wait: long enough for the impolite peer's flip to have connected, so only
/// a conflict the impolite peer cannot resolve (it has nothing to flip) makes the polite flip.
pub(crate) const FLIP_AFTER_POLITE: Duration = Duration::from_millis(5000);
/// Remote candidates kept per generation for a replacement agent (peer input: bounded).
const MAX_REMEMBERED_CANDIDATES: usize = 64;

/// Role-conflict recovery settings of a peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoleOptions {
    /// Checking time without connecting after which a generation's agent flips its role.
    pub(crate) flip_after: Duration,
    /// Testing only: the role of the first generation's agent, whatever the session says.
    pub(crate) first_role_override: Option<IceRole>,
}

impl RoleOptions {
    /// The wait for a peer of this politeness (perfect negotiation).
    pub(crate) fn for_peer(polite: bool, first_role_override: Option<IceRole>) -> Self {
        Self {
            flip_after: if polite {
                FLIP_AFTER_POLITE
            } else {
                FLIP_AFTER_IMPOLITE
            },
            first_role_override,
        }
    }
}

/// What a generation's agent is created with (kept to create the replacement).
struct AgentSetup {
    local: IceCredentials,
    ice_servers: Vec<IceServer>,
    policy: IceTransportPolicy,
    gather: GatherOptions,
    timeouts: IceTimeouts,
}

/// One generation's `webrtc-ice` agent, replaced once by one of the other role when the
/// generation stalls.
pub(crate) struct GenAgent {
    key: GenKey,
    agent: Arc<Agent>,
    /// Cleared when the agent is replaced or closed: its callbacks stop reporting.
    live: Arc<AtomicBool>,
    epoch: u32,
    role: IceRole,
    setup: AgentSetup,
    remote: Option<IceCredentials>,
    remote_candidates: Vec<Candidate>,
    /// Dropping it cancels a pending dial/accept.
    cancel: Option<mpsc::Sender<()>>,
    stall_timer: Option<JoinHandle<()>>,
    /// When the generation counts as stalled (pushed back by each new remote candidate).
    stall_at: Instant,
    flip_after: Duration,
    flipped: bool,
    connected: bool,
    tx: ReportTx,
}

impl GenAgent {
    /// Creates the generation's agent with `local` credentials and starts gathering.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start(
        key: GenKey,
        local: IceCredentials,
        role: IceRole,
        ice_servers: Vec<IceServer>,
        policy: IceTransportPolicy,
        gather: &GatherOptions,
        timeouts: IceTimeouts,
        flip_after: Duration,
        tx: ReportTx,
    ) -> Result<Self, TransportError> {
        let live = Arc::new(AtomicBool::new(true));
        let agent = super::start_agent(
            key,
            &local,
            &ice_servers,
            policy,
            gather,
            &timeouts,
            &live,
            tx.clone(),
        )
        .await?;
        Ok(Self {
            key,
            agent,
            live,
            epoch: 0,
            role,
            setup: AgentSetup {
                local,
                ice_servers,
                policy,
                gather: gather.clone(),
                timeouts,
            },
            remote: None,
            remote_candidates: Vec::new(),
            cancel: None,
            stall_timer: None,
            stall_at: Instant::now(),
            flip_after,
            flipped: false,
            connected: false,
            tx,
        })
    }

    /// The current agent.
    pub(crate) fn agent(&self) -> &Arc<Agent> {
        &self.agent
    }

    /// Starts connectivity checks (once per generation).
    pub(crate) fn set_remote_credentials(&mut self, remote: IceCredentials) {
        if self.remote.is_some() {
            return;
        }
        self.cancel = Some(super::connect(
            self.key,
            &self.agent,
            self.role,
            remote.clone(),
            &self.live,
            self.tx.clone(),
        ));
        self.remote = Some(remote);
        self.arm_stall_timer();
    }

    /// Adds a remote candidate (and remembers it for a replacement agent).
    pub(crate) fn add_remote_candidate(&mut self, c: &Candidate) {
        super::add_remote_candidate(&self.agent, c);
        if self.remote_candidates.len() < MAX_REMEMBERED_CANDIDATES {
            self.remote_candidates.push(c.clone());
        }
        self.stall_at = Instant::now() + self.flip_after;
        self.arm_stall_timer();
    }

    /// The agent connected: no flip any more.
    pub(crate) fn on_connected(&mut self) {
        self.connected = true;
        if let Some(t) = self.stall_timer.take() {
            t.abort();
        }
    }

    /// Starts the stall timer once the agent can check (credentials and a candidate known); it
    /// fires at `stall_at`.
    fn arm_stall_timer(&mut self) {
        if self.stall_timer.is_some()
            || self.flipped
            || self.connected
            || self.remote.is_none()
            || self.remote_candidates.is_empty()
        {
            return;
        }
        let (key, epoch, at, tx) = (self.key, self.epoch, self.stall_at, self.tx.clone());
        self.stall_timer = Some(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let _ = tx.send((key, IceReport::Stalled(epoch))).await;
        }));
    }

    /// The stall timer of `epoch` fired: replaces the agent by one of the other role, unless it
    /// connected meanwhile or already flipped. Returns whether it flipped.
    pub(crate) async fn on_stalled(&mut self, epoch: u32) -> Result<bool, TransportError> {
        self.stall_timer = None;
        if epoch != self.epoch || self.flipped || self.connected {
            return Ok(false);
        }
        if Instant::now() < self.stall_at {
            self.arm_stall_timer(); // a remote candidate came meanwhile
            return Ok(false);
        }
        let Some(remote) = self.remote.clone() else {
            return Ok(false);
        };
        let pairs = self.agent.get_candidate_pairs_stats().await;
        if pairs
            .iter()
            .any(|p| p.state == CandidatePairState::Succeeded)
        {
            // A check got a success answer: the roles agree, the pair is just slow to be
            // nominated (or the path failed later). Not a conflict: no flip.
            tracing::debug!(key = ?self.key, "ICE generation slow but not in a role conflict");
            return Ok(false);
        }
        let role = match self.role {
            IceRole::Controlling => IceRole::Controlled,
            _ => IceRole::Controlling,
        };
        let live = Arc::new(AtomicBool::new(true));
        let agent = super::start_agent(
            self.key,
            &self.setup.local,
            &self.setup.ice_servers,
            self.setup.policy,
            &self.setup.gather,
            &self.setup.timeouts,
            &live,
            self.tx.clone(),
        )
        .await?;
        let old = std::mem::replace(&mut self.agent, agent);
        let old_live = std::mem::replace(&mut self.live, live);
        old_live.store(false, Ordering::Release);
        self.cancel = None;
        super::close_agent(old);
        self.epoch += 1;
        self.flipped = true;
        self.role = role;
        for c in &self.remote_candidates {
            super::add_remote_candidate(&self.agent, c);
        }
        self.cancel = Some(super::connect(
            self.key,
            &self.agent,
            role,
            remote,
            &self.live,
            self.tx.clone(),
        ));
        Ok(true)
    }

    /// The role the current agent checks with.
    pub(crate) fn role(&self) -> IceRole {
        self.role
    }

    /// Whether the agent was replaced by one of the other role.
    pub(crate) fn flipped(&self) -> bool {
        self.flipped
    }

    /// Stops reporting and cancels checks; the agent is returned for closing.
    pub(crate) fn into_agent(self) -> Arc<Agent> {
        Arc::clone(&self.agent)
        // Dropped here: reporting stops, checks are cancelled.
    }
}

impl Drop for GenAgent {
    fn drop(&mut self) {
        self.live.store(false, Ordering::Release);
        self.cancel = None;
        if let Some(t) = self.stall_timer.take() {
            t.abort();
        }
    }
}
