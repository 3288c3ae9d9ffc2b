//! `cargo xtask load --open`: the open-loop load of the signaling server, also the
//! `openload` part of `cargo xtask bench`.
//!
//! Builds the `openload` example of `tether-signaling-ws` (a server process and a load
//! generator that need only that crate, not the media and transport stack), then for each
//! backend runs sweeps: one run per per-client rate, rising, until a run at or above the
//! target's rate has a p99 over [`CAPACITY_P99_MS`] or loses messages. Every run starts fresh processes: the server
//! side pinned to core 0 (`taskset -c 0`: one server process on the in-memory backend, or two
//! server processes and a `redis-server` in a temp dir), the generator pinned to core 1. Each
//! process runs under `sh -c 'ulimit -n <hard limit>'`, so the soft limit of open files is
//! the hard one (10,000 clients need 10,000 descriptors on each side), in its own session
//! (`setsid`: its own scheduler autogroup, see [`pinned_command`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::bench::Record;
use crate::run::{cargo, command, succeeds};

/// A step whose p99 latency is above this, or that loses a message, is over capacity.
pub(crate) const CAPACITY_P99_MS: f64 = 50.0;
/// The target at 10,000 clients and 1 msg/s each.
pub(crate) const TARGET_P99_MS: f64 = 20.0;
/// Time for a server or redis-server to start answering.
const START_WAIT: Duration = Duration::from_secs(15);
/// Time for a server to exit after its standard input closed.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Where the rooms live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One server process, rooms in memory.
    Memory,
    /// Two server processes on one `redis-server`; a room's two clients are on different
    /// processes, so every signal crosses Redis.
    Redis,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Redis => "redis",
        }
    }

    pub(crate) fn servers(self) -> usize {
        match self {
            Backend::Memory => 1,
            Backend::Redis => 2,
        }
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) clients: usize,
    /// Per-client rates of the steps of one sweep, rising.
    pub(crate) rates: Vec<f64>,
    /// The per-client rate of the target (1 msg/s); a sweep does not stop before
    /// it, so every sweep measures it when it is one of the steps.
    pub(crate) target_rate: f64,
    pub(crate) seconds: f64,
    /// Sweeps per backend.
    pub(crate) runs: usize,
    pub(crate) backends: Vec<Backend>,
    /// The server's tokio runtime: `multi` (as `tether signal`) or `current`.
    pub(crate) runtime: String,
    /// The niceness of every process of a run (`nice -n`); negative raises their priority over
    /// other work sharing the machine (it needs the privilege; without it they run as usual).
    pub(crate) nice: i32,
}

impl Plan {
    pub(crate) fn full() -> Self {
        Self {
            clients: 10_000,
            rates: vec![0.5, 1.0, 1.5, 2.0, 3.0, 4.0],
            target_rate: 1.0,
            seconds: 20.0,
            runs: 3,
            backends: vec![Backend::Memory, Backend::Redis],
            runtime: "multi".to_owned(),
            nice: 0,
        }
    }

    pub(crate) fn quick() -> Self {
        Self {
            clients: 200,
            rates: vec![1.0, 5.0],
            seconds: 3.0,
            runs: 1,
            ..Self::full()
        }
    }

