//! [`ReadBuf`]: the buffer a data channel's reader (and the classification of a stream the peer
//! started) reads SCTP messages into, reused instead of allocated per channel.
//!
//! `webrtc-sctp` 0.17 removes a message from its queue before it checks that the buffer is
//! large enough (a short buffer loses the message), so every reader waits with a buffer of our
//! whole `a=max-message-size` ([`MAX_INCOMING_MESSAGE`], 256 KiB). Allocated and freed per
//! channel, such buffers become resident whole: glibc serves a fresh one from `mmap` (its
//! pages stay untouched until a message is written into them), but freeing one raises glibc's
//! dynamic mmap threshold above 256 KiB, and every later buffer then comes zeroed from the
//! heap, all of it resident. Measured with 1,000 connected pairs (`tether-compare scale 1000 3`):
//! 513-516 MiB RSS connected when the classification of each incoming stream allocated and
//! freed a buffer of its own, 314 MiB with this pool (and 315 MiB without it when glibc's
//! threshold is pinned with `MALLOC_MMAP_THRESHOLD_=131072`). Returning buffers here keeps
//! the threshold where it is, and a channel opened after another closed reuses its buffer.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use crate::channel::MAX_INCOMING_MESSAGE;

/// Idle buffers kept for reuse (at most 8 MiB); one returned beyond that is freed.
const KEEP: usize = 32;

/// The idle buffers of the process (every peer connection's readers share them).
static IDLE: Mutex<Vec<Box<[u8]>>> = Mutex::new(Vec::new());

/// A [`MAX_INCOMING_MESSAGE`]-byte read buffer, returned for reuse when dropped. Its bytes are
/// whatever an earlier reader left: read into it, then use only what the read returned.
pub(crate) struct ReadBuf(Option<Box<[u8]>>);

impl ReadBuf {
    /// An idle buffer, or a new one.
    pub(crate) fn take() -> Self {
        let idle = IDLE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Self(Some(idle.unwrap_or_else(|| {
            vec![0u8; MAX_INCOMING_MESSAGE].into_boxed_slice()
        })))
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        if let Some(buf) = self.0.take() {
            let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < KEEP {
                idle.push(buf);
            }
        }
    }
}

impl Deref for ReadBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl DerefMut for ReadBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is process-wide: the tests that count it must not interleave.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn idle() -> usize {
        IDLE.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    #[test]
    fn a_returned_buffer_is_reused() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let mut first = ReadBuf::take();
        assert_eq!(first.len(), MAX_INCOMING_MESSAGE);
        first[..5].copy_from_slice(b"hello");
        let at = first.as_ptr();
        let before = idle();
        drop(first);
        assert_eq!(idle(), (before + 1).min(KEEP));
        let again = ReadBuf::take();
        assert_eq!(again.as_ptr(), at, "the same allocation came back");
        assert_eq!(again.len(), MAX_INCOMING_MESSAGE);
    }

    #[test]
    fn keeps_at_most_keep_idle_buffers() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let many: Vec<ReadBuf> = (0..KEEP + 5).map(|_| ReadBuf::take()).collect();
        drop(many);
        assert_eq!(idle(), KEEP);
        let again: Vec<ReadBuf> = (0..KEEP).map(|_| ReadBuf::take()).collect();
        assert_eq!(idle(), 0, "every idle buffer was handed out again");
        drop(again);
        assert_eq!(idle(), KEEP);
    }
}
