#!/bin/bash
# Captures real Chromium SDP offers/answers and trickled ICE candidates as test fixtures for the
# session-core SDP parser: crates/session-core/tests/fixtures/chromium/*.sdp, *.json.
#
# usage (as root, Chromium installed: apt-get install -y --no-install-recommends chromium iproute2):
#     scripts/capture-chromium-sdp.sh [OUT_DIR]      # default: the fixtures folder above
#
# How: a throw-away network namespace whose only interface is `lo` (`unshare --net`), so neither
# Chromium nor anything it does can reach any network; inside it a stdlib Python server
# (scripts/capture-chromium-sdp/server.py) serves capture.html on 127.0.0.1 and writes every
# fixture the page POSTs; headless Chromium (fake camera + microphone, fresh temp profile) loads
# the page, which creates the peer connections and posts the descriptions and candidates. Files are
# written to a staging folder and moved into OUT_DIR only if the whole run succeeded, so a failed
# run never leaves half-updated fixtures. Re-runnable: each run replaces the files (ufrags,
# fingerprints, ports and session ids change from run to run). meta.json records the version.
# Flags: see /work/shared/interop/chromium-flags.sh (same set, plus the fake media device).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/crates/session-core/tests/fixtures/chromium}")
CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/lib/chromium/chromium}  # the real binary; /usr/bin/chromium adds Debian flags
PORT=${PORT:-8090}
TIMEOUT=${TIMEOUT:-60}

[ -x "$CHROMIUM_BIN" ] || { echo "no Chromium at $CHROMIUM_BIN: apt-get install -y --no-install-recommends chromium" >&2; exit 1; }
command -v unshare >/dev/null && command -v ip >/dev/null || { echo "needs unshare (util-linux) and ip (iproute2)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (unshare --net)" >&2; exit 1; }

STAGE=$(mktemp -d -t chromium-sdp.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
VERSION=$("$CHROMIUM_BIN" --version | tr -s ' ' | sed 's/ $//')

# Everything below runs inside the loopback-only namespace; it disappears with its last process.
export HERE STAGE CHROMIUM_BIN PORT TIMEOUT
unshare --net bash -c '
set -u
ip link set lo up
PROFILE=$(mktemp -d -t chromium-profile.XXXXXX)
python3 "$HERE/capture-chromium-sdp/server.py" --port "$PORT" --out "$STAGE" --timeout "$TIMEOUT" & SERVER=$!
for _ in $(seq 100); do (: </dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
TMPDIR="$PROFILE" "$CHROMIUM_BIN" \
  --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" \
  --disable-features=WebRtcHideLocalIpsWithMdns \
  --use-fake-ui-for-media-stream --use-fake-device-for-media-stream \
  --allow-loopback-in-peer-connection \
  --user-data-dir="$PROFILE" "http://127.0.0.1:$PORT/capture.html" \
  >"$STAGE/.chromium.log" 2>&1 & CHROME=$!
wait $SERVER; RC=$?
kill $CHROME 2>/dev/null; wait $CHROME 2>/dev/null
rm -rf "$PROFILE"
[ $RC -eq 0 ] || { echo "capture failed (server exit $RC); Chromium log:" >&2; tail -n 40 "$STAGE/.chromium.log" >&2; }
exit $RC'

rm -f "$STAGE/.chromium.log"
cat > "$STAGE/meta.json" <<META
{
  "chromium": "$VERSION",
  "captured": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "script": "scripts/capture-chromium-sdp.sh"
}
META
mkdir -p "$OUT"
rm -f "$OUT"/*.sdp "$OUT"/candidates-*.json "$OUT"/meta.json
cp "$STAGE"/* "$OUT"/
echo "fixtures from $VERSION written to $OUT:"
ls -1 "$OUT"
