//! The jitter buffer: puts packets back in order, detects loss, and hands out complete frames.
//!
//! Sequence numbers are extended to 64 bits (wrap-around handled by picking the extension
//! nearest to the highest seen). Frames leave in order; when the next frame has a known hole
//! (a missing packet with later ones already here, or a missing first packet) the buffer
//! waits up to `max_delay` from the arrival of the first packet behind the hole for
//! retransmissions, then gives up on that frame and resumes at the next frame start. A frame
//! whose tail has simply not arrived yet is waited for (the stream may pause); at the end of
//! the stream [`JitterBuffer::flush`] releases what is complete.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rtp::packet::Packet;

use crate::codec::CodecKind;
use crate::depacketizer::is_frame_start;
use crate::error::RtpDropReason;

/// Packets further ahead of the highest sequence number than this are dropped.
pub const MAX_SEQUENCE_JUMP: u64 = 3000;
/// At most this many packets wait in the buffer; beyond it the head gap is given up at once.
pub const MAX_BUFFERED: usize = 4096;

/// Extends 16-bit sequence numbers to 64 bits.
#[derive(Debug, Clone, Default)]
pub struct SequenceUnwrapper {
    highest: Option<u64>,
}

impl SequenceUnwrapper {
    /// The extended value of `seq`: the one nearest to the highest seen so far. Does not
    /// update the state (see [`SequenceUnwrapper::update`]).
    pub fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            // Start high enough that packets before the first one do not go below zero.
            return (1 << 16) + u64::from(seq);
        };
        let base = highest & !0xffff;
        let candidates = [base.wrapping_sub(1 << 16), base, base + (1 << 16)];
        candidates
            .iter()
            .map(|b| b.wrapping_add(u64::from(seq)))
            .filter(|c| *c < (1 << 62))
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(base + u64::from(seq))
    }

    /// Records an accepted extended sequence number.
    pub fn update(&mut self, ext: u64) {
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
    }

    /// The highest extended sequence number accepted.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

/// What inserting a packet found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inserted {
    /// Extended sequence number of the packet.
    pub ext_seq: u64,
    /// Sequence numbers newly known missing (a gap before this packet), oldest first.
    pub newly_missing: std::ops::Range<u64>,
    /// Whether this packet filled a gap (it was older than the highest seen).
    pub filled_gap: bool,
}

/// A complete frame, as the packets that carry it (in order).
#[derive(Debug, Clone, PartialEq)]
pub struct FramePackets {
    /// Extended sequence number of the first packet.
    pub first_seq: u64,
    /// The packets.
    pub packets: Vec<Packet>,
}

/// What [`JitterBuffer::pop`] returns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JitterOutput {
    /// The next complete frame.
    Frame(FramePackets),
    /// A gap was given up on: the packets `skipped` (extended sequence numbers) were skipped
    /// along with any partial frames around them.
    Skipped {
        /// The skipped range of extended sequence numbers (missing packets and the received
        /// packets of partial frames).
        skipped: std::ops::Range<u64>,
    },
}

/// Reorders packets and releases complete frames (sans-IO; time comes in as `now`).
#[derive(Debug)]
pub struct JitterBuffer {
    codec: CodecKind,
    max_delay: Duration,
    unwrapper: SequenceUnwrapper,
    packets: BTreeMap<u64, (Packet, Instant)>,
    /// The first sequence number not yet released or skipped.
    next: Option<u64>,
    /// Whether anything was released yet (before that, earlier packets may still move `next`).
    started: bool,
}

