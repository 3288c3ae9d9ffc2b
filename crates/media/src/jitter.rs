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
    /// The held sequence numbers as maximal runs of consecutive ones (first -> one past the
    /// last), kept with `packets`: the first missing sequence number after `next` is one
    /// lookup instead of a walk over the held packets (a sender picks the sequence numbers).
    runs: Runs,
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
            runs: Runs::default(),
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
        self.runs.insert(ext);
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
        let missing = self.runs.first_missing_from(next);
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
        // Everything held is at or after `next` (see `remove_below`): keep what is from
        // `resume` on.
        self.packets = self.packets.split_off(&resume);
        self.runs.remove_below(resume);
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
        // Nothing is held before `next`, so this removes exactly the frame's packets.
        self.runs.remove_below(end + 1);
        self.next = Some(end + 1);
        self.started = true;
        Some(JitterOutput::Frame(FramePackets {
            first_seq: next,
            packets,
        }))
    }
}

/// A set of sequence numbers kept as maximal runs of consecutive ones: first -> one past the
/// last. Adding one is O(log n); removing every one below a bound is O(log n) per run removed.
#[derive(Debug, Clone, Default)]
struct Runs {
    runs: BTreeMap<u64, u64>,
}

impl Runs {
    /// Adds `seq` (not in the set), joining the runs it touches.
    fn insert(&mut self, seq: u64) {
        let before = self
            .runs
            .range(..seq)
            .next_back()
            .filter(|(_, end)| **end == seq)
            .map(|(first, _)| *first);
        let after = self.runs.remove(&(seq + 1));
        let end = after.unwrap_or(seq + 1);
        match before {
            Some(first) => {
                self.runs.insert(first, end);
            }
            None => {
                self.runs.insert(seq, end);
            }
        }
    }

    /// Removes every sequence number below `bound`.
    fn remove_below(&mut self, bound: u64) {
        while let Some(entry) = self.runs.first_entry() {
            let (first, end) = (*entry.key(), *entry.get());
            if first >= bound {
                break;
            }
            entry.remove();
            if end > bound {
                self.runs.insert(bound, end);
                break;
            }
        }
    }

