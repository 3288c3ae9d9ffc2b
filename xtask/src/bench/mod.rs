//! `cargo xtask bench [--quick] [--only PARTS] [--runs N] [--redraw]`: every benchmark of
//! the project in one run, written to `docs/benchmarks.md`, `docs/benchmarks.svg` and the records
//! of every run to `docs/benchmarks.raw.txt` (`--quick`: a short smoke run written to
//! `target/benchmarks-quick.*` instead, so real numbers are not overwritten; `--redraw`: no
//! measurement, the page and chart are rebuilt from the `.raw.txt` file). With `--only`, the
//! parts not run keep the records of the previous `.raw.txt`, marked on the page with the
//! time they were measured.
//!
//! Parts, in order: `session` (criterion, session-core cycles), `srtp` (criterion, webrtc-srtp
//! next to `openssl speed` measured in the same invocation), `media` (`cargo bench -p
//! tether-media` when that crate exists), `dc` (data channel throughput and setup time of
//! every stack), `restart` (ICE restart under load), `scale` (many sessions of ours in one
//! process), `load` (the signaling load test, closed loop), `openload` (the signaling server
//! under an open-loop load, one process and two on Redis), `faults` (recovery from network
//! faults between network namespaces, root only). The other stacks live in `benches/compare/`, a
//! separate cargo workspace that only this command builds.

mod chart;
mod faults;
mod micro;
mod openload;
mod raw;
mod report;
mod stacks;

pub(crate) use openload::section as openload_section;
pub(crate) use stacks::parse_result;

use std::collections::BTreeMap;
use std::path::Path;

/// Every part, in the order they run.
pub(crate) const PARTS: &[&str] = &[
    "session", "srtp", "media", "dc", "restart", "scale", "load", "openload", "faults",
];
/// The stacks compared, ours first (ratios are to it).
pub(crate) const STACKS: &[&str] = &["ours", "webrtc", "str0m", "str0m-default", "rtc"];

/// How much to run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) parts: Vec<String>,
    /// Runs per stack for throughput and setup.
    pub(crate) runs: usize,
    /// Runs per stack of the restart test.
    pub(crate) restart_runs: usize,
    /// MiB per data channel run.
    pub(crate) mib: u64,
    /// Pair counts of the scale test.
    pub(crate) scale_pairs: Vec<usize>,
    /// Seconds of 1 message/s traffic in the scale test.
    pub(crate) scale_seconds: u64,
    /// Clients and rounds of the signaling load test.
    pub(crate) load_clients: usize,
    pub(crate) load_rounds: usize,
    /// The open-loop load of the signaling server.
    pub(crate) openload: crate::openload::Plan,
    /// Seconds per `openssl speed` measurement.
    pub(crate) openssl_seconds: u64,
    /// Runs of the network fault tests.
    pub(crate) fault_runs: usize,
    /// Measure nothing: redraw the page and chart from the last run's `.raw.txt`.
    pub(crate) redraw: bool,
}

impl Options {
    fn full() -> Self {
        Self {
            quick: false,
            parts: PARTS.iter().map(|p| (*p).to_owned()).collect(),
            runs: 5,
            restart_runs: 3,
            mib: 100,
            scale_pairs: vec![100, 1000],
            scale_seconds: 10,
            load_clients: 5000,
            load_rounds: 20,
            openload: crate::openload::Plan::full(),
            openssl_seconds: 3,
            fault_runs: 3,
            redraw: false,
        }
    }

    fn quick() -> Self {
        Self {
            quick: true,
            runs: 2,
            restart_runs: 1,
            mib: 8,
            scale_pairs: vec![20],
            scale_seconds: 3,
            load_clients: 200,
            load_rounds: 5,
            openload: crate::openload::Plan::quick(),
            openssl_seconds: 1,
            fault_runs: 1,
            ..Self::full()
        }
    }

