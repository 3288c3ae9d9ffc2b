//! The `tether` command line and its library glue, tested as a user runs them: the real binary
//! (`CARGO_BIN_EXE_tether`) against a real signaling server, Redis and coturn on loopback.

mod cli;
mod demo;
mod demo_binary;
mod echo_race;
mod exit_codes;
mod glue;
mod peer_media;
mod peer_processes;
mod redis_processes;
mod support;
mod token;
