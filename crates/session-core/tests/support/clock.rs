//! The one real clock reading the session-core tests need: an origin `Instant` to offset
//! virtual time from (std offers no other way to make an `Instant`). It lives outside `src/`
//! because the core itself never reads the clock; unit tests include it with `#[path]`.

use std::time::Instant;

/// A time origin for tests.
#[allow(clippy::disallowed_methods)]
pub(crate) fn t0() -> Instant {
    Instant::now()
}
