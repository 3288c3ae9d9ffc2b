//! `tether`: the command line of the Tether WebRTC session stack.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tether::{
    read_secret, room_token, run_demo, run_peer, run_signal, signed_room_token, DemoOptions,
    PeerOptions, SignalOptions,
};

/// Tether: WebRTC sessions that stay connected.
#[derive(Debug, Parser)]
#[command(name = "tether", version, about)]
struct Cli {
    /// Log more to stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A whole session in one process on loopback: signaling, connect, data channel, transfer,
    /// ICE restart mid-transfer, close; prints a timeline and measured numbers.
    Demo {
        /// Size of the bulk transfer in MiB.
        #[arg(long, default_value_t = 4)]
        mib: usize,
        /// Print only a machine-readable JSON summary on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run the WebSocket signaling server until Ctrl-C or SIGTERM.
    Signal {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve the files of this directory (e.g. a browser page) for paths other than /ws.
        #[arg(long = "static", value_name = "DIR")]
        static_dir: Option<PathBuf>,
        /// Accept only room tokens signed with the secret in this file (at least 32 bytes).
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
    },
    /// Join a room as a peer, open or accept the "chat" data channel, print what arrives.
    Peer {
        /// The signaling server's WebSocket URL, e.g. ws://127.0.0.1:8080/ws.
        #[arg(long)]
        server: String,
        /// The room (from `tether token`).
        #[arg(long)]
        room: String,
        /// A signed room token, when the server requires one.
        #[arg(long)]
        token: Option<String>,
        /// Be the polite peer (exactly one of the two must be); the other opens the channel.
        #[arg(long)]
        polite: bool,
        /// Text to send once the channel is open.
        #[arg(long, value_name = "TEXT")]
        send: Option<String>,
        /// Use host candidates on loopback only (both peers on this machine).
        #[arg(long)]
        loopback: bool,
        /// Send every received message back.
        #[arg(long)]
        echo: bool,
    },
    /// Print a fresh unguessable room name; with --sign, also a signed room token for it.
    Token {
        /// Also print an HMAC-signed token for the room.
        #[arg(long, requires = "secret_file")]
        sign: bool,
        /// The server secret (at least 32 bytes).
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
        /// Token lifetime in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 3600)]
        ttl: u64,
        /// Sign this room instead of a fresh one.
        #[arg(long, requires = "sign")]
        room: Option<String>,
    },
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Demo { mib, json } => {
            let opts = DemoOptions {
                transfer_bytes: mib.max(1) * 1024 * 1024,
                quiet: json,
            };
            match run_demo(opts).await {
                Ok(report) if json => println!("{}", report.to_json()),
                Ok(report) => println!("\n{report}"),
                Err(e) if json => {
                    let out = serde_json::json!({"ok": false, "step": e.step, "error": e.reason});
                    println!("{out}");
                    return Err(e.to_string());
                }
                Err(e) => return Err(e.to_string()),
            }
            Ok(())
        }
        Command::Signal {
            listen,
            static_dir,
            secret_file,
        } => {
            let secret = secret_file.as_deref().map(read_secret).transpose()?;
            let opts = SignalOptions {
                listen,
                static_dir,
                secret,
            };
            run_signal(opts, shutdown_signal()).await
        }
        Command::Peer {
            server,
            room,
            token,
            polite,
            send,
            loopback,
            echo,
        } => {
            let opts = PeerOptions {
                server,
                room,
                token,
                polite,
                send,
                loopback,
                echo,
            };
            run_peer(opts, shutdown_signal()).await
        }
        Command::Token {
            sign,
            secret_file,
            ttl,
            room,
        } => {
            let out = match (sign, secret_file) {
                (true, Some(file)) => {
                    signed_room_token(read_secret(&file)?, room, Duration::from_secs(ttl))?
                }
                _ => room_token(),
            };
            println!("{out}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tether: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tether: {e}");
            ExitCode::FAILURE
        }
    }
}
