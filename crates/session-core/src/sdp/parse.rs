//! SDP text to [`SessionDesc`].
//!
//! The `sdp` crate does the line grammar; this module turns its attribute lists into the typed
//! model and checks what JSEP needs (mids, ICE credentials, fingerprints, setup, BUNDLE).
//!
//! Transport attributes (ICE credentials, fingerprints, setup) are looked up at media level, then
//! at session level, then (for m-sections bundled into a group whose tagged m-section is live)
//! in the group's tagged m-section. Rejected m-sections (port 0, not `a=bundle-only` in a live
//! group) may lack them.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

use sdp::description::common::Attribute;
use sdp::description::media::MediaDescription;
use sdp::description::session::SessionDescription;

use super::{
    Codec, Direction, Extmap, Fingerprint, MediaDesc, MediaKind, Msid, SdpError, SessionDesc,
    Setup, SsrcGroup, MAX_SDP_LEN,
};
use crate::candidate::{truncate_for_error, Candidate};
use crate::ice::IceCredentials;

/// Parses and validates an SDP (untrusted input: never panics).
pub fn parse(sdp: &str) -> Result<SessionDesc, SdpError> {
    if sdp.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge(sdp.len()));
    }
    let raw = unmarshal(sdp)?;
    build(&raw)
}

/// Runs the `sdp` crate's parser, turning its errors and any panic into [`SdpError::Syntax`].
fn unmarshal(sdp: &str) -> Result<SessionDescription, SdpError> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes()))
    }));
    match result {
        Ok(Ok(desc)) => Ok(desc),
        Ok(Err(e)) => Err(SdpError::Syntax(truncate_for_error(&e.to_string()))),
        Err(_) => Err(SdpError::Syntax("SDP parser panicked".into())),
    }
}

/// Attribute lookups over one attribute list.
struct Attrs<'a>(&'a [Attribute]);

impl<'a> Attrs<'a> {
    /// Values of every `a=<key>:<value>` (an attribute without a value yields `""`).
    fn values(&self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |a| a.key == key)
            .map(|a| a.value.as_deref().unwrap_or("").trim())
    }

    /// The first value of `key`.
    fn first(&self, key: &'a str) -> Option<&'a str> {
        self.values(key).next()
    }

    /// Is `a=<key>` present (with or without a value)?
    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|a| a.key == key)
    }
}

fn invalid_attr(key: &str, value: &str) -> SdpError {
    SdpError::InvalidAttribute(truncate_for_error(&format!("{key}:{value}")))
}

/// Parses a decimal number made only of ASCII digits.
fn number<T: FromStr>(key: &str, value: &str) -> Result<T, SdpError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_attr(key, value));
    }
    value.parse().map_err(|_| invalid_attr(key, value))
}

/// Is `mid` 1-32 RFC 8866 token characters?
pub(crate) fn is_valid_mid(mid: &str) -> bool {
    is_token(mid, 32)
}

/// Is `s` 1 to `max` RFC 8866 token characters?
fn is_token(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'{'
                        | b'|'
                        | b'}'
                        | b'~'
                )
        })
}

/// Transport attributes of one level (session or media), parsed but not yet required.
#[derive(Default, Clone)]
struct Transport {
    ufrag: Option<String>,
    pwd: Option<String>,
    fingerprints: Vec<Fingerprint>,
    setup: Option<Setup>,
    trickle: bool,
}

