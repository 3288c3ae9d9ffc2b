//! Automatic ICE restart: when the session restarts ICE by itself, and how often.
//!
//! A [`RestartPolicy`] names the triggers (ICE failed, ICE disconnected for a while, a local
//! network change) and the backoff that keeps a broken network from causing a restart storm.
//! The session feeds the policy's scheduler the aggregate ICE connection state, network changes
//! and every restart that begins (automatic, application or remote), and asks it when the next
//! automatic restart is due.

use std::time::{Duration, Instant};

use crate::state::IceConnectionState;

/// Exponential backoff between consecutive restart attempts.
///
/// After attempt `k` (counted from 1), the next automatic restart waits at least
/// `min(initial * multiplier^(k-1), max)` from the start of attempt `k`. A multiplier of 0 is
/// treated as 1 (the delay never shrinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first attempt.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// Factor applied to the delay after each further attempt.
    pub multiplier: u32,
}

impl Default for Backoff {
    /// 1 s, doubling, at most 30 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            multiplier: 2,
        }
    }
}

impl Backoff {
    /// The minimum wait after attempt `attempt` (counted from 1; 0 counts as 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1);
        let factor = self.multiplier.max(1).checked_pow(exponent);
        let delay = factor.and_then(|f| self.initial.checked_mul(f));
        match delay {
            Some(d) => d.min(self.max),
            None => self.max,
        }
    }
}

/// When the session restarts ICE by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restart when the ICE connection state becomes `failed`.
    pub on_failed: bool,
    /// Restart when the ICE connection state has stayed `disconnected` this long.
    pub on_disconnected_after: Option<Duration>,
    /// Restart when the adapter reports a local network change (an interface appeared or
    /// disappeared), even while connected.
    pub on_network_change: bool,
    /// Spacing between consecutive attempts.
    pub backoff: Backoff,
    /// A connection that stays connected this long resets the attempt count and the backoff.
    pub stable_after: Duration,
    /// After this many consecutive attempts without a stable connection, stop restarting
    /// automatically. `None`: no limit.
    pub max_attempts: Option<u32>,
    /// Once connected, a session without a working path (ICE neither connected nor completed)
    /// for this long closes itself: `Event::Closed(ClosedBy::Unreachable)`, a `bye` to the
    /// peer, everything freed. `None`: never (the application decides).
    pub give_up_after: Option<Duration>,
}

impl RestartPolicy {
    /// No automatic restart: only the application ([`restart_ice`]) and the remote peer restart.
    ///
    /// [`restart_ice`]: crate::session::Session::restart_ice
    pub fn manual() -> Self {
        Self {
            on_failed: false,
            on_disconnected_after: None,
            on_network_change: false,
            backoff: Backoff::default(),
            stable_after: Duration::from_secs(10),
            max_attempts: None,
            give_up_after: None,
        }
    }

    /// Restart on failure, after 2 s disconnected and on a network change; backoff 1 s doubling
    /// to 30 s; at most 10 attempts until the connection has been stable for 10 s.
    pub fn automatic() -> Self {
        Self {
            on_failed: true,
            on_disconnected_after: Some(Duration::from_secs(2)),
            on_network_change: true,
            backoff: Backoff::default(),
            stable_after: Duration::from_secs(10),
            max_attempts: Some(10),
            give_up_after: None,
        }
    }
}

impl Default for RestartPolicy {
    /// [`RestartPolicy::automatic`].
    fn default() -> Self {
        Self::automatic()
    }
}

/// Why an ICE restart happened.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartReason {
    /// The application called `restart_ice()`.
    Application,
    /// The remote peer sent an offer with new ICE credentials.
    Remote,
    /// Policy: the ICE connection failed.
    Failed,
    /// Policy: the ICE connection stayed disconnected too long.
    Disconnected,
    /// Policy: the local network changed.
    NetworkChanged,
    /// `set_configuration` changed something that takes effect through a restart.
    Configuration,
}

impl RestartReason {
    /// Did the restart policy start it (not the application, the peer or a configuration
    /// change)?
    pub fn is_automatic(self) -> bool {
        matches!(
            self,
            RestartReason::Failed | RestartReason::Disconnected | RestartReason::NetworkChanged
        )
    }
}

