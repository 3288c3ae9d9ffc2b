//! Data channels: the registry of a session's channels, their SCTP stream ids and W3C states.
//!
//! Stream ids follow RFC 8832: the DTLS client uses even ids, the DTLS server odd ids, so the
//! two peers never pick the same id for in-band (DCEP) channels. Negotiated channels
//! (`negotiated: Some(id)`) take the id the application chose, of either parity. Id 65535 is
//! reserved. A closed channel's stream id is free again.

use std::collections::BTreeMap;

use crate::transport::DtlsRole;

/// The largest valid SCTP stream id for a data channel (65535 is reserved).
const MAX_STREAM_ID: u16 = 65534;
/// Labels and protocols are carried in DCEP with a 16-bit length.
const MAX_STRING_LEN: usize = 65535;
/// At most this many channels can be live at once: one per valid stream id.
const MAX_LIVE_CHANNELS: usize = MAX_STREAM_ID as usize + 1;

/// Identifies a data channel within its session. Stable for the session's lifetime and never
/// reused, unlike SCTP stream ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub(crate) u32);

impl ChannelId {
    /// The channel's index: channels are numbered from 0 in creation order.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// Options of a new data channel (W3C `RTCDataChannelInit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelInit {
    /// Deliver messages in order.
    pub ordered: bool,
    /// Partial reliability: give up retransmitting a message after this many milliseconds.
    /// Exclusive with `max_retransmits`.
    pub max_packet_life_time: Option<u16>,
    /// Partial reliability: give up after this many retransmissions. Exclusive with
    /// `max_packet_life_time`.
    pub max_retransmits: Option<u16>,
    /// Subprotocol name (at most 65535 bytes).
    pub protocol: String,
    /// `Some(id)`: the channel is negotiated out of band on SCTP stream `id` (no DCEP); both
    /// peers must create it with the same id.
    pub negotiated: Option<u16>,
}

impl Default for DataChannelInit {
    fn default() -> Self {
        Self {
            ordered: true,
            max_packet_life_time: None,
            max_retransmits: None,
            protocol: String::new(),
            negotiated: None,
        }
    }
}

/// W3C `RTCDataChannelState`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataChannelState {
    /// Created; waiting for the SCTP association (and DCEP ack for in-band channels).
    Connecting,
    /// Messages can be sent.
    Open,
    /// Closing: the stream is being reset.
    Closing,
    /// Closed. Terminal.
    Closed,
}

/// A data channel as the session knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelInfo {
    /// Session-local identity.
    pub id: ChannelId,
    /// The label given at creation.
    pub label: String,
    /// The options given at creation (or announced by the peer in DCEP).
    pub init: DataChannelInit,
    /// SCTP stream id; `None` until the DTLS role is known and ids are assigned.
    pub stream_id: Option<u16>,
    /// Current state.
    pub state: DataChannelState,
    /// Opened by the remote peer.
    pub remote: bool,
}

/// Why a data channel cannot be created or accepted.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataChannelError {
    /// The label is longer than 65535 bytes (the length given).
    #[error("data channel label is {0} bytes, the limit is 65535")]
    LabelTooLong(usize),
    /// The protocol is longer than 65535 bytes (the length given).
    #[error("data channel protocol is {0} bytes, the limit is 65535")]
    ProtocolTooLong(usize),
    /// Both `max_packet_life_time` and `max_retransmits` were set (W3C `TypeError`).
    #[error("max_packet_life_time and max_retransmits are mutually exclusive")]
    ConflictingReliability,
    /// The stream id is out of range (65535 is reserved).
    #[error("stream id {0} is reserved")]
    InvalidStreamId(u16),
    /// A live channel already uses this stream id.
    #[error("stream id {0} is already in use")]
    StreamIdInUse(u16),
    /// The remote peer opened a channel on a stream id of our parity (RFC 8832).
    #[error("the peer opened stream id {0}, which has our parity")]
    WrongParity(u16),
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// No stream id (or channel identity) is left.
    #[error("too many data channels")]
    TooManyChannels,
}

