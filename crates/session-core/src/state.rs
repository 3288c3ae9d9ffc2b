//! W3C state enums and the aggregation rules that derive the peer connection's ICE connection,
//! ICE gathering and connection states from the states of its transports.

/// State of one ICE transport (W3C `RTCIceTransportState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IceTransportState {
    /// Gathering or waiting for remote candidates; no checks yet.
    #[default]
    New,
    /// Checks are running, no usable pair yet.
    Checking,
    /// A usable pair was found.
    Connected,
    /// Checks finished and a pair was selected.
    Completed,
    /// Connectivity was lost (consent checks failing); may recover.
    Disconnected,
    /// All checks failed or consent expired.
    Failed,
    /// Closed.
    Closed,
}

/// W3C `RTCIceConnectionState`: aggregate over the ICE transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IceConnectionState {
    /// See W3C.
    #[default]
    New,
    /// See W3C.
    Checking,
    /// See W3C.
    Connected,
    /// See W3C.
    Completed,
    /// See W3C.
    Disconnected,
    /// See W3C.
    Failed,
    /// See W3C.
    Closed,
}

/// State of one ICE gatherer (W3C `RTCIceGathererState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IceGathererState {
    /// Not started.
    #[default]
    New,
    /// Gathering candidates.
    Gathering,
    /// Done.
    Complete,
}

/// W3C `RTCIceGatheringState`: aggregate over the gatherers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IceGatheringState {
    /// See W3C.
    #[default]
    New,
    /// See W3C.
    Gathering,
    /// See W3C.
    Complete,
}

/// W3C `RTCDtlsTransportState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DtlsTransportState {
    /// Not started.
    #[default]
    New,
    /// Handshaking.
    Connecting,
    /// Handshake done and the peer's certificate matched its fingerprint.
    Connected,
    /// Closed (close_notify sent or received).
    Closed,
    /// Handshake failed or the fingerprint did not match.
    Failed,
}

/// W3C `RTCPeerConnectionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PeerConnectionState {
    /// See W3C.
    #[default]
    New,
    /// See W3C.
    Connecting,
    /// See W3C.
    Connected,
    /// See W3C.
    Disconnected,
    /// See W3C.
    Failed,
    /// See W3C.
    Closed,
}

impl IceTransportState {
    /// Whether the transport has a usable pair (`connected` or `completed`).
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::Completed)
    }
}

impl IceConnectionState {
    /// Whether the aggregate has a usable path (`connected` or `completed`).
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::Completed)
    }
}

/// W3C aggregation of `iceConnectionState`.
///
/// The rules, first match wins:
/// 1. the peer connection is closed: `closed`;
/// 2. any transport `failed`: `failed`;
/// 3. any transport `disconnected`: `disconnected`;
/// 4. every transport `new` or `closed` (or there is none): `new`;
/// 5. any transport `new` or `checking`: `checking`;
/// 6. every transport `completed` or `closed`: `completed`;
/// 7. otherwise (every transport `connected`, `completed` or `closed`): `connected`.
pub fn ice_connection_state(closed: bool, transports: &[IceTransportState]) -> IceConnectionState {
    use IceTransportState as T;
    let any = |f: fn(T) -> bool| transports.iter().copied().any(f);
    let all = |f: fn(T) -> bool| transports.iter().copied().all(f);
    if closed {
        IceConnectionState::Closed
    } else if any(|t| t == T::Failed) {
        IceConnectionState::Failed
    } else if any(|t| t == T::Disconnected) {
        IceConnectionState::Disconnected
    } else if all(|t| matches!(t, T::New | T::Closed)) {
        IceConnectionState::New
    } else if any(|t| matches!(t, T::New | T::Checking)) {
        IceConnectionState::Checking
    } else if all(|t| matches!(t, T::Completed | T::Closed)) {
        IceConnectionState::Completed
    } else {
        IceConnectionState::Connected
    }
}

/// W3C aggregation of `iceGatheringState`.
///
/// Any gatherer `gathering`: `gathering`; otherwise every gatherer `complete` (and at least
/// one): `complete`; otherwise (including no gatherers): `new`.
///
/// `closed` does not change the result: W3C leaves `iceGatheringState` untouched when the
/// connection closes, so the session simply stops recomputing it after `close()`.
pub fn ice_gathering_state(closed: bool, gatherers: &[IceGathererState]) -> IceGatheringState {
    let _ = closed;
    if gatherers.contains(&IceGathererState::Gathering) {
        IceGatheringState::Gathering
    } else if !gatherers.is_empty() && gatherers.iter().all(|g| *g == IceGathererState::Complete) {
        IceGatheringState::Complete
    } else {
        IceGatheringState::New
    }
}