/// Decides when the policy's automatic restarts are due.
///
/// Inputs: [`on_ice_state`](Self::on_ice_state) (the aggregate ICE connection state, whenever
/// it changes), [`on_network_change`](Self::on_network_change) and
/// [`on_restart_started`](Self::on_restart_started) (every restart, with its reason).
/// Output: [`poll_timeout`](Self::poll_timeout) and [`handle_timeout`](Self::handle_timeout),
/// which returns the reason of a due restart once. Time that goes backwards is clamped.
#[derive(Debug, Clone)]
pub(crate) struct RestartScheduler {
    policy: RestartPolicy,
    /// The last aggregate state fed in.
    state: IceConnectionState,
    /// The connection is closed: nothing fires any more.
    closed: bool,
    /// The latest `now` seen, to clamp time going backwards.
    last_now: Option<Instant>,
    /// When the state last became connected/completed, while it still is.
    connected_since: Option<Instant>,
    /// Consecutive attempts since the last stable connection.
    attempts: u32,
    /// When the last restart (of any kind) began.
    last_start: Option<Instant>,
    /// No automatic restart before this.
    backoff_until: Option<Instant>,
    /// A pending `Failed` or `Disconnected` trigger and the earliest time it may fire
    /// (ignoring backoff).
    ice_trigger: Option<(RestartReason, Instant)>,
    /// A pending network-change trigger and when it arrived.
    network_trigger: Option<Instant>,
    /// A restart whose negotiated generation failed must be tried again (from when).
    retry_trigger: Option<Instant>,
    /// Since when the connection, once connected, has had no working path.
    down_since: Option<Instant>,
    /// Ever connected (before, there is no path to lose).
    ever_connected: bool,
}

