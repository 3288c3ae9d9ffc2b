// The page side of the Rust browser harness (tests/browser/): messages to and from the test.
//   tether.params            URLSearchParams of the page URL
//   tether.send(obj)         POST /to-test: the test's Browser::recv() / expect() returns obj
//   tether.recv(ms)          the next message from the test (Browser::send), or throws on timeout
//   tether.log(...)          one line into the page log the test prints on failure
//   tether.run(async fn)     runs fn and POSTs the verdict to /result: {ok: true, ...fn's result}
//                            or {ok: false, error, stack} if it throws; uncaught errors fail too
'use strict';
const tether = (() => {
  const T0 = performance.now();
  const post = (path, body) => fetch(path, { method: 'POST', body });
  let reported = false;
  const report = async (verdict) => {
    if (reported) return;
    reported = true;
    await post('/result', JSON.stringify(verdict)).catch(() => {});
  };
  const self = {
    params: new URLSearchParams(location.search),
    sleep: (ms) => new Promise(r => setTimeout(r, ms)),
    withTimeout: (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout: ' + what)), ms))]),
    log: (...args) => {
      const line = `${(performance.now() - T0).toFixed(0)}ms ` + args.map(a => typeof a === 'string' ? a : JSON.stringify(a)).join(' ');
      console.log(line);
      post('/log', line).catch(() => {});
    },
    send: async (msg) => {
      const r = await post('/to-test', JSON.stringify(msg));
      if (!r.ok) throw new Error(`send: HTTP ${r.status}`);
    },
    recv: async (ms = 10000) => {
      const deadline = performance.now() + ms;
      while (performance.now() < deadline) {
        const r = await fetch('/to-page').catch(() => null);
        if (r && r.status === 200) return r.json();
        if (!r) await self.sleep(100);
      }
      throw new Error(`recv: nothing from the test within ${ms} ms`);
    },
    run: (fn) => Promise.resolve().then(fn).then(
      (r) => report(Object.assign({ ok: true }, r || {})),
      (e) => { self.log('error: ' + e); return report({ ok: false, error: String(e), stack: e && e.stack }); }),
  };
  window.addEventListener('error', (e) => report({ ok: false, error: 'uncaught: ' + e.message }));
  window.addEventListener('unhandledrejection', (e) => report({ ok: false, error: 'unhandled rejection: ' + e.reason }));
  return self;
})();
