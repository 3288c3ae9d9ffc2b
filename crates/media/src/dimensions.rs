//! Picture size from a VP8 or VP9 keyframe's own header, for containers that state it (IVF)
//! when the size was not known before the first frame arrived.

use crate::codec::CodecKind;

/// Width and height in pixels that a keyframe of `codec` declares, or `None` when `data` is
/// not a keyframe of that codec or is too short to say.
pub fn keyframe_dimensions(codec: CodecKind, data: &[u8]) -> Option<(u16, u16)> {
    match codec {
        CodecKind::Vp8 => vp8(data),
        CodecKind::Vp9 => vp9(data),
        _ => None,
    }
}

/// RFC 6386 §9.1: a 3-byte frame tag (bit 0 clear on a keyframe), the start code
/// `9d 01 2a`, then 14-bit width and height (the top two bits are the scaling mode).
fn vp8(data: &[u8]) -> Option<(u16, u16)> {
    if data.len() < 10 || data[0] & 1 != 0 || data[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([data[6], data[7]]) & 0x3fff;
    let height = u16::from_le_bytes([data[8], data[9]]) & 0x3fff;
    (width > 0 && height > 0).then_some((width, height))
}

/// A most-significant-bit-first reader over a byte slice.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            value = (value << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(value)
    }
}

/// The VP9 bitstream specification §6.2: the uncompressed header of a keyframe, through
/// `color_config()` to `frame_size()` (16-bit width and height, each minus one).
fn vp9(data: &[u8]) -> Option<(u16, u16)> {
    const CS_RGB: u32 = 7;
    let mut b = Bits { data, pos: 0 };
    if b.read(2)? != 2 {
        return None; // frame_marker
    }
    let low = b.read(1)?;
    let profile = (b.read(1)? << 1) | low;
    if profile == 3 {
        b.read(1)?; // reserved_zero
    }
    if b.read(1)? == 1 {
        return None; // show_existing_frame: no header of its own
    }
    if b.read(1)? != 0 {
        return None; // frame_type: not a keyframe
    }
    b.read(2)?; // show_frame, error_resilient_mode
    if b.read(24)? != 0x49_83_42 {
        return None; // frame_sync_code
    }
    if profile >= 2 {
        b.read(1)?; // ten_or_twelve_bit
    }
    let color_space = b.read(3)?;
    if color_space != CS_RGB {
        b.read(1)?; // color_range
        if profile == 1 || profile == 3 {
            b.read(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if profile == 1 || profile == 3 {
        b.read(1)?; // reserved_zero
    }
    let width = u16::try_from(b.read(16)? + 1).ok()?;
    let height = u16::try_from(b.read(16)? + 1).ok()?;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first frame of a sample file (after the 32-byte file and 12-byte frame headers).
    fn first_frame(file: &[u8]) -> &[u8] {
        let size = u32::from_le_bytes([file[32], file[33], file[34], file[35]]) as usize;
        &file[44..44 + size]
    }

    #[test]
    fn the_samples_keyframes_declare_their_size() {
        let vp8 = include_bytes!("../samples/vp8.ivf");
        let vp9 = include_bytes!("../samples/vp9.ivf");
        // The sample headers (written by ffmpeg) agree: 320x240 and 160x120.
        assert_eq!(
            keyframe_dimensions(CodecKind::Vp8, first_frame(vp8)),
            Some((320, 240))
        );
        assert_eq!(
            keyframe_dimensions(CodecKind::Vp9, first_frame(vp9)),
            Some((160, 120))
        );
    }

    #[test]
    fn anything_else_has_no_size() {
        assert_eq!(keyframe_dimensions(CodecKind::Vp8, &[]), None);
        // A VP8 interframe (tag bit 0 set) and a truncated keyframe.
        assert_eq!(
            keyframe_dimensions(CodecKind::Vp8, &[0x11, 0, 0, 0x9d, 1, 0x2a, 64, 1, 240, 0]),
            None
        );
        assert_eq!(
            keyframe_dimensions(CodecKind::Vp8, &[0x10, 0, 0, 0x9d, 1, 0x2a, 64]),
            None
        );
        // A VP9 frame with a bad marker, and one cut inside its header.
        assert_eq!(keyframe_dimensions(CodecKind::Vp9, &[0x00; 16]), None);
        assert_eq!(
            keyframe_dimensions(CodecKind::Vp9, &[0xa2, 0x49, 0x83]),
            None
        );
        assert_eq!(keyframe_dimensions(CodecKind::Opus, &[0x10; 16]), None);
    }
}
