//! Integration tests: real WebSocket clients against a server on 127.0.0.1, port 0.
//!
//! One test binary (modules by topic). Every wait is bounded by `support::WAIT`.

/// Runs each named `async fn(ServerConfig)` once per backend: `<name>::memory` (the default
/// config) and `<name>::redis` (its own `redis-server`).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test]
            async fn memory() {
                super::$name(signaling_ws::ServerConfig::default()).await;
            }

            #[tokio::test]
            async fn redis() {
                let redis = $crate::redis::Redis::start();
                super::$name($crate::redis::on(&redis)).await;
            }
        })*
    };
}

mod attacks;
mod limits;
mod load;
mod redis;
mod relay;
mod resume;
mod support;
mod tls;
