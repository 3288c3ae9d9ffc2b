//! Integration tests: real WebSocket clients against a server on 127.0.0.1, port 0.
//!
//! One test binary (modules by topic). Every wait is bounded by `support::WAIT`.

mod attacks;
mod limits;
mod load;
mod redis;
mod relay;
mod resume;
mod support;
mod tls;
