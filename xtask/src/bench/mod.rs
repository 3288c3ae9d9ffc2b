//! `cargo xtask bench [--quick] [--only PARTS] [--runs N] [--redraw]`: every benchmark of
//! issue 7 in one run, written to `docs/benchmarks.md`, `docs/benchmarks.svg` and the records
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
//! process), `load` (the signaling load test). The other stacks live in `benches/compare/`, a
//! separate cargo workspace that only this command builds.

mod chart;
mod micro;
mod raw;
mod report;
mod stacks;

use std::collections::BTreeMap;
use std::path::Path;

/// Every part, in the order they run.
pub(crate) const PARTS: &[&str] = &["session", "srtp", "media", "dc", "restart", "scale", "load"];
/// The stacks compared, ours first (ratios are to it).
pub(crate) const STACKS: &[&str] = &["ours", "webrtc", "str0m", "str0m-default", "rtc"];

/// How much to run.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Seconds per `openssl speed` measurement.
    pub(crate) openssl_seconds: u64,
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
            openssl_seconds: 3,
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
            openssl_seconds: 1,
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
            "--runs" => {
                let value = iter.next().ok_or("--runs needs a number")?;
                options.runs = value
                    .parse()
                    .map_err(|_| format!("--runs: not a number: {value}"))?;
            }
            other => {
                return Err(format!(
                    "unknown bench argument `{other}` (--quick, --only PARTS, --runs N, --redraw)"
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
    /// Parts not measured in this invocation whose records come from an earlier one, with
    /// that one's time (`--only`, see [`carry_over`]).
    pub(crate) carried: BTreeMap<String, String>,
}

impl Results {
    fn new(options: Options) -> Self {
        Self {
            options,
            measured_at: String::new(),
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
            carried: BTreeMap::new(),
        }
    }
}

/// Copies into `r` the records of `previous` for every part `r` did not run (`--only`), and
/// notes when they were measured.
pub(crate) fn carry_over(r: &mut Results, previous: Results) {
    let when = |part: &str| {
        previous
            .carried
            .get(part)
            .cloned()
            .unwrap_or_else(|| previous.measured_at.clone())
    };
    let has = |part: &str| match part {
        "session" => previous.session_status != Status::NotRun,
        "srtp" => previous.srtp_status != Status::NotRun,
        "media" => previous.media_status != Status::NotRun,
        "dc" => !previous.dc.is_empty(),
        "restart" => !previous.restart.is_empty(),
        "scale" => !previous.scale.is_empty() || !previous.scale_errors.is_empty(),
        "load" => previous.load_status != Status::NotRun,
        _ => false,
    };
    let parts: Vec<&str> = PARTS
        .iter()
        .copied()
        .filter(|p| !r.options.wants(p) && has(p))
        .collect();
    for part in parts {
        r.carried.insert(part.to_owned(), when(part));
        match part {
            "session" => {
                r.session = previous.session.clone();
                r.session_status = previous.session_status.clone();
            }
            "srtp" => {
                r.srtp = previous.srtp.clone();
                r.openssl = previous.openssl.clone();
                r.srtp_status = previous.srtp_status.clone();
            }
            "media" => {
                r.media = previous.media.clone();
                r.media_status = previous.media_status.clone();
            }
            "dc" => r.dc = previous.dc.clone(),
            "restart" => r.restart = previous.restart.clone(),
            "scale" => {
                r.scale = previous.scale.clone();
                r.scale_errors = previous.scale_errors.clone();
            }
            _ => {
                r.load = previous.load.clone();
                r.load_status = previous.load_status.clone();
            }
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
    let results = if options.redraw {
        let text = std::fs::read_to_string(&raw).map_err(|e| format!("{}: {e}", raw.display()))?;
        raw::read(&text)?
    } else {
        let mut results = measure(root, options.clone());
        if !options.quick {
            if let Ok(previous) = std::fs::read_to_string(&raw)
                .map_err(|e| e.to_string())
                .and_then(|text| raw::read(&text))
            {
                carry_over(&mut results, previous);
            }
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
