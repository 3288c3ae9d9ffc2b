//! Ogg Opus files (RFC 7845): a source that reads them and a sink that writes them.
//!
//! An Ogg stream is a chain of pages (`OggS`, flags, granule position, serial, sequence, CRC,
//! lacing table, data); packets are spread over the lacing values (a value of 255 continues
//! the packet). The first packet is `OpusHead`, the second `OpusTags`, then one Opus packet
//! per audio frame.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use crate::codec::{opus_packet_samples, CodecKind};
use crate::error::{SinkError, SourceError};
use crate::frame::{Frame, LoopClock, MediaSink, MediaSource};

const PAGE_HEADER_LEN: usize = 27;
const FLAG_BOS: u8 = 0x02;
const FLAG_EOS: u8 = 0x04;
/// Opus always counts time in 48 kHz samples.
const OPUS_RATE: u64 = 48_000;

fn malformed(reason: &'static str) -> SourceError {
    SourceError::Malformed {
        container: "Ogg",
        reason,
    }
}

/// CRC-32 of Ogg pages: polynomial 0x04c11db7, no reflection, initial value 0.
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Splits an Ogg file into its packets (first logical stream only), checking every CRC.
fn ogg_packets(file: &[u8]) -> Result<Vec<Bytes>, SourceError> {
    let mut packets = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut serial = None;
    let mut pos = 0;
    while pos < file.len() {
        let rest = &file[pos..];
        if rest.len() < PAGE_HEADER_LEN {
            return Err(malformed("truncated page header"));
        }
        if &rest[0..4] != b"OggS" || rest[4] != 0 {
            return Err(malformed("bad page capture pattern or version"));
        }
        let page_serial = u32::from_le_bytes([rest[14], rest[15], rest[16], rest[17]]);
        let crc = u32::from_le_bytes([rest[22], rest[23], rest[24], rest[25]]);
        let segments = usize::from(rest[26]);
        let table_end = PAGE_HEADER_LEN + segments;
        if rest.len() < table_end {
            return Err(malformed("truncated lacing table"));
        }
        let lacing = &rest[PAGE_HEADER_LEN..table_end];
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let page_len = table_end + body_len;
        if rest.len() < page_len {
            return Err(malformed("truncated page body"));
        }
        let mut check = rest[..page_len].to_vec();
        check[22..26].fill(0);
        if ogg_crc(&check) != crc {
            return Err(malformed("page CRC mismatch"));
        }
        pos += page_len;
        if *serial.get_or_insert(page_serial) != page_serial {
            continue; // another logical stream (not produced by our script); skip it
        }
        let mut at = table_end;
        for &l in lacing {
            let l = usize::from(l);
            partial.extend_from_slice(&rest[at..at + l]);
            at += l;
            if l < 255 {
                packets.push(Bytes::from(std::mem::take(&mut partial)));
            }
        }
    }
    Ok(packets)
}

/// The parsed `OpusHead` identification header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channel count.
    pub channels: u8,
    /// Samples (48 kHz) to drop from the decoder output at the start.
    pub pre_skip: u16,
    /// Sample rate of the original input (informational).
    pub input_sample_rate: u32,
}

impl OpusHead {
    fn parse(packet: &[u8]) -> Result<Self, SourceError> {
        if packet.len() < 19 || &packet[0..8] != b"OpusHead" {
            return Err(malformed("first packet is not OpusHead"));
        }
        if packet[8] >> 4 != 0 {
            return Err(malformed("unsupported OpusHead version"));
        }
        Ok(Self {
            channels: packet[9],
            pre_skip: u16::from_le_bytes([packet[10], packet[11]]),
            input_sample_rate: u32::from_le_bytes([packet[12], packet[13], packet[14], packet[15]]),
        })
    }

    fn write(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(19);
        p.extend_from_slice(b"OpusHead");
        p.push(1);
        p.push(self.channels);
        p.extend_from_slice(&self.pre_skip.to_le_bytes());
        p.extend_from_slice(&self.input_sample_rate.to_le_bytes());
        p.extend_from_slice(&0i16.to_le_bytes());
        p.push(0); // channel mapping family 0 (mono/stereo)
        p
    }
}

/// Reads Opus packets from an Ogg file held in memory.
#[derive(Debug)]
pub struct OggOpusSource {
    head: OpusHead,
    frames: Vec<(Bytes, Duration, Duration)>,
    next: usize,
    looping: bool,
    clock: LoopClock,
}

impl OggOpusSource {
    /// Parses a whole Ogg Opus file (CRCs checked, packets with an invalid TOC rejected).
    pub fn new(file: Bytes) -> Result<Self, SourceError> {
        let packets = ogg_packets(&file)?;
        let mut iter = packets.into_iter();
        let head = OpusHead::parse(&iter.next().ok_or(malformed("no packets"))?)?;
        let tags = iter.next().ok_or(malformed("no OpusTags packet"))?;
        if !tags.starts_with(b"OpusTags") {
            return Err(malformed("second packet is not OpusTags"));
        }
        let mut frames = Vec::new();
        let mut samples = 0u64;
        for p in iter {
            let n = opus_packet_samples(&p).ok_or(malformed("invalid Opus TOC"))?;
            let at = Duration::from_micros(samples * 1_000_000 / OPUS_RATE);
            let len = Duration::from_micros(u64::from(n) * 1_000_000 / OPUS_RATE);
            samples += u64::from(n);
            frames.push((p, at, len));
        }
        Ok(Self {
            head,
            frames,
            next: 0,
            looping: false,
            clock: LoopClock::default(),
        })
    }

