#!/usr/bin/env python3
"""Static page server + fixture sink for scripts/capture-chromium-sdp.sh (stdlib only).

  GET  /<file>          static file from this folder (capture.html)
  POST /save/<name>     write the request body to OUT_DIR/<name> (name: [A-Za-z0-9._-]+)
  POST /done            the page reports its verdict ({"ok": bool, ...}); the server exits
                        0 if ok, else 1
Exits 2 if no verdict arrives within --timeout seconds.
usage: server.py --port 8090 --out DIR [--timeout 60]
"""
import argparse, json, os, re, sys, threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

verdict = {}
finished = threading.Event()
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Handler(SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _reply(self, code, body=b"{}"):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/save/"):
            name = self.path[len("/save/"):]
            if not NAME.match(name):
                return self._reply(400)
            with open(os.path.join(ARGS.out, name), "wb") as f:
                f.write(body)
            print(f"[capture] saved {name} ({len(body)} bytes)", flush=True)
            self._reply(200)
        elif self.path == "/done":
            verdict.update(json.loads(body))
            finished.set()
            self._reply(200)
        else:
            self._reply(404)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ARGS = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), partial(Handler, directory=here))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(f"[capture] listening on http://127.0.0.1:{ARGS.port}/", flush=True)
    if not finished.wait(ARGS.timeout):
        print("[capture] FAIL: no verdict before the timeout", flush=True)
        srv.shutdown()
        sys.exit(2)
    print("[capture] verdict: " + json.dumps(verdict, indent=1), flush=True)
    srv.shutdown()
    sys.exit(0 if verdict.get("ok") else 1)
