//! The parsed form of a session description: only what Tether negotiates, typed.

use std::fmt;

use crate::candidate::Candidate;
use crate::ice::IceCredentials;

/// `a=setup` (RFC 4145 / RFC 8842).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setup {
    /// `actpass`: the offerer lets the answerer choose.
    ActPass,
    /// `active`: this side is the DTLS client.
    Active,
    /// `passive`: this side is the DTLS server.
    Passive,
    /// `holdconn`.
    HoldConn,
}

/// Media direction attribute of an m-section, from the point of view of the SDP's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Direction {
    /// `sendrecv`
    #[default]
    SendRecv,
    /// `sendonly`
    SendOnly,
    /// `recvonly`
    RecvOnly,
    /// `inactive`
    Inactive,
}

/// What an m-section carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// `m=audio`
    Audio,
    /// `m=video`
    Video,
    /// `m=application` (SCTP data channels).
    Application,
}

/// A DTLS certificate fingerprint (`a=fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// Hash function name, lower case (`sha-256`).
    pub algorithm: String,
    /// Digest bytes.
    pub value: Vec<u8>,
}

/// One payload type of an audio/video m-section (`a=rtpmap`, `a=fmtp`, `a=rtcp-fb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name as written (`opus`, `VP8`, `H264`, `rtx`, ...).
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channels (audio), if given.
    pub channels: Option<u16>,
    /// `a=fmtp` parameters, verbatim (`minptime=10;useinbandfec=1`).
    pub fmtp: Option<String>,
    /// `a=rtcp-fb` values (`nack`, `nack pli`, `ccm fir`, `transport-cc`, ...).
    pub rtcp_fb: Vec<String>,
}

/// `a=extmap` (RFC 8285).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extmap {
    /// Extension id (1-255).
    pub id: u16,
    /// Optional direction.
    pub direction: Option<Direction>,
    /// Extension URI.
    pub uri: String,
}

/// `a=ssrc-group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    /// Semantics (`FID`, `SIM`, ...).
    pub semantics: String,
    /// SSRCs in the group.
    pub ssrcs: Vec<u32>,
}

/// `a=msid` (RFC 8830).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msid {
    /// Stream id (`-` for none).
    pub stream: String,
    /// Track id, if given.
    pub track: Option<String>,
}

/// One m-section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDesc {
    /// Media kind.
    pub kind: MediaKind,
    /// `a=mid`.
    pub mid: String,
    /// Port of the m= line; 0 means the section is rejected or stopped.
    pub port: u16,
    /// Protocol of the m= line (`UDP/TLS/RTP/SAVPF`, `UDP/DTLS/SCTP`, ...).
    pub protocol: String,
    /// ICE credentials (media-level, or inherited from session level).
    pub ice: Option<IceCredentials>,
    /// `a=ice-options:trickle` (media or session level).
    pub trickle: bool,
    /// Fingerprints (media-level, or inherited from session level).
    pub fingerprints: Vec<Fingerprint>,
    /// `a=setup`.
    pub setup: Option<Setup>,
    /// Direction attribute (default sendrecv).
    pub direction: Direction,
    /// `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// `a=rtcp-rsize`.
    pub rtcp_rsize: bool,
    /// Codecs in preference order (audio/video only).
    pub codecs: Vec<Codec>,
    /// Header extensions.
    pub extmaps: Vec<Extmap>,
    /// `a=msid`, if any.
    pub msid: Option<Msid>,
    /// SSRCs announced with `a=ssrc:<ssrc> cname:` (deduplicated, in order).
    pub ssrcs: Vec<u32>,
    /// `a=ssrc-group` lines.
    pub ssrc_groups: Vec<SsrcGroup>,
    /// CNAME from the `a=ssrc` lines, if any.
    pub cname: Option<String>,
    /// `a=sctp-port` (application sections).
    pub sctp_port: Option<u16>,
    /// `a=max-message-size` (application sections).
    pub max_message_size: Option<u64>,
    /// Candidates present in the section.
    pub candidates: Vec<Candidate>,
    /// `a=end-of-candidates`.
    pub end_of_candidates: bool,
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDesc {
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version: grows with every new description of a session.
    pub session_version: u64,
    /// `a=group:BUNDLE` groups (mids).
    pub bundle_groups: Vec<Vec<String>>,
    /// `a=ice-lite`.
    pub ice_lite: bool,
    /// `a=extmap-allow-mixed`.
    pub extmap_allow_mixed: bool,
    /// The m-sections in order.
    pub media: Vec<MediaDesc>,
}