/// Closed channels remembered for [`Channels::get`]; older ones are forgotten.
pub(crate) const MAX_CLOSED_KEPT: usize = 64;

/// The registry of a session's data channels.
#[derive(Debug, Clone, Default)]
pub(crate) struct Channels {
    /// Every channel ever created, in creation order (ids are increasing).
    channels: BTreeMap<ChannelId, DataChannelInfo>,
    /// Stream ids of the channels that are not closed.
    by_stream: BTreeMap<u16, ChannelId>,
    /// Number of channels that are not closed.
    live: usize,
    /// Index of the next channel.
    next_index: u32,
}

impl Channels {
    /// Registers a local channel. A negotiated channel gets its stream id now; any other waits
    /// for [`Channels::assign_stream_ids`].
    pub(crate) fn create(
        &mut self,
        label: &str,
        init: DataChannelInit,
    ) -> Result<ChannelId, DataChannelError> {
        validate(label, &init)?;
        if let Some(stream_id) = init.negotiated {
            self.check_free(stream_id)?;
        }
        let stream_id = init.negotiated;
        self.insert(
            label.to_owned(),
            init,
            stream_id,
            DataChannelState::Connecting,
            false,
        )
    }

    /// Gives every live channel that has no stream id yet the smallest free id of `role`'s
    /// parity (client even, server odd; RFC 8832). Returns the channels that got an id, in
    /// creation order. A channel for which no id is left is closed instead.
    pub(crate) fn assign_stream_ids(&mut self, role: DtlsRole) -> Vec<ChannelId> {
        let mut assigned = Vec::new();
        // Ids are only taken during this loop, so the smallest free id never goes down.
        let mut candidate: u32 = parity(role).into();
        let pending: Vec<ChannelId> = self
            .channels
            .values()
            .filter(|c| c.stream_id.is_none() && c.state != DataChannelState::Closed)
            .map(|c| c.id)
            .collect();
        for id in pending {
            while candidate <= u32::from(MAX_STREAM_ID)
                && self.by_stream.contains_key(&(candidate as u16))
            {
                candidate += 2;
            }
            if candidate > u32::from(MAX_STREAM_ID) {
                self.set_state(id, DataChannelState::Closed);
                continue;
            }
            let stream_id = candidate as u16;
            if let Some(info) = self.channels.get_mut(&id) {
                info.stream_id = Some(stream_id);
            }
            self.by_stream.insert(stream_id, id);
            assigned.push(id);
        }
        assigned
    }

    /// Registers a channel the remote peer opened in band (DCEP) on `stream_id`. The peer must
    /// use the parity opposite to `local_role`'s and a free id. The channel is `Open`.
    pub(crate) fn remote_opened(
        &mut self,
        stream_id: u16,
        label: String,
        init: DataChannelInit,
        local_role: DtlsRole,
    ) -> Result<ChannelId, DataChannelError> {
        validate(&label, &init)?;
        if stream_id > MAX_STREAM_ID {
            return Err(DataChannelError::InvalidStreamId(stream_id));
        }
        if stream_id % 2 == parity(local_role) {
            return Err(DataChannelError::WrongParity(stream_id));
        }
        self.check_free(stream_id)?;
        self.insert(label, init, Some(stream_id), DataChannelState::Open, true)
    }

    /// Moves a channel to `state`. Returns whether anything changed: an unknown channel, the
    /// same state, or a closed channel (closed is terminal) change nothing.
    pub(crate) fn set_state(&mut self, id: ChannelId, state: DataChannelState) -> bool {
        let Some(info) = self.channels.get_mut(&id) else {
            return false;
        };
        if info.state == state || info.state == DataChannelState::Closed {
            return false;
        }
        info.state = state;
        if state == DataChannelState::Closed {
            self.live -= 1;
            if let Some(stream_id) = info.stream_id {
                if self.by_stream.get(&stream_id) == Some(&id) {
                    self.by_stream.remove(&stream_id);
                }
            }
            self.forget_old_closed();
        }
        true
    }