/// W3C aggregation of `connectionState` over ICE and DTLS transports.
///
/// The rules, first match wins:
/// 1. the peer connection is closed: `closed`;
/// 2. any ICE or DTLS transport `failed`: `failed`;
/// 3. any ICE transport `disconnected`: `disconnected`;
/// 4. every ICE transport `new` or `closed` and every DTLS transport `new` or `closed` (or there
///    are none): `new`;
/// 5. any ICE transport `new` or `checking`, or any DTLS transport `new` or `connecting`:
///    `connecting`;
/// 6. otherwise: `connected`.
pub fn peer_connection_state(
    closed: bool,
    ice: &[IceTransportState],
    dtls: &[DtlsTransportState],
) -> PeerConnectionState {
    use DtlsTransportState as D;
    use IceTransportState as I;
    if closed {
        PeerConnectionState::Closed
    } else if ice.contains(&I::Failed) || dtls.contains(&D::Failed) {
        PeerConnectionState::Failed
    } else if ice.contains(&I::Disconnected) {
        PeerConnectionState::Disconnected
    } else if ice.iter().all(|i| matches!(i, I::New | I::Closed))
        && dtls.iter().all(|d| matches!(d, D::New | D::Closed))
    {
        PeerConnectionState::New
    } else if ice.iter().any(|i| matches!(i, I::New | I::Checking))
        || dtls.iter().any(|d| matches!(d, D::New | D::Connecting))
    {
        PeerConnectionState::Connecting
    } else {
        PeerConnectionState::Connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DtlsTransportState as D;
    use IceConnectionState as C;
    use IceTransportState as T;

    const ALL_ICE: [T; 7] = [
        T::New,
        T::Checking,
        T::Connected,
        T::Completed,
        T::Disconnected,
        T::Failed,
        T::Closed,
    ];

    #[test]
    fn transport_is_connected() {
        for t in ALL_ICE {
            assert_eq!(t.is_connected(), matches!(t, T::Connected | T::Completed));
        }
        assert!(C::Connected.is_connected());
        assert!(C::Completed.is_connected());
        assert!(!C::Disconnected.is_connected());
    }

    #[test]
    fn ice_closed_wins() {
        assert_eq!(ice_connection_state(true, &[]), C::Closed);
        assert_eq!(
            ice_connection_state(true, &[T::Failed, T::Connected]),
            C::Closed
        );
    }

    #[test]
    fn ice_any_failed() {
        assert_eq!(
            ice_connection_state(false, &[T::Connected, T::Failed]),
            C::Failed
        );
        assert_eq!(
            ice_connection_state(false, &[T::Disconnected, T::Failed, T::New]),
            C::Failed
        );
    }

    #[test]
    fn ice_any_disconnected() {
        assert_eq!(
            ice_connection_state(false, &[T::Connected, T::Disconnected]),
            C::Disconnected
        );
        assert_eq!(
            ice_connection_state(false, &[T::Checking, T::Disconnected]),
            C::Disconnected
        );
    }

    #[test]
    fn ice_new() {
        assert_eq!(ice_connection_state(false, &[]), C::New);
        assert_eq!(ice_connection_state(false, &[T::New]), C::New);
        assert_eq!(ice_connection_state(false, &[T::New, T::Closed]), C::New);
        assert_eq!(ice_connection_state(false, &[T::Closed]), C::New);
    }

    #[test]
    fn ice_checking() {
        assert_eq!(ice_connection_state(false, &[T::Checking]), C::Checking);
        assert_eq!(
            ice_connection_state(false, &[T::New, T::Connected]),
            C::Checking
        );
        assert_eq!(
            ice_connection_state(false, &[T::Checking, T::Completed]),
            C::Checking
        );
    }

    #[test]
    fn ice_completed() {
        assert_eq!(ice_connection_state(false, &[T::Completed]), C::Completed);
        assert_eq!(
            ice_connection_state(false, &[T::Completed, T::Closed]),
            C::Completed
        );
    }

    #[test]
    fn ice_connected() {
        assert_eq!(ice_connection_state(false, &[T::Connected]), C::Connected);
        assert_eq!(
            ice_connection_state(false, &[T::Connected, T::Completed, T::Closed]),
            C::Connected
        );
    }

    /// Brute force over every pair of transports: the result agrees with the rules read in
    /// W3C's own order of precedence.
    #[test]
    fn ice_pairs_follow_precedence() {
        for a in ALL_ICE {
            for b in ALL_ICE {
                let got = ice_connection_state(false, &[a, b]);
                let s = [a, b];
                let expected = if s.contains(&T::Failed) {
                    C::Failed
                } else if s.contains(&T::Disconnected) {
                    C::Disconnected
                } else if s.iter().all(|t| *t == T::New || *t == T::Closed) {
                    C::New
                } else if s.contains(&T::New) || s.contains(&T::Checking) {
                    C::Checking
                } else if s.contains(&T::Connected) {
                    C::Connected
                } else {
                    C::Completed
                };
                assert_eq!(got, expected, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn gathering_rules() {
        use IceGathererState as G;
        use IceGatheringState as S;
        assert_eq!(ice_gathering_state(false, &[]), S::New);
        assert_eq!(ice_gathering_state(false, &[G::New]), S::New);
        assert_eq!(ice_gathering_state(false, &[G::New, G::Complete]), S::New);
        assert_eq!(ice_gathering_state(false, &[G::Gathering]), S::Gathering);
        assert_eq!(
            ice_gathering_state(false, &[G::Complete, G::Gathering, G::New]),
            S::Gathering
        );
        assert_eq!(ice_gathering_state(false, &[G::Complete]), S::Complete);
        assert_eq!(
            ice_gathering_state(false, &[G::Complete, G::Complete]),
            S::Complete
        );
        // Closing does not change the gathering state.
        assert_eq!(ice_gathering_state(true, &[G::Complete]), S::Complete);
        assert_eq!(ice_gathering_state(true, &[]), S::New);
    }

    #[test]
    fn pc_closed_wins() {
        assert_eq!(
            peer_connection_state(true, &[T::Failed], &[D::Failed]),
            PeerConnectionState::Closed
        );
    }

    #[test]
    fn pc_failed() {
        assert_eq!(
            peer_connection_state(false, &[T::Failed], &[D::Connected]),
            PeerConnectionState::Failed
        );
        assert_eq!(
            peer_connection_state(false, &[T::Connected], &[D::Failed]),
            PeerConnectionState::Failed
        );
        assert_eq!(
            peer_connection_state(false, &[T::Disconnected], &[D::Failed]),
            PeerConnectionState::Failed
        );
    }

    #[test]
    fn pc_disconnected() {
        assert_eq!(
            peer_connection_state(false, &[T::Connected, T::Disconnected], &[D::Connected]),
            PeerConnectionState::Disconnected
        );
    }

    #[test]
    fn pc_new() {
        assert_eq!(
            peer_connection_state(false, &[], &[]),
            PeerConnectionState::New
        );
        assert_eq!(
            peer_connection_state(false, &[T::New, T::Closed], &[D::New, D::Closed]),
            PeerConnectionState::New
        );
    }

    #[test]
    fn pc_connecting() {
        assert_eq!(
            peer_connection_state(false, &[T::Checking], &[D::New]),
            PeerConnectionState::Connecting
        );
        assert_eq!(
            peer_connection_state(false, &[T::Connected], &[D::New]),
            PeerConnectionState::Connecting
        );
        assert_eq!(
            peer_connection_state(false, &[T::Connected], &[D::Connecting]),
            PeerConnectionState::Connecting
        );
        assert_eq!(
            peer_connection_state(false, &[T::Connected, T::New], &[D::Connected]),
            PeerConnectionState::Connecting
        );
    }

    #[test]
    fn pc_connected() {
        assert_eq!(
            peer_connection_state(false, &[T::Connected], &[D::Connected]),
            PeerConnectionState::Connected
        );
        assert_eq!(
            peer_connection_state(
                false,
                &[T::Completed, T::Closed],
                &[D::Connected, D::Closed]
            ),
            PeerConnectionState::Connected
        );
    }
}