impl SessionDesc {
    /// The m-section with this mid.
    pub fn media_by_mid(&self, mid: &str) -> Option<&MediaDesc> {
        self.media.iter().find(|m| m.mid == mid)
    }

    /// The BUNDLE group that contains `mid`, if any.
    pub fn bundle_group_of(&self, mid: &str) -> Option<&[String]> {
        self.bundle_groups
            .iter()
            .find(|g| g.iter().any(|m| m == mid))
            .map(|g| g.as_slice())
    }
}

impl Setup {
    /// The SDP token (`actpass`, `active`, `passive`, `holdconn`).
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::ActPass => "actpass",
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::HoldConn => "holdconn",
        }
    }

    /// Parses the SDP token (case-insensitive).
    pub fn from_token(token: &str) -> Option<Self> {
        [
            Setup::ActPass,
            Setup::Active,
            Setup::Passive,
            Setup::HoldConn,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(token))
    }
}

impl Direction {
    /// The SDP attribute name (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses the SDP attribute name (case-sensitive, as RFC 8866 specifies).
    pub fn from_token(token: &str) -> Option<Self> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str() == token)
    }
}

impl MediaKind {
    /// The media token of the m= line (`audio`, `video`, `application`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Application => "application",
        }
    }

    /// Does this kind carry RTP (audio or video)?
    pub fn is_rtp(self) -> bool {
        matches!(self, MediaKind::Audio | MediaKind::Video)
    }
}

impl Fingerprint {
    /// Hash functions accepted in `a=fingerprint`, with their digest lengths in bytes.
    pub const ALGORITHMS: [(&'static str, usize); 5] = [
        ("sha-1", 20),
        ("sha-224", 28),
        ("sha-256", 32),
        ("sha-384", 48),
        ("sha-512", 64),
    ];

    /// The digest as upper-case hex pairs joined by colons (`AB:CD:...`), as SDP writes it.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(self.value.len() * 3);
        for (i, byte) in self.value.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(&format!("{byte:02X}"));
        }
        out
    }

    /// Parses the value of an `a=fingerprint` attribute (`sha-256 AB:CD:...`).
    ///
    /// The algorithm is lower-cased and must be one of [`Fingerprint::ALGORITHMS`], with a digest
    /// of the matching length.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split_ascii_whitespace();
        let algorithm = parts.next()?.to_ascii_lowercase();
        let hex = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let expected = Self::ALGORITHMS
            .iter()
            .find(|(name, _)| *name == algorithm)?
            .1;
        let value = hex
            .split(':')
            .map(|pair| {
                if pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                    u8::from_str_radix(pair, 16).ok()
                } else {
                    None
                }
            })
            .collect::<Option<Vec<u8>>>()?;
        (value.len() == expected).then_some(Fingerprint { algorithm, value })
    }
}

impl fmt::Display for Fingerprint {
    /// Writes `<algorithm> <HEX:HEX:...>`, the value of `a=fingerprint`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm, self.hex())
    }
}

impl Codec {
    /// The value of one `a=fmtp` parameter (`apt`, `profile-level-id`, ...), if present.
    ///
    /// Parameter names are compared case-insensitively.
    pub fn fmtp_param(&self, name: &str) -> Option<&str> {
        self.fmtp.as_deref()?.split(';').find_map(|param| {
            let (key, value) = param.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}
