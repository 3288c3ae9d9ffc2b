//! `tether`: the command line of the Tether WebRTC session stack.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tether::{
    read_secret, room_token, run_demo, run_peer_with_media, run_signal, signed_room_token,
    CliError, DemoOptions, PeerMediaOptions, PeerOptions, Role, SignalOptions,
};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (e.g. a demo step)
  2  usage error (missing or malformed argument)
  3  bad signaling URL or room name
  4  the signaling server cannot be reached (refused, timeout, TLS)
  5  the room is full
  6  the server refused the room token (missing, wrongly signed, expired)
  7  the peer connection failed (ICE, DTLS, SCTP)
  8  a local setting is unusable (address in use, unreadable secret, TLS or data files,
     an ICE server the ICE agent cannot use, e.g. turns: or ?transport=tcp)
  9  a file sent with --send-data arrived different (size or SHA-256)";

const EXAMPLES: &str = "\
Examples:
  tether demo                                   # a whole session on loopback, with a timeline
  tether signal --listen 127.0.0.1:8080         # server + browser page at http://127.0.0.1:8080/
  ROOM=$(tether token)
  tether peer --server ws://127.0.0.1:8080/ws --room \"$ROOM\" --loopback --echo";

/// Tether: WebRTC sessions that stay connected.
#[derive(Debug, Parser)]
#[command(
    name = "tether",
    version,
    about,
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
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
    #[command(after_help = "\
Examples:
  tether demo                   # live timeline, then a summary table
  tether demo --mib 16          # a bigger transfer
  tether demo --json | jq .     # only the summary, as JSON ({\"ok\": false, \"step\": ...} on failure)

Exit code 0 when every step passed and every data channel message arrived once, in order and
intact; 1 otherwise (the summary counts them: \"lost\", \"data_loss\").")]
    Demo {
        /// Size of the bulk transfer in MiB.
        #[arg(long, default_value_t = 4)]
        mib: usize,
        /// Print only a machine-readable JSON summary on stdout.
        #[arg(long)]
        json: bool,
        /// A transport per m-section (no BUNDLE); the ICE restart step is then a partial
        /// restart of the video transport alone.
        #[arg(long)]
        unbundled: bool,
    },
    /// Run the WebSocket signaling server, with the browser page at /, until Ctrl-C or SIGTERM.
    #[command(after_help = "\
Examples:
  tether signal --listen 127.0.0.1:8080
      then open http://127.0.0.1:8080/ in two tabs and join the same room
  tether signal --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem
      https:// and wss:// (the page needs a secure origin for anything but localhost)
  tether signal --secret-file secret.txt
      only rooms with a token from `tether token --sign --secret-file secret.txt`
  tether signal --listen 0.0.0.0:8080 --redis redis://127.0.0.1:6379/0
      rooms in Redis: run several such processes behind one load balancer; clients resume
      on any of them, and a restart of one loses no accepted message

