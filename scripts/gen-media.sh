#!/usr/bin/env bash
# Regenerates the sample media in crates/media/samples/ (committed; nothing is downloaded).
# Needs ffmpeg with libvpx, libx264 and libopus (Debian: apt-get install ffmpeg).
#
#   vp8.ivf      VP8, 320x240, 30 fps, 4 s, keyframe every 30 frames: testsrc (a moving
#                pattern with a running counter)
#   vp9.ivf      VP9, 160x120, 30 fps, 2 s, same pattern
#   h264.h264    H.264 constrained baseline, Annex-B, 320x240, 30 fps, 4 s, SPS/PPS before
#                every IDR (repeat-headers), no B-frames
#   opus.ogg     Opus in Ogg, 48 kHz mono, 20 ms frames, 4 s, 440 Hz tone
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/crates/media/samples"
mkdir -p "$out"
command -v ffmpeg >/dev/null || { echo "ffmpeg missing: apt-get install ffmpeg" >&2; exit 1; }

common=(-hide_banner -loglevel error -y)
output=(-fflags +bitexact -flags +bitexact -map_metadata -1)

ffmpeg "${common[@]}" -f lavfi -i testsrc=size=320x240:rate=30:duration=4 \
  -c:v libvpx -b:v 150k -g 30 -keyint_min 30 -auto-alt-ref 0 -lag-in-frames 0 \
  -deadline good -cpu-used 4 -threads 1 "${output[@]}" -f ivf "$out/vp8.ivf"

ffmpeg "${common[@]}" -f lavfi -i testsrc=size=160x120:rate=30:duration=2 \
  -c:v libvpx-vp9 -b:v 80k -g 30 -keyint_min 30 -auto-alt-ref 0 -lag-in-frames 0 \
  -deadline good -cpu-used 5 -threads 1 "${output[@]}" -f ivf "$out/vp9.ivf"

ffmpeg "${common[@]}" -f lavfi -i testsrc=size=320x240:rate=30:duration=4 \
  -c:v libx264 -profile:v baseline -preset veryfast -pix_fmt yuv420p -b:v 150k -g 30 -bf 0 \
  -x264-params repeat-headers=1:aud=0 -threads 1 "${output[@]}" -f h264 "$out/h264.h264"

ffmpeg "${common[@]}" -f lavfi -i sine=frequency=440:sample_rate=48000:duration=4 \
  -c:a libopus -b:a 32k -frame_duration 20 -application audio -ac 1 "${output[@]}" -f ogg "$out/opus.ogg"

ls -l "$out"
du -ch "$out"/* | tail -1
