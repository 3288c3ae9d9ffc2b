//! Tests of the restart policy and its scheduler.

use super::*;
use proptest::prelude::*;
use IceConnectionState as S;

use crate::test_clock::t0;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Drives a scheduler like the session does: after every input, fire what is due and report
/// the restart.
struct Harness {
    s: RestartScheduler,
    start: Instant,
    now: Instant,
    restarts: Vec<(Duration, RestartReason)>,
}

impl Harness {
    fn new(policy: RestartPolicy) -> Self {
        let start = t0();
        Self {
            s: RestartScheduler::new(policy),
            start,
            now: start,
            restarts: Vec::new(),
        }
    }

    fn fire(&mut self) {
        if let Some(reason) = self.s.handle_timeout(self.now) {
            self.restarts.push((self.now - self.start, reason));
            self.s.on_restart_started(reason, self.now);
        }
    }

    /// Advances virtual time to `at` (seconds since start), jumping through deadlines.
    fn advance_to(&mut self, at: f64) {
        let target = self.start + secs(at);
        while let Some(t) = self.s.poll_timeout() {
            if t > target {
                break;
            }
            self.now = self.now.max(t);
            let before = self.restarts.len();
            self.fire();
            assert_eq!(self.restarts.len(), before + 1, "poll_timeout lied");
        }
        self.now = self.now.max(target);
    }

    fn state(&mut self, at: f64, state: S) {
        self.advance_to(at);
        self.s.on_ice_state(state, self.now);
        self.fire();
    }

    fn network_change(&mut self, at: f64) {
        self.advance_to(at);
        self.s.on_network_change(self.now);
        self.fire();
    }

    fn times(&self) -> Vec<f64> {
        self.restarts
            .iter()
            .map(|(d, _)| (d.as_secs_f64() * 1000.0).round() / 1000.0)
            .collect()
    }
}

