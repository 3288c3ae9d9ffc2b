//! One transport's ICE restart, from the request to the exchange that completes it: the one
//! place its state changes (the restart diagram in `docs/session-core.md` maps each step to
//! the function that calls in here).
//!
//! A restart of transport `t` goes: [`request`](Restart::request) (the application, the
//! policy, a configuration change) → our offer picks new credentials
//! ([`offer_credentials`](Restart::offer_credentials)) → a generation starts with them
//! ([`generation_started`](Restart::generation_started)) → the exchange completes and the
//! generation goes live ([`exchange_complete`](Restart::exchange_complete)). The peer may
//! restart instead ([`remote_offer`](Restart::remote_offer), then
//! [`answer_credentials`](Restart::answer_credentials)); glare rolls our offer back
//! ([`rolled_back_local`](Restart::rolled_back_local)) with the request kept; the peer may
//! decline ([`end`](Restart::end)).

use crate::ice::IceCredentials;
use crate::policy::RestartReason;

/// The restart state of one transport.
#[derive(Debug, Clone, Default)]
pub(super) struct Restart {
    /// A restart was requested and is not complete, and why (the first reason asked wins).
    /// Kept through a rollback: the next offer restarts.
    requested: Option<RestartReason>,
    /// Credentials a description we created chose and no generation uses yet.
    proposed: Option<IceCredentials>,
    /// The applied remote offer changed this transport's credentials: the peer restarts it,
    /// and our answer needs new credentials too.
    remote: bool,
    /// Local credentials of an offer we applied and then rolled back. The peer may have
    /// answered that offer (the answer lost on the way), so it may hold them as ours: an answer
    /// that needs new credentials reuses them, which keeps both sides agreeing on the
    /// generation whichever happened. Forgotten when an exchange completes.
    rolled_back: Option<IceCredentials>,
}

impl Restart {
    /// Asks for a restart (the next offer gives new credentials).
    pub(super) fn request(&mut self, reason: RestartReason) {
        self.requested.get_or_insert(reason);
    }

    /// A restart was requested and is not complete.
    pub(super) fn is_requested(&self) -> bool {
        self.requested.is_some()
    }

    /// Why a generation started now replaces the negotiated one: the peer's restart, else the
    /// reason asked (a restart nobody asked for is the application's, e.g. a new offer that
    /// an answer's credentials forced).
    pub(super) fn reason(&self) -> RestartReason {
        if self.remote {
            RestartReason::Remote
        } else {
            self.requested.unwrap_or(RestartReason::Application)
        }
    }

    /// Credentials for this transport in an offer: those already proposed, else the
    /// generation being negotiated's, else the negotiated ones unless a restart is requested
    /// (or nothing was negotiated), in which case `fresh()` ones, proposed from now on.
    pub(super) fn offer_credentials(
        &mut self,
        negotiating: Option<&IceCredentials>,
        negotiated: Option<&IceCredentials>,
        fresh: impl FnOnce() -> IceCredentials,
    ) -> IceCredentials {
        if let Some(c) = self.in_progress(negotiating) {
            return c;
        }
        match negotiated {
            Some(c) if self.requested.is_none() => c.clone(),
            _ => self.propose(fresh()),
        }
    }

    /// Credentials for this transport in an answer: as in an offer, but new ones are needed
    /// when the peer restarted it (or nothing was negotiated): a rolled-back offer's if the
    /// peer may hold them already, else `fresh()` ones.
    pub(super) fn answer_credentials(
        &mut self,
        negotiating: Option<&IceCredentials>,
        negotiated: Option<&IceCredentials>,
        fresh: impl FnOnce() -> IceCredentials,
    ) -> IceCredentials {
        if let Some(c) = self.in_progress(negotiating) {
            return c;
        }
        match negotiated {
            Some(c) if !self.remote => c.clone(),
            _ => {
                let creds = self.rolled_back.clone().unwrap_or_else(fresh);
                self.propose(creds)
            }
        }
    }

