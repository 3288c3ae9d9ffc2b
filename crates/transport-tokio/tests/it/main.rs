//! transport-tokio's integration tests over real sockets on 127.0.0.1, in one binary (one link
//! of the crate and its dependencies instead of one per file). Two suites stay apart:
//! `tests/leaks.rs` counts the process's file descriptors and tasks (other tests in the same
//! process would move them), and `tests/netns/` needs root and measures recovery times under
//! network faults.

mod channels;
mod identity;
mod loopback;
mod manual;
mod media;
mod partial_restart;
mod role_conflict;
mod rtp;
mod rtp_support;
mod stats;
mod turn;
