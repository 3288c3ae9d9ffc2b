//! `openload serve`: one signaling server process for the load, with the limits a load from
//! one address needs.

use std::net::SocketAddr;
use std::time::Duration;

use signaling_ws::{Limits, Server, ServerConfig};

use crate::args::Args;

/// A server process serves at most this long (the load tool stops it much earlier).
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// The configuration of the load's server: the defaults, except what a load from one address
/// (127.0.0.1) at up to `rate` frames per second per connection would trip.
pub(crate) fn config(redis: Option<String>, clients: usize, rate: u32) -> ServerConfig {
    ServerConfig {
        limits: Limits {
            max_connections: clients + 1000,
            max_peers_per_room: 2,
            max_connections_per_address: clients + 1000,
            joins_per_second_per_address: 1_000_000,
            join_burst_per_address: 1_000_000,
            // Signals, acks and pongs: well above the load's rate.
            messages_per_second: rate.saturating_mul(4).max(50),
            message_burst: rate.saturating_mul(4).max(100),
            ..Limits::default()
        },
        redis_url: redis,
        ..ServerConfig::default()
    }
}

/// Serves until standard input closes (or [`MAX_LIFETIME`]); prints `LISTENING <ws url>`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let addr: SocketAddr = args.get("addr", "127.0.0.1:0".parse().unwrap())?;
    let redis: Option<String> = args.opt("redis")?;
    let clients: usize = args.get("max-clients", 20_000)?;
    let rate: u32 = args.get("max-rate", 1000)?;
    let runtime: String = args.get("runtime", "multi".to_owned())?;
    let rt = match runtime.as_str() {
        // `tether signal`'s `#[tokio::main]`: one worker per core it may run on.
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        other => return Err(format!("--runtime: `multi` or `current`, not `{other}`")),
    }
    .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(async move {
        let server = Server::bind(addr, config(redis, clients, rate))
            .await
            .map_err(|e| format!("server: {e}"))?;
        println!("LISTENING {}", server.ws_url());
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin()
                .read_line(&mut line)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                line.clear();
            }
        });
        let _ = tokio::time::timeout(MAX_LIFETIME, stdin_closed).await;
        let _ = server.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}