    pub(crate) fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = if args.iter().any(|a| a == "--quick") {
        Options::quick()
    } else {
        Options::full()
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => {}
            "--redraw" => options.redraw = true,
            "--only" => {
                let value = iter.next().ok_or("--only needs a list of parts")?;
                let parts: Vec<String> = value.split(',').map(str::to_owned).collect();
                if let Some(bad) = parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
                    return Err(format!(
                        "unknown part `{bad}` (parts: {})",
                        PARTS.join(", ")
                    ));
                }
                options.parts = parts;
            }
            "--nice" => {
                let value = iter.next().ok_or("--nice needs a number")?;
                options.openload.nice = value
                    .parse()
                    .map_err(|_| format!("--nice: not a number: {value}"))?;
            }
            "--runs" => {
                let value = iter.next().ok_or("--runs needs a number")?;
                options.runs = value
                    .parse()
                    .map_err(|_| format!("--runs: not a number: {value}"))?;
            }
            other => {
                return Err(format!(
                    "unknown bench argument `{other}` (--quick, --only PARTS, --runs N, --nice N, \
                     --redraw)"
                ))
            }
        }
    }
    Ok(options)
}

/// One `key=value` record (a `RESULT` line, or a summary of other output).
pub(crate) type Record = BTreeMap<String, String>;

/// What a part did when it did not produce numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Status {
    NotRun,
    Skipped(String),
    Failed(String),
    Done,
}

/// Everything measured in one invocation.
#[derive(Debug)]
pub(crate) struct Results {
    pub(crate) options: Options,
    /// When the measurements were taken (UTC, `2026-11-24T07:35Z`).
    pub(crate) measured_at: String,
    /// When some parts were not run (`--only`): when the run whose numbers they keep was
    /// measured (empty when every part was measured now).
    pub(crate) carried_from: String,
    /// Criterion benchmark id and median nanoseconds per iteration.
    pub(crate) session: Vec<(String, f64)>,
    pub(crate) session_status: Status,
    /// (profile, operation, median ns per 1200-byte packet).
    pub(crate) srtp: Vec<(String, String, f64)>,
    /// (what, bytes/s) from `openssl speed` with 1200-byte blocks.
    pub(crate) openssl: Vec<(String, f64)>,
    pub(crate) srtp_status: Status,
    /// The criterion lines of the media benchmarks.
    pub(crate) media: Vec<String>,
    pub(crate) media_status: Status,
    /// Per stack: the `RESULT` records of its runs and the errors of failed runs.
    pub(crate) dc: Vec<(String, Vec<Record>, Vec<String>)>,
    pub(crate) restart: Vec<(String, Vec<Record>, Vec<String>)>,
    pub(crate) scale: Vec<Record>,
    pub(crate) scale_errors: Vec<String>,
    pub(crate) load: Option<Record>,
    pub(crate) load_status: Status,
    /// The open-loop runs (one record per run) and the errors of failed runs.
    pub(crate) openload: Vec<Record>,
    pub(crate) openload_errors: Vec<String>,
    pub(crate) openload_status: Status,
    /// The `RESULT` records of the network fault tests (one per case and run), and the
    /// errors of failed runs.
    pub(crate) faults: Vec<Record>,
    pub(crate) faults_errors: Vec<String>,
    pub(crate) faults_status: Status,
    /// Parts not measured in this invocation whose records come from an earlier one, with
    /// that one's time (`--only`, see [`carry_over`]).
    pub(crate) carried: BTreeMap<String, String>,
}

impl Results {
    fn new(options: Options) -> Self {
        Self {
            options,
            measured_at: String::new(),
            carried_from: String::new(),
            session: Vec::new(),
            session_status: Status::NotRun,
            srtp: Vec::new(),
            openssl: Vec::new(),
            srtp_status: Status::NotRun,
            media: Vec::new(),
            media_status: Status::NotRun,
            dc: Vec::new(),
            restart: Vec::new(),
            scale: Vec::new(),
            scale_errors: Vec::new(),
            load: None,
            load_status: Status::NotRun,
            openload: Vec::new(),
            openload_errors: Vec::new(),
            openload_status: Status::NotRun,
            faults: Vec::new(),
            faults_errors: Vec::new(),
            faults_status: Status::NotRun,
            carried: BTreeMap::new(),
        }
    }
}

/// Median, minimum and maximum of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) n: usize,
}

/// The summary of `values` (`None` when empty); the median of an even count is the mean of
/// the two middle values.
pub(crate) fn summary(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    })
}

