//! Replay protection (RFC 3711 sec. 3.3.2) kept by us, after authentication.
//!
//! `webrtc-srtp` 0.17's own detectors (`webrtc-util`'s sliding windows) take their start from
//! the first index they *check*, before the packet is authenticated: one forged SRTCP packet
//! with a far index made every real packet of that SSRC a "replay" for up to 2^30 packets
//! (found by the `demux` fuzz target). Here an index is checked read-only before decryption
//! (a replay costs no decryption) and recorded only once the packet authenticated, so a packet
//! that fails authentication leaves no trace.

use std::collections::HashMap;

/// Which indices of one SSRC were accepted: the highest, and a window of `size` below it.
#[derive(Debug, Clone)]
pub(crate) struct ReplayWindow {
    highest: Option<u64>,
    /// Bit `i % size` says index `i` was accepted, for `i` in `highest - size + 1..=highest`.
    bits: Box<[u64]>,
    size: u64,
}

impl ReplayWindow {
    /// A window of `size` indices (rounded up to a multiple of 64).
    pub(crate) fn new(size: usize) -> Self {
        let words = size.div_ceil(64).max(1);
        Self {
            highest: None,
            bits: vec![0; words].into_boxed_slice(),
            size: words as u64 * 64,
        }
    }

    fn bit(&self, index: u64) -> bool {
        let i = index % self.size;
        self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, index: u64, on: bool) {
        let i = index % self.size;
        let word = &mut self.bits[(i / 64) as usize];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    /// `index` was not accepted before and is not older than the window.
    pub(crate) fn is_new(&self, index: u64) -> bool {
        match self.highest {
            None => true,
            Some(h) if index > h => true,
            Some(h) if h - index >= self.size => false,
            Some(_) => !self.bit(index),
        }
    }

    /// Records `index` as accepted (call only for authentic packets that [`is_new`](Self::is_new)).
    pub(crate) fn accept(&mut self, index: u64) {
        match self.highest {
            Some(h) if index <= h => {}
            Some(h) => {
                // The window slides: positions h+1..=index are reused for the new indices.
                if index - h >= self.size {
                    self.bits.fill(0);
                } else {
                    for i in h + 1..=index {
                        self.set(i, false);
                    }
                }
                self.highest = Some(index);
            }
            None => self.highest = Some(index),
        }
        self.set(index, true);
    }
}

/// Half of the sequence number space (RFC 3711 appendix A).
const SEQ_MEDIAN: u16 = 1 << 15;

/// The SRTP replay state of one SSRC: the packet index (rollover counter and sequence number)
/// as `webrtc-srtp`'s context estimates it, and the accepted indices.
#[derive(Debug, Clone)]
struct SrtpSsrc {
    /// The index the context last authenticated with (the context moves it with every
    /// authentic packet, also a late one; mirrored here so that our index is the one the
    /// packet authenticated under).
    last: Option<u64>,
    window: ReplayWindow,
}

impl SrtpSsrc {
    /// The packet index of `seq`, as `webrtc-srtp` 0.17.2's `next_rollover_count` guesses it
    /// from the last index (RFC 3711 appendix A).
    fn index_of(&self, seq: u16) -> u64 {
        let Some(last) = self.last else {
            return u64::from(seq);
        };
        let local_seq = last as u16;
        let diff = i64::from(seq) - i64::from(local_seq);
        let diff = if last > u64::from(SEQ_MEDIAN) {
            if local_seq < SEQ_MEDIAN {
                if diff > i64::from(SEQ_MEDIAN) {
                    diff - (1 << 16)
                } else {
                    diff
                }
            } else if local_seq - SEQ_MEDIAN > seq {
                diff + (1 << 16)
            } else {
                diff
            }
        } else {
            diff
        };
        last.wrapping_add_signed(diff)
    }
}

/// Replay state of every SSRC of one remote SRTP context, SRTP and SRTCP.
#[derive(Debug)]
pub(crate) struct Replay {
    srtp_window: usize,
    srtcp_window: usize,
    srtp: HashMap<u32, SrtpSsrc>,
    srtcp: HashMap<u32, ReplayWindow>,
}

impl Replay {
    pub(crate) fn new(srtp_window: usize, srtcp_window: usize) -> Self {
        Self {
            srtp_window,
            srtcp_window,
            srtp: HashMap::new(),
            srtcp: HashMap::new(),
        }
    }

