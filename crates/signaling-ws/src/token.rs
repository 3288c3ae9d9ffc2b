//! Secrets: random peer ids and resume tokens, and HMAC-signed room tokens with an expiry.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Version tag of the room token format.
const TOKEN_PREFIX: &str = "v1";

/// A server secret that signs and checks room tokens.
///
/// A room token is `v1.<expiry unix seconds>.<hex HMAC-SHA256(secret, "v1|<room>|<expiry>")>`.
/// It binds one room name to an expiry; whoever holds it may join that room until then.
///
/// ```
/// use std::time::Duration;
/// use signaling_ws::RoomTokenKey;
///
/// let key = RoomTokenKey::new(b"a server secret of at least 32 bytes!!".to_vec()).unwrap();
/// let token = key.sign("room-42", Duration::from_secs(600));
/// assert!(key.verify("room-42", &token).is_ok());
/// assert!(key.verify("room-43", &token).is_err());
/// ```
#[derive(Clone)]
pub struct RoomTokenKey {
    secret: Vec<u8>,
}

impl fmt::Debug for RoomTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomTokenKey(<secret>)")
    }
}

/// Why a room token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The secret is shorter than 32 bytes.
    #[error("the room token secret must be at least 32 bytes")]
    WeakSecret,
    /// No token was given, or it is not in the `v1.<expiry>.<mac>` form.
    #[error("malformed room token")]
    Malformed,
    /// The signature does not match (wrong room, wrong secret, or tampered).
    #[error("bad room token signature")]
    BadSignature,
    /// The token's expiry has passed.
    #[error("room token expired")]
    Expired,
    /// The token's expiry is further away than the server's maximum token lifetime.
    #[error("room token valid for longer than the server allows")]
    TooLong,
}

impl RoomTokenKey {
    /// A key from a secret of at least 32 bytes.
    pub fn new(secret: Vec<u8>) -> Result<Self, TokenError> {
        if secret.len() < 32 {
            return Err(TokenError::WeakSecret);
        }
        Ok(Self { secret })
    }

    /// A token for `room` valid for `ttl` from now.
    pub fn sign(&self, room: &str, ttl: Duration) -> String {
        self.sign_until(room, unix_now().saturating_add(ttl.as_secs()))
    }

    /// A token for `room` valid until `expiry` (unix seconds).
    pub fn sign_until(&self, room: &str, expiry: u64) -> String {
        let mac = self.mac(room, expiry).finalize().into_bytes();
        format!("{TOKEN_PREFIX}.{expiry}.{}", hex(&mac))
    }

    /// Checks `token` for `room` against the clock.
    pub fn verify(&self, room: &str, token: &str) -> Result<(), TokenError> {
        self.verify_at(room, token, unix_now())
    }

    /// Checks `token` for `room` against the clock, and that it expires within
    /// `max_lifetime` from now ([`TokenError::TooLong`] otherwise).
    pub fn verify_within(
        &self,
        room: &str,
        token: &str,
        max_lifetime: Duration,
    ) -> Result<(), TokenError> {
        let now = unix_now();
        let expiry = self.check(room, token, now)?;
        if expiry > now.saturating_add(max_lifetime.as_secs()) {
            return Err(TokenError::TooLong);
        }
        Ok(())
    }

    /// Checks `token` for `room` as of `now` (unix seconds).
    pub fn verify_at(&self, room: &str, token: &str, now: u64) -> Result<(), TokenError> {
        self.check(room, token, now).map(|_| ())
    }

