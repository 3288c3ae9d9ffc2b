//! session-core's text parsers: SDP, ICE candidate lines, `SignalMessage` JSON.

use session_core::candidate::Candidate;

/// SDP offers and answers from the other peer: parse, write, parse again; the second parse
/// must give the same model (`session_core::sdp::fuzz_parse`).
pub fn sdp(data: &[u8]) {
    session_core::sdp::fuzz_parse(data);
}

/// `SignalMessage` JSON (anything a signaling channel delivers): parse, and what parses
/// survives `to_json` (`session_core::signal::fuzz_signal`).
pub fn signal(data: &[u8]) {
    session_core::signal::fuzz_signal(data);
}

/// A trickled ICE candidate line: what parses prints back to a line that parses to the same
/// candidate.
pub fn candidate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = text.parse::<Candidate>() else {
        return;
    };
    let written = parsed.to_string();
    match written.parse::<Candidate>() {
        Ok(again) => assert_eq!(again, parsed, "candidate round trip: {written}"),
        Err(e) => panic!("written candidate does not parse: {e}: {written}"),
    }
}
