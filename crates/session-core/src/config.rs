//! Session configuration (W3C `RTCConfiguration` plus Tether's own knobs).

use std::time::Duration;

use crate::policy::RestartPolicy;
use crate::sdp::Fingerprint;

/// A STUN or TURN server (W3C `RTCIceServer`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IceServer {
    /// `stun:host:port` or `turn:host:port?transport=udp` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    pub username: Option<String>,
    /// TURN credential. Never logged.
    pub credential: Option<String>,
}

impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// W3C `RTCIceTransportPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IceTransportPolicy {
    /// Use every candidate.
    #[default]
    All,
    /// Use only relayed (TURN) candidates.
    Relay,
}

/// W3C `RTCBundlePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BundlePolicy {
    /// Offer one BUNDLE group; all m-sections share one transport when the answer accepts it.
    Balanced,
    /// Like `Balanced` (Tether always bundles what the peer accepts).
    #[default]
    MaxBundle,
    /// Offer no BUNDLE group: every m-section gets its own transport and credentials.
    MaxCompat,
}

/// How offers and answers are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Negotiation {
    /// Perfect negotiation built in: the session creates and applies offers and answers itself
    /// and resolves glare; the application only forwards signal messages.
    Perfect {
        /// The polite peer rolls back its own offer on glare; the impolite one ignores the
        /// colliding offer. Exactly one of the two peers must be polite.
        polite: bool,
    },
    /// The application calls `create_offer`/`set_local_description`/... itself and sends
    /// descriptions; the session still emits candidates and `bye` as signal messages.
    Manual,
}

/// Configuration of a [`Session`](crate::session::Session). Its `Debug` output leaves the
/// seed out (it regenerates every ICE password).
#[derive(Clone)]
pub struct Config {
    /// Seed of the session's CSPRNG (ICE credentials, SSRCs, SDP session id). Adapters fill it
    /// from the OS; tests pin it.
    pub seed: [u8; 32],
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// Candidate policy.
    pub ice_transport_policy: IceTransportPolicy,
    /// Bundle policy (immutable after construction).
    pub bundle_policy: BundlePolicy,
    /// Our DTLS certificate fingerprints (immutable; the adapter owns the certificate).
    pub certificate_fingerprints: Vec<Fingerprint>,
    /// Negotiation mode.
    pub negotiation: Negotiation,
    /// Automatic ICE restarts.
    pub restart_policy: RestartPolicy,
    /// In perfect negotiation, an unanswered offer is sent again after this long
    /// (doubling each time), so a lost signal message does not stall the session.
    pub offer_retransmit: Duration,
    /// Our `a=max-message-size`.
    pub max_message_size: u64,
    /// After a restart's new generation is promoted, older generations keep receiving for
    /// this long before they are retired, so packets the peer still sends on the old path
    /// (it switches a little later) are not lost.
    pub retire_grace: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            seed: _,
            ice_servers,
            ice_transport_policy,
            bundle_policy,
            certificate_fingerprints,
            negotiation,
            restart_policy,
            offer_retransmit,
            max_message_size,
            retire_grace,
        } = self;
        f.debug_struct("Config")
            .field("seed", &"<redacted>")
            .field("ice_servers", ice_servers)
            .field("ice_transport_policy", ice_transport_policy)
            .field("bundle_policy", bundle_policy)
            .field("certificate_fingerprints", certificate_fingerprints)
            .field("negotiation", negotiation)
            .field("restart_policy", restart_policy)
            .field("offer_retransmit", offer_retransmit)
            .field("max_message_size", max_message_size)
            .field("retire_grace", retire_grace)
            .finish()
    }
}

impl Config {
    /// A configuration with defaults: perfect negotiation with the given politeness,
    /// automatic restart policy, max-bundle.
    pub fn new(seed: [u8; 32], certificate_fingerprints: Vec<Fingerprint>, polite: bool) -> Self {
        Self {
            seed,
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            bundle_policy: BundlePolicy::MaxBundle,
            certificate_fingerprints,
            negotiation: Negotiation::Perfect { polite },
            restart_policy: RestartPolicy::default(),
            offer_retransmit: Duration::from_secs(2),
            max_message_size: 262_144,
            retire_grace: Duration::from_secs(2),
        }
    }
}

/// The mutable part of the configuration, for
/// [`Session::set_configuration`](crate::session::Session::set_configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUpdate {
    /// New STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// New candidate policy.
    pub ice_transport_policy: IceTransportPolicy,
    /// Must equal the current bundle policy (it is immutable).
    pub bundle_policy: BundlePolicy,
    /// Must equal the current fingerprints (the certificate is immutable).
    pub certificate_fingerprints: Vec<Fingerprint>,
}