impl Transport {
    /// Reads one level's attributes; `mid` names the m-section in errors (empty at session level).
    fn read(attrs: &Attrs<'_>, mid: &str) -> Result<Self, SdpError> {
        let fingerprints = attrs
            .values("fingerprint")
            .map(|v| {
                Fingerprint::parse(v)
                    .ok_or_else(|| SdpError::InvalidFingerprint(truncate_for_error(v)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let setup = attrs
            .first("setup")
            .map(|v| {
                Setup::from_token(v).ok_or_else(|| SdpError::InvalidSetup {
                    mid: mid.to_owned(),
                })
            })
            .transpose()?;
        Ok(Transport {
            ufrag: attrs.first("ice-ufrag").map(str::to_owned),
            pwd: attrs.first("ice-pwd").map(str::to_owned),
            fingerprints,
            setup,
            trickle: has_trickle(attrs),
        })
    }

    /// Fills what `self` lacks from `other`.
    fn inherit(&mut self, other: &Transport) {
        if self.ufrag.is_none() {
            self.ufrag.clone_from(&other.ufrag);
        }
        if self.pwd.is_none() {
            self.pwd.clone_from(&other.pwd);
        }
        if self.fingerprints.is_empty() {
            self.fingerprints.clone_from(&other.fingerprints);
        }
        if self.setup.is_none() {
            self.setup = other.setup;
        }
        self.trickle |= other.trickle;
    }
}

fn build(raw: &SessionDescription) -> Result<SessionDesc, SdpError> {
    let session = Attrs(&raw.attributes);

    // Kinds and mids first: everything else refers to m-sections by mid.
    let mut kinds = Vec::with_capacity(raw.media_descriptions.len());
    let mut mids: Vec<String> = Vec::with_capacity(raw.media_descriptions.len());
    let mut mid_index: BTreeMap<String, usize> = BTreeMap::new();
    for (index, md) in raw.media_descriptions.iter().enumerate() {
        let kind = media_kind(md)?;
        let attrs = Attrs(&md.attributes);
        let mid = attrs.first("mid").ok_or(SdpError::MissingMid { index })?;
        if !is_valid_mid(mid) {
            return Err(SdpError::InvalidMid(truncate_for_error(mid)));
        }
        if mid_index.insert(mid.to_owned(), index).is_some() {
            return Err(SdpError::DuplicateMid(mid.to_owned()));
        }
        kinds.push(kind);
        mids.push(mid.to_owned());
    }

    let mut bundle_groups = Vec::new();
    for group in session.values("group") {
        let mut tokens = group.split_ascii_whitespace();
        if tokens.next() != Some("BUNDLE") {
            continue;
        }
        let members: Vec<String> = tokens.map(str::to_owned).collect();
        if let Some(unknown) = members.iter().find(|m| !mid_index.contains_key(*m)) {
            return Err(SdpError::BundleUnknownMid(truncate_for_error(unknown)));
        }
        bundle_groups.push(members);
    }

    let session_transport = Transport::read(&session, "")?;
    let mut transports = Vec::with_capacity(mids.len());
    for (md, mid) in raw.media_descriptions.iter().zip(&mids) {
        let mut t = Transport::read(&Attrs(&md.attributes), mid)?;
        t.inherit(&session_transport);
        transports.push(t);
    }

    // Bundled m-sections inherit transport attributes from their group's tagged m-section when
    // that one is live; `a=bundle-only` sections with port 0 in such a group are live too.
    let port_of = |i: usize| raw.media_descriptions[i].media_name.port.value;
    let index_of = |mid: &str| mid_index.get(mid).copied();
    let mut live: Vec<bool> = (0..mids.len()).map(|i| port_of(i) != 0).collect();
    for group in &bundle_groups {
        let Some(tag) = group.first().and_then(|m| index_of(m)) else {
            continue;
        };
        if port_of(tag) == 0 {
            continue;
        }
        let tag_transport = transports[tag].clone();
        for member in group.iter().skip(1) {
            let Some(i) = index_of(member) else { continue };
            if Attrs(&raw.media_descriptions[i].attributes).has("bundle-only") {
                live[i] = true;
            }
            transports[i].inherit(&tag_transport);
        }
    }

    // Candidates at session level (some non-trickle peers put them there) belong to every
    // section, like the session-level ICE credentials.
    let session_candidates = candidates(&session, "session")?;
    let mut media = Vec::with_capacity(mids.len());
    for (i, md) in raw.media_descriptions.iter().enumerate() {
        media.push(build_media(
            md,
            kinds[i],
            mids[i].clone(),
            &transports[i],
            live[i],
            SessionLevel {
                end_of_candidates: session.has("end-of-candidates"),
                candidates: &session_candidates,
            },
        )?);
    }

    Ok(SessionDesc {
        session_id: raw.origin.session_id,
        session_version: raw.origin.session_version,
        bundle_groups,
        ice_lite: session.has("ice-lite"),
        extmap_allow_mixed: session.has("extmap-allow-mixed")
            || raw
                .media_descriptions
                .iter()
                .any(|md| Attrs(&md.attributes).has("extmap-allow-mixed")),
        media,
    })
}

fn media_kind(md: &MediaDescription) -> Result<MediaKind, SdpError> {
    let name = &md.media_name;
    let kind = match name.media.as_str() {
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        "application" => MediaKind::Application,
        other => return Err(SdpError::UnsupportedMedia(truncate_for_error(other))),
    };
    let has = |p: &str| name.protos.iter().any(|x| x == p);
    let supported = if kind.is_rtp() {
        has("RTP")
    } else {
        has("SCTP")
    };
    if !supported {
        return Err(SdpError::UnsupportedMedia(truncate_for_error(&format!(
            "{} {}",
            name.media,
            name.protos.join("/")
        ))));
    }
    Ok(kind)
}

fn has_trickle(attrs: &Attrs<'_>) -> bool {
    attrs
        .values("ice-options")
        .any(|v| v.split_ascii_whitespace().any(|o| o == "trickle"))
}

/// The `a=candidate` lines of one level of the description (`mid` names it in errors).
fn candidates(attrs: &Attrs<'_>, mid: &str) -> Result<Vec<Candidate>, SdpError> {
    attrs
        .values("candidate")
        .map(|value| {
            Candidate::from_str(&format!("candidate:{value}")).map_err(|source| {
                SdpError::Candidate {
                    mid: mid.to_owned(),
                    source,
                }
            })
        })
        .collect()
}

/// What a media section inherits from session-level candidate attributes.
struct SessionLevel<'a> {
    end_of_candidates: bool,
    candidates: &'a [Candidate],
}

fn build_media(
    md: &MediaDescription,
    kind: MediaKind,
    mid: String,
    transport: &Transport,
    live: bool,
    session_level: SessionLevel<'_>,
) -> Result<MediaDesc, SdpError> {
    let attrs = Attrs(&md.attributes);

    let ice = match (&transport.ufrag, &transport.pwd) {
        (Some(ufrag), Some(pwd)) => {
            let creds = IceCredentials {
                ufrag: ufrag.clone(),
                pwd: pwd.clone(),
            };
            if !creds.is_valid() {
                return Err(SdpError::InvalidIceCredentials { mid });
            }
            Some(creds)
        }
        _ if live => return Err(SdpError::MissingIceCredentials { mid }),
        _ => None,
    };
    if live && transport.fingerprints.is_empty() {
        return Err(SdpError::MissingFingerprint { mid });
    }
    if live && transport.setup.is_none() {
        return Err(SdpError::InvalidSetup { mid });
    }

    let mut direction = Direction::default();
    for a in md.attributes.iter() {
        if let Some(d) = Direction::from_token(&a.key) {
            direction = d;
        }
    }

    let codecs = if kind.is_rtp() {
        parse_codecs(md, &attrs)?
    } else {
        Vec::new()
    };

    let extmaps = attrs
        .values("extmap")
        .map(parse_extmap)
        .collect::<Result<Vec<_>, _>>()?;

    let mut msid = attrs.first("msid").map(parse_msid).transpose()?;

    let mut ssrcs = Vec::new();
    let mut cname = None;
    for value in attrs.values("ssrc") {
        let (ssrc, attribute) = value.split_once(' ').unwrap_or((value, ""));
        let ssrc: u32 = number("ssrc", ssrc)?;
        let attribute = attribute.trim();
        if let Some(c) = attribute.strip_prefix("cname:") {
            if !ssrcs.contains(&ssrc) {
                ssrcs.push(ssrc);
            }
            if cname.is_none() {
                cname = Some(c.to_owned());
            }
        } else if let Some(m) = attribute.strip_prefix("msid:") {
            // Plan B style: only used when there is no a=msid.
            if msid.is_none() {
                msid = Some(parse_msid(m)?);
            }
        }
    }

    let ssrc_groups = attrs
        .values("ssrc-group")
        .map(|v| {
            let mut parts = v.split_ascii_whitespace();
            let semantics = parts.next().ok_or_else(|| invalid_attr("ssrc-group", v))?;
            let ssrcs = parts
                .map(|s| number("ssrc-group", s))
                .collect::<Result<Vec<u32>, _>>()?;
            Ok(SsrcGroup {
                semantics: semantics.to_owned(),
                ssrcs,
            })
        })
        .collect::<Result<Vec<_>, SdpError>>()?;

    let sctp_port = match attrs.first("sctp-port") {
        Some(v) => Some(number::<u16>("sctp-port", v)?),
        // Legacy `a=sctpmap:5000 webrtc-datachannel 1024`.
        None => match attrs.first("sctpmap") {
            Some(v) => Some(number::<u16>(
                "sctpmap",
                v.split_ascii_whitespace().next().unwrap_or(""),
            )?),
            None => None,
        },
    };
    let max_message_size = attrs
        .first("max-message-size")
        .map(|v| number::<u64>("max-message-size", v))
        .transpose()?;

    let mut candidates = candidates(&attrs, &mid)?;
    candidates.extend(session_level.candidates.iter().cloned());

    Ok(MediaDesc {
        kind,
        port: u16::try_from(md.media_name.port.value).unwrap_or(0),
        protocol: md.media_name.protos.join("/"),
        ice,
        trickle: transport.trickle,
        fingerprints: transport.fingerprints.clone(),
        setup: transport.setup,
        direction,
        rtcp_mux: attrs.has("rtcp-mux"),
        rtcp_rsize: attrs.has("rtcp-rsize"),
        codecs,
        extmaps,
        msid,
        ssrcs,
        ssrc_groups,
        cname,
        sctp_port,
        max_message_size,
        candidates,
        end_of_candidates: session_level.end_of_candidates || attrs.has("end-of-candidates"),
        mid,
    })
}

/// Codecs in m= line order; payload types without an `a=rtpmap` are skipped.
fn parse_codecs(md: &MediaDescription, attrs: &Attrs<'_>) -> Result<Vec<Codec>, SdpError> {
    let mut codecs: Vec<Codec> = Vec::new();
    for format in &md.media_name.formats {
        let pt: u8 = number("payload type", format)?;
        if pt > 127 || codecs.iter().any(|c| c.payload_type == pt) {
            continue;
        }
        let Some(rtpmap) = attrs
            .values("rtpmap")
            .find(|v| v.split_ascii_whitespace().next() == Some(format.as_str()))
        else {
            continue;
        };
        codecs.push(parse_rtpmap(pt, rtpmap)?);
    }

    for value in attrs.values("fmtp") {
        let (pt, params) = value.split_once(' ').unwrap_or((value, ""));
        let params = params.trim();
        if let Some(codec) = codecs.iter_mut().find(|c| c.payload_type.to_string() == pt) {
            if codec.fmtp.is_none() && !params.is_empty() {
                codec.fmtp = Some(params.to_owned());
            }
        }
    }

    for value in attrs.values("rtcp-fb") {
        let (pt, fb) = value.split_once(' ').unwrap_or((value, ""));
        let fb = fb.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
        if fb.is_empty() {
            continue;
        }
        for codec in codecs
            .iter_mut()
            .filter(|c| pt == "*" || c.payload_type.to_string() == pt)
        {
            if !codec.rtcp_fb.contains(&fb) {
                codec.rtcp_fb.push(fb.clone());
            }
        }
    }
    Ok(codecs)
}

/// `a=rtpmap:<pt> <name>/<clock rate>[/<channels>]`.
fn parse_rtpmap(payload_type: u8, value: &str) -> Result<Codec, SdpError> {
    let bad = || invalid_attr("rtpmap", value);
    let encoding = value.split_ascii_whitespace().nth(1).ok_or_else(bad)?;
    let mut parts = encoding.split('/');
    let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
    let clock_rate: u32 = number("rtpmap", parts.next().ok_or_else(bad)?)?;
    let channels = parts
        .next()
        .map(|c| number::<u16>("rtpmap", c))
        .transpose()?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Codec {
        payload_type,
        name: name.to_owned(),
        clock_rate,
        channels,
        fmtp: None,
        rtcp_fb: Vec::new(),
    })
}

/// `a=extmap:<id>[/<direction>] <uri> [<attributes>]` (attributes are dropped).
fn parse_extmap(value: &str) -> Result<Extmap, SdpError> {
    let bad = || invalid_attr("extmap", value);
    let mut parts = value.split_ascii_whitespace();
    let head = parts.next().ok_or_else(bad)?;
    let uri = parts.next().ok_or_else(bad)?;
    let (id, direction) = match head.split_once('/') {
        Some((id, d)) => (id, Some(Direction::from_token(d).ok_or_else(bad)?)),
        None => (head, None),
    };
    let id: u16 = number("extmap", id)?;
    // A URI is visible ASCII (RFC 3986); a control character (a vertical tab, say, which the
    // splitter keeps but the attribute reader trims) would not read back the same once written.
    if !(1..=255).contains(&id) || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Extmap {
        id,
        direction,
        uri: uri.to_owned(),
    })
}

/// `a=msid:<stream> [<track>]`, each 1-64 token characters (RFC 8830). Anything else (a
/// vertical tab, say, which is not ASCII whitespace to the splitter but is to the attribute
/// reader) would not read back the same once written.
fn parse_msid(value: &str) -> Result<Msid, SdpError> {
    let mut parts = value.split_ascii_whitespace();
    let stream = parts.next().ok_or_else(|| invalid_attr("msid", value))?;
    let track = parts.next();
    if !is_token(stream, 64) || track.is_some_and(|t| !is_token(t, 64)) {
        return Err(invalid_attr("msid", value));
    }
    Ok(Msid {
        stream: stream.to_owned(),
        track: track.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sdp::write;

    const OFFER: &str = concat!(
        "v=0\r\n",
        "o=- 7 2 IN IP4 127.0.0.1\r\n",
        "s=-\r\n",
        "t=0 0\r\n",
        "a=group:BUNDLE 0 1 2\r\n",
        "a=extmap-allow-mixed\r\n",
        "a=ice-options:trickle\r\n",
        "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n",
        "c=IN IP4 0.0.0.0\r\n",
        "a=ice-ufrag:abcd\r\n",
        "a=ice-pwd:abcdefghijklmnopqrstuv\r\n",
        "a=setup:actpass\r\n",
        "a=mid:0\r\n",
        "a=extmap:1/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n",
        "a=msid:s t\r\n",
        "a=rtcp-mux\r\n",
        "a=rtpmap:111 opus/48000/2\r\n",
        "a=rtcp-fb:* transport-cc\r\n",
        "a=fmtp:111 minptime=10;useinbandfec=1\r\n",
        "a=rtpmap:0 PCMU/8000\r\n",
        "a=ssrc:5 cname:c\r\n",
        "a=candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host generation 0\r\n",
        "m=video 0 UDP/TLS/RTP/SAVPF 96 97\r\n",
        "c=IN IP4 0.0.0.0\r\n",
        "a=bundle-only\r\n",
        "a=mid:1\r\n",
        "a=recvonly\r\n",
        "a=rtpmap:96 VP8/90000\r\n",
        "a=rtpmap:97 rtx/90000\r\n",
        "a=fmtp:97 apt=96\r\n",
        "a=ssrc-group:FID 1 2\r\n",
        "a=ssrc:1 cname:c\r\n",
        "a=ssrc:2 cname:c\r\n",
        "a=ssrc:1 msid:s v\r\n",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
        "c=IN IP4 0.0.0.0\r\n",
        "a=ice-ufrag:abcd\r\n",
        "a=ice-pwd:abcdefghijklmnopqrstuv\r\n",
        "a=setup:actpass\r\n",
        "a=mid:2\r\n",
        "a=sctpmap:5000 webrtc-datachannel 1024\r\n",
        "a=end-of-candidates\r\n",
    );

    #[test]
    fn parses_every_attribute() {
        let d = parse(OFFER).unwrap();
        assert_eq!((d.session_id, d.session_version), (7, 2));
        assert!(d.extmap_allow_mixed && !d.ice_lite);
        let [audio, video, data] = &d.media[..] else {
            panic!("three m-sections")
        };
        assert!(audio.trickle && video.trickle && data.trickle);
        assert_eq!(audio.codecs.len(), 2);
        assert_eq!(audio.codecs[0].rtcp_fb, ["transport-cc"]);
        assert_eq!(audio.codecs[1].rtcp_fb, ["transport-cc"]);
        assert_eq!(audio.extmaps[0].direction, Some(Direction::SendOnly));
        assert_eq!(audio.ssrcs, [5]);
        assert_eq!(audio.candidates.len(), 1);
        // bundle-only with port 0 inherits the tagged section's transport.
        assert_eq!(video.port, 0);
        assert_eq!(video.ice, audio.ice);
        assert_eq!(video.setup, Some(Setup::ActPass));
        assert_eq!(video.fingerprints.len(), 1);
        assert_eq!(video.direction, Direction::RecvOnly);
        assert_eq!(video.ssrcs, [1, 2]);
        assert_eq!(video.cname.as_deref(), Some("c"));
        // Plan B msid on the ssrc line, used when there is no a=msid.
        assert_eq!(
            video.msid.as_ref().map(|m| m.track.as_deref()),
            Some(Some("v"))
        );
        assert_eq!(video.codecs[1].fmtp_param("apt"), Some("96"));
        assert_eq!(data.sctp_port, Some(5000));
        assert!(data.end_of_candidates && !audio.end_of_candidates);
        assert_eq!(parse(&write(&d)), Ok(d));
    }

    #[test]
    fn lf_only_line_endings_are_accepted() {
        let d = parse(&OFFER.replace("\r\n", "\n")).unwrap();
        assert_eq!(d, parse(OFFER).unwrap());
    }

    /// Found by the `sdp` fuzz target: `a=ssrc:1 msid:<VT><TAB>e` parsed as stream "\u{b}"
    /// and track "e", was written as `a=msid:<VT> e` and read back as stream "e". msid ids are
    /// token characters now; anything else is an invalid attribute.
    #[test]
    fn msid_ids_are_tokens() {
        let sdp = |msid: &str| {
            format!(
                "v=0\r\no=- 1 3 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
                 m=video 0 UDP/TLS/RTP/SAVPF 9\r\na=ssrc:217 msid:{msid}\r\na=mid:0\r\n"
            )
        };
        assert!(parse(&sdp("\u{b}\t\te")).is_err());
        assert!(parse(&sdp("s t\u{7f}")).is_err());
        let desc = parse(&sdp("{stream-1} track_2")).expect("token characters");
        let msid = desc.media[0].msid.clone().expect("msid");
        assert_eq!(
            (msid.stream.as_str(), msid.track.as_deref()),
            ("{stream-1}", Some("track_2"))
        );
        assert_eq!(parse(&write(&desc)).expect("round trip"), desc);
    }

    #[test]
    fn mid_charset() {
        assert!(is_valid_mid("0"));
        assert!(is_valid_mid("audio-1_x.y+z"));
        assert!(!is_valid_mid(""));
        assert!(!is_valid_mid("a b"));
        assert!(!is_valid_mid("a:b"));
        assert!(!is_valid_mid("\u{e9}"));
        assert!(!is_valid_mid(&"a".repeat(33)));
    }

    /// What `fuzz_parse` checks: no panic, and what parses writes back to itself.
    fn check(text: &str) -> Result<(), TestCaseError> {
        if let Ok(d) = parse(text) {
            let written = write(&d);
            if written.len() <= MAX_SDP_LEN {
                prop_assert_eq!(parse(&written), Ok(d), "{}", written);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
            check(&s)?;
        }

        #[test]
        fn sdp_shaped_text_never_panics(
            lines in proptest::collection::vec(
                ("[vosmtcab]", "[ -~]{0,40}").prop_map(|(k, v)| format!("{k}={v}")),
                0..30,
            ),
        ) {
            check(&format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{}", lines.join("\r\n")))?;
        }

        #[test]
        fn mutated_offer_never_panics(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, "[ -~]{0,12}"), 1..6),
        ) {
            let mut lines: Vec<String> = OFFER.split("\r\n").map(str::to_owned).collect();
            for (index, op, text) in edits {
                let i = index.index(lines.len());
                match op {
                    0 => { lines.remove(i); }
                    1 => { let l = lines[i].clone(); lines.insert(i, l); }
                    2 => {
                        let l = &mut lines[i];
                        let cut = (0..=l.len()).rev().find(|&c| c <= text.len() && l.is_char_boundary(c)).unwrap_or(0);
                        l.truncate(cut);
                    }
                    _ => lines[i].push_str(&text),
                }
                if lines.is_empty() {
                    break;
                }
            }
            check(&lines.join("\r\n"))?;
        }
    }
}