    /// The first sequence number at or after `seq` that is not in the set.
    fn first_missing_from(&self, seq: u64) -> u64 {
        match self.runs.range(..=seq).next_back() {
            Some((_, &end)) if end > seq => end,
            _ => seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

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

    /// The runs of consecutive held sequence numbers, computed from the packets.
    fn runs_of(jb: &JitterBuffer) -> BTreeMap<u64, u64> {
        let mut runs = BTreeMap::new();
        let mut current: Option<(u64, u64)> = None;
        for &s in jb.packets.keys() {
            current = match current {
                Some((first, end)) if end == s => Some((first, s + 1)),
                Some((first, end)) => {
                    runs.insert(first, end);
                    Some((s, s + 1))
                }
                None => Some((s, s + 1)),
            };
        }
        if let Some((first, end)) = current {
            runs.insert(first, end);
        }
        runs
    }

    /// `hole_deadline` as it was: a walk over the held packets from `next`.
    fn walked_hole_deadline(jb: &JitterBuffer, next: u64) -> Option<Instant> {
        if let Some((packet, at)) = jb.packets.get(&next) {
            if !is_frame_start(jb.codec, &packet.payload) {
                return Some(*at + jb.max_delay);
            }
        }
        let mut missing = next;
        while jb.packets.contains_key(&missing) {
            missing += 1;
        }
        let (_, (_, at)) = jb.packets.range(missing..).next()?;
        Some(*at + jb.max_delay)
    }

    fn assert_runs_agree(jb: &JitterBuffer) {
        assert_eq!(jb.runs.runs, runs_of(jb), "runs of {:?}", jb.packets.keys());
        if let Some(next) = jb.next {
            assert_eq!(jb.hole_deadline(next), walked_hole_deadline(jb, next));
        }
    }

    #[test]
    fn runs_join_across_holes_filled_later() {
        let mut runs = Runs::default();
        for s in [10, 12, 14, 20] {
            runs.insert(s);
        }
        assert_eq!(runs.first_missing_from(10), 11);
        assert_eq!(runs.first_missing_from(11), 11);
        runs.insert(11);
        assert_eq!(runs.first_missing_from(10), 13);
        runs.insert(13);
        assert_eq!(runs.first_missing_from(10), 15);
        assert_eq!(runs.first_missing_from(12), 15);
        runs.insert(9);
        assert_eq!(runs.runs, BTreeMap::from([(9, 15), (20, 21)]));
        runs.remove_below(12);
        assert_eq!(runs.runs, BTreeMap::from([(12, 15), (20, 21)]));
        runs.remove_below(16);
        assert_eq!(runs.runs, BTreeMap::from([(20, 21)]));
        runs.remove_below(21);
        assert!(runs.runs.is_empty());
        assert_eq!(runs.first_missing_from(20), 20);
    }

    #[test]
    fn the_deadline_follows_the_run_as_holes_fill() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut jb = JitterBuffer::new(CodecKind::Vp8, ms(100));
        // One frame 100..=104 (start at 100, marker at 104); 101 and 103 late.
        jb.insert(vp8(100, 1, true, false), t).expect("100");
        jb.insert(vp8(102, 1, false, false), t + ms(10))
            .expect("102");
        jb.insert(vp8(104, 1, false, true), t + ms(20))
            .expect("104");
        assert_runs_agree(&jb);
        // The first packet behind the hole at 101 is 102.
        assert_eq!(jb.poll_timeout(), Some(t + ms(110)));
        jb.insert(vp8(101, 1, false, false), t + ms(30))
            .expect("101");
        assert_runs_agree(&jb);
        // Now the hole is 103, and 104 is behind it.
        assert_eq!(jb.poll_timeout(), Some(t + ms(120)));
        assert_eq!(jb.pop(t + ms(119)), None);
        jb.insert(vp8(103, 1, false, false), t + ms(40))
            .expect("103");
        assert_runs_agree(&jb);
        assert_eq!(jb.poll_timeout(), None);
        assert_eq!(frames(&mut jb, t + ms(40)), vec![100]);
        assert_runs_agree(&jb);
        assert!(jb.runs.runs.is_empty());
    }

    #[test]
    fn the_run_crosses_the_sequence_number_wrap() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut jb = JitterBuffer::new(CodecKind::Vp8, ms(100));
        // One frame 65_534..=2 (start at 65_534, marker at 2); 1 late.
        jb.insert(vp8(65_534, 7, true, false), t).expect("65534");
        jb.insert(vp8(65_535, 7, false, false), t).expect("65535");
        jb.insert(vp8(0, 7, false, false), t).expect("0");
        jb.insert(vp8(2, 7, false, true), t + ms(5)).expect("2");
        assert_runs_agree(&jb);
        assert_eq!(jb.runs.first_missing_from(jb.extend(65_534)), jb.extend(1));
        assert_eq!(jb.poll_timeout(), Some(t + ms(105)));
        jb.insert(vp8(1, 7, false, false), t + ms(6)).expect("1");
        assert_runs_agree(&jb);
        assert_eq!(jb.runs.first_missing_from(jb.extend(65_534)), jb.extend(3));
        assert_eq!(frames(&mut jb, t + ms(6)), vec![65_534]);
        assert_eq!(jb.next_seq(), Some(jb.extend(3)));
        assert!(jb.runs.runs.is_empty());
    }