    /// The index of an SRTP packet and whether it is new; read-only.
    pub(crate) fn check_rtp(&self, ssrc: u32, seq: u16) -> (u64, bool) {
        match self.srtp.get(&ssrc) {
            Some(s) => {
                let index = s.index_of(seq);
                (index, s.window.is_new(index))
            }
            None => (u64::from(seq), true),
        }
    }

    /// An authentic SRTP packet: the context moved to `index`; `false` if it is a replay.
    pub(crate) fn accept_rtp(&mut self, ssrc: u32, index: u64) -> bool {
        let window = self.srtp_window;
        let s = self.srtp.entry(ssrc).or_insert_with(|| SrtpSsrc {
            last: None,
            window: ReplayWindow::new(window),
        });
        s.last = Some(index);
        if !s.window.is_new(index) {
            return false;
        }
        s.window.accept(index);
        true
    }

    /// Whether the SRTCP index (from the packet's trailer) is new; read-only.
    pub(crate) fn check_rtcp(&self, ssrc: u32, index: u32) -> bool {
        self.srtcp
            .get(&ssrc)
            .is_none_or(|w| w.is_new(u64::from(index)))
    }

    /// An authentic SRTCP packet; `false` if it is a replay.
    pub(crate) fn accept_rtcp(&mut self, ssrc: u32, index: u32) -> bool {
        let size = self.srtcp_window;
        let w = self
            .srtcp
            .entry(ssrc)
            .or_insert_with(|| ReplayWindow::new(size));
        if !w.is_new(u64::from(index)) {
            return false;
        }
        w.accept(u64::from(index));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_takes_each_index_once_and_forgets_what_slid_out() {
        let mut w = ReplayWindow::new(64);
        for i in [10, 12, 11, 75] {
            assert!(w.is_new(i), "{i}");
            w.accept(i);
            assert!(!w.is_new(i), "{i} twice");
        }
        // 75 - 64 = 11: 11 slid out (too old), 12 is still in and was seen.
        assert!(!w.is_new(11));
        assert!(!w.is_new(12));
        assert!(w.is_new(13));
        // A jump beyond the window clears it.
        w.accept(1_000);
        assert!(w.is_new(999));
        assert!(!w.is_new(900));
    }

    #[test]
    fn rollover_is_followed_like_the_context_does() {
        let mut r = Replay::new(512, 128);
        for expected in 65_530..65_550u64 {
            let seq = (expected % 65_536) as u16;
            let (index, new) = r.check_rtp(7, seq);
            assert!(new);
            assert_eq!(index, expected);
            assert!(r.accept_rtp(7, index));
        }
        // A late packet from before the wrap is the old rollover counter's.
        let (index, new) = r.check_rtp(7, 65_534);
        assert_eq!(index, 65_534);
        assert!(!new, "already accepted");
        // A replay of the packet after the wrap.
        let (index, new) = r.check_rtp(7, 3);
        assert_eq!(index, 65_536 + 3);
        assert!(!new);
    }

    #[test]
    fn a_checked_index_leaves_no_trace() {
        let mut r = Replay::new(512, 128);
        // A forged packet's index is checked (and then fails authentication): nothing moves.
        assert!(r.check_rtcp(9, 1 << 30));
        assert!(r.check_rtcp(9, 1));
        assert!(r.accept_rtcp(9, 1));
        assert!(!r.accept_rtcp(9, 1), "a replay");
        assert!(r.accept_rtcp(9, 2));
    }
}