#[test]
fn backoff_delays() {
    let b = Backoff::default();
    let got: Vec<u64> = (1..=8).map(|k| b.delay(k).as_secs()).collect();
    assert_eq!(got, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    assert_eq!(b.delay(0), Duration::from_secs(1));
    assert_eq!(b.delay(u32::MAX), Duration::from_secs(30));
    let huge = Backoff {
        initial: Duration::MAX,
        max: Duration::MAX,
        multiplier: u32::MAX,
    };
    assert_eq!(huge.delay(5), Duration::MAX);
    let zero = Backoff {
        multiplier: 0,
        ..Backoff::default()
    };
    assert_eq!(zero.delay(3), Duration::from_secs(1));
}

#[test]
fn presets() {
    let m = RestartPolicy::manual();
    assert!(!m.on_failed && !m.on_network_change);
    assert_eq!(m.on_disconnected_after, None);
    let a = RestartPolicy::automatic();
    assert!(a.on_failed && a.on_network_change);
    assert_eq!(a.on_disconnected_after, Some(Duration::from_secs(2)));
    assert_eq!(a.stable_after, Duration::from_secs(10));
    assert_eq!(a.max_attempts, Some(10));
    assert_eq!(a.backoff, Backoff::default());
    assert_eq!(RestartPolicy::default(), a);
}

#[test]
fn failed_restarts_immediately() {
    let mut h = Harness::new(RestartPolicy::automatic());
    h.state(0.0, S::Checking);
    h.state(1.0, S::Failed);
    assert_eq!(h.restarts, vec![(secs(1.0), RestartReason::Failed)]);
    assert_eq!(h.s.attempts(), 1);
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn disconnected_waits_then_restarts() {
    let mut h = Harness::new(RestartPolicy::automatic());
    h.state(0.0, S::Connected);
    h.state(5.0, S::Disconnected);
    assert_eq!(h.s.poll_timeout(), Some(h.start + secs(7.0)));
    h.advance_to(10.0);
    assert_eq!(h.restarts, vec![(secs(7.0), RestartReason::Disconnected)]);
}

#[test]
fn disconnected_recovering_cancels() {
    for recovered in [S::Connected, S::Completed, S::Checking] {
        let mut h = Harness::new(RestartPolicy::automatic());
        h.state(0.0, S::Connected);
        h.state(5.0, S::Disconnected);
        h.state(6.5, recovered);
        h.advance_to(100.0);
        assert!(h.restarts.is_empty(), "{recovered:?}");
    }
}

#[test]
fn flapping_network_never_restarts() {
    let mut h = Harness::new(RestartPolicy::automatic());
    let mut t = 0.0;
    while t < 60.0 {
        h.state(t, S::Disconnected);
        h.state(t + 0.5, S::Connected);
        t += 1.0;
    }
    h.advance_to(60.0);
    assert!(h.restarts.is_empty(), "{:?}", h.times());
}

#[test]
fn repeated_failure_backs_off_exponentially() {
    let policy = RestartPolicy {
        max_attempts: None,
        ..RestartPolicy::automatic()
    };
    let mut h = Harness::new(policy);
    // Each attempt's checks fail 100 ms after it begins.
    let mut t = 0.0;
    for _ in 0..9 {
        h.state(t + 0.05, S::Checking);
        h.state(t + 0.1, S::Failed);
        if let Some(due) = h.s.poll_timeout() {
            h.advance_to((due - h.start).as_secs_f64());
        }
        t = h.restarts.last().unwrap().0.as_secs_f64();
    }
    let times = h.times();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| ((w[1] - w[0]) * 10.0).round() / 10.0)
        .collect();
    assert_eq!(
        gaps,
        vec![1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0],
        "{times:?}"
    );
    assert!(h.restarts.iter().all(|(_, r)| *r == RestartReason::Failed));
}

#[test]
fn network_change_while_connected_restarts_once() {
    let mut h = Harness::new(RestartPolicy::automatic());
    h.state(0.0, S::Connected);
    h.network_change(20.0);
    h.advance_to(100.0);
    assert_eq!(
        h.restarts,
        vec![(secs(20.0), RestartReason::NetworkChanged)]
    );
}

#[test]
fn network_change_during_backoff_waits() {
    let mut h = Harness::new(RestartPolicy::automatic());
    h.state(0.0, S::Connected);
    h.network_change(20.0);
    h.network_change(20.3);
    h.network_change(20.4);
    h.advance_to(100.0);
    assert_eq!(h.times(), vec![20.0, 21.0]);
}

#[test]
fn max_attempts_respected_until_stable() {
    let policy = RestartPolicy {
        max_attempts: Some(3),
        ..RestartPolicy::automatic()
    };
    let mut h = Harness::new(policy);
    let mut t = 0.0;
    for _ in 0..10 {
        h.state(t, S::Checking);
        h.state(t + 0.1, S::Failed);
        h.advance_to(t + 40.0);
        t += 40.0;
    }
    assert_eq!(h.restarts.len(), 3);
    assert_eq!(h.s.attempts(), 3);
    // Connected but not for long enough: still exhausted.
    h.state(t, S::Connected);
    h.state(t + 5.0, S::Failed);
    h.advance_to(t + 50.0);
    assert_eq!(h.restarts.len(), 3);
    // A stable connection resets the count.
    t += 50.0;
    h.state(t, S::Connected);
    h.state(t + 11.0, S::Failed);
    assert_eq!(h.restarts.len(), 4);
    assert_eq!(h.s.attempts(), 1);
}

#[test]
fn stable_connection_resets_backoff() {
    let policy = RestartPolicy {
        max_attempts: None,
        ..RestartPolicy::automatic()
    };
    let mut h = Harness::new(policy);
    for i in 0..5 {
        let t = f64::from(i) * 40.0;
        h.state(t, S::Checking);
        h.state(t + 0.1, S::Failed);
        h.advance_to(t + 39.0);
    }
    assert_eq!(h.s.attempts(), 5);
    h.state(300.0, S::Connected);
    h.state(315.0, S::Failed);
    assert_eq!(h.s.attempts(), 1);
    // The next one waits only the initial delay again.
    h.state(315.5, S::Checking);
    h.state(315.6, S::Failed);
    h.advance_to(320.0);
    let times = h.times();
    assert_eq!(&times[times.len() - 2..], &[315.0, 316.0]);
}

#[test]
fn manual_never_fires() {
    let mut h = Harness::new(RestartPolicy::manual());
    h.state(0.0, S::Connected);
    h.state(1.0, S::Disconnected);
    h.state(2.0, S::Failed);
    h.network_change(3.0);
    h.advance_to(1000.0);
    assert!(h.restarts.is_empty());
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn restarts_by_the_application_or_the_peer_neither_count_nor_arm_backoff() {
    // Ten `restart_ice` calls, then the link failed: the budget was used up and the
    // session never recovered.
    let policy = RestartPolicy {
        max_attempts: Some(3),
        ..RestartPolicy::automatic()
    };
    let mut h = Harness::new(policy);
    h.state(0.0, S::Connected);
    for i in 0..10 {
        h.advance_to(1.0 + f64::from(i));
        let reason = if i % 2 == 0 {
            RestartReason::Application
        } else {
            RestartReason::Remote
        };
        h.s.on_restart_started(reason, h.now);
    }
    h.s.on_restart_started(RestartReason::Configuration, h.now);
    assert_eq!(h.s.attempts(), 0);
    // The link fails right after the last one: recovery starts at once.
    h.network_change(10.1);
    assert_eq!(h.times(), vec![10.1]);
    assert_eq!(h.s.attempts(), 1);
}

#[test]
fn automatic_restarts_count_and_arm_backoff() {
    let mut h = Harness::new(RestartPolicy::automatic());
    h.state(0.0, S::Connected);
    h.network_change(5.0);
    assert_eq!(h.s.attempts(), 1);
    h.network_change(5.2);
    h.advance_to(10.0);
    assert_eq!(h.times(), vec![5.0, 6.0]);
}

#[test]
fn restart_clears_pending_triggers() {
    let mut h = Harness::new(RestartPolicy::automatic());
    h.state(0.0, S::Connected);
    h.state(1.0, S::Disconnected);
    h.advance_to(2.0);
    // A remote restart begins before the disconnected timer fires.
    h.s.on_restart_started(RestartReason::Remote, h.now);
    assert_eq!(h.s.poll_timeout(), None);
    h.advance_to(100.0);
    assert!(h.restarts.is_empty());
}

#[test]
fn failed_without_on_failed_keeps_disconnected_timer() {
    let policy = RestartPolicy {
        on_failed: false,
        ..RestartPolicy::automatic()
    };
    let mut h = Harness::new(policy);
    h.state(0.0, S::Connected);
    h.state(1.0, S::Disconnected);
    h.state(1.5, S::Failed);
    h.advance_to(10.0);
    assert_eq!(h.restarts, vec![(secs(3.0), RestartReason::Disconnected)]);
}

#[test]
fn set_policy_drops_disabled_triggers() {
    let mut h = Harness::new(RestartPolicy::automatic());
    h.state(0.0, S::Connected);
    h.state(1.0, S::Disconnected);
    assert!(h.s.poll_timeout().is_some());
    h.s.set_policy(RestartPolicy::manual());
    assert_eq!(h.s.policy(), &RestartPolicy::manual());
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn closed_stops_everything() {
    let mut h = Harness::new(RestartPolicy::automatic());
    h.state(0.0, S::Connected);
    h.state(1.0, S::Disconnected);
    h.state(1.5, S::Closed);
    h.network_change(2.0);
    h.state(3.0, S::Failed);
    h.advance_to(100.0);
    assert!(h.restarts.is_empty());
}

#[test]
fn time_going_backwards_is_clamped() {
    let start = t0();
    let mut s = RestartScheduler::new(RestartPolicy::automatic());
    s.on_ice_state(S::Connected, start + secs(10.0));
    s.on_ice_state(S::Disconnected, start + secs(12.0));
    // Earlier than before: treated as 12 s.
    s.on_network_change(start);
    assert_eq!(s.poll_timeout(), Some(start + secs(12.0)));
    assert_eq!(s.handle_timeout(start), Some(RestartReason::NetworkChanged));
    s.on_restart_started(RestartReason::NetworkChanged, start);
    assert_eq!(s.attempts(), 1);
    s.on_ice_state(S::Failed, start);
    assert_eq!(s.poll_timeout(), Some(start + secs(13.0)));
    assert_eq!(s.handle_timeout(start + secs(12.5)), None);
    assert_eq!(
        s.handle_timeout(start + secs(13.0)),
        Some(RestartReason::Failed)
    );
}

#[test]
fn huge_durations_do_not_panic() {
    let start = t0();
    let policy = RestartPolicy {
        on_disconnected_after: Some(Duration::MAX),
        backoff: Backoff {
            initial: Duration::MAX,
            max: Duration::MAX,
            multiplier: u32::MAX,
        },
        stable_after: Duration::MAX,
        max_attempts: None,
        ..RestartPolicy::automatic()
    };
    let mut s = RestartScheduler::new(policy);
    s.on_ice_state(S::Connected, start);
    s.on_ice_state(S::Disconnected, start);
    assert!(s.poll_timeout().is_some_and(|t| t > start));
    s.on_restart_started(RestartReason::Failed, start);
    s.on_restart_started(RestartReason::Application, start);
    s.on_ice_state(S::Failed, start);
    assert!(s.poll_timeout().is_some_and(|t| t > start));
    assert_eq!(s.handle_timeout(start + secs(1e6)), None);
}

#[derive(Debug, Clone)]
enum Op {
    State(S),
    NetworkChange,
    RestartStarted,
    Advance(u64),
    Back(u64),
    Fire,
}

fn op() -> impl Strategy<Value = Op> {
    let state = prop_oneof![
        Just(S::New),
        Just(S::Checking),
        Just(S::Connected),
        Just(S::Completed),
        Just(S::Disconnected),
        Just(S::Failed),
        Just(S::Closed),
    ];
    prop_oneof![
        6 => state.prop_map(Op::State),
        2 => Just(Op::NetworkChange),
        1 => Just(Op::RestartStarted),
        6 => (0u64..5_000).prop_map(Op::Advance),
        1 => (0u64..5_000).prop_map(Op::Back),
        3 => Just(Op::Fire),
    ]
}

fn policy() -> impl Strategy<Value = RestartPolicy> {
    (
        any::<bool>(),
        proptest::option::of(0u64..5_000),
        any::<bool>(),
        (1u64..3_000, 0u64..60_000, 0u32..5),
        0u64..20_000,
        proptest::option::of(0u32..6),
    )
        .prop_map(
            |(f, d, n, (initial, extra, mult), stable, max)| RestartPolicy {
                on_failed: f,
                on_disconnected_after: d.map(Duration::from_millis),
                on_network_change: n,
                backoff: Backoff {
                    initial: Duration::from_millis(initial),
                    max: Duration::from_millis(initial + extra),
                    multiplier: mult,
                },
                stable_after: Duration::from_millis(stable),
                max_attempts: max,
                give_up_after: None,
            },
        )
}

proptest! {
    #[test]
    fn scheduler_never_storms(policy in policy(), ops in proptest::collection::vec(op(), 0..120)) {
        let start = t0();
        let mut s = RestartScheduler::new(policy.clone());
        // The latest time fed in (the scheduler clamps to it).
        let mut clock = start;
        let mut now = start;
        let mut last_start: Option<Instant> = None;
        let mut last_auto: Option<Instant> = None;
        for op in ops {
            match op {
                Op::State(state) => s.on_ice_state(state, now),
                Op::NetworkChange => s.on_network_change(now),
                // A restart by the application or the peer: neither counted nor backed off.
                Op::RestartStarted => s.on_restart_started(RestartReason::Application, now),
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::Back(ms) => now = now.checked_sub(Duration::from_millis(ms)).unwrap_or(now).max(start),
                Op::Fire => {}
            }
            clock = clock.max(now);
            let attempts = s.attempts();
            let deadline = s.poll_timeout();
            if let Some(reason) = s.handle_timeout(now) {
                // Fired only at or after the deadline it announced.
                prop_assert!(deadline.is_some_and(|d| d <= clock));
                prop_assert!(matches!(reason, RestartReason::Failed | RestartReason::Disconnected | RestartReason::NetworkChanged));
                prop_assert!(policy.max_attempts.is_none_or(|m| attempts < m));
                if let Some(prev) = last_start {
                    let backoff = policy.backoff.delay(attempts.max(1));
                    prop_assert!(clock >= prev + backoff, "fired {:?} after the last start, backoff {:?}", clock - prev, backoff);
                    prop_assert!(clock >= prev + policy.backoff.initial);
                }
                if let Some(prev) = last_auto {
                    prop_assert!(clock >= prev + policy.backoff.initial);
                }
                s.on_restart_started(reason, now);
                last_start = Some(clock);
                last_auto = Some(clock);
                // Nothing is due right after a restart.
                prop_assert_eq!(s.handle_timeout(now), None);
            } else if let Some(d) = deadline {
                prop_assert!(d > clock, "deadline {:?} passed without firing", d - start);
            }
        }
    }
}

#[test]
fn gives_up_after_the_limit_without_a_working_path_once_connected() {
    let policy = RestartPolicy {
        give_up_after: Some(secs(60.0)),
        ..RestartPolicy::automatic()
    };
    let start = t0();
    let mut s = RestartScheduler::new(policy);
    // Never connected: nothing to give up on (the peer may not have shown up yet).
    s.on_ice_state(S::Checking, start);
    assert_eq!(s.give_up_at(), None);
    s.on_ice_state(S::Connected, start + secs(1.0));
    assert_eq!(s.give_up_at(), None);
    s.on_ice_state(S::Disconnected, start + secs(10.0));
    assert_eq!(s.give_up_at(), Some(start + secs(70.0)));
    // Restarts and states on the way do not move the deadline; a working path clears it.
    s.on_restart_started(RestartReason::Disconnected, start + secs(12.0));
    s.on_ice_state(S::Checking, start + secs(12.0));
    s.on_ice_state(S::Failed, start + secs(20.0));
    assert_eq!(s.give_up_at(), Some(start + secs(70.0)));
    s.on_ice_state(S::Connected, start + secs(30.0));
    assert_eq!(s.give_up_at(), None);
    s.on_ice_state(S::Failed, start + secs(40.0));
    assert_eq!(s.give_up_at(), Some(start + secs(100.0)));
    s.on_ice_state(S::Closed, start + secs(41.0));
    assert_eq!(s.give_up_at(), None);
    // Without a limit, never.
    let mut s = RestartScheduler::new(RestartPolicy::automatic());
    s.on_ice_state(S::Connected, start);
    s.on_ice_state(S::Failed, start + secs(1.0));
    assert_eq!(s.give_up_at(), None);
}