    /// Keeps at most [`MAX_CLOSED_KEPT`] closed channels (the newest), so a long session that
    /// opens and closes channels does not grow without bound.
    fn forget_old_closed(&mut self) {
        let mut closed = self.channels.len() - self.live;
        while closed > MAX_CLOSED_KEPT {
            let oldest = self
                .channels
                .values()
                .find(|c| c.state == DataChannelState::Closed)
                .map(|c| c.id);
            match oldest {
                Some(id) => {
                    self.channels.remove(&id);
                    closed -= 1;
                }
                None => break,
            }
        }
    }

    /// The live (not closed) channel on `stream_id`.
    pub(crate) fn by_stream_id(&self, stream_id: u16) -> Option<ChannelId> {
        self.by_stream.get(&stream_id).copied()
    }

    /// A channel by id, closed ones included.
    pub(crate) fn get(&self, id: ChannelId) -> Option<&DataChannelInfo> {
        self.channels.get(&id)
    }

    /// Every channel, closed ones included, in creation order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &DataChannelInfo> {
        self.channels.values()
    }

    /// Closes every channel that is not closed yet; returns those, in creation order.
    pub(crate) fn close_all(&mut self) -> Vec<ChannelId> {
        let ids: Vec<ChannelId> = self
            .channels
            .values()
            .filter(|c| c.state != DataChannelState::Closed)
            .map(|c| c.id)
            .collect();
        for id in &ids {
            self.set_state(*id, DataChannelState::Closed);
        }
        ids
    }

    /// Number of channels, closed ones included.
    #[allow(dead_code)] // Part of the API the session may call; tests use it.
    pub(crate) fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether no channel was ever created.
    pub(crate) fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    fn check_free(&self, stream_id: u16) -> Result<(), DataChannelError> {
        if stream_id > MAX_STREAM_ID {
            Err(DataChannelError::InvalidStreamId(stream_id))
        } else if self.by_stream.contains_key(&stream_id) {
            Err(DataChannelError::StreamIdInUse(stream_id))
        } else {
            Ok(())
        }
    }

    fn insert(
        &mut self,
        label: String,
        init: DataChannelInit,
        stream_id: Option<u16>,
        state: DataChannelState,
        remote: bool,
    ) -> Result<ChannelId, DataChannelError> {
        if self.live >= MAX_LIVE_CHANNELS {
            return Err(DataChannelError::TooManyChannels);
        }
        let id = ChannelId(self.next_index);
        self.next_index = self
            .next_index
            .checked_add(1)
            .ok_or(DataChannelError::TooManyChannels)?;
        if let Some(stream_id) = stream_id {
            self.by_stream.insert(stream_id, id);
        }
        self.channels.insert(
            id,
            DataChannelInfo {
                id,
                label,
                init,
                stream_id,
                state,
                remote,
            },
        );
        self.live += 1;
        Ok(id)
    }
}

/// Checks what W3C `createDataChannel` checks on the label and options.
fn validate(label: &str, init: &DataChannelInit) -> Result<(), DataChannelError> {
    if label.len() > MAX_STRING_LEN {
        return Err(DataChannelError::LabelTooLong(label.len()));
    }
    if init.protocol.len() > MAX_STRING_LEN {
        return Err(DataChannelError::ProtocolTooLong(init.protocol.len()));
    }
    if init.max_packet_life_time.is_some() && init.max_retransmits.is_some() {
        return Err(DataChannelError::ConflictingReliability);
    }
    Ok(())
}

