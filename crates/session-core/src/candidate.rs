//! ICE candidate grammar (RFC 8839 section 5.1) with the de-facto extensions browsers send
//! (`ufrag`, `generation`, `network-id`, `network-cost`).
//!
//! Candidates are untrusted input: parsing never panics and fails with a [`CandidateError`].

use std::fmt;
use std::str::FromStr;

/// Transport protocol of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CandidateProtocol {
    /// UDP.
    Udp,
    /// TCP (RFC 6544).
    Tcp,
}

/// Candidate type (`typ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CandidateType {
    /// A local interface address.
    Host,
    /// Server reflexive (learned through STUN).
    ServerReflexive,
    /// Peer reflexive (learned from a connectivity check).
    PeerReflexive,
    /// Relayed through TURN.
    Relay,
}

/// TCP candidate type (`tcptype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcpType {
    /// `active`
    Active,
    /// `passive`
    Passive,
    /// `so` (simultaneous open)
    SimultaneousOpen,
}

/// One ICE candidate, as carried in `a=candidate:` lines and in trickle messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Foundation (1-32 ice-chars).
    pub foundation: String,
    /// Component id (1 = RTP; with rtcp-mux everything is 1).
    pub component: u16,
    /// Transport protocol.
    pub protocol: CandidateProtocol,
    /// Priority.
    pub priority: u32,
    /// Connection address: an IP literal or an mDNS host name.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Candidate type.
    pub typ: CandidateType,
    /// `raddr`, for reflexive and relayed candidates.
    pub related_address: Option<String>,
    /// `rport`, for reflexive and relayed candidates.
    pub related_port: Option<u16>,
    /// `tcptype`, for TCP candidates.
    pub tcp_type: Option<TcpType>,
    /// `ufrag` extension: the ICE generation this candidate belongs to.
    pub ufrag: Option<String>,
    /// `generation` extension (libwebrtc).
    pub generation: Option<u32>,
    /// `network-id` extension (libwebrtc).
    pub network_id: Option<u32>,
    /// `network-cost` extension (libwebrtc).
    pub network_cost: Option<u32>,
    /// Any other extension attributes, in order, preserved on serialization.
    pub extensions: Vec<(String, String)>,
}

/// Why a candidate line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CandidateError {
    /// The line does not start with `candidate:`.
    #[error("candidate does not start with `candidate:`")]
    MissingPrefix,
    /// A mandatory field is missing.
    #[error("candidate is missing the {0} field")]
    MissingField(&'static str),
    /// A field has an invalid value.
    #[error("candidate has an invalid {field}: {value:?}")]
    InvalidField {
        /// The field name.
        field: &'static str,
        /// The offending value (truncated to 64 bytes).
        value: String,
    },
    /// An extension name has no value.
    #[error("candidate extension {0:?} has no value")]
    DanglingExtension(String),
    /// The line is longer than [`Candidate::MAX_LEN`].
    #[error("candidate line is too long ({0} bytes)")]
    TooLong(usize),
}

impl Candidate {
    /// Longest candidate line accepted, in bytes.
    pub const MAX_LEN: usize = 1024;
}

impl FromStr for Candidate {
    type Err = CandidateError;

    /// Parses `candidate:...`, with or without a leading `a=`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_candidate(s)
    }
}

impl fmt::Display for Candidate {
    /// Writes `candidate:...` (without `a=`), extensions included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_candidate(self, f)
    }
}

impl CandidateProtocol {
    /// The lowercase token written in candidate lines (`udp`, `tcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateProtocol::Udp => "udp",
            CandidateProtocol::Tcp => "tcp",
        }
    }
}

impl CandidateType {
    /// The token written after `typ` (`host`, `srflx`, `prflx`, `relay`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relay => "relay",
        }
    }
}

impl TcpType {
    /// The token written after `tcptype` (`active`, `passive`, `so`).
    pub fn as_str(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        }
    }
}

/// Longest value copied into an error, in bytes.
const MAX_ERROR_VALUE: usize = 64;

