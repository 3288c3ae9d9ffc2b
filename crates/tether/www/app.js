// app.js: the page `tether signal` serves. UI only; the call itself is TetherCall
// (tether-peer.js). The room and token travel in the URL fragment: #room=R&token=T.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const T0 = performance.now();
  let call = null;
  let statsTimer = null;
  // What the page has seen, for people and for automated checks (window.tetherApp).
  const seen = { joined: false, polite: null, channelOpen: false, connectionState: 'new', messages: [], errors: [], ended: null };

  $('ws-url').textContent = wsUrl;

  const fragment = () => new URLSearchParams(location.hash.slice(1));
  const randomRoom = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

  function row(table, cells, cls) {
    const tr = document.createElement('tr');
    if (cls) tr.className = cls;
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.appendChild(td);
    }
    table.appendChild(tr);
    return tr;
  }

  function timeline(what, detail, cls) {
    const body = $('timeline').tBodies[0];
    row(body, [(performance.now() - T0).toFixed(0), what, detail || ''], cls);
    const card = $('timeline-card');
    card.scrollTop = card.scrollHeight;
  }

  function chatLine(text, cls) {
    const li = document.createElement('li');
    li.textContent = text;
    if (cls) li.className = cls;
    $('chat-log').appendChild(li);
    li.scrollIntoView({ block: 'nearest' });
  }

  function pill(el, text, kind) {
    el.textContent = text;
    el.className = 'pill' + (kind ? ' ' + kind : '');
  }

  const stateKind = (v) => (['connected', 'completed', 'open', 'stable', 'complete'].includes(v) ? 'ok'
    : ['failed', 'closed'].includes(v) ? 'bad' : 'warn');

  function onEvent(ev) {
    switch (ev.kind) {
      case 'signaling':
        timeline('signaling ' + ev.state, ev.replayed != null ? `${ev.replayed} message(s) replayed`
          : ev.peerId || ev.url || (ev.code != null ? `close ${ev.code} ${ev.reason || ''}` : ''), 'state');
        if (ev.state === 'joined') {
          seen.joined = true;
          $('me').textContent = ev.peerId;
          pill($('status'), 'waiting for a peer', 'warn');
        }
        if (ev.state === 'closed' && !seen.ended) pill($('status'), 'signaling lost, resuming', 'warn');
        if (ev.state === 'resumed') {
          seen.resumed = (seen.resumed || 0) + 1;
          pill($('status'), seen.connectionState, stateKind(seen.connectionState));
        }
        break;
      case 'remote':
        seen.polite = ev.polite;
        $('peer').textContent = `${ev.peerId} (we are ${ev.polite ? 'polite' : 'impolite'})`;
        timeline('peer', `${ev.peerId}, we are ${ev.polite ? 'polite' : 'impolite'}`, 'state');
        break;
      case 'state':
        timeline(ev.what, ev.value, 'state');
        if (ev.what === 'connectionState') {
          seen.connectionState = ev.value;
          pill($('status'), ev.value, stateKind(ev.value));
        }
        break;
      case 'candidate':
        timeline(`${ev.side} candidate`, ev.candidate + (ev.ufrag ? `  (ufrag ${ev.ufrag})` : ''));
        break;
      case 'negotiation':
        timeline('negotiation', `${ev.what}${ev.sdpType ? ' ' + ev.sdpType : ''}${ev.ufrag ? ' (ufrag ' + ev.ufrag + ')' : ''}`, 'negotiation');
        break;
      case 'selected-pair':
        timeline('selected pair', `${ev.local}  <->  ${ev.remote}`, 'state');
        break;
      case 'channel':
        timeline(`channel "${ev.label}"`, ev.state, 'state');
        if (ev.label === 'chat') {
          const open = ev.state === 'open';
          seen.channelOpen = open;
          pill($('chat-state'), ev.state, stateKind(ev.state));
          $('chat-input').disabled = !open;
          $('chat-send').disabled = !open;
          chatLine(`channel ${ev.state}`, 'sys');
        }
        break;
      case 'message': {
        const text = typeof ev.data === 'string' ? ev.data : `<${ev.data.byteLength || ev.data.size} bytes>`;
        seen.messages.push(text);
        chatLine(`peer: ${text}`);
        break;
      }
      case 'error':
        seen.errors.push(ev.message);
        timeline('error', ev.message, 'error');
        if (ev.code === 'room-full' || ev.code === 'invalid-token' || ev.code === 'token-expired') {
          pill($('status'), ev.code, 'bad');
        }
        break;
      case 'bye':
        seen.ended = ev.reason;
        timeline('ended', ev.reason, 'state');
        pill($('status'), 'ended', 'bad');
        chatLine(`call ended: ${ev.reason}`, 'sys');
        for (const id of ['restart', 'hangup', 'chat-input', 'chat-send']) $(id).disabled = true;
        clearInterval(statsTimer);
        break;
      default:
        break;
    }
  }

  async function refreshStats() {
    if (!call) return;
    const s = await call.stats().catch(() => null);
    if (!s) return;
    const at = (c) => (c ? `${c.address}:${c.port} ${c.type || ''}` : '-');
    const rows = [
      ['connection', s.connectionState],
      ['signaling', s.signalingState],
      ['ICE / DTLS', `${s.iceState || '-'} / ${s.dtlsState || '-'}`],
      ['selected pair', s.selectedPairId || '-'],
      ['local', at(s.local)],
      ['remote', at(s.remote)],
      ['RTT', s.rttMs != null ? `${s.rttMs.toFixed(1)} ms` : '-'],
      ['bytes sent / received', `${s.bytesSent} / ${s.bytesReceived}`],
      ['packets sent / received', `${s.packetsSent} / ${s.packetsReceived}`],
      ['pair changes', s.selectedPairChanges != null ? String(s.selectedPairChanges) : '-'],
      ['ufrag local / remote', `${s.localUfrag || '-'} / ${s.remoteUfrag || '-'}`],
    ];
    for (const ch of s.channels) rows.push([`channel "${ch.label}" msgs out / in`, `${ch.messagesSent} / ${ch.messagesReceived}`]);
    const body = $('stats').tBodies[0];
    body.textContent = '';
    for (const r of rows) row(body, r);
    seen.stats = s;
  }

  function join(room, token) {
    const frag = new URLSearchParams({ room });
    if (token) frag.set('token', token);
    history.replaceState(null, '', '#' + frag.toString());
    $('join').hidden = true;
    $('call').hidden = false;
    $('panels').hidden = false;
    $('room-name').textContent = room;
    $('invite').href = location.href;
    $('invite').textContent = location.href;
    const role = fragment().get('role') || 'auto';
    call = new TetherCall({ url: wsUrl, room, token: token || null, role });
    call.on(onEvent);
    call.start();
    statsTimer = setInterval(refreshStats, 1000);
    window.tetherApp.call = call;
  }

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    join($('room').value.trim(), $('token').value.trim());
  });
  $('new-room').addEventListener('click', () => { $('room').value = randomRoom(); });
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('chat-input').value;
    if (!text) return;
    try {
      call.send(text);
      chatLine(`me: ${text}`, 'me');
      $('chat-input').value = '';
    } catch (err) {
      timeline('error', String(err), 'error');
    }
  });
  $('restart').addEventListener('click', () => { try { call.restartIce(); } catch (err) { timeline('error', String(err), 'error'); } });
  $('hangup').addEventListener('click', () => call && call.hangup());

  window.tetherApp = { call: null, seen, refreshStats, send: (text) => { call.send(text); chatLine(`me: ${text}`, 'me'); } };

  const f = fragment();
  if (f.get('room')) join(f.get('room'), f.get('token'));
})();