impl JitterBuffer {
    /// A buffer for `codec` waiting at most `max_delay` for a missing packet.
    pub fn new(codec: CodecKind, max_delay: Duration) -> Self {
        Self {
            codec,
            max_delay,
            unwrapper: SequenceUnwrapper::default(),
            packets: BTreeMap::new(),
            next: None,
            started: false,
        }
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether no packet is waiting.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The next sequence number to release (extended), if any packet was seen.
    pub fn next_seq(&self) -> Option<u64> {
        self.next
    }

    /// The highest extended sequence number seen.
    pub fn highest(&self) -> Option<u64> {
        self.unwrapper.highest()
    }

    /// The extended sequence number `seq` would get.
    pub fn extend(&self, seq: u16) -> u64 {
        self.unwrapper.extend(seq)
    }

    /// Takes a packet that arrived at `now`.
    pub fn insert(&mut self, packet: Packet, now: Instant) -> Result<Inserted, RtpDropReason> {
        let ext = self.unwrapper.extend(packet.header.sequence_number);
        let highest = self.unwrapper.highest();
        if let Some(h) = highest {
            if ext > h + MAX_SEQUENCE_JUMP {
                return Err(RtpDropReason::TooFarAhead);
            }
        }
        match self.next {
            Some(next) if ext < next => {
                if self.started || next - ext > MAX_SEQUENCE_JUMP {
                    return Err(RtpDropReason::TooOld);
                }
                // Before the first release, an earlier packet moves the start back.
                self.next = Some(ext);
            }
            None => self.next = Some(ext),
            Some(_) => {}
        }
        if self.packets.contains_key(&ext) {
            return Err(RtpDropReason::Duplicate);
        }
        let (newly_missing, filled_gap) = match highest {
            Some(h) if ext > h + 1 => (h + 1..ext, false),
            Some(h) if ext < h => (0..0, true),
            _ => (0..0, false),
        };
        self.unwrapper.update(ext);
        self.packets.insert(ext, (packet, now));
        Ok(Inserted {
            ext_seq: ext,
            newly_missing,
            filled_gap,
        })
    }

    /// Releases the next complete frame, or gives up on a gap that waited too long.
    #[must_use]
    pub fn pop(&mut self, now: Instant) -> Option<JitterOutput> {
        let next = self.next?;
        if let Some(frame) = self.pop_complete(next) {
            return Some(frame);
        }
        // Blocked at `next`: give up once a known hole has waited long enough.
        let overflow = self.packets.len() > MAX_BUFFERED;
        match self.hole_deadline(next) {
            Some(deadline) if overflow || now >= deadline => Some(self.skip_gap(next)),
            None if overflow => Some(self.skip_gap(next)),
            _ => None,
        }
    }

    /// When the hole blocking the frame at `next` is given up on: `max_delay` after the first
    /// packet behind a missing sequence number arrived, or after a frame's non-first packet
    /// arrived at `next` (its start is missing). `None` when the buffer only waits for packets
    /// beyond the highest seen (nothing is known lost yet).
    fn hole_deadline(&self, next: u64) -> Option<Instant> {
        if let Some((packet, at)) = self.packets.get(&next) {
            if !is_frame_start(self.codec, &packet.payload) {
                return Some(*at + self.max_delay);
            }
        }
        let mut missing = next;
        while self.packets.contains_key(&missing) {
            missing += 1;
        }
        let (_, (_, at)) = self.packets.range(missing..).next()?;
        Some(*at + self.max_delay)
    }

    /// Gives up on the frame blocked at `next`: drops everything before the next frame start.
    fn skip_gap(&mut self, next: u64) -> JitterOutput {
        // Resume at the first waiting packet after `next` that starts a frame (the packets
        // from `next` up to a hole all belong to the blocked frame).
        let resume = self
            .packets
            .range(next + 1..)
            .find(|(s, (p, _))| self.starts_frame(**s, p))
            .map(|(s, _)| *s)
            .or_else(|| self.packets.keys().next_back().map(|s| s + 1))
            .unwrap_or(next + 1);
        let dropped: Vec<u64> = self.packets.range(..resume).map(|(s, _)| *s).collect();
        for s in dropped {
            self.packets.remove(&s);
        }
        self.next = Some(resume);
        self.started = true;
        JitterOutput::Skipped {
            skipped: next..resume,
        }
    }

    /// Whether the packet at `seq` begins a frame: the payload says so, and the nearest
    /// earlier packet held either ended a frame or belongs to another one (a different
    /// timestamp). The second check keeps a later slice of an H.264 picture whose first
    /// packets were lost from passing for a new picture.
    fn starts_frame(&self, seq: u64, packet: &Packet) -> bool {
        if !is_frame_start(self.codec, &packet.payload) {
            return false;
        }
        match self.packets.range(..seq).next_back() {
            Some((&prev_seq, (prev, _))) => {
                prev.header.timestamp != packet.header.timestamp
                    || (prev_seq + 1 == seq && self.ends_frame(prev))
            }
            None => true,
        }
    }

    fn ends_frame(&self, packet: &Packet) -> bool {
        self.codec.is_audio() || packet.header.marker
    }

    /// If a complete frame starts at `start`, the sequence number of its last packet.
    fn complete_frame_at(&self, start: u64) -> Option<u64> {
        let (first, _) = self.packets.get(&start)?;
        if !is_frame_start(self.codec, &first.payload) {
            return None;
        }
        let ts = first.header.timestamp;
        let mut seq = start;
        loop {
            let (p, _) = self.packets.get(&seq)?;
            if p.header.timestamp != ts {
                // The marker packet was lost or never set; the frame ended at seq - 1 only if
                // this packet starts a new frame.
                return (seq > start && is_frame_start(self.codec, &p.payload)).then(|| seq - 1);
            }
            if self.ends_frame(p) {
                return Some(seq);
            }
            seq += 1;
        }
    }

    /// When [`JitterBuffer::pop`] may give up on the current gap, if it is blocked.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.next?;
        if self.complete_frame_at(next).is_some() {
            return None;
        }
        self.hole_deadline(next)
    }

    /// Releases everything still held that forms complete frames, skipping gaps (end of
    /// stream). Returns the outputs in order.
    pub fn flush(&mut self) -> Vec<JitterOutput> {
        let mut out = Vec::new();
        while let Some(next) = self.next {
            if self.packets.is_empty() {
                break;
            }
            match self.pop_complete(next) {
                Some(frame) => out.push(frame),
                None => out.push(self.skip_gap(next)),
            }
        }
        out
    }