    /// The credentials the exchange in progress already uses: those proposed, else those of
    /// the generation being negotiated.
    fn in_progress(&self, negotiating: Option<&IceCredentials>) -> Option<IceCredentials> {
        self.proposed.as_ref().or(negotiating).cloned()
    }

    fn propose(&mut self, creds: IceCredentials) -> IceCredentials {
        self.proposed = Some(creds.clone());
        creds
    }

    /// A generation started with the proposed credentials: nothing is proposed any more.
    pub(super) fn generation_started(&mut self) {
        self.proposed = None;
    }

    /// A remote offer was applied; `restart`: it changed this transport's credentials.
    pub(super) fn remote_offer(&mut self, restart: bool) {
        self.remote = restart;
    }

    /// The exchange completed with this transport accepted; `went_live`: a new generation
    /// of it went live, which completes a requested restart.
    pub(super) fn exchange_complete(&mut self, went_live: bool) {
        if went_live {
            self.requested = None;
        }
        self.remote = false;
        self.proposed = None;
    }

    /// An exchange completed: a rolled-back offer is history.
    pub(super) fn forget_rollback(&mut self) {
        self.rolled_back = None;
    }

    /// Our offer was rolled back; `offered`: the credentials of the generation it had
    /// started (if any). The request, if any, stays.
    pub(super) fn rolled_back_local(&mut self, offered: Option<IceCredentials>) {
        if offered.is_some() {
            self.rolled_back = offered;
        }
        self.proposed = None;
    }

    /// The peer's offer was rolled back.
    pub(super) fn rolled_back_remote(&mut self) {
        self.remote = false;
        self.proposed = None;
    }

    /// A description we created was discarded before it was applied.
    pub(super) fn discard_proposal(&mut self) {
        self.proposed = None;
    }

    /// The restart will not happen: the peer declined it, or the transport closed.
    pub(super) fn end(&mut self) {
        self.requested = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str) -> IceCredentials {
        IceCredentials {
            ufrag: u.into(),
            pwd: format!("{u}-password-of-22-chars"),
        }
    }

    #[test]
    fn an_offer_keeps_the_negotiated_credentials_until_a_restart_is_asked() {
        let mut r = Restart::default();
        let old = creds("old1");
        assert_eq!(r.offer_credentials(None, Some(&old), || creds("new1")), old);
        r.request(RestartReason::Failed);
        r.request(RestartReason::Application);
        assert_eq!(r.reason(), RestartReason::Failed, "the first reason wins");
        let offered = r.offer_credentials(None, Some(&old), || creds("new1"));
        assert_eq!(offered, creds("new1"));
        // The same offer again (a resend) proposes the same ones.
        assert_eq!(
            r.offer_credentials(None, Some(&old), || creds("new2")),
            offered
        );
        r.generation_started();
        assert_eq!(
            r.offer_credentials(Some(&offered), Some(&old), || creds("new3")),
            offered
        );
        r.exchange_complete(true);
        assert!(!r.is_requested());
    }

    #[test]
    fn a_rollback_keeps_the_request_and_an_answer_to_a_peer_restart_reuses_what_was_offered() {
        let mut r = Restart::default();
        let old = creds("old1");
        r.request(RestartReason::Disconnected);
        let offered = r.offer_credentials(None, Some(&old), || creds("mine"));
        r.generation_started();
        r.rolled_back_local(Some(offered.clone()));
        assert!(r.is_requested());
        r.remote_offer(true);
        assert_eq!(r.reason(), RestartReason::Remote);
        assert_eq!(
            r.answer_credentials(None, Some(&old), || creds("fresh")),
            offered
        );
        r.exchange_complete(true);
        r.forget_rollback();
        r.remote_offer(true);
        assert_eq!(
            r.answer_credentials(None, Some(&old), || creds("fresh")),
            creds("fresh")
        );
    }
}