    /// Reads and parses an Ogg Opus file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SourceError> {
        Self::new(Bytes::from(std::fs::read(path)?))
    }

    /// Starts over at the end instead of ending (timestamps keep increasing).
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// The identification header.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// Number of Opus packets in the file.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }
}

impl MediaSource for OggOpusSource {
    fn codec(&self) -> CodecKind {
        CodecKind::Opus
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.next >= self.frames.len() {
            if !self.looping || self.frames.is_empty() {
                return Ok(None);
            }
            self.next = 0;
            self.clock.wrap();
        }
        let (data, timestamp, duration) = self.frames[self.next].clone();
        self.next += 1;
        Ok(Some(self.clock.stamp(Frame {
            data,
            timestamp,
            duration,
            keyframe: true,
        })))
    }

    fn request_keyframe(&mut self) {
        // Every Opus packet decodes on its own.
    }
}

/// Writes Opus packets to an Ogg file, one packet per page.
#[derive(Debug)]
pub struct OggOpusSink<W: Write> {
    out: W,
    serial: u32,
    page_seq: u32,
    granule: u64,
    /// The last packet is held back so that its page can carry the end-of-stream flag.
    pending: Option<(Bytes, u64)>,
    finished: bool,
}

impl<W: Write + Send> OggOpusSink<W> {
    /// Writes the `OpusHead` and `OpusTags` pages.
    pub fn new(out: W, channels: u8, pre_skip: u16, serial: u32) -> Result<Self, SinkError> {
        let mut sink = Self {
            out,
            serial,
            page_seq: 0,
            granule: 0,
            pending: None,
            finished: false,
        };
        let head = OpusHead {
            channels,
            pre_skip,
            input_sample_rate: 48_000,
        };
        sink.page(&head.write(), 0, FLAG_BOS)?;
        let mut tags = b"OpusTags".to_vec();
        let vendor = b"tether-media";
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes());
        sink.page(&tags, 0, 0)?;
        Ok(sink)
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn page(&mut self, packet: &[u8], granule: u64, flags: u8) -> Result<(), SinkError> {
        if packet.len() >= 255 * 255 {
            return Err(SinkError::Rejected("Ogg packet too large for one page"));
        }
        let mut lacing = vec![255u8; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        let mut page = Vec::with_capacity(PAGE_HEADER_LEN + lacing.len() + packet.len());
        page.extend_from_slice(b"OggS");
        page.push(0);
        page.push(flags);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.page_seq.to_le_bytes());
        page.extend_from_slice(&0u32.to_le_bytes());
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        page.extend_from_slice(packet);
        let crc = ogg_crc(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(&page)?;
        self.page_seq = self.page_seq.wrapping_add(1);
        Ok(())
    }
}

impl<W: Write + Send> MediaSink for OggOpusSink<W> {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError> {
        let samples =
            opus_packet_samples(&frame.data).ok_or(SinkError::Rejected("invalid Opus TOC"))?;
        if let Some((packet, granule)) = self.pending.take() {
            self.page(&packet, granule, 0)?;
        }
        self.granule += u64::from(samples);
        self.pending = Some((frame.data.clone(), self.granule));
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if let Some((packet, granule)) = self.pending.take() {
            self.page(&packet, granule, FLAG_EOS)?;
        }
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opus_frame(i: u8) -> Frame {
        Frame {
            data: Bytes::from(vec![31 << 3, i, i, i]),
            timestamp: Duration::from_millis(20 * u64::from(i)),
            duration: Duration::from_millis(20),
            keyframe: true,
        }
    }

    #[test]
    fn crc_matches_the_reference_check_value() {
        // CRC-32/MPEG-2 without the final inversion and init 0 ("CRC-32/OGG"): "123456789".
        assert_eq!(ogg_crc(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn round_trip() {
        let mut sink = OggOpusSink::new(Vec::new(), 2, 312, 7).expect("head");
        for i in 0..5 {
            sink.write_frame(&opus_frame(i)).expect("write");
        }
        sink.finish().expect("finish");
        let file = sink.into_inner();
        let mut src = OggOpusSource::new(Bytes::from(file)).expect("parse");
        assert_eq!(src.head().channels, 2);
        assert_eq!(src.head().pre_skip, 312);
        assert_eq!(src.frame_count(), 5);
        for i in 0..5 {
            let f = src.next_frame().expect("ok").expect("frame");
            assert_eq!(f, opus_frame(i));
        }
        assert!(src.next_frame().expect("ok").is_none());
    }

    #[test]
    fn corrupt_pages_are_rejected() {
        let mut sink = OggOpusSink::new(Vec::new(), 1, 0, 1).expect("head");
        sink.write_frame(&opus_frame(1)).expect("write");
        sink.finish().expect("finish");
        let file = sink.into_inner();
        for cut in [0, 10, 30, file.len() - 1] {
            assert!(OggOpusSource::new(Bytes::from(file[..cut].to_vec())).is_err());
        }
        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(matches!(
            OggOpusSource::new(Bytes::from(flipped)),
            Err(SourceError::Malformed { .. })
        ));
    }
}