Endpoints: /ws (WebSocket), /healthz, /readyz, /metrics, / (the page).
Exit codes: 8 when the address is in use, a secret/TLS file is unusable or Redis does not answer.")]
    Signal {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve the files of this directory for paths other than /ws and the page's.
        #[arg(long = "static", value_name = "DIR")]
        static_dir: Option<PathBuf>,
        /// Do not serve the built-in browser page.
        #[arg(long)]
        no_page: bool,
        /// Accept only room tokens signed with the secret in this file (at least 32 bytes).
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
        /// Serve TLS (https://, wss://) with this PEM certificate chain (leaf first).
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Keep rooms in this Redis (redis://HOST:PORT/DB), shared with other `tether signal`
        /// processes, instead of in this process.
        #[arg(long, value_name = "URL")]
        redis: Option<String>,
    },
    /// Join a room as a peer, open or accept the "chat" data channel, print what arrives.
    #[command(after_help = format!("\
Examples:
  ROOM=$(tether token)
  tether peer --server ws://127.0.0.1:8080/ws --room \"$ROOM\" --say hello
  tether peer --server ws://127.0.0.1:8080/ws --room \"$ROOM\" --echo
  tether peer --server ws://127.0.0.1:8080/ws --room \"$ROOM\" --send vp8.ivf
  tether peer --server ws://127.0.0.1:8080/ws --room \"$ROOM\" --record out/
  tether peer --server wss://example.org/ws --room \"$ROOM\" --token v1.1795000000.9a3c...
  tether peer --server ws://127.0.0.1:8080/ws --room \"$ROOM\" --send-data big.iso
  tether peer --server ws://127.0.0.1:8080/ws --room \"$ROOM\" --receive-data downloads/
  tether peer ... --ice-server turn:turn.example.org:3478 --ice-username u \\
                  --ice-credential p --relay-only --restart-every 10
  tether peer ... --unbundled --send vp8.ivf --restart-mid 0 --restart-every 5

While it runs, a line `restart` on standard input restarts ICE; every restart prints the old
and the new selected pair and how long the switch took.

The other peer may be a browser tab on the server's page (http://HOST:PORT/#room=ROOM).
Roles: with --role auto (the default) the peer whose id sorts first is polite, as in the page.

{EXIT_CODES}"))]
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
        /// Perfect negotiation role: auto decides by the peer ids (like the browser page); the
        /// impolite peer opens the "chat" channel.
        #[arg(long, value_enum, default_value_t = Role::Auto)]
        role: Role,
        /// Text to send on the "chat" channel once it is open.
        #[arg(long, value_name = "TEXT")]
        say: Option<String>,
        /// Use host candidates on loopback only (both peers on this machine).
        #[arg(long)]
        loopback: bool,
        /// Send every received message back, and every received media track (as a new track
        /// of the same kind, packet by packet) unless --record takes it.
        #[arg(long)]
        echo: bool,
        /// For wss://: trust the CA certificates in this PEM file instead of the public roots.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Send this media file as a track, then hang up: .ivf (VP8/VP9), .ogg/.opus (Opus)
        /// or .h264 (H.264 Annex-B, played at 30 fps). --send-file is an alias.
        #[arg(long = "send", visible_alias = "send-file", value_name = "FILE")]
        send_file: Option<PathBuf>,
        /// With --send: play the file in a loop until Ctrl-C instead of once.
        #[arg(long, requires = "send_file")]
        loop_file: bool,
        /// Write each received media track to DIR as track-<mid>.ivf / .ogg / .h264.
        #[arg(long, value_name = "DIR")]
        record: Option<PathBuf>,
        /// A STUN or TURN server (repeatable): stun:HOST:PORT or turn:HOST:PORT (UDP only:
        /// turns: and ?transport=tcp are refused, exit code 8).
        #[arg(long = "ice-server", value_name = "URL")]
        ice_servers: Vec<String>,
        /// User name for the TURN servers.
        #[arg(long, value_name = "NAME")]
        ice_username: Option<String>,
        /// Credential (password) for the TURN servers.
        #[arg(long, value_name = "SECRET")]
        ice_credential: Option<String>,
        /// Gather relayed (TURN) candidates only: all traffic goes through the TURN server.
        #[arg(long)]
        relay_only: bool,
        /// Restart ICE every SECS seconds while connected (a line `restart` on standard input
        /// restarts it too).
        #[arg(long, value_name = "SECS")]
        restart_every: Option<f64>,
        /// Restarts (--restart-every, a `restart` line) restart only this m-section's
        /// transport: a partial ICE restart, for unbundled sessions (--unbundled, or a peer
        /// that does not bundle). A bundled mid is refused with the mids it shares.
        #[arg(long, value_name = "MID")]
        restart_mid: Option<String>,
        /// A transport per m-section (no BUNDLE: `BundlePolicy::MaxCompat`).
        #[arg(long)]
        unbundled: bool,
        /// Send FILE over a data channel (SHA-256 checked by the receiver), then hang up.
        #[arg(long, value_name = "FILE")]
        send_data: Option<PathBuf>,
        /// Write a file the other peer sends with --send-data into DIR.
        #[arg(long, value_name = "DIR")]
        receive_data: Option<PathBuf>,
    },
    /// Print a fresh unguessable room name; with --sign, also a signed room token for it.
    #[command(after_help = "\
Examples:
  tether token                                        # a room name
  tether token --sign --secret-file secret.txt        # room name, then a token valid 1 h
  tether token --sign --secret-file secret.txt --room team-standup --ttl 600")]
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

