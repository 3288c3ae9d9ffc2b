//! The media crate's integration tests: samples decoded by ffprobe, malformed input, the jitter
//! buffer against a reference model, end-to-end sender to receiver.

mod common;
mod end_to_end;
mod jitter_prop;
mod malformed;
mod samples;