/// The parity of the stream ids a DTLS role allocates: 0 for the client, 1 for the server.
fn parity(role: DtlsRole) -> u16 {
    match role {
        DtlsRole::Client => 0,
        DtlsRole::Server => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn negotiated(id: u16) -> DataChannelInit {
        DataChannelInit {
            negotiated: Some(id),
            ..DataChannelInit::default()
        }
    }

    #[test]
    fn default_init() {
        let init = DataChannelInit::default();
        assert!(init.ordered);
        assert_eq!(init.max_packet_life_time, None);
        assert_eq!(init.max_retransmits, None);
        assert!(init.protocol.is_empty());
        assert_eq!(init.negotiated, None);
    }

    #[test]
    fn ids_are_indices_in_creation_order() {
        let mut ch = Channels::default();
        assert!(ch.is_empty());
        let a = ch.create("a", DataChannelInit::default()).unwrap();
        let b = ch.create("b", DataChannelInit::default()).unwrap();
        assert_eq!((a.index(), b.index()), (0, 1));
        assert_eq!(ch.len(), 2);
        let info = ch.get(a).unwrap();
        assert_eq!(info.label, "a");
        assert_eq!(info.stream_id, None);
        assert_eq!(info.state, DataChannelState::Connecting);
        assert!(!info.remote);
    }

    #[test]
    fn client_gets_even_server_gets_odd() {
        let mut client = Channels::default();
        let mut server = Channels::default();
        for _ in 0..3 {
            client.create("c", DataChannelInit::default()).unwrap();
            server.create("s", DataChannelInit::default()).unwrap();
        }
        let ids = client.assign_stream_ids(DtlsRole::Client);
        assert_eq!(ids.len(), 3);
        let got: Vec<_> = client.iter().map(|c| c.stream_id).collect();
        assert_eq!(got, vec![Some(0), Some(2), Some(4)]);
        server.assign_stream_ids(DtlsRole::Server);
        let got: Vec<_> = server.iter().map(|c| c.stream_id).collect();
        assert_eq!(got, vec![Some(1), Some(3), Some(5)]);
        // Assigning again does nothing.
        assert!(client.assign_stream_ids(DtlsRole::Client).is_empty());
    }

    #[test]
    fn assignment_skips_negotiated_ids_and_keeps_creation_order() {
        let mut ch = Channels::default();
        let a = ch.create("a", DataChannelInit::default()).unwrap();
        let n = ch.create("n", negotiated(0)).unwrap();
        let b = ch.create("b", DataChannelInit::default()).unwrap();
        assert_eq!(ch.get(n).unwrap().stream_id, Some(0));
        assert_eq!(ch.by_stream_id(0), Some(n));
        assert_eq!(ch.assign_stream_ids(DtlsRole::Client), vec![a, b]);
        assert_eq!(ch.get(a).unwrap().stream_id, Some(2));
        assert_eq!(ch.get(b).unwrap().stream_id, Some(4));
    }

    #[test]
    fn closed_stream_ids_are_reused() {
        let mut ch = Channels::default();
        let a = ch.create("a", DataChannelInit::default()).unwrap();
        let b = ch.create("b", DataChannelInit::default()).unwrap();
        ch.assign_stream_ids(DtlsRole::Server);
        assert_eq!(ch.get(a).unwrap().stream_id, Some(1));
        assert!(ch.set_state(a, DataChannelState::Closed));
        assert_eq!(ch.by_stream_id(1), None);
        let c = ch.create("c", DataChannelInit::default()).unwrap();
        assert_eq!(ch.assign_stream_ids(DtlsRole::Server), vec![c]);
        assert_eq!(ch.get(c).unwrap().stream_id, Some(1));
        assert_eq!(ch.by_stream_id(1), Some(c));
        assert_eq!(ch.by_stream_id(3), Some(b));
        // The closed channel keeps its history.
        assert_eq!(ch.get(a).unwrap().state, DataChannelState::Closed);
        // A negotiated channel can take a freed id too.
        assert!(ch.set_state(b, DataChannelState::Closed));
        assert!(ch.create("n", negotiated(3)).is_ok());
    }

    #[test]
    fn negotiated_validation() {
        let mut ch = Channels::default();
        assert_eq!(
            ch.create("x", negotiated(65535)),
            Err(DataChannelError::InvalidStreamId(65535))
        );
        ch.create("x", negotiated(65534)).unwrap();
        ch.create("y", negotiated(7)).unwrap();
        assert_eq!(
            ch.create("z", negotiated(7)),
            Err(DataChannelError::StreamIdInUse(7))
        );
        // Negotiated ids ignore parity.
        ch.create("w", negotiated(8)).unwrap();
        assert_eq!(ch.len(), 3);
    }

    #[test]
    fn create_errors() {
        let mut ch = Channels::default();
        let long = "x".repeat(65536);
        assert_eq!(
            ch.create(&long, DataChannelInit::default()),
            Err(DataChannelError::LabelTooLong(65536))
        );
        assert!(ch
            .create(&"x".repeat(65535), DataChannelInit::default())
            .is_ok());
        let init = DataChannelInit {
            protocol: long,
            ..DataChannelInit::default()
        };
        assert_eq!(
            ch.create("a", init),
            Err(DataChannelError::ProtocolTooLong(65536))
        );
        let init = DataChannelInit {
            max_packet_life_time: Some(100),
            max_retransmits: Some(3),
            ..DataChannelInit::default()
        };
        assert_eq!(
            ch.create("a", init),
            Err(DataChannelError::ConflictingReliability)
        );
        // Failed creations register nothing.
        assert_eq!(ch.len(), 1);
    }

    #[test]
    fn remote_opened_checks_parity_and_use() {
        let mut ch = Channels::default();
        let init = DataChannelInit::default();
        // We are the client (even): the peer must use odd ids.
        assert_eq!(
            ch.remote_opened(2, "r".into(), init.clone(), DtlsRole::Client),
            Err(DataChannelError::WrongParity(2))
        );
        let r = ch
            .remote_opened(1, "r".into(), init.clone(), DtlsRole::Client)
            .unwrap();
        let info = ch.get(r).unwrap();
        assert!(info.remote);
        assert_eq!(info.state, DataChannelState::Open);
        assert_eq!(info.stream_id, Some(1));
        assert_eq!(
            ch.remote_opened(1, "r".into(), init.clone(), DtlsRole::Client),
            Err(DataChannelError::StreamIdInUse(1))
        );
        assert_eq!(
            ch.remote_opened(65535, "r".into(), init.clone(), DtlsRole::Client),
            Err(DataChannelError::InvalidStreamId(65535))
        );
        // A negotiated channel of the other parity blocks the peer's id.
        ch.create("n", negotiated(3)).unwrap();
        assert_eq!(
            ch.remote_opened(3, "r".into(), init.clone(), DtlsRole::Client),
            Err(DataChannelError::StreamIdInUse(3))
        );
        // We are the server (odd): the peer must use even ids.
        let mut server = Channels::default();
        assert_eq!(
            server.remote_opened(1, "r".into(), init.clone(), DtlsRole::Server),
            Err(DataChannelError::WrongParity(1))
        );
        assert!(server
            .remote_opened(0, "r".into(), init, DtlsRole::Server)
            .is_ok());
    }

    #[test]
    fn set_state_rules() {
        let mut ch = Channels::default();
        let a = ch.create("a", negotiated(4)).unwrap();
        assert!(!ch.set_state(a, DataChannelState::Connecting));
        assert!(ch.set_state(a, DataChannelState::Open));
        assert!(ch.set_state(a, DataChannelState::Closing));
        assert_eq!(ch.by_stream_id(4), Some(a));
        assert!(ch.set_state(a, DataChannelState::Closed));
        assert_eq!(ch.by_stream_id(4), None);
        assert!(!ch.set_state(a, DataChannelState::Open));
        assert!(!ch.set_state(a, DataChannelState::Closed));
        assert_eq!(ch.get(a).unwrap().state, DataChannelState::Closed);
        assert!(!ch.set_state(ChannelId(99), DataChannelState::Open));
    }

    #[test]
    fn closed_channels_are_forgotten_beyond_the_cap() {
        let mut ch = Channels::default();
        let mut ids = Vec::new();
        for i in 0..(MAX_CLOSED_KEPT + 10) {
            let id = ch.create(&format!("c{i}"), negotiated(i as u16)).unwrap();
            ch.set_state(id, DataChannelState::Closed);
            ids.push(id);
        }
        let live = ch.create("live", DataChannelInit::default()).unwrap();
        assert_eq!(ch.len(), MAX_CLOSED_KEPT + 1);
        assert!(
            ch.get(ids[0]).is_none(),
            "the oldest closed channel is forgotten"
        );
        assert!(ch.get(*ids.last().unwrap()).is_some());
        assert!(ch.get(live).is_some());
    }

    #[test]
    fn close_all_closes_live_channels_once() {
        let mut ch = Channels::default();
        let a = ch.create("a", DataChannelInit::default()).unwrap();
        let b = ch.create("b", negotiated(9)).unwrap();
        let c = ch.create("c", DataChannelInit::default()).unwrap();
        ch.set_state(b, DataChannelState::Closed);
        assert_eq!(ch.close_all(), vec![a, c]);
        assert!(ch.iter().all(|c| c.state == DataChannelState::Closed));
        assert!(ch.close_all().is_empty());
        // Closed pending channels never get an id.
        assert!(ch.assign_stream_ids(DtlsRole::Client).is_empty());
    }

    #[test]
    fn exhausted_parity_closes_the_rest() {
        let mut ch = Channels::default();
        // Take every odd id with negotiated channels.
        for id in (1..=65533u16).step_by(2) {
            ch.create("n", negotiated(id)).unwrap();
        }
        let a = ch.create("a", DataChannelInit::default()).unwrap();
        assert!(ch.assign_stream_ids(DtlsRole::Server).is_empty());
        assert_eq!(ch.get(a).unwrap().state, DataChannelState::Closed);
        assert_eq!(ch.get(a).unwrap().stream_id, None);
        // The other parity is still free.
        let b = ch.create("b", DataChannelInit::default()).unwrap();
        assert_eq!(ch.assign_stream_ids(DtlsRole::Client), vec![b]);
        assert_eq!(ch.get(b).unwrap().stream_id, Some(0));
    }

    #[test]
    fn live_channel_cap() {
        let mut ch = Channels::default();
        for id in 0..=65534u16 {
            ch.create("n", negotiated(id)).unwrap();
        }
        assert_eq!(
            ch.create("x", DataChannelInit::default()),
            Err(DataChannelError::TooManyChannels)
        );
        assert!(ch.set_state(ChannelId(10), DataChannelState::Closed));
        assert!(ch.create("x", DataChannelInit::default()).is_ok());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Create(Option<u16>),
        Assign,
        Remote(u16),
        SetState(u32, u8),
        CloseAll,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => proptest::option::of(prop_oneof![0u16..12, 65530u16..=65535]).prop_map(Op::Create),
            1 => Just(Op::Assign),
            2 => prop_oneof![0u16..12, 65533u16..=65535].prop_map(Op::Remote),
            3 => (0u32..24, 0u8..4).prop_map(|(i, s)| Op::SetState(i, s)),
            1 => Just(Op::CloseAll),
        ]
    }

    proptest! {
        /// Against a model that only tracks which stream ids are live: no two live channels
        /// share an id, in-band ids respect RFC 8832 parity, and errors happen exactly when the
        /// model says so.
        #[test]
        fn registry_matches_model(client in any::<bool>(), ops in proptest::collection::vec(op(), 0..60)) {
            let role = if client { DtlsRole::Client } else { DtlsRole::Server };
            let ours = parity(role);
            let mut ch = Channels::default();
            // Model: live stream ids, and which channels are closed.
            let mut live_ids = std::collections::BTreeSet::new();
            let mut created = 0u32;
            for op in ops {
                match op {
                    Op::Create(neg) => {
                        let init = DataChannelInit { negotiated: neg, ..DataChannelInit::default() };
                        let res = ch.create("x", init);
                        match neg {
                            Some(65535) => prop_assert_eq!(res, Err(DataChannelError::InvalidStreamId(65535))),
                            Some(id) if live_ids.contains(&id) => prop_assert_eq!(res, Err(DataChannelError::StreamIdInUse(id))),
                            Some(id) => { prop_assert!(res.is_ok()); live_ids.insert(id); created += 1; }
                            None => { prop_assert!(res.is_ok()); created += 1; }
                        }
                    }
                    Op::Assign => {
                        for id in ch.assign_stream_ids(role) {
                            let sid = ch.get(id).unwrap().stream_id.unwrap();
                            prop_assert_eq!(sid % 2, ours);
                            // The smallest free id of our parity.
                            let smallest = (ours..=MAX_STREAM_ID).step_by(2).find(|i| !live_ids.contains(i));
                            prop_assert_eq!(Some(sid), smallest);
                            live_ids.insert(sid);
                        }
                        prop_assert!(ch.iter().all(|c| c.state == DataChannelState::Closed || c.stream_id.is_some()));
                    }
                    Op::Remote(sid) => {
                        let res = ch.remote_opened(sid, "r".into(), DataChannelInit::default(), role);
                        if sid == 65535 {
                            prop_assert_eq!(res, Err(DataChannelError::InvalidStreamId(sid)));
                        } else if sid % 2 == ours {
                            prop_assert_eq!(res, Err(DataChannelError::WrongParity(sid)));
                        } else if live_ids.contains(&sid) {
                            prop_assert_eq!(res, Err(DataChannelError::StreamIdInUse(sid)));
                        } else {
                            prop_assert!(res.is_ok());
                            live_ids.insert(sid);
                            created += 1;
                        }
                    }
                    Op::SetState(i, s) => {
                        let state = [DataChannelState::Connecting, DataChannelState::Open, DataChannelState::Closing, DataChannelState::Closed][s as usize];
                        let before = ch.get(ChannelId(i)).cloned();
                        let changed = ch.set_state(ChannelId(i), state);
                        match before {
                            None => prop_assert!(!changed),
                            Some(b) => {
                                prop_assert_eq!(changed, b.state != state && b.state != DataChannelState::Closed);
                                if changed && state == DataChannelState::Closed {
                                    if let Some(sid) = b.stream_id { live_ids.remove(&sid); }
                                }
                            }
                        }
                    }
                    Op::CloseAll => {
                        ch.close_all();
                        live_ids.clear();
                    }
                }
                // Invariants.
                prop_assert_eq!(ch.len(), created as usize);
                let mut seen = std::collections::BTreeSet::new();
                for c in ch.iter().filter(|c| c.state != DataChannelState::Closed) {
                    if let Some(sid) = c.stream_id {
                        prop_assert!(seen.insert(sid), "stream id {} shared", sid);
                        prop_assert_eq!(ch.by_stream_id(sid), Some(c.id));
                        if c.remote {
                            prop_assert_ne!(sid % 2, ours);
                        } else if c.init.negotiated.is_none() {
                            prop_assert_eq!(sid % 2, ours);
                        }
                    }
                }
                prop_assert_eq!(&seen, &live_ids);
                for c in ch.iter().filter(|c| c.state == DataChannelState::Closed) {
                    if let Some(sid) = c.stream_id {
                        prop_assert_ne!(ch.by_stream_id(sid), Some(c.id));
                    }
                }
            }
        }
    }
}