/// Truncates `s` to at most [`MAX_ERROR_VALUE`] bytes, on a char boundary.
pub(crate) fn truncate_for_error(s: &str) -> String {
    if s.len() <= MAX_ERROR_VALUE {
        return s.to_owned();
    }
    let mut end = MAX_ERROR_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn invalid(field: &'static str, value: &str) -> CandidateError {
    CandidateError::InvalidField {
        field,
        value: truncate_for_error(value),
    }
}

/// Parses a decimal number made only of ASCII digits (no sign, no spaces).
fn parse_number<T: FromStr>(field: &'static str, value: &str) -> Result<T, CandidateError> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, value));
    }
    value.parse().map_err(|_| invalid(field, value))
}

/// An address (connection or related): 1-255 bytes, no control characters.
fn parse_address(field: &'static str, value: &str) -> Result<String, CandidateError> {
    if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
        return Err(invalid(field, value));
    }
    Ok(value.to_owned())
}

/// An extension name or value: a byte-string without control characters.
fn check_extension_token(value: &str) -> Result<(), CandidateError> {
    if value.chars().any(char::is_control) {
        return Err(invalid("extension", value));
    }
    Ok(())
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_candidate(s: &str) -> Result<Candidate, CandidateError> {
    let line = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if line.len() > Candidate::MAX_LEN {
        return Err(CandidateError::TooLong(line.len()));
    }
    let line = line.strip_prefix("a=").unwrap_or(line);
    let rest = strip_prefix_ignore_case(line, "candidate:").ok_or(CandidateError::MissingPrefix)?;
    let mut tokens = rest.split_ascii_whitespace();
    let mut next = |field: &'static str| tokens.next().ok_or(CandidateError::MissingField(field));

    let foundation = next("foundation")?;
    if foundation.is_empty()
        || foundation.len() > 32
        || !foundation.chars().all(crate::ice::is_ice_char)
    {
        return Err(invalid("foundation", foundation));
    }
    let component_text = next("component")?;
    let component: u16 = parse_number("component", component_text)?;
    if !(1..=256).contains(&component) {
        return Err(invalid("component", component_text));
    }
    let transport = next("transport")?;
    let protocol = if transport.eq_ignore_ascii_case("udp") {
        CandidateProtocol::Udp
    } else if transport.eq_ignore_ascii_case("tcp") {
        CandidateProtocol::Tcp
    } else {
        return Err(invalid("transport", transport));
    };
    let priority: u32 = parse_number("priority", next("priority")?)?;
    let address = parse_address("address", next("address")?)?;
    let port: u16 = parse_number("port", next("port")?)?;
    let typ_keyword = next("typ")?;
    if !typ_keyword.eq_ignore_ascii_case("typ") {
        return Err(invalid("typ", typ_keyword));
    }
    let typ_text = next("candidate type")?;
    let typ = match typ_text.to_ascii_lowercase().as_str() {
        "host" => CandidateType::Host,
        "srflx" => CandidateType::ServerReflexive,
        "prflx" => CandidateType::PeerReflexive,
        "relay" => CandidateType::Relay,
        _ => return Err(invalid("candidate type", typ_text)),
    };

    let mut c = Candidate {
        foundation: foundation.to_owned(),
        component,
        protocol,
        priority,
        address,
        port,
        typ,
        related_address: None,
        related_port: None,
        tcp_type: None,
        ufrag: None,
        generation: None,
        network_id: None,
        network_cost: None,
        extensions: Vec::new(),
    };

    // The rest is name/value pairs: raddr, rport, tcptype and extensions. A name seen a second
    // time is kept as a plain extension so that nothing is lost and writing is stable.
    while let Some(name) = tokens.next() {
        let Some(value) = tokens.next() else {
            return Err(CandidateError::DanglingExtension(truncate_for_error(name)));
        };
        match name {
            "raddr" if c.related_address.is_none() => {
                c.related_address = Some(parse_address("raddr", value)?);
            }
            "rport" if c.related_port.is_none() => {
                c.related_port = Some(parse_number("rport", value)?);
            }
            "tcptype" if c.tcp_type.is_none() => {
                c.tcp_type = Some(match value.to_ascii_lowercase().as_str() {
                    "active" => TcpType::Active,
                    "passive" => TcpType::Passive,
                    "so" => TcpType::SimultaneousOpen,
                    _ => return Err(invalid("tcptype", value)),
                });
            }
            "generation" if c.generation.is_none() => {
                c.generation = Some(parse_number("generation", value)?);
            }
            "ufrag" if c.ufrag.is_none() => {
                if value.len() > 256 || !value.chars().all(crate::ice::is_ice_char) {
                    return Err(invalid("ufrag", value));
                }
                c.ufrag = Some(value.to_owned());
            }
            "network-id" if c.network_id.is_none() => {
                c.network_id = Some(parse_number("network-id", value)?);
            }
            "network-cost" if c.network_cost.is_none() => {
                c.network_cost = Some(parse_number("network-cost", value)?);
            }
            _ => {
                check_extension_token(name)?;
                check_extension_token(value)?;
                c.extensions.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    Ok(c)
}

fn write_candidate(c: &Candidate, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(
        f,
        "candidate:{} {} {} {} {} {} typ {}",
        c.foundation,
        c.component,
        c.protocol.as_str(),
        c.priority,
        c.address,
        c.port,
        c.typ.as_str()
    )?;
    if let Some(raddr) = &c.related_address {
        write!(f, " raddr {raddr}")?;
    }
    if let Some(rport) = c.related_port {
        write!(f, " rport {rport}")?;
    }
    if let Some(tcp_type) = c.tcp_type {
        write!(f, " tcptype {}", tcp_type.as_str())?;
    }
    if let Some(generation) = c.generation {
        write!(f, " generation {generation}")?;
    }
    if let Some(ufrag) = &c.ufrag {
        write!(f, " ufrag {ufrag}")?;
    }
    if let Some(id) = c.network_id {
        write!(f, " network-id {id}")?;
    }
    if let Some(cost) = c.network_cost {
        write!(f, " network-cost {cost}")?;
    }
    for (name, value) in &c.extensions {
        write!(f, " {name} {value}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<Candidate, CandidateError> {
        s.parse()
    }

    fn round_trip(c: &Candidate) {
        let text = c.to_string();
        assert_eq!(parse(&text).as_ref(), Ok(c), "{text}");
    }

    #[test]
    fn chromium_host() {
        let c = parse("candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0 ufrag sGr7 network-id 1 network-cost 10").unwrap();
        assert_eq!(c.foundation, "1467250027");
        assert_eq!(c.component, 1);
        assert_eq!(c.protocol, CandidateProtocol::Udp);
        assert_eq!(c.priority, 2122260223);
        assert_eq!(c.address, "192.168.0.196");
        assert_eq!(c.port, 46243);
        assert_eq!(c.typ, CandidateType::Host);
        assert_eq!(c.generation, Some(0));
        assert_eq!(c.ufrag.as_deref(), Some("sGr7"));
        assert_eq!(c.network_id, Some(1));
        assert_eq!(c.network_cost, Some(10));
        assert!(c.extensions.is_empty());
        assert_eq!(
            c.to_string(),
            "candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0 ufrag sGr7 network-id 1 network-cost 10"
        );
        round_trip(&c);
    }

    #[test]
    fn srflx_with_related_address() {
        let c = parse("a=candidate:842163049 1 udp 1686052607 203.0.113.7 61665 typ srflx raddr 192.168.0.196 rport 46243 generation 0 ufrag sGr7 network-id 1 network-cost 10\r\n").unwrap();
        assert_eq!(c.typ, CandidateType::ServerReflexive);
        assert_eq!(c.related_address.as_deref(), Some("192.168.0.196"));
        assert_eq!(c.related_port, Some(46243));
        round_trip(&c);
    }

    #[test]
    fn tcp_passive() {
        let c = parse("candidate:3 1 TCP 1518280447 192.168.0.196 9 typ host tcptype passive generation 0 ufrag sGr7 network-id 1").unwrap();
        assert_eq!(c.protocol, CandidateProtocol::Tcp);
        assert_eq!(c.tcp_type, Some(TcpType::Passive));
        assert!(c.to_string().contains(" tcp 1518280447 "));
        round_trip(&c);
    }

    #[test]
    fn mdns_address_and_relay() {
        let c = parse("candidate:2999745851 1 udp 2122260223 5a7f3c2e-1b8e-4c3a-9d1f-0e2b7c6a9f10.local 54400 typ host generation 0 ufrag sGr7 network-cost 999").unwrap();
        assert_eq!(c.address, "5a7f3c2e-1b8e-4c3a-9d1f-0e2b7c6a9f10.local");
        round_trip(&c);
        let r = parse(
            "candidate:1 1 UDP 41885439 198.51.100.9 3478 TYP RELAY raddr 203.0.113.7 rport 61665",
        )
        .unwrap();
        assert_eq!(r.typ, CandidateType::Relay);
        round_trip(&r);
        let p = parse("candidate:9 2 udp 1 ::1 1 typ prflx   \t\r\n").unwrap();
        assert_eq!(p.typ, CandidateType::PeerReflexive);
        assert_eq!(p.component, 2);
    }

    #[test]
    fn unknown_extensions_kept_in_order() {
        let c = parse("candidate:a+/b 1 udp 5 10.0.0.1 5000 typ host zeta 1 alpha x generation 3")
            .unwrap();
        assert_eq!(
            c.extensions,
            vec![("zeta".into(), "1".into()), ("alpha".into(), "x".into())]
        );
        assert_eq!(c.generation, Some(3));
        assert_eq!(
            c.to_string(),
            "candidate:a+/b 1 udp 5 10.0.0.1 5000 typ host generation 3 zeta 1 alpha x"
        );
        round_trip(&c);
    }

    #[test]
    fn errors() {
        use CandidateError::*;
        assert_eq!(parse("1 1 udp 1 1.2.3.4 1 typ host"), Err(MissingPrefix));
        assert_eq!(parse(""), Err(MissingPrefix));
        assert_eq!(
            parse("candidate:1 1 udp 1 1.2.3.4"),
            Err(MissingField("port"))
        );
        assert_eq!(
            parse("candidate:1 1 udp 1 1.2.3.4 1"),
            Err(MissingField("typ"))
        );
        assert_eq!(
            parse("candidate:1 1 udp 1 1.2.3.4 70000 typ host"),
            Err(InvalidField {
                field: "port",
                value: "70000".into()
            })
        );
        assert_eq!(
            parse("candidate:1 0 udp 1 1.2.3.4 1 typ host"),
            Err(InvalidField {
                field: "component",
                value: "0".into()
            })
        );
        assert_eq!(
            parse("candidate:1 257 udp 1 1.2.3.4 1 typ host"),
            Err(InvalidField {
                field: "component",
                value: "257".into()
            })
        );
        assert_eq!(
            parse("candidate:1 1 sctp 1 1.2.3.4 1 typ host"),
            Err(InvalidField {
                field: "transport",
                value: "sctp".into()
            })
        );
        assert_eq!(
            parse("candidate:1 1 udp 4294967296 1.2.3.4 1 typ host"),
            Err(InvalidField {
                field: "priority",
                value: "4294967296".into()
            })
        );
        assert_eq!(
            parse("candidate:1 1 udp +1 1.2.3.4 1 typ host"),
            Err(InvalidField {
                field: "priority",
                value: "+1".into()
            })
        );
        assert_eq!(
            parse("candidate:f_o 1 udp 1 1.2.3.4 1 typ host"),
            Err(InvalidField {
                field: "foundation",
                value: "f_o".into()
            })
        );
        assert!(matches!(
            parse(&format!(
                "candidate:{} 1 udp 1 1.2.3.4 1 typ host",
                "a".repeat(33)
            )),
            Err(InvalidField {
                field: "foundation",
                ..
            })
        ));
        assert_eq!(
            parse("candidate:1 1 udp 1 1.2.3.4 1 type host"),
            Err(InvalidField {
                field: "typ",
                value: "type".into()
            })
        );
        assert_eq!(
            parse("candidate:1 1 udp 1 1.2.3.4 1 typ local"),
            Err(InvalidField {
                field: "candidate type",
                value: "local".into()
            })
        );
        assert_eq!(
            parse("candidate:1 1 tcp 1 1.2.3.4 1 typ host tcptype both"),
            Err(InvalidField {
                field: "tcptype",
                value: "both".into()
            })
        );
        assert_eq!(
            parse("candidate:1 1 udp 1 1.2.3.4 1 typ host generation 0 ufrag"),
            Err(DanglingExtension("ufrag".into()))
        );
        assert_eq!(
            parse("candidate:1 1 udp 1 1.2.3.4 1 typ host generation x"),
            Err(InvalidField {
                field: "generation",
                value: "x".into()
            })
        );
        assert_eq!(
            parse("candidate:1 1 udp 1 1.2.3.4 1 typ host ufrag a_b"),
            Err(InvalidField {
                field: "ufrag",
                value: "a_b".into()
            })
        );
        assert!(matches!(
            parse("candidate:1 1 udp 1 1.2\u{1}.3.4 1 typ host"),
            Err(InvalidField {
                field: "address",
                ..
            })
        ));
        let long = format!(
            "candidate:1 1 udp 1 1.2.3.4 1 typ host x {}",
            "y".repeat(1100)
        );
        assert_eq!(parse(&long), Err(TooLong(long.len())));
    }

    #[test]
    fn error_values_truncated_on_char_boundary() {
        // 63 ASCII bytes then a 3-byte char straddling the 64-byte limit.
        let addr = format!("{}\u{20ac}\u{1}", "a".repeat(63));
        let line = format!("candidate:1 1 udp 1 {addr} 1 typ host");
        match parse(&line) {
            Err(CandidateError::InvalidField {
                field: "address",
                value,
            }) => {
                assert_eq!(value, "a".repeat(63));
            }
            other => panic!("unexpected {other:?}"),
        }
        let name = "\u{e9}".repeat(100);
        match parse(&format!("candidate:1 1 udp 1 1.2.3.4 1 typ host {name}")) {
            Err(CandidateError::DanglingExtension(v)) => {
                assert_eq!(v.len(), 64);
                assert!(name.starts_with(&v));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn duplicate_known_names_stay_stable() {
        let c = parse("candidate:1 1 udp 1 1.2.3.4 1 typ host generation 1 generation 2").unwrap();
        assert_eq!(c.generation, Some(1));
        assert_eq!(c.extensions, vec![("generation".into(), "2".into())]);
        round_trip(&c);
    }

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9+/]{1,32}"
    }

    prop_compose! {
        fn arb_candidate()(
            foundation in token(),
            component in 1u16..=256,
            tcp in any::<bool>(),
            priority in any::<u32>(),
            address in prop_oneof![
                any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
                any::<std::net::Ipv6Addr>().prop_map(|a| a.to_string()),
                "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\.local",
            ],
            port in any::<u16>(),
            typ in prop_oneof![
                Just(CandidateType::Host),
                Just(CandidateType::ServerReflexive),
                Just(CandidateType::PeerReflexive),
                Just(CandidateType::Relay),
            ],
            related in proptest::option::of((any::<std::net::Ipv4Addr>(), any::<u16>())),
            tcp_type in proptest::option::of(prop_oneof![
                Just(TcpType::Active),
                Just(TcpType::Passive),
                Just(TcpType::SimultaneousOpen),
            ]),
            ufrag in proptest::option::of("[A-Za-z0-9+/]{4,16}"),
            generation in proptest::option::of(any::<u32>()),
            network_id in proptest::option::of(any::<u32>()),
            network_cost in proptest::option::of(any::<u32>()),
            extensions in proptest::collection::vec(("x-[a-z]{1,8}", "[!-~]{1,12}"), 0..3),
        ) -> Candidate {
            Candidate {
                foundation,
                component,
                protocol: if tcp { CandidateProtocol::Tcp } else { CandidateProtocol::Udp },
                priority,
                address,
                port,
                typ,
                related_address: related.map(|r| r.0.to_string()),
                related_port: related.map(|r| r.1),
                tcp_type: if tcp { tcp_type } else { None },
                ufrag,
                generation,
                network_id,
                network_cost,
                extensions,
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_near_valid(
            prefix in "(a=)?candidate:[ -~]{0,10}",
            fields in proptest::collection::vec("[ -~\u{80}-\u{10ffff}]{0,12}", 0..20),
        ) {
            let line = format!("{prefix}{}", fields.join(" "));
            if let Ok(c) = parse(&line) {
                // Whatever parses, writes back to itself.
                prop_assert_eq!(parse(&c.to_string()), Ok(c));
            }
        }

        #[test]
        fn generated_round_trip(c in arb_candidate()) {
            let text = c.to_string();
            prop_assert_eq!(parse(&text), Ok(c.clone()));
            prop_assert_eq!(parse(&format!("a={text}\r\n")), Ok(c));
        }
    }
}