    /// Checks `token` for `room` as of `now`; returns its expiry. Only the canonical form is
    /// accepted (the one [`sign_until`](Self::sign_until) makes): decimal expiry without sign
    /// or leading zeros, lower-case hex MAC of 64 digits. Otherwise one signature would have
    /// many spellings.
    fn check(&self, room: &str, token: &str, now: u64) -> Result<u64, TokenError> {
        let mut parts = token.splitn(3, '.');
        let (Some(TOKEN_PREFIX), Some(expiry), Some(mac)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let canonical_expiry = !expiry.is_empty()
            && expiry.len() <= 20
            && expiry.bytes().all(|b| b.is_ascii_digit())
            && (expiry == "0" || !expiry.starts_with('0'));
        let canonical_mac =
            mac.len() == 64 && mac.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical_expiry || !canonical_mac {
            return Err(TokenError::Malformed);
        }
        let expiry: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
        let mac = unhex(mac).ok_or(TokenError::Malformed)?;
        self.mac(room, expiry)
            .verify_slice(&mac)
            .map_err(|_| TokenError::BadSignature)?;
        if now >= expiry {
            return Err(TokenError::Expired);
        }
        Ok(expiry)
    }

    fn mac(&self, room: &str, expiry: u64) -> HmacSha256 {
        // HMAC accepts keys of any length; `new` already enforced a minimum.
        let mut mac = match HmacSha256::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(TOKEN_PREFIX.as_bytes());
        mac.update(b"|");
        mac.update(room.as_bytes());
        mac.update(b"|");
        mac.update(expiry.to_string().as_bytes());
        mac
    }
}

/// A fresh random room name (128 bits, hex), for callers that create rooms.
pub fn random_room_name() -> String {
    random_hex::<16>()
}

/// `N` random bytes from the OS-seeded thread RNG, as lowercase hex.
pub(crate) fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::random();
    hex(&bytes)
}

/// The SHA-256 of a secret, used as its lookup key so secrets are never compared byte by byte.
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 128 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RoomTokenKey {
        RoomTokenKey::new(vec![7; 32]).unwrap()
    }

    #[test]
    fn accepts_its_own_tokens_until_expiry() {
        let t = key().sign_until("room", 1_000);
        assert_eq!(key().verify_at("room", &t, 999), Ok(()));
        assert_eq!(key().verify_at("room", &t, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn rejects_other_rooms_secrets_and_garbage() {
        let t = key().sign_until("room", 1_000);
        assert_eq!(
            key().verify_at("other", &t, 0),
            Err(TokenError::BadSignature)
        );
        let other = RoomTokenKey::new(vec![8; 32]).unwrap();
        assert_eq!(
            other.verify_at("room", &t, 0),
            Err(TokenError::BadSignature)
        );
        let later = t.replacen("1000", "2000", 1);
        assert_eq!(
            key().verify_at("room", &later, 0),
            Err(TokenError::BadSignature)
        );
        for bad in ["", "v1", "v1.x.00", "v2.1.00", "v1.1.zz", "v1.1.0"] {
            assert_eq!(
                key().verify_at("room", bad, 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            RoomTokenKey::new(vec![1; 8]).err(),
            Some(TokenError::WeakSecret)
        );
    }

    #[test]
    fn only_the_canonical_form_is_accepted() {
        let t = key().sign_until("room", 1_000);
        assert_eq!(key().verify_at("room", &t, 0), Ok(()));
        let mac = t.rsplit('.').next().unwrap();
        for variant in [
            format!("v1.+1000.{mac}"),
            format!("v1.01000.{mac}"),
            format!("v1.1000.{}", mac.to_uppercase()),
            format!("v1.1000.{mac}00"),
        ] {
            assert_eq!(
                key().verify_at("room", &variant, 0),
                Err(TokenError::Malformed),
                "{variant}"
            );
        }
    }

    #[test]
    fn lifetime_is_bounded() {
        let k = key();
        let day = Duration::from_secs(86_400);
        let ok = k.sign("room", Duration::from_secs(3_600));
        assert_eq!(k.verify_within("room", &ok, day), Ok(()));
        let forever = k.sign("room", Duration::from_secs(10 * 365 * 86_400));
        assert_eq!(
            k.verify_within("room", &forever, day),
            Err(TokenError::TooLong)
        );
    }

    #[test]
    fn random_names_are_distinct() {
        assert_ne!(random_room_name(), random_room_name());
        assert_eq!(random_room_name().len(), 32);
    }
}
