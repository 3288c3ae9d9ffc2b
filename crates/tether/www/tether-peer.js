// tether-peer.js: one browser peer of a Tether call, with no dependencies and no build step.
//
// It joins a room of Tether's WebSocket signaling server (protocol v1,
// docs/signaling-protocol.md), talks to the other peer of the room with Tether's signal
// messages (docs/signal-message.md: the same JSON the Rust `tether peer` sends), and runs
// W3C perfect negotiation. Roles follow the rule the Rust peer uses (`--role auto`): the peer
// whose server-assigned id sorts first (plain string order) is polite, the other impolite; the
// impolite peer opens the "chat" data channel.
//
//   const call = new TetherCall({ url: 'ws://127.0.0.1:8080/ws', room: 'r1' });
//   call.on((ev) => console.log(ev.kind, ev));   // every state change, candidate, message
//   call.start();
//   call.send('hello');  call.restartIce();  await call.stats();  call.hangup();
//
// A dropped signaling connection resumes by itself (protocol `resume`, backoff, within the
// server's grace window): what the peer sent meanwhile is replayed, what we send waits.
//
// Events (`ev.kind`): signaling {state, ...}, remote {peerId, polite}, state {what, value},
// candidate {side, candidate, ufrag}, negotiation {what, sdpType}, channel {label, state},
// message {label, data}, selected-pair {local, remote}, error {message, code}, bye {reason}.
'use strict';

