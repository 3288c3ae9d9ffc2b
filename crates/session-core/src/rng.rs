//! The session's only source of randomness: a ChaCha20 CSPRNG seeded from the configuration.
//!
//! Adapters seed it from the OS; tests pin the seed so every run is reproducible.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::ice::IceCredentials;

/// The 64 `ice-char`s of RFC 8839 (`ALPHA / DIGIT / "+" / "/"`).
const ICE_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of generated ufrags (RFC 8839: at least 4 ice-chars, 24 bits of randomness).
pub(crate) const UFRAG_LEN: usize = 8;
/// Length of generated passwords (RFC 8839: at least 22 ice-chars, 128 bits of randomness).
pub(crate) const PWD_LEN: usize = 24;

/// Seeded CSPRNG. Its `Debug` output shows nothing of its state (which predicts every ICE
/// password it will make).
#[derive(Clone)]
pub(crate) struct SessionRng(ChaCha20Rng);

impl std::fmt::Debug for SessionRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionRng(<redacted>)")
    }
}

impl SessionRng {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self(ChaCha20Rng::from_seed(seed))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// `n` uniformly random ice-chars (64 symbols: 6 bits each, no modulo bias).
    fn ice_chars(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| ICE_CHARS[(self.0.next_u32() & 63) as usize] as char)
            .collect()
    }

    /// Fresh ICE credentials.
    pub(crate) fn ice_credentials(&mut self) -> IceCredentials {
        IceCredentials {
            ufrag: self.ice_chars(UFRAG_LEN),
            pwd: self.ice_chars(PWD_LEN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_debug_output_shows_neither_the_seed_nor_the_generator_state() {
        let cfg = crate::config::Config::new([171; 32], Vec::new(), true);
        let now = crate::test_clock::t0();
        let mut session = crate::session::Session::new(cfg, now);
        session.restart_ice(now);
        let printed = format!("{session:?}");
        assert!(!printed.contains("171, 171"), "the seed: {printed}");
        assert!(
            !printed.contains("ChaCha"),
            "the generator's state: {printed}"
        );
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn credentials_are_valid_and_deterministic() {
        let mut a = SessionRng::new([7; 32]);
        let mut b = SessionRng::new([7; 32]);
        let ca = a.ice_credentials();
        assert_eq!(ca, b.ice_credentials());
        assert!(ca.is_valid());
        assert_eq!(ca.ufrag.len(), UFRAG_LEN);
        assert_eq!(ca.pwd.len(), PWD_LEN);
        assert_ne!(ca, a.ice_credentials(), "consecutive credentials differ");
    }

    #[test]
    fn different_seeds_differ() {
        let mut a = SessionRng::new([1; 32]);
        let mut b = SessionRng::new([2; 32]);
        assert_ne!(a.ice_credentials(), b.ice_credentials());
    }
}