    #[test]
    fn an_earlier_first_packet_extends_the_run_back() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut jb = JitterBuffer::new(CodecKind::Vp8, ms(100));
        jb.insert(vp8(51, 3, false, false), t).expect("51");
        jb.insert(vp8(52, 3, false, true), t).expect("52");
        jb.insert(vp8(55, 4, true, true), t + ms(1)).expect("55");
        // Before anything was released an earlier packet moves the start back.
        jb.insert(vp8(48, 3, true, false), t + ms(2)).expect("48");
        assert_runs_agree(&jb);
        assert_eq!(jb.poll_timeout(), Some(t + ms(100)));
        jb.insert(vp8(50, 3, false, false), t + ms(3)).expect("50");
        jb.insert(vp8(49, 3, false, false), t + ms(4)).expect("49");
        assert_runs_agree(&jb);
        assert_eq!(jb.runs.first_missing_from(jb.extend(48)), jb.extend(53));
        assert_eq!(frames(&mut jb, t + ms(4)), vec![48]);
        assert_runs_agree(&jb);
    }

    #[test]
    fn a_skip_moves_the_run_to_the_next_frame() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut jb = JitterBuffer::new(CodecKind::Vp8, ms(100));
        // Frame 1 = 10, 11 (11 lost); frame 2 = 12, 13, 14 (14 late); frame 3 = 15.
        jb.insert(vp8(10, 1, true, false), t).expect("10");
        jb.insert(vp8(12, 2, true, false), t + ms(10)).expect("12");
        jb.insert(vp8(13, 2, false, false), t + ms(10)).expect("13");
        jb.insert(vp8(15, 3, true, true), t + ms(50)).expect("15");
        assert_runs_agree(&jb);
        assert_eq!(jb.poll_timeout(), Some(t + ms(110)));
        assert_eq!(
            jb.pop(t + ms(110)),
            Some(JitterOutput::Skipped {
                skipped: jb.extend(10)..jb.extend(12)
            })
        );
        assert_runs_agree(&jb);
        // Now blocked at 12 by the hole at 14, with 15 behind it.
        assert_eq!(jb.runs.first_missing_from(jb.extend(12)), jb.extend(14));
        assert_eq!(jb.poll_timeout(), Some(t + ms(150)));
        assert_eq!(
            jb.insert(vp8(11, 1, false, true), t + ms(111)),
            Err(RtpDropReason::TooOld)
        );
        jb.insert(vp8(14, 2, false, true), t + ms(120)).expect("14");
        assert_runs_agree(&jb);
        assert_eq!(frames(&mut jb, t + ms(120)), vec![12, 15]);
        assert_runs_agree(&jb);
        assert!(jb.is_empty());
    }

    #[test]
    fn flush_empties_the_runs() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(CodecKind::Vp8, Duration::from_secs(10));
        for (seq, ts, start, marker) in [
            (1, 1, true, false),
            (2, 1, false, false),
            (5, 2, true, true),
            (7, 3, true, false),
        ] {
            jb.insert(vp8(seq, ts, start, marker), t).expect("insert");
        }
        assert_runs_agree(&jb);
        // Skip 1..5, frame 5, skip 6..7 (the hole), skip 7..8 (7 has no end).
        let out = jb.flush();
        assert_eq!(out.len(), 4);
        assert!(matches!(&out[1], JitterOutput::Frame(f) if f.first_seq == jb.extend(5)));
        assert!(jb.is_empty());
        assert!(jb.runs.runs.is_empty());
        // The buffer goes on after a flush, with the runs from the new packets only.
        jb.insert(vp8(9, 4, true, false), t).expect("9");
        jb.insert(vp8(11, 4, false, true), t).expect("11");
        assert_runs_agree(&jb);
        assert_eq!(
            jb.runs.runs,
            BTreeMap::from([
                (jb.extend(9), jb.extend(10)),
                (jb.extend(11), jb.extend(12))
            ])
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert {
            seq: u16,
            ts: u8,
            start: bool,
            marker: bool,
        },
        Advance(u8),
        Pop,
        Flush,
    }

    fn op(base: u16) -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0u16..96, 0u8..6, any::<bool>(), any::<bool>()).prop_map(move |(d, ts, start, marker)| Op::Insert {
                seq: base.wrapping_add(d),
                ts,
                start,
                marker,
            }),
            2 => any::<u8>().prop_map(Op::Advance),
            2 => Just(Op::Pop),
            1 => Just(Op::Flush),
        ]
    }

    fn ops() -> impl Strategy<Value = (CodecKind, Vec<Op>)> {
        (
            prop_oneof![Just(CodecKind::Vp8), Just(CodecKind::Opus)],
            prop_oneof![any::<u16>(), 65_480u16..=65_535],
        )
            .prop_flat_map(|(codec, base)| (Just(codec), prop::collection::vec(op(base), 0..300)))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Random inserts (holes, reordering, duplicates, the wrap), pops, time and flushes:
        /// after every step the runs are those of the held packets, and the deadline is the
        /// one the walk over the packets finds.
        #[test]
        fn runs_and_deadline_match_a_walk_over_the_packets((codec, ops) in ops()) {
            let t = Instant::now();
            let mut now = t;
            let mut jb = JitterBuffer::new(codec, Duration::from_millis(100));
            for op in ops {
                match op {
                    Op::Insert { seq, ts, start, marker } => {
                        let _ = jb.insert(vp8(seq, u32::from(ts), start, marker), now);
                    }
                    Op::Advance(ms) => now += Duration::from_millis(u64::from(ms)),
                    Op::Pop => while jb.pop(now).is_some() {},
                    Op::Flush => {
                        let _ = jb.flush();
                    }
                }
                assert_runs_agree(&jb);
            }
        }
    }
}