impl RestartScheduler {
    /// A scheduler with nothing pending.
    pub(crate) fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            state: IceConnectionState::New,
            closed: false,
            last_now: None,
            connected_since: None,
            attempts: 0,
            last_start: None,
            backoff_until: None,
            ice_trigger: None,
            network_trigger: None,
            retry_trigger: None,
            down_since: None,
            ever_connected: false,
        }
    }

    /// Replaces the policy. Pending triggers the new policy disables are dropped; attempts and
    /// backoff carry over.
    pub(crate) fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
        match self.ice_trigger {
            Some((RestartReason::Failed, _)) if !self.policy.on_failed => self.ice_trigger = None,
            Some((RestartReason::Disconnected, _))
                if self.policy.on_disconnected_after.is_none() =>
            {
                self.ice_trigger = None
            }
            _ => {}
        }
        if !self.policy.on_network_change {
            self.network_trigger = None;
        }
    }

    /// The current policy.
    #[allow(dead_code)] // Part of the API the session may call; tests use it.
    pub(crate) fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// The aggregate ICE connection state changed to `state`.
    pub(crate) fn on_ice_state(&mut self, state: IceConnectionState, now: Instant) {
        let now = self.clamp(now);
        if self.closed || state == self.state {
            return;
        }
        let old = self.state;
        self.state = state;
        if old.is_connected() && !state.is_connected() {
            // Leaving a connected state: credit the stability it earned before forgetting it.
            self.reset_if_stable(now);
        }
        if state.is_connected() {
            self.ever_connected = true;
            self.down_since = None;
        } else if self.ever_connected {
            self.down_since.get_or_insert(now);
        }
        match state {
            IceConnectionState::Connected | IceConnectionState::Completed => {
                self.ice_trigger = None;
                if !old.is_connected() {
                    self.connected_since = Some(now);
                }
            }
            IceConnectionState::Disconnected => {
                self.connected_since = None;
                if self.ice_trigger.is_none() {
                    if let Some(after) = self.policy.on_disconnected_after {
                        self.ice_trigger =
                            Some((RestartReason::Disconnected, add_saturating(now, after)));
                    }
                }
            }
            IceConnectionState::Failed => {
                self.connected_since = None;
                if self.policy.on_failed {
                    self.ice_trigger = Some((RestartReason::Failed, now));
                }
                // Otherwise a pending disconnected timer keeps running: failed is worse.
            }
            IceConnectionState::Closed => {
                self.closed = true;
                self.connected_since = None;
                self.ice_trigger = None;
                self.network_trigger = None;
                self.retry_trigger = None;
                self.down_since = None;
            }
            // New, Checking (and anything added later): nothing to restart for.
            _ => {
                self.connected_since = None;
                self.ice_trigger = None;
            }
        }
    }

    /// The adapter saw a local network change.
    pub(crate) fn on_network_change(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.closed || !self.policy.on_network_change {
            return;
        }
        self.reset_if_stable(now);
        if self.network_trigger.is_none() {
            self.network_trigger = Some(now);
        }
    }

    /// A restart's negotiated generation failed without ever connecting while the old path
    /// still works: the restart did not really complete, so another one is due (whatever the
    /// policy's triggers, since an application or configuration restart must take effect),
    /// after the backoff and within `max_attempts`.
    pub(crate) fn on_restart_failed(&mut self, now: Instant) {
        let now = self.clamp(now);
        if !self.closed {
            self.retry_trigger.get_or_insert(now);
        }
    }

    /// A restart began, for `reason`: pending triggers are satisfied by it. Only an automatic
    /// one (the policy's: failed, disconnected, network change, or a retry of a restart that
    /// failed) is counted against `max_attempts` and arms the backoff: restarts by the
    /// application, the remote peer or a configuration change never use up the recovery of a
    /// path that fails later (before: ten `restart_ice` calls left none for the link
    /// failure that followed).
    pub(crate) fn on_restart_started(&mut self, reason: RestartReason, now: Instant) {
        let now = self.clamp(now);
        self.reset_if_stable(now);
        if reason.is_automatic() {
            self.attempts = self.attempts.saturating_add(1);
            self.last_start = Some(now);
            self.backoff_until = Some(add_saturating(
                now,
                self.policy.backoff.delay(self.attempts),
            ));
        }
        self.ice_trigger = None;
        self.network_trigger = None;
        self.retry_trigger = None;
    }

    /// When the session gives up on a connection without a working path
    /// ([`RestartPolicy::give_up_after`]); `None` while it has one (or never gives up).
    pub(crate) fn give_up_at(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let since = self.down_since?;
        Some(add_saturating(since, self.policy.give_up_after?))
    }

    /// When [`handle_timeout`](Self::handle_timeout) may return a reason; `None` if no
    /// automatic restart is pending (or allowed).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.closed || self.exhausted() {
            return None;
        }
        let due = [
            self.ice_trigger.map(|(_, at)| at),
            self.network_trigger,
            self.retry_trigger,
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(match self.backoff_until {
            Some(until) => due.max(until),
            None => due,
        })
    }

    /// Returns the reason of an automatic restart that is due at `now`, once. The caller starts
    /// the restart and reports it with [`on_restart_started`](Self::on_restart_started).
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<RestartReason> {
        let now = self.clamp(now);
        let due = self.poll_timeout()?;
        if now < due {
            return None;
        }
        let reason = match (self.ice_trigger, self.network_trigger) {
            (Some((reason, at)), Some(net)) if at <= net => reason,
            (Some((reason, _)), None) => reason,
            (_, Some(_)) => RestartReason::NetworkChanged,
            _ => RestartReason::Failed,
        };
        // One restart answers every pending trigger.
        self.ice_trigger = None;
        self.network_trigger = None;
        self.retry_trigger = None;
        Some(reason)
    }

    /// Consecutive restart attempts since the last stable connection.
    #[allow(dead_code)] // Part of the API the session may call; tests use it.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    fn exhausted(&self) -> bool {
        self.policy
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
    }

    /// Clamps `now` so that time never goes backwards.
    fn clamp(&mut self, now: Instant) -> Instant {
        let now = match self.last_now {
            Some(last) if now < last => last,
            _ => now,
        };
        self.last_now = Some(now);
        now
    }

    /// If the connection has been continuously connected for `stable_after` (counted from when
    /// it became connected, or from the last restart if that came later), the attempts and the
    /// backoff start over. The next automatic restart still waits one initial delay after the
    /// last one.
    fn reset_if_stable(&mut self, now: Instant) {
        let Some(since) = self.connected_since else {
            return;
        };
        let from = match self.last_start {
            Some(start) => since.max(start),
            None => since,
        };
        if now.saturating_duration_since(from) >= self.policy.stable_after {
            self.attempts = 0;
            self.backoff_until = self
                .last_start
                .map(|start| add_saturating(start, self.policy.backoff.delay(1)));
        }
    }
}

/// `at + d`, or the latest representable instant not beyond it.
fn add_saturating(at: Instant, d: Duration) -> Instant {
    if let Some(t) = at.checked_add(d) {
        return t;
    }
    // Find a large step that fits by halving.
    let mut step = d;
    let mut t = at;
    while !step.is_zero() {
        step /= 2;
        while let Some(next) = t.checked_add(step) {
            if step.is_zero() {
                break;
            }
            t = next;
        }
    }
    t
}

#[cfg(test)]
mod tests;
