//! Tether media: audio and video tracks over RTP.
//!
//! The pieces, all sans-IO except [`runner`]:
//! - [`MediaSource`] / [`MediaSink`]: frames in and out. File sources and sinks for IVF
//!   (VP8/VP9, [`ivf`]), Ogg Opus ([`ogg`]) and H.264 Annex-B ([`annexb`]).
//! - Send path: [`Packetizer`] (the `rtp` crate's payloaders plus our header: payload type,
//!   SSRC, sequence, timestamp, marker, mid extension) inside [`RtpSendStream`], which keeps a
//!   [`RetransmissionHistory`] to answer NACK (resend or RTX), turns PLI/FIR into a keyframe
//!   request, and writes sender reports.
//! - Receive path: [`RtpReceiveStream`]: a [`JitterBuffer`] (reordering, loss detection,
//!   wrap-around), [`NackGenerator`], PLI when a keyframe is needed, depacketization into
//!   frames, receiver reports (RFC 3550 loss and jitter, LSR/DLSR) and [`ReceiverStats`].
//! - [`runner`]: tokio tasks that pace a source into a transport ([`runner::send_track`]) and
//!   drain a transport into a sink ([`runner::receive_track`]), over the [`runner::RtpWriter`]
//!   / [`runner::RtpReader`] traits.
//!
//! [`SendConfig::negotiated`] and [`ReceiveConfig::negotiated`] build the configurations from
//! the negotiated `session_core::sdp::Codec` list and header extension ids.
//!
//! Nothing here reads a clock: every call that needs time takes `now: Instant`.
//!
//! # Example: a frame through sender and receiver, no network
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use media::{CodecKind, Frame, PacketizerConfig, ReceiveConfig, RtpReceiveStream, RtpSendStream, SendConfig};
//!
//! let now = Instant::now();
//! let mut sender = RtpSendStream::new(SendConfig::new(PacketizerConfig::new(CodecKind::Vp8, 96, 0x1111)))?;
//! let mut receiver = RtpReceiveStream::new(ReceiveConfig::new(CodecKind::Vp8, 96, 0x2222));
//!
//! // A 3 kB VP8 keyframe (frame tag bit 0 clear) becomes three packets.
//! let frame = Frame { data: Bytes::from(vec![0x10; 3000]), timestamp: Duration::ZERO,
//!                     duration: Duration::from_millis(33), keyframe: true };
//! let packets = sender.send_frame(&frame, now)?;
//! assert_eq!(packets.len(), 3);
//!
//! // The second packet is lost: the receiver asks for it.
//! receiver.handle_rtp(packets[0].clone(), now).ok();
//! receiver.handle_rtp(packets[2].clone(), now).ok();
//! assert!(receiver.poll_frame().is_none());
//! let feedback = receiver.poll_rtcp(now).expect("receiver report and NACK");
//! sender.handle_rtcp(&feedback, now);
//! let resent = sender.poll_retransmit().expect("the lost packet");
//! receiver.handle_rtp(resent, now).ok();
//! assert_eq!(receiver.poll_frame().expect("complete").data, frame.data);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod annexb;
pub mod codec;
pub mod depacketizer;
pub mod dimensions;
pub mod error;
pub mod frame;
pub mod history;
pub mod ivf;
pub mod jitter;
pub mod nack;
pub mod negotiated;
pub mod ogg;
pub mod packetizer;
pub mod receiver;
pub mod rtcp_parse;
pub mod rtp_parse;
pub mod runner;
pub mod sender;
pub mod stats;

pub use annexb::{H264Sink, H264Source};
pub use codec::CodecKind;
pub use error::{PacketizeError, RtcpDropReason, RtpDropReason, SinkError, SourceError};
pub use frame::{Frame, MediaSink, MediaSource};
pub use history::RetransmissionHistory;
pub use ivf::{IvfSink, IvfSource};
pub use jitter::JitterBuffer;
pub use nack::{NackConfig, NackGenerator};
pub use negotiated::NegotiationError;
pub use ogg::{OggOpusSink, OggOpusSource};
pub use packetizer::{Packetizer, PacketizerConfig};
pub use receiver::{ReceiveConfig, RtpReceiveStream};
pub use rtcp_parse::parse_rtcp;
pub use rtp_parse::{parse_rtp, parse_rtp_header};
pub use sender::{RtpSendStream, RtxConfig, SendConfig};
pub use stats::{ReceiverStats, SenderStats};