(function (global) {
  const PROTOCOL_VERSION = 1;
  const ufragOf = (desc) => (desc && desc.sdp && (desc.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1]) || null;

  class TetherCall {
    // options: url (ws:// or wss:// of /ws), room, token (signed rooms), role ('auto' |
    // 'polite' | 'impolite'), chat ('auto' | 'create' | 'wait'), iceServers (default none).
    constructor(options) {
      this.url = options.url;
      this.room = options.room;
      this.token = options.token || null;
      this.role = options.role || 'auto';
      this.chatMode = options.chat || 'auto';
      this.iceServers = options.iceServers || [];
      this.listeners = [];
      this.ws = null;
      this.pc = null;
      this.chat = null;
      this.channels = new Map();
      this.peerId = null;
      this.remoteId = null;
      this.polite = null;
      this.makingOffer = false;
      this.ignoreOffer = false;
      this.queue = Promise.resolve();
      this.paused = false;
      this.held = [];
      this.lastSeq = 0;
      this.outbox = [];
      this.joined = false;
      this.resumeToken = null;
      this.graceMs = 30000;
      this.leaving = false;
      this.ackedSeq = 0;
      this.ackTimer = null;
      this.closed = false;
      this.counters = { offersSent: 0, answersSent: 0, offersReceived: 0, rollbacks: 0, ignoredOffers: 0,
                        candidatesSent: 0, candidatesReceived: 0, messagesSent: 0, messagesReceived: 0 };
    }

    on(fn) { this.listeners.push(fn); }

    emit(kind, detail) {
      const ev = Object.assign({ kind, t: performance.now() }, detail || {});
      for (const fn of this.listeners) {
        try { fn(ev); } catch (e) { console.error('listener failed', e); }
      }
    }

    // Opens the signaling connection and joins the room.
    start() {
      this.connect();
      this.ackTimer = setInterval(() => this.ack(), 1000);
    }

    // One WebSocket: `join` the first time, `resume` (with what we processed) after a drop.
    connect() {
      const resuming = this.resumeToken != null;
      this.emit('signaling', { state: resuming ? 'resuming' : 'connecting', url: this.url });
      const ws = new WebSocket(this.url);
      this.ws = ws;
      this.joined = false;
      ws.onopen = () => {
        if (resuming) {
          ws.send(JSON.stringify({ type: 'resume', v: PROTOCOL_VERSION, resume_token: this.resumeToken, last_seq: this.lastSeq }));
          return;
        }
        const join = { type: 'join', v: PROTOCOL_VERSION, room: this.room };
        if (this.token) join.token = this.token;
        ws.send(JSON.stringify(join));
      };
      ws.onmessage = (e) => {
        if (ws !== this.ws) return;
        let msg;
        try { msg = JSON.parse(e.data); } catch (err) { this.emit('error', { message: 'unreadable server message' }); return; }
        this.onServer(msg);
      };
      ws.onerror = () => this.emit('error', { message: `cannot reach the signaling server at ${this.url}` });
      ws.onclose = (e) => {
        if (ws !== this.ws) return;
        this.joined = false;
        this.emit('signaling', { state: 'closed', code: e.code, reason: e.reason });
        this.reconnect();
      };
    }

    // After a drop: resume within the server's grace window, with backoff; then give up.
    reconnect() {
      if (this.leaving || this.resumeToken == null || this.lostAt === null) return;
      const now = performance.now();
      if (this.lostAt === undefined) this.lostAt = now;
      if (now - this.lostAt > this.graceMs) {
        this.lostAt = null;
        clearInterval(this.ackTimer);
        this.emit('error', { message: 'signaling lost: could not resume within the grace window' });
        return;
      }
      this.backoff = Math.min((this.backoff || 125) * 2, 4000);
      setTimeout(() => this.connect(), this.backoff);
    }

    onServer(msg) {
      if (typeof msg.seq === 'number') {
        if (msg.seq <= this.lastSeq) return; // already processed (protocol: ignore)
        this.lastSeq = msg.seq;
      }
      switch (msg.type) {
        case 'resumed':
          this.resumeToken = msg.resume_token;
          this.joined = true;
          this.lostAt = undefined;
          this.backoff = 0;
          this.emit('signaling', { state: 'resumed', peerId: msg.peer_id, replayed: msg.replayed });
          this.flush();
          break;
        case 'joined':
          this.resumeToken = msg.resume_token;
          this.graceMs = msg.grace_ms || 30000;
          this.joined = true;
          this.peerId = msg.peer_id;
          this.emit('signaling', { state: 'joined', peerId: msg.peer_id, peers: msg.peers.map((p) => p.id) });
          if (msg.peers.length > 0) this.adopt(msg.peers[0].id);
          break;
        case 'peer-joined':
          this.emit('signaling', { state: 'peer-joined', peerId: msg.peer_id });
          if (!this.remoteId) this.adopt(msg.peer_id);
          this.flush();
          break;
        case 'peer-left':
          this.emit('signaling', { state: 'peer-left', peerId: msg.peer_id });
          if (msg.peer_id === this.remoteId) this.ended('the peer left the signaling room');
          break;
        case 'peer-suspended':
        case 'peer-resumed':
          this.emit('signaling', { state: msg.type, peerId: msg.peer_id });
          break;
        case 'signal':
          if (!this.remoteId) this.adopt(msg.from);
          if (msg.from !== this.remoteId) return; // a third peer: not our call
          if (this.paused) this.held.push(msg.data);
          else this.enqueue(msg.data);
          break;
        case 'error':
          this.emit('error', { code: msg.code, message: `${msg.code}: ${msg.message}` });
          if (msg.code === 'resume-unknown' || msg.code === 'resume-gap') {
            // Our identity is gone: the other peer's call with us is over.
            this.resumeToken = null;
            this.leaving = true;
            this.ended('signaling could not resume');
            this.ws.close();
          }
          break;
        default:
          break; // pong, resumed, newer types
      }
    }

    ack() {
      if (this.ws && this.ws.readyState === WebSocket.OPEN && this.lastSeq > this.ackedSeq) {
        this.ws.send(JSON.stringify({ type: 'ack', seq: this.lastSeq }));
        this.ackedSeq = this.lastSeq;
      }
    }

    // The other peer is known: decide the role and create the peer connection.
    adopt(remoteId) {
      if (this.remoteId || this.closed) return;
      this.remoteId = remoteId;
      this.polite = this.role === 'polite' || (this.role === 'auto' && this.peerId < remoteId);
      this.emit('remote', { peerId: remoteId, polite: this.polite });
      this.createPeerConnection();
    }

    // Sends a signal message to the other peer; while signaling is down it waits, in order.
    signal(data) {
      if (!this.remoteId) return;
      this.outbox.push(data);
      this.flush();
    }

    flush() {
      while (this.outbox.length > 0 && this.joined && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify({ type: 'signal', to: this.remoteId, data: this.outbox.shift() }));
      }
    }

    createPeerConnection() {
      const pc = new RTCPeerConnection({ iceServers: this.iceServers });
      this.pc = pc;
      const state = (what) => () => this.emit('state', { what, value: pc[what] });
      pc.onsignalingstatechange = () => { state('signalingState')(); this.watchTransports(); };
      pc.onicegatheringstatechange = state('iceGatheringState');
      pc.oniceconnectionstatechange = state('iceConnectionState');
      pc.onconnectionstatechange = state('connectionState');
      pc.onicecandidate = ({ candidate }) => {
        if (candidate && candidate.candidate) {
          this.counters.candidatesSent++;
          this.emit('candidate', { side: 'local', candidate: candidate.candidate, ufrag: candidate.usernameFragment });
          this.signal({ type: 'candidate', candidate: candidate.toJSON() });
        } else if (!candidate) {
          this.emit('candidate', { side: 'local', candidate: 'end-of-candidates', ufrag: ufragOf(pc.localDescription) });
          this.signal({ type: 'end-of-candidates', usernameFragment: ufragOf(pc.localDescription) });
        }
      };
      pc.onnegotiationneeded = async () => {
        try {
          this.makingOffer = true;
          await pc.setLocalDescription();
          if (pc.localDescription.type === 'offer') this.counters.offersSent++;
          this.emit('negotiation', { what: 'sent', sdpType: pc.localDescription.type, ufrag: ufragOf(pc.localDescription) });
          this.signal({ type: 'description', description: pc.localDescription.toJSON() });
        } catch (e) {
          this.emit('error', { message: `negotiation: ${e}` });
        } finally {
          this.makingOffer = false;
        }
      };
      pc.ondatachannel = ({ channel }) => {
        if (channel.label === 'chat' && !this.chat) this.chat = channel;
        this.attach(channel);
      };
      const create = this.chatMode === 'create' || (this.chatMode === 'auto' && !this.polite);
      if (create) this.chat = this.createChannel('chat');
    }

    // Creates a data channel (the first one starts negotiation) and follows its events.
    createChannel(label) {
      const dc = this.pc.createDataChannel(label);
      this.attach(dc);
      return dc;
    }

    attach(dc) {
      this.channels.set(dc.label, dc);
      let last = null;
      const state = (value) => {
        if (value === last) return; // a remote channel may already be open when announced
        last = value;
        this.emit('channel', { label: dc.label, state: value });
      };
      state(dc.readyState);
      dc.onopen = () => state('open');
      dc.onclose = () => state('closed');
      dc.onmessage = ({ data }) => {
        this.counters.messagesReceived++;
        this.emit('message', { label: dc.label, data });
      };
    }

    // DTLS and SCTP transports appear with the first description that has them.
    watchTransports() {
      const pc = this.pc;
      if (!pc || !pc.sctp || this.watching) return;
      this.watching = true;
      const dtls = pc.sctp.transport;
      const ice = dtls.iceTransport;
      this.emit('state', { what: 'dtlsState', value: dtls.state });
      dtls.onstatechange = () => this.emit('state', { what: 'dtlsState', value: dtls.state });
      pc.sctp.onstatechange = () => this.emit('state', { what: 'sctpState', value: pc.sctp.state });
      ice.onselectedcandidatepairchange = () => {
        const pair = ice.getSelectedCandidatePair();
        if (!pair) return;
        const at = (c) => `${c.address}:${c.port} ${c.type}`;
        this.emit('selected-pair', { local: at(pair.local), remote: at(pair.remote) });
      };
    }

    enqueue(data) {
      this.queue = this.queue.then(() => this.onSignal(data)).catch((e) => this.emit('error', { message: `signal: ${e}` }));
    }

    async onSignal(msg) {
      const pc = this.pc;
      if (!pc || this.closed) return;
      switch (msg.type) {
        case 'description': {
          const d = msg.description;
          const collision = d.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
          this.ignoreOffer = !this.polite && collision;
          if (d.type === 'offer') this.counters.offersReceived++;
          if (this.ignoreOffer) {
            this.counters.ignoredOffers++;
            this.emit('negotiation', { what: 'glare: ignored the offer (impolite)', sdpType: d.type });
            return;
          }
          if (collision) {
            this.counters.rollbacks++;
            this.emit('negotiation', { what: 'glare: rolled back our offer (polite)', sdpType: d.type });
          }
          this.emit('negotiation', { what: 'received', sdpType: d.type, ufrag: ufragOf(d) });
          await pc.setRemoteDescription(d);
          if (d.type === 'offer') {
            await pc.setLocalDescription();
            this.counters.answersSent++;
            this.emit('negotiation', { what: 'sent', sdpType: pc.localDescription.type, ufrag: ufragOf(pc.localDescription) });
            this.signal({ type: 'description', description: pc.localDescription.toJSON() });
          }
          break;
        }
        case 'candidate': {
          const c = msg.candidate || {};
          this.counters.candidatesReceived++;
          this.emit('candidate', { side: 'remote', candidate: c.candidate || 'end-of-candidates', ufrag: c.usernameFragment || null });
          try {
            await pc.addIceCandidate(c);
          } catch (e) {
            if (!this.ignoreOffer) this.emit('error', { message: `addIceCandidate: ${e}` });
          }
          break;
        }
        case 'end-of-candidates': {
          this.emit('candidate', { side: 'remote', candidate: 'end-of-candidates', ufrag: msg.usernameFragment || null });
          // A late one of a generation an ICE restart replaced says nothing about the current one.
          if (msg.usernameFragment && msg.usernameFragment !== ufragOf(pc.remoteDescription)) break;
          try {
            if (msg.sdpMid != null) {
              await pc.addIceCandidate({ candidate: '', sdpMid: msg.sdpMid, usernameFragment: msg.usernameFragment || undefined });
            } else {
              await pc.addIceCandidate();
            }
          } catch (e) {
            // Only a hint that lets ICE fail sooner: not worth an error.
          }
          break;
        }
        case 'bye':
          this.ended(msg.reason || 'the peer hung up');
          break;
        default:
          break; // a newer peer: ignore what is not understood
      }
    }

    // Drops the signaling WebSocket as a network failure would (it then resumes by itself).
    dropSignaling() {
      if (this.ws) this.ws.close(4000, 'dropped on purpose');
    }

    // Holds incoming signal messages until resumeIncoming() (to stage glare in tests).
    pauseIncoming() { this.paused = true; }

    resumeIncoming() {
      this.paused = false;
      const held = this.held;
      this.held = [];
      for (const data of held) this.enqueue(data);
    }

    send(text, label) {
      const dc = label ? this.channels.get(label) : this.chat;
      if (!dc || dc.readyState !== 'open') throw new Error('the chat channel is not open');
      dc.send(text);
      this.counters.messagesSent++;
    }

    restartIce() {
      if (!this.pc) throw new Error('no peer connection yet');
      this.emit('negotiation', { what: 'restartIce() requested' });
      this.pc.restartIce();
    }

    // A summary of getStats(): the selected pair, RTT, bytes, DTLS/ICE states and ufrags.
    async stats() {
      const pc = this.pc;
      if (!pc) return null;
      const report = await pc.getStats();
      let transport = null;
      const channels = [];
      report.forEach((s) => {
        if (s.type === 'transport') transport = s;
        if (s.type === 'data-channel') channels.push({ label: s.label, state: s.state, messagesSent: s.messagesSent, messagesReceived: s.messagesReceived, bytesSent: s.bytesSent, bytesReceived: s.bytesReceived });
      });
      const pair = transport && transport.selectedCandidatePairId ? report.get(transport.selectedCandidatePairId) : null;
      const cand = (id) => {
        const c = id ? report.get(id) : null;
        return c ? { address: c.address || c.ip, port: c.port, type: c.candidateType, protocol: c.protocol, ufrag: c.usernameFragment || null } : null;
      };
      return {
        selectedPairId: transport ? transport.selectedCandidatePairId || null : null,
        local: pair ? cand(pair.localCandidateId) : null,
        remote: pair ? cand(pair.remoteCandidateId) : null,
        rttMs: pair && pair.currentRoundTripTime != null ? pair.currentRoundTripTime * 1000 : null,
        bytesSent: transport ? transport.bytesSent : 0,
        bytesReceived: transport ? transport.bytesReceived : 0,
        packetsSent: transport ? transport.packetsSent : 0,
        packetsReceived: transport ? transport.packetsReceived : 0,
        dtlsState: transport ? transport.dtlsState : null,
        iceState: transport ? transport.iceState : null,
        iceRole: transport ? transport.iceRole || null : null,
        selectedPairChanges: transport ? transport.selectedCandidatePairChanges : null,
        localUfrag: ufragOf(pc.localDescription),
        remoteUfrag: ufragOf(pc.remoteDescription),
        signalingState: pc.signalingState,
        connectionState: pc.connectionState,
        channels,
      };
    }

    ended(reason) {
      if (this.closed) return;
      this.closed = true;
      if (this.pc) this.pc.close();
      this.emit('bye', { reason });
    }

    // Hangs up: `bye` to the peer, the peer connection closes, we leave the room.
    hangup() {
      if (!this.closed) this.signal({ type: 'bye', reason: 'hung up' });
      this.leaving = true;
      clearInterval(this.ackTimer);
      this.ended('we hung up');
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'bye' }));
    }
  }

  global.TetherCall = TetherCall;
})(typeof window !== 'undefined' ? window : globalThis);
