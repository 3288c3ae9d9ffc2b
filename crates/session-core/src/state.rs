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

/// W3C aggregation of `iceConnectionState`.
pub fn ice_connection_state(closed: bool, transports: &[IceTransportState]) -> IceConnectionState {
    let _ = (closed, transports);
    IceConnectionState::New // HELPER: implement
}

/// W3C aggregation of `iceGatheringState`.
pub fn ice_gathering_state(closed: bool, gatherers: &[IceGathererState]) -> IceGatheringState {
    let _ = (closed, gatherers);
    IceGatheringState::New // HELPER: implement
}

/// W3C aggregation of `connectionState` over ICE and DTLS transports.
pub fn peer_connection_state(
    closed: bool,
    ice: &[IceTransportState],
    dtls: &[DtlsTransportState],
) -> PeerConnectionState {
    let _ = (closed, ice, dtls);
    PeerConnectionState::New // HELPER: implement
}