async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Demo {
            mib,
            json,
            unbundled,
        } => {
            let opts = DemoOptions {
                transfer_bytes: mib.max(1) * 1024 * 1024,
                quiet: json,
                unbundled,
            };
            match run_demo(opts).await {
                Ok(report) => {
                    if json {
                        println!("{}", report.to_json());
                    } else {
                        println!("\n{report}");
                    }
                    if !report.ok() {
                        return Err(CliError::Failed(format!(
                            "{} data channel message(s) lost, out of order, duplicated or \
                             corrupted",
                            report.lost
                        )));
                    }
                }
                Err(e) if json => {
                    let out = serde_json::json!({"ok": false, "step": e.step, "error": e.reason});
                    println!("{out}");
                    return Err(CliError::Failed(e.to_string()));
                }
                Err(e) => return Err(CliError::Failed(e.to_string())),
            }
            Ok(())
        }
        Command::Signal {
            listen,
            static_dir,
            no_page,
            secret_file,
            tls_cert,
            tls_key,
            redis,
        } => {
            let secret = secret_file
                .as_deref()
                .map(read_secret)
                .transpose()
                .map_err(CliError::Config)?;
            let opts = SignalOptions {
                listen,
                static_dir,
                page: !no_page,
                secret,
                tls: tls_cert.zip(tls_key),
                redis,
            };
            run_signal(opts, shutdown_signal()).await
        }
        Command::Peer {
            server,
            room,
            token,
            role,
            say,
            loopback,
            echo,
            ca_file,
            send_file,
            loop_file,
            record,
            ice_servers,
            ice_username,
            ice_credential,
            relay_only,
            restart_every,
            restart_mid,
            unbundled,
            send_data,
            receive_data,
        } => {
            let restart_every = match restart_every {
                Some(secs) if !(secs.is_finite() && secs > 0.0) => {
                    return Err(CliError::Config(format!(
                        "--restart-every needs a positive number of seconds, not {secs}"
                    )))
                }
                secs => secs.map(Duration::from_secs_f64),
            };
            let opts = PeerOptions {
                server,
                room,
                token,
                role,
                say,
                loopback,
                echo,
                ca_file,
                ice_servers,
                ice_username,
                ice_credential,
                relay_only,
                restart_every,
                restart_on_stdin: true,
                restart_mid,
                unbundled,
                send_data,
                receive_data,
            };
            let media = PeerMediaOptions {
                send_file,
                loop_file,
                record,
            };
            run_peer_with_media(opts, media, shutdown_signal()).await
        }
        Command::Token {
            sign,
            secret_file,
            ttl,
            room,
        } => {
            let out = match (sign, secret_file) {
                (true, Some(file)) => signed_room_token(
                    read_secret(&file).map_err(CliError::Config)?,
                    room,
                    Duration::from_secs(ttl),
                )
                .map_err(CliError::Config)?,
                _ => room_token(),
            };
            println!("{out}");
            Ok(())
        }
    }
}

/// The webrtc-rs crates under the transport: they log through the `log` crate (bridged to
/// `tracing`), at one level less than ours, since their warnings are mostly routine (an agent
/// closing its candidates, a check before any pair exists).
const STACK_CRATES: [&str; 7] = [
    "webrtc_ice",
    "webrtc_sctp",
    "webrtc_srtp",
    "webrtc_data",
    "webrtc_mdns",
    "dtls",
    "turn",
];

fn main() -> ExitCode {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let cli = Cli::parse();
    let levels = [
        LevelFilter::OFF,
        LevelFilter::ERROR,
        LevelFilter::WARN,
        LevelFilter::INFO,
        LevelFilter::DEBUG,
        LevelFilter::TRACE,
    ];
    let ours = usize::from(cli.verbose).saturating_add(2).min(5);
    let mut filter = Targets::new().with_default(levels[ours]);
    for target in STACK_CRATES {
        filter = filter.with_target(target, levels[ours - 1]);
    }
    // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org: any
    // non-empty value): logs written to a file or a pipe stay plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(colour)
                .with_writer(std::io::stderr),
        )
        .with(filter)
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
            ExitCode::from(e.exit_code())
        }
    }
}