    /// Applies `--clients N --rates A,B --seconds S --runs N --backend memory|redis|both
    /// --runtime multi|current` (after `--quick`, if any, chose the defaults).
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let mut plan = if args.iter().any(|a| a == "--quick") {
            Self::quick()
        } else {
            Self::full()
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--quick" || arg == "--open" {
                continue;
            }
            let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
            let bad = || format!("{arg}: bad value `{value}`");
            match arg.as_str() {
                "--clients" => {
                    plan.clients = value.parse().map_err(|_| bad())?;
                    if plan.clients < 2 || plan.clients % 2 != 0 {
                        return Err(format!("--clients must be even and at least 2: {value}"));
                    }
                }
                "--rates" => {
                    plan.rates = value
                        .split(',')
                        .map(|r| r.parse::<f64>().ok().filter(|r| *r > 0.0))
                        .collect::<Option<_>>()
                        .ok_or_else(bad)?;
                }
                "--seconds" => plan.seconds = value.parse().map_err(|_| bad())?,
                "--target-rate" => plan.target_rate = value.parse().map_err(|_| bad())?,
                "--runs" => plan.runs = value.parse().map_err(|_| bad())?,
                "--backend" => {
                    plan.backends = match value.as_str() {
                        "memory" => vec![Backend::Memory],
                        "redis" => vec![Backend::Redis],
                        "both" => vec![Backend::Memory, Backend::Redis],
                        _ => return Err(bad()),
                    }
                }
                "--runtime" if value == "multi" || value == "current" => {
                    plan.runtime = value.clone();
                }
                "--nice" => plan.nice = value.parse().map_err(|_| bad())?,
                _ => {
                    return Err(format!(
                        "unknown argument `{arg}` (--quick, --clients N, --rates A,B,.., \
                         --target-rate R, --seconds S, --runs N, --backend memory|redis|both, \
                         --runtime multi|current, --nice N)"
                    ))
                }
            }
        }
        if plan.rates.is_empty() || plan.runs == 0 || plan.seconds.is_nan() || plan.seconds <= 0.0 {
            return Err("need at least one rate, one run and seconds > 0".into());
        }
        Ok(plan)
    }
}

/// The records of every run (`backend`, `sweep`, `step` added to the generator's `RESULT`)
/// and the errors of failed runs.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) records: Vec<Record>,
    pub(crate) errors: Vec<String>,
}

/// Whether a run is within capacity: p99 ≤ [`CAPACITY_P99_MS`] and nothing lost.
pub(crate) fn within_capacity(r: &Record) -> bool {
    let num = |k: &str| r.get(k).and_then(|v| v.parse::<f64>().ok());
    matches!((num("p99_ms"), num("lost"), num("failures")), (Some(p99), Some(lost), Some(f))
        if p99 <= CAPACITY_P99_MS && lost == 0.0 && f == 0.0)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Builds the example in release mode; returns its path.
pub(crate) fn build(root: &Path) -> Result<PathBuf, String> {
    cargo(
        "openload",
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "tether-signaling-ws",
            "--example",
            "openload",
        ],
    )
    .run(root)?;
    Ok(target_dir(root).join("release/examples/openload"))
}

/// Runs every sweep of `plan`.
pub(crate) fn run_plan(root: &Path, binary: &Path, plan: &Plan) -> Outcome {
    let mut out = Outcome::default();
    let pinned = succeeds("taskset", &["-c", "0", "true"]);
    if !pinned {
        eprintln!("openload: `taskset` does not work here: processes are not pinned");
    }
    for backend in &plan.backends {
        for sweep in 1..=plan.runs {
            for (step, rate) in plan.rates.iter().enumerate() {
                println!(
                    "\n-- openload {} sweep {sweep}/{}: {} clients at {rate} msg/s",
                    backend.name(),
                    plan.runs,
                    plan.clients
                );
                match run_once(root, binary, plan, *backend, *rate, pinned) {
                    Ok(mut r) => {
                        r.insert("backend".into(), backend.name().into());
                        r.insert("sweep".into(), sweep.to_string());
                        r.insert("step".into(), (step + 1).to_string());
                        r.insert("runtime".into(), plan.runtime.clone());
                        r.insert("pinned".into(), pinned.to_string());
                        r.insert("nice".into(), plan.nice.to_string());
                        let ok = within_capacity(&r);
                        out.records.push(r);
                        if !ok && *rate >= plan.target_rate {
                            break;
                        }
                    }
                    Err(e) => {
                        eprintln!("openload: run failed: {e}");
                        out.errors.push(format!(
                            "{} sweep {sweep}, {rate} msg/s: {e}",
                            backend.name()
                        ));
                        if *rate >= plan.target_rate {
                            break;
                        }
                    }
                }
            }
        }
    }
    out
}