/// A record of these pairs (tests).
#[cfg(test)]
pub(crate) fn record(pairs: &[(&str, &str)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The numeric field `key` of every record that has it.
pub(crate) fn field(records: &[Record], key: &str) -> Vec<f64> {
    records
        .iter()
        .filter_map(|r| r.get(key)?.parse().ok())
        .collect()
}

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let (md, svg) = if options.quick {
        (
            root.join("target/benchmarks-quick.md"),
            root.join("target/benchmarks-quick.svg"),
        )
    } else {
        (
            root.join("docs/benchmarks.md"),
            root.join("docs/benchmarks.svg"),
        )
    };
    let raw = md.with_extension("raw.txt");
    // `target/` does not exist in a checkout that builds elsewhere (CARGO_TARGET_DIR).
    if let Some(dir) = md.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let results = if options.redraw {
        let text = std::fs::read_to_string(&raw).map_err(|e| format!("{}: {e}", raw.display()))?;
        raw::read(&text)?
    } else {
        let mut results = measure(root, options.clone());
        // Parts not run keep the numbers of the previous record (a file that does not read,
        // e.g. from an older format, is replaced).
        if let Ok(previous) = std::fs::read_to_string(&raw)
            .map_err(|e| e.to_string())
            .and_then(|t| raw::read(&t))
        {
            carry_over(&mut results, previous);
        }
        std::fs::write(&raw, raw::write(&results))
            .map_err(|e| format!("{}: {e}", raw.display()))?;
        results
    };
    let previous = std::fs::read_to_string(&md).unwrap_or_default();
    let svg_name = svg
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("benchmarks.svg")
        .to_owned();
    let text = report::markdown(&results, &svg_name, &previous);
    std::fs::write(&md, text).map_err(|e| format!("{}: {e}", md.display()))?;
    std::fs::write(&svg, chart::svg(&results)).map_err(|e| format!("{}: {e}", svg.display()))?;
    println!("\nbench: wrote {} and {}", md.display(), svg.display());
    if !options.redraw {
        println!("bench: the records of every run are in {}", raw.display());
    }
    Ok(())
}

/// Copies the numbers (and the options they were measured with) of every part this
/// invocation did not run from `previous`.
fn carry_over(results: &mut Results, previous: Results) {
    let o = results.options.clone();
    if PARTS.iter().all(|p| o.wants(p)) {
        return;
    }
    results.carried_from = if previous.carried_from.is_empty() {
        previous.measured_at.clone()
    } else {
        previous.carried_from.clone()
    };
    // Each carried part keeps the time it was measured (an earlier carry's, or the earlier
    // run's own).
    let has = |part: &str| match part {
        "session" => previous.session_status != Status::NotRun,
        "srtp" => previous.srtp_status != Status::NotRun,
        "media" => previous.media_status != Status::NotRun,
        "dc" => !previous.dc.is_empty(),
        "restart" => !previous.restart.is_empty(),
        "scale" => !previous.scale.is_empty() || !previous.scale_errors.is_empty(),
        "load" => previous.load_status != Status::NotRun,
        "openload" => previous.openload_status != Status::NotRun,
        "faults" => previous.faults_status != Status::NotRun,
        _ => false,
    };
    for part in PARTS.iter().copied().filter(|p| !o.wants(p) && has(p)) {
        let when = previous
            .carried
            .get(part)
            .cloned()
            .unwrap_or_else(|| previous.measured_at.clone());
        results.carried.insert(part.to_owned(), when);
    }
    let (r, p) = (results, previous);
    if !o.wants("session") {
        r.session = p.session;
        r.session_status = p.session_status;
    }
    if !o.wants("srtp") {
        r.srtp = p.srtp;
        r.openssl = p.openssl;
        r.srtp_status = p.srtp_status;
        r.options.openssl_seconds = p.options.openssl_seconds;
    }
    if !o.wants("media") {
        r.media = p.media;
        r.media_status = p.media_status;
    }
    if !o.wants("dc") {
        r.dc = p.dc;
    }
    if !o.wants("restart") {
        r.restart = p.restart;
        r.options.restart_runs = p.options.restart_runs;
    }
    if !o.wants("dc") && !o.wants("restart") {
        r.options.runs = p.options.runs;
        r.options.mib = p.options.mib;
    }
    if !o.wants("scale") {
        r.scale = p.scale;
        r.scale_errors = p.scale_errors;
        r.options.scale_pairs = p.options.scale_pairs;
        r.options.scale_seconds = p.options.scale_seconds;
    }
    if !o.wants("load") {
        r.load = p.load;
        r.load_status = p.load_status;
        r.options.load_clients = p.options.load_clients;
        r.options.load_rounds = p.options.load_rounds;
    }
    if !o.wants("openload") {
        r.openload = p.openload;
        r.openload_errors = p.openload_errors;
        r.openload_status = p.openload_status;
        r.options.openload = p.options.openload;
    }
    if !o.wants("faults") {
        r.faults = p.faults;
        r.faults_errors = p.faults_errors;
        r.faults_status = p.faults_status;
        r.options.fault_runs = p.options.fault_runs;
    }
}

/// Runs the parts `options` asks for.
fn measure(root: &Path, options: Options) -> Results {
    let mut results = Results::new(options.clone());
    results.measured_at = report::command_line("date", &["-u", "+%Y-%m-%dT%H:%MZ"]);
    if options.wants("session") {
        micro::session(root, &mut results);
    }
    if options.wants("srtp") {
        micro::srtp(root, &mut results);
    }
    if options.wants("media") {
        micro::media(root, &mut results);
    }
    if ["dc", "restart", "scale"].iter().any(|p| options.wants(p)) {
        stacks::run(root, &mut results);
    }
    if options.wants("load") {
        stacks::load(root, &mut results);
    }
    if options.wants("openload") {
        openload::measure(root, &mut results);
    }
    if options.wants("faults") {
        faults::measure(root, &mut results);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        let s = summary(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = summary(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 10.0));
        assert_eq!(summary(&[]), None);
        assert_eq!(summary(&[f64::NAN]), None);
    }

    #[test]
    fn parts_not_run_keep_the_previous_numbers() {
        let mut previous = Results::new(Options::full());
        previous.measured_at = "2026-12-06T20:41Z".into();
        previous.session_status = Status::Done;
        previous.session.push(("cycle".into(), 1.0));
        previous.openload.push(Record::new());
        previous.options.load_clients = 1234;
        let mut now = Results::new(parse(&["--only".into(), "openload".into()]).unwrap());
        now.measured_at = "2026-12-07T14:00Z".into();
        now.openload_status = Status::Done;
        carry_over(&mut now, previous);
        assert_eq!(now.carried_from, "2026-12-06T20:41Z");
        assert_eq!(now.session, vec![("cycle".to_owned(), 1.0)]);
        assert_eq!(now.session_status, Status::Done);
        assert_eq!(now.options.load_clients, 1234);
        // The part that ran keeps its own (here: no) records.
        assert!(now.openload.is_empty());
        // A run of every part carries nothing.
        let mut all = Results::new(Options::full());
        carry_over(&mut all, Results::new(Options::quick()));
        assert!(all.carried_from.is_empty());
        assert_eq!(all.options.load_clients, 5000);
    }

    #[test]
    fn options_quick_only_and_errors() {
        let o = parse(&["--quick".into(), "--only".into(), "dc,srtp".into()]).unwrap();
        assert!(o.quick && o.wants("dc") && o.wants("srtp") && !o.wants("load"));
        assert_eq!(o.mib, 8);
        let o = parse(&[]).unwrap();
        assert_eq!(
            (o.runs, o.mib, o.scale_pairs.clone()),
            (5, 100, vec![100, 1000])
        );
        assert!(parse(&["--only".into(), "nope".into()]).is_err());
        assert!(parse(&["--bogus".into()]).is_err());
        assert_eq!(parse(&["--runs".into(), "7".into()]).unwrap().runs, 7);
        let o = parse(&["--nice".into(), "-10".into()]).unwrap();
        assert_eq!(o.openload.nice, -10);
    }

    #[test]
    fn parts_not_run_keep_earlier_records() {
        let mut earlier = Results::new(Options::full());
        earlier.measured_at = "2026-12-01T10:00Z".into();
        earlier.session_status = Status::Done;
        earlier.session.push(("cycle".into(), 100.0));
        earlier
            .dc
            .push(("ours".into(), vec![Record::new()], vec![]));
        earlier
            .carried
            .insert("load".into(), "2026-11-30T09:00Z".into());
        earlier.load_status = Status::Done;
        let mut now = Results::new(parse(&["--only".into(), "dc".into()]).unwrap());
        now.dc.push(("webrtc".into(), vec![], vec![]));
        carry_over(&mut now, earlier);
        assert_eq!(now.session, vec![("cycle".to_owned(), 100.0)]);
        assert_eq!(
            now.dc[0].0, "webrtc",
            "a part that ran keeps its own records"
        );
        assert_eq!(now.carried["session"], "2026-12-01T10:00Z");
        assert_eq!(now.carried["load"], "2026-11-30T09:00Z");
        assert!(!now.carried.contains_key("dc") && !now.carried.contains_key("srtp"));
    }
}