    fn pop_complete(&mut self, next: u64) -> Option<JitterOutput> {
        let end = self.complete_frame_at(next)?;
        let packets = (next..=end)
            .filter_map(|s| self.packets.remove(&s).map(|(p, _)| p))
            .collect();
        self.next = Some(end + 1);
        self.started = true;
        Some(JitterOutput::Frame(FramePackets {
            first_seq: next,
            packets,
        }))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn vp8(seq: u16, ts: u32, start: bool, marker: bool) -> Packet {
        let mut p = Packet::default();
        p.header.sequence_number = seq;
        p.header.timestamp = ts;
        p.header.marker = marker;
        p.payload = Bytes::from(vec![if start { 0x10 } else { 0x00 }, 0xaa, 0xbb, 0xcc]);
        p
    }

    fn frames(out: &mut JitterBuffer, now: Instant) -> Vec<u64> {
        let mut v = Vec::new();
        while let Some(o) = out.pop(now) {
            if let JitterOutput::Frame(f) = o {
                v.push(f.first_seq & 0xffff);
            }
        }
        v
    }

    #[test]
    fn unwrapper_handles_wrap_both_ways() {
        let mut u = SequenceUnwrapper::default();
        let a = u.extend(65_535);
        u.update(a);
        assert_eq!(u.extend(0), a + 1);
        assert_eq!(u.extend(65_000), a - 535);
        u.update(a + 1);
        assert_eq!(u.extend(1), a + 2);
    }

    #[test]
    fn reorders_across_wrap_and_drops_duplicates() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(CodecKind::Vp8, Duration::from_millis(100));
        jb.insert(vp8(65_534, 1, true, false), t).expect("a");
        let gap = jb.insert(vp8(0, 2, true, true), t).expect("c");
        assert_eq!(gap.newly_missing.end - gap.newly_missing.start, 1);
        assert_eq!(frames(&mut jb, t), Vec::<u64>::new());
        assert!(jb.poll_timeout().is_some());
        assert_eq!(
            jb.insert(vp8(0, 2, true, true), t),
            Err(RtpDropReason::Duplicate)
        );
        assert!(
            jb.insert(vp8(65_535, 1, false, true), t)
                .expect("b")
                .filled_gap
        );
        assert_eq!(frames(&mut jb, t), vec![65_534, 0]);
        assert_eq!(
            jb.insert(vp8(65_535, 1, false, true), t),
            Err(RtpDropReason::TooOld)
        );
        assert_eq!(
            jb.insert(vp8(9000, 3, true, true), t),
            Err(RtpDropReason::TooFarAhead)
        );
    }

    #[test]
    fn gives_up_on_a_gap_after_max_delay() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(CodecKind::Vp8, Duration::from_millis(100));
        jb.insert(vp8(10, 1, true, true), t).expect("f1");
        // Frame 2 = 11, 12 (12 lost); frame 3 = 13.
        jb.insert(vp8(11, 2, true, false), t).expect("f2a");
        jb.insert(vp8(13, 3, true, true), t).expect("f3");
        assert_eq!(frames(&mut jb, t), vec![10]);
        assert_eq!(jb.poll_timeout(), Some(t + Duration::from_millis(100)));
        assert_eq!(jb.pop(t + Duration::from_millis(99)), None);
        assert_eq!(
            jb.pop(t + Duration::from_millis(100)),
            Some(JitterOutput::Skipped {
                skipped: jb.extend(11)..jb.extend(13)
            })
        );
        assert_eq!(frames(&mut jb, t), vec![13]);
    }

    #[test]
    fn a_later_slice_of_a_damaged_picture_is_not_a_frame_start() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(CodecKind::H264, Duration::from_millis(100));
        let nal = |seq: u16, ts: u32, marker: bool| {
            let mut p = Packet::default();
            p.header.sequence_number = seq;
            p.header.timestamp = ts;
            p.header.marker = marker;
            p.payload = Bytes::from_static(&[0x41, 0x9a, 0x00]); // a whole slice NAL unit
            p
        };
        // Picture 1 = 1, 2, 3 (three slices; 2 lost); picture 2 = 4.
        jb.insert(nal(1, 100, false), t).expect("1");
        jb.insert(nal(3, 100, true), t).expect("3");
        jb.insert(nal(4, 200, true), t).expect("4");
        let skipped = jb.pop(t + Duration::from_millis(100));
        assert_eq!(
            skipped,
            Some(JitterOutput::Skipped {
                skipped: jb.extend(1)..jb.extend(4)
            })
        );
        assert!(matches!(jb.pop(t), Some(JitterOutput::Frame(f)) if f.first_seq == jb.extend(4)));
    }

    #[test]
    fn flush_releases_complete_frames_and_skips_the_rest() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(CodecKind::Vp8, Duration::from_secs(10));
        jb.insert(vp8(1, 1, true, false), t).expect("partial");
        jb.insert(vp8(5, 2, true, true), t).expect("whole");
        let out = jb.flush();
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[1], JitterOutput::Frame(f) if f.first_seq & 0xffff == 5));
        assert!(jb.is_empty());
    }
}