/// `setsid sh -c '[echo N > /proc/self/autogroup;] ulimit -n <hard> && exec [nice -n N]
/// [taskset -c <core>] <binary> <args>'`.
///
/// Each process gets its own session, hence its own scheduler autogroup (Linux with
/// `kernel.sched_autogroup_enabled`, as here): CPU time is shared between autogroups first,
/// so without it a process competes as part of the shell session that started it (with the
/// builds of that session), and a plain `nice` only ranks it within that session. With a
/// niceness, the autogroup gets it too.
fn pinned_command(binary: &Path, nice: i32, core: Option<u32>, args: &[String]) -> Command {
    let mut script = String::new();
    if nice != 0 {
        script.push_str(&format!("echo {nice} > /proc/self/autogroup 2>/dev/null; "));
    }
    script.push_str("ulimit -n \"$(ulimit -Hn)\" && exec");
    if nice != 0 {
        script.push_str(&format!(" nice -n {nice}"));
    }
    if let Some(core) = core {
        script.push_str(&format!(" taskset -c {core}"));
    }
    script.push_str(" \"$@\"");
    let mut c = Command::new("setsid");
    c.arg("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(binary)
        .args(args);
    c
}

/// A child process stopped when dropped: by closing its stdin (then, after [`STOP_WAIT`], by
/// its pid), or at once by its pid.
struct Proc {
    child: Child,
    gentle: bool,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now()
            + if self.gentle {
                STOP_WAIT
            } else {
                Duration::ZERO
            };
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` on a free loopback port, in its own temp dir (removed on drop).
struct Redis {
    proc: Option<Proc>,
    dir: PathBuf,
    url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        drop(self.proc.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn start_redis(pinned: bool, nice: i32) -> Result<Redis, String> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("tether-openload-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port_s = port.to_string();
    let args: Vec<String> = [
        "--port",
        &port_s,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxclients",
        "1000",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let child = pinned_command(Path::new("redis-server"), nice, pinned.then_some(0), &args)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server does not start (is it installed?): {e}"))?;
    let redis = Redis {
        proc: Some(Proc {
            child,
            gentle: false,
        }),
        dir,
        url: format!("redis://127.0.0.1:{port}/0"),
    };
    let deadline = Instant::now() + START_WAIT;
    loop {
        let pong = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(1)))?;
            s.write_all(b"PING\r\n")?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf)?;
            Ok(buf)
        });
        if pong.is_ok_and(|b| &b == b"+PONG\r\n") {
            return Ok(redis);
        }
        if Instant::now() > deadline {
            return Err("redis-server did not answer PING".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts one server process; returns it and its WebSocket URL.
fn start_server(
    binary: &Path,
    plan: &Plan,
    rate: f64,
    redis: Option<&str>,
    pinned: bool,
) -> Result<(Proc, String), String> {
    let mut args: Vec<String> = ["serve", "--runtime", &plan.runtime]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.extend(["--max-clients".into(), plan.clients.to_string()]);
    args.extend(["--max-rate".into(), (rate.ceil() as u32).to_string()]);
    if let Some(url) = redis {
        args.extend(["--redis".into(), url.to_owned()]);
    }
    let mut child = pinned_command(binary, plan.nice, pinned.then_some(0), &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc {
        child,
        gentle: true,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(START_WAIT)
        .map_err(|_| "the server did not print LISTENING".to_owned())?;
    Ok((proc, url))
}

/// One run: fresh server side, the generator, its `RESULT` record.
fn run_once(
    root: &Path,
    binary: &Path,
    plan: &Plan,
    backend: Backend,
    rate: f64,
    pinned: bool,
) -> Result<Record, String> {
    let redis = match backend {
        Backend::Redis => Some(start_redis(pinned, plan.nice)?),
        Backend::Memory => None,
    };
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..backend.servers() {
        let (proc, url) = start_server(
            binary,
            plan,
            rate,
            redis.as_ref().map(|r| r.url.as_str()),
            pinned,
        )?;
        servers.push(proc);
        urls.push(url);
    }
    let pids: Vec<String> = servers.iter().map(|p| p.pid().to_string()).collect();
    let mut args = vec![
        "gen".to_owned(),
        "--url".into(),
        urls.join(","),
        "--clients".into(),
        plan.clients.to_string(),
        "--rate".into(),
        rate.to_string(),
        "--seconds".into(),
        plan.seconds.to_string(),
        "--pids".into(),
        pids.join(","),
    ];
    if let Some(proc) = redis.as_ref().and_then(|r| r.proc.as_ref()) {
        args.extend(["--aux-pids".into(), proc.pid().to_string()]);
    }
    let gen = pinned_command(binary, plan.nice, pinned.then_some(1), &args);
    let program = gen.get_program().to_string_lossy().into_owned();
    let gen_args: Vec<String> = gen
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let refs: Vec<&str> = gen_args.iter().map(String::as_str).collect();
    let out = command("openload", &program, &refs).run_capture(root, false);
    drop(servers);
    drop(redis);
    let out = out?;
    out.lines()
        .find_map(crate::bench::parse_result)
        .ok_or_else(|| "no RESULT line from the generator".to_owned())
}

/// `cargo xtask load --open [args]`: builds, runs the plan, prints the section of
/// `docs/benchmarks.md` it would write.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let plan = Plan::parse(args)?;
    let binary = build(root)?;
    let outcome = run_plan(root, &binary, &plan);
    let mut page = String::new();
    crate::bench::openload_section(&mut page, &plan, &outcome.records, &outcome.errors);
    println!("\n{page}");
    if outcome.records.is_empty() {
        return Err("no run succeeded".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn plans_from_arguments() {
        let p = Plan::parse(&strings(&["--open"])).unwrap();
        assert_eq!(p, Plan::full());
        assert_eq!((p.clients, p.runs, p.backends.len()), (10_000, 3, 2));
        let p = Plan::parse(&strings(&[
            "--quick",
            "--rates",
            "1,2.5",
            "--backend",
            "redis",
            "--runtime",
            "current",
            "--nice",
            "-5",
        ]))
        .unwrap();
        assert_eq!(p.nice, -5);
        assert_eq!(p.clients, 200);
        assert_eq!(p.rates, vec![1.0, 2.5]);
        assert_eq!(p.backends, vec![Backend::Redis]);
        assert_eq!(p.runtime, "current");
        for bad in [
            &["--clients", "3"][..],
            &["--rates", "1,x"],
            &["--rates", "0"],
            &["--backend", "etcd"],
            &["--runtime", "fast"],
            &["--runs", "0"],
            &["--clients"],
        ] {
            assert!(Plan::parse(&strings(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn capacity_needs_p99_within_bound_and_nothing_lost() {
        let rec = |p99: &str, lost: &str| -> Record {
            [("p99_ms", p99), ("lost", lost), ("failures", "0")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        assert!(within_capacity(&rec("50.00", "0")));
        assert!(!within_capacity(&rec("50.01", "0")));
        assert!(!within_capacity(&rec("3.0", "1")));
        assert!(!within_capacity(&Record::new()));
    }

    #[test]
    fn processes_raise_the_fd_limit_and_pin() {
        let c = pinned_command(Path::new("/x/openload"), 0, Some(1), &strings(&["gen"]));
        let args: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(c.get_program(), "setsid");
        assert_eq!(
            args,
            [
                "sh",
                "-c",
                "ulimit -n \"$(ulimit -Hn)\" && exec taskset -c 1 \"$@\"",
                "sh",
                "/x/openload",
                "gen"
            ]
        );
        let c = pinned_command(Path::new("/x/openload"), -10, None, &[]);
        let script = c.get_args().nth(2).unwrap().to_string_lossy().into_owned();
        assert_eq!(
            script,
            "echo -10 > /proc/self/autogroup 2>/dev/null; \
             ulimit -n \"$(ulimit -Hn)\" && exec nice -n -10 \"$@\""
        );
    }
}
