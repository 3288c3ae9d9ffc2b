//! Open-loop load of the signaling server, driven by `cargo xtask load --open` and
//! the `openload` part of `cargo xtask bench`.
//!
//! - `openload serve [--addr A] [--redis URL] [--runtime multi|current]`: one server process
//!   with the limits a load from one address needs; prints `LISTENING <ws url>` and serves
//!   until its standard input closes.
//! - `openload gen --url U[,U2] --clients N --rate R --seconds S [--drain D] [--pids P[,P2]]
//!   [--aux-pids P]`:
//!   N clients in pairs, one room per pair (a pair's two clients on different URLs when
//!   several are given), each sending R signals per second on a fixed schedule (open loop),
//!   the sends of all clients spread evenly; prints the send → receive latency percentiles,
//!   messages sent, received and lost, and the RSS of the server processes `P` (idle, all
//!   joined, under load) and the CPU time of the servers, itself, the auxiliary processes
//!   (redis-server) and everything else on the machine, then a `RESULT` line.
//!
//! An example of this crate rather than a tool of `tether`: it needs only `signaling-ws`, so
//! the load builds without the media and transport stack.

mod args;
mod gen;
mod schedule;
mod serve;
mod stats;

use std::process::ExitCode;

const USAGE: &str = "usage: openload serve [--addr A] [--redis URL] [--runtime multi|current]\n\
                     \x20      openload gen --url U[,U2] [--clients N] [--rate R] [--seconds S] \
                     [--drain D] [--pids P[,P2]] [--aux-pids P]";

fn main() -> ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = words.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let result = args::Args::parse(rest).and_then(|a| match command.as_str() {
        "serve" => serve::run(&a),
        "gen" => gen::run(&a),
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openload {command}: {e}");
            ExitCode::FAILURE
        }
    }
}
