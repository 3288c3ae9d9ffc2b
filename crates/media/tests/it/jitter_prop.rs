//! Property tests of the jitter buffer against a simple model: frames are consecutive
//! packets with one timestamp, the first with the VP8 start bit and the last with the marker.

use std::time::{Duration, Instant};

use bytes::Bytes;
use media::jitter::{JitterBuffer, JitterOutput};
use media::CodecKind;
use proptest::prelude::*;
use rtp::packet::Packet;

const MAX_DELAY: Duration = Duration::from_millis(100);

/// The packets of `sizes.len()` frames starting at sequence number `start`.
fn stream(start: u16, sizes: &[usize]) -> Vec<(usize, Packet)> {
    let mut out = Vec::new();
    let mut seq = start;
    for (frame, &n) in sizes.iter().enumerate() {
        for i in 0..n {
            let mut p = Packet::default();
            p.header.sequence_number = seq;
            p.header.timestamp = (frame as u32).wrapping_mul(3000).wrapping_add(0xffff_0000);
            p.header.marker = i == n - 1;
            let descriptor = if i == 0 { 0x10 } else { 0x00 };
            p.payload = Bytes::from(vec![descriptor, frame as u8, (frame >> 8) as u8, i as u8]);
            out.push((frame, p));
            seq = seq.wrapping_add(1);
        }
    }
    out
}

/// Which frame a released packet list is, checking that it is whole and in order.
fn frame_of(packets: &[Packet], sizes: &[usize]) -> usize {
    let frame = usize::from(packets[0].payload[1]) | usize::from(packets[0].payload[2]) << 8;
    assert_eq!(packets.len(), sizes[frame], "frame {frame} released whole");
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(usize::from(p.payload[3]), i, "frame {frame} in order");
        assert_eq!(
            usize::from(p.payload[1]) | usize::from(p.payload[2]) << 8,
            frame
        );
    }
    frame
}

fn frames_of(
    outputs: impl IntoIterator<Item = JitterOutput>,
    sizes: &[usize],
    skips: &mut usize,
) -> Vec<usize> {
    let mut frames = Vec::new();
    for o in outputs {
        match o {
            JitterOutput::Frame(f) => frames.push(frame_of(&f.packets, sizes)),
            JitterOutput::Skipped { .. } => *skips += 1,
            _ => {}
        }
    }
    frames
}

fn start_seq() -> impl Strategy<Value = u16> {
    prop_oneof![any::<u16>(), (65_400u16..=65_535)]
}

/// Moves each packet (except the first) up to `window` places later, by random swaps.
fn reorder<T>(items: &mut [T], swaps: &[(usize, usize)], window: usize) {
    for &(at, by) in swaps {
        if items.len() < 3 {
            return;
        }
        let i = 1 + at % (items.len() - 1);
        let j = (i + by % (window + 1)).min(items.len() - 1);
        items.swap(i, j);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Reordering and duplication without loss: every frame comes out once, in order.
    #[test]
    fn reorder_and_duplicates_lose_nothing(
        start in start_seq(),
        sizes in prop::collection::vec(1usize..6, 1..60),
        swaps in prop::collection::vec((any::<usize>(), any::<usize>()), 0..80),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let mut arrivals = stream(start, &sizes);
        for d in &dups {
            let copy = arrivals[d.index(arrivals.len())].clone();
            let at = d.index(arrivals.len()).max(1);
            arrivals.insert(at, copy);
        }
        reorder(&mut arrivals, &swaps, 8);
        let now = Instant::now();
        let mut jb = JitterBuffer::new(CodecKind::Vp8, MAX_DELAY);
        let mut out = Vec::new();
        for (_, p) in arrivals {
            let _ = jb.insert(p, now);
            while let Some(o) = jb.pop(now) {
                out.push(o);
            }
        }
        let mut skips = 0;
        let frames = frames_of(out, &sizes, &mut skips);
        prop_assert_eq!(skips, 0);
        prop_assert_eq!(frames, (0..sizes.len()).collect::<Vec<_>>());
        prop_assert!(jb.is_empty());
        prop_assert_eq!(jb.poll_timeout(), None);
    }

    /// In-order arrival with loss and time passing: exactly the frames that arrived whole come
    /// out, in order (the buffer gives up on gaps and resumes at the next frame).
    #[test]
    fn loss_releases_exactly_the_whole_frames(
        start in start_seq(),
        sizes in prop::collection::vec(1usize..6, 1..60),
        lost in prop::collection::vec(any::<bool>(), 300),
        steps in prop::collection::vec(0u64..60, 300),
    ) {
        let packets = stream(start, &sizes);
        let mut whole = vec![true; sizes.len()];
        let mut now = Instant::now();
        let mut jb = JitterBuffer::new(CodecKind::Vp8, MAX_DELAY);
        let mut out = Vec::new();
        for (i, (frame, p)) in packets.into_iter().enumerate() {
            // About 1 in 8 lost (two bits of the drawn vector must agree with the index).
            if lost[i] && lost[(i * 7 + 3) % lost.len()] && lost[(i * 13 + 5) % lost.len()] {
                whole[frame] = false;
                continue;
            }
            now += Duration::from_millis(steps[i]);
            prop_assert!(jb.insert(p, now).is_ok());
            while let Some(o) = jb.pop(now) {
                out.push(o);
            }
        }
        out.extend(jb.flush());
        let mut skips = 0;
        let frames = frames_of(out, &sizes, &mut skips);
        // The first frame is special: if its first packet is lost, the buffer starts later.
        let expected: Vec<usize> = (0..sizes.len()).filter(|&f| whole[f]).collect();
        prop_assert_eq!(frames, expected);
        prop_assert!(jb.is_empty());
    }

    /// Anything goes (reorder, duplicates, loss, time): what comes out are whole frames, each
    /// once, in increasing order; the buffer never holds more than it was given.
    #[test]
    fn arbitrary_arrivals_release_whole_frames_in_order(
        start in start_seq(),
        sizes in prop::collection::vec(1usize..6, 1..60),
        swaps in prop::collection::vec((any::<usize>(), any::<usize>()), 0..100),
        keep in prop::collection::vec(0u8..10, 300),
        steps in prop::collection::vec(0u64..80, 300),
    ) {
        let mut arrivals: Vec<(usize, Packet)> = stream(start, &sizes)
            .into_iter()
            .enumerate()
            .flat_map(|(i, p)| std::iter::repeat_n(p, usize::from(keep[i % keep.len()] / 4)))
            .collect();
        reorder(&mut arrivals, &swaps, 20);
        let mut now = Instant::now();
        let mut jb = JitterBuffer::new(CodecKind::Vp8, MAX_DELAY);
        let mut out = Vec::new();
        for (i, (_, p)) in arrivals.into_iter().enumerate() {
            now += Duration::from_millis(steps[i % steps.len()]);
            let _ = jb.insert(p, now);
            while let Some(o) = jb.pop(now) {
                out.push(o);
            }
            prop_assert!(jb.len() <= 300);
        }
        out.extend(jb.flush());
        let mut skips = 0;
        let frames = frames_of(out, &sizes, &mut skips);
        prop_assert!(frames.windows(2).all(|w| w[0] < w[1]), "{:?}", frames);
        prop_assert!(jb.is_empty());
    }
}
