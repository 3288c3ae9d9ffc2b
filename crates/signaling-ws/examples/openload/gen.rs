//! `openload gen`: N WebSocket clients in pairs (one room per pair), each sending signals at a
//! fixed rate on the clock, whether or not anything came back (open loop). Each signal's
//! `data` is `[scheduled, written]`, microseconds since the generator's epoch; the receiving
//! client (same process, same clock) records both latencies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::args::Args;
use crate::schedule::Schedule;
use crate::stats::{ms, Percentiles};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Time for one client to connect and join, and then to see its partner join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for all clients to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// Connections being opened at once.
const CONNECTS_AT_ONCE: usize = 64;
/// Acknowledge received messages every this many (as `SignalingClient` does by default).
const ACK_EVERY: u64 = 16;
/// File descriptors the process needs besides one per client.
const SPARE_FDS: u64 = 64;

/// Signals received by all clients so far (for the CPU cost per signal while sending).
static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// What a run is asked to do.
#[derive(Debug, Clone)]
struct Config {
    urls: Vec<String>,
    clients: usize,
    schedule: Schedule,
    rate: f64,
    seconds: f64,
    drain: Duration,
    pids: Vec<u32>,
    /// Other server-side processes (redis-server): CPU and RSS reported on their own.
    aux_pids: Vec<u32>,
    tag: String,
}

/// What one client saw.
#[derive(Debug, Default)]
struct Outcome {
    sent: u64,
    received: u64,
    /// Receive time minus scheduled send time (µs).
    latency: Vec<u64>,
    /// The second of the run (from the start) each `latency` sample was scheduled in.
    second: Vec<u32>,
    /// Receive time minus the time the signal was written (µs).
    from_write: Vec<u64>,
    /// Write time minus scheduled time (µs): the generator's own lateness.
    lag: Vec<u64>,
    /// `error` messages from the server.
    errors: u64,
}

/// The fields of server messages the load looks at.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    peer_id: Option<String>,
    #[serde(default)]
    peers: Vec<Peer>,
    #[serde(default)]
    data: Option<(u64, u64)>,
}

#[derive(Deserialize)]
struct Peer {
    id: String,
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    let urls: String = args
        .opt("url")?
        .ok_or("--url ws://...,ws://... is required")?;
    let clients: usize = args.get("clients", 1000)?;
    let rate: f64 = args.get("rate", 1.0)?;
    let seconds: f64 = args.get("seconds", 20.0)?;
    let drain: f64 = args.get("drain", 2.0)?;
    let pid_list = |key: &str| -> Result<Vec<u32>, String> {
        let list: String = args.get(key, String::new())?;
        list.split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().map_err(|_| format!("--{key}: bad pid `{p}`")))
            .collect()
    };
    if clients < 2 || clients % 2 != 0 {
        return Err(format!(
            "--clients must be even and at least 2 (got {clients})"
        ));
    }
    check_fds(clients as u64 + SPARE_FDS)?;
    let config = Config {
        urls: urls.split(',').map(str::to_owned).collect(),
        clients,
        schedule: Schedule::new(clients, rate, seconds)?,
        rate,
        seconds,
        drain: Duration::from_secs_f64(drain),
        pids: pid_list("pids")?,
        aux_pids: pid_list("aux-pids")?,
        tag: format!("{}-{}", std::process::id(), rand_tag()),
    };
    // One thread: the generator is pinned to one core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(generate(config))
}

/// A short tag that keeps room names of different runs apart.
fn rand_tag() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64 % 1_000_000_007)
}

/// Fails unless the soft limit of open files is at least `need`.
fn check_fds(need: u64) -> Result<(), String> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    match soft {
        Some(soft) if soft < need => Err(format!(
            "the soft limit of open files is {soft}, the load needs {need}: raise it \
             (`ulimit -n {need}`; `cargo xtask load --open` raises it to the hard limit)"
        )),
        _ => Ok(()),
    }
}

/// (VmRSS, VmHWM) in KiB, summed over `pids`.
fn rss_kib(pids: &[u32]) -> (u64, u64) {
    let mut total = (0, 0);
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        total.0 += field("VmRSS:");
        total.1 += field("VmHWM:");
    }
    total
}

/// CPU time (user + system) of `pid` (0: this process) in seconds, from `/proc/PID/stat`.
fn cpu_s(pid: u32) -> f64 {
    let path = if pid == 0 {
        "/proc/self/stat".to_owned()
    } else {
        format!("/proc/{pid}/stat")
    };
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may contain spaces): state is the first; utime
    // and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // The kernel reports clock ticks of USER_HZ, 100 on Linux.
    ticks as f64 / 100.0
}

/// CPU seconds of the whole machine (every core, busy time), from `/proc/stat`.
fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    let busy: u64 = v.iter().take(8).sum::<u64>() - v.get(3).unwrap_or(&0) - v.get(4).unwrap_or(&0);
    busy as f64 / 100.0
}

/// CPU seconds of the server processes together, of this process, of the machine, and of
/// the auxiliary processes.
fn cpu_now(pids: &[u32], aux: &[u32]) -> [f64; 4] {
    [
        pids.iter().map(|p| cpu_s(*p)).sum(),
        cpu_s(0),
        machine_busy_s(),
        aux.iter().map(|p| cpu_s(*p)).sum(),
    ]
}

async fn generate(config: Config) -> Result<(), String> {
    let config = Arc::new(config);
    let c = &config;
    let (rss_idle, _) = rss_kib(&c.pids);
    let epoch = Instant::now();
    let connects = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let (ready_tx, mut ready_rx) = mpsc::channel(c.clients);
    let (start_tx, start_rx) = watch::channel(None);
    let tasks: Vec<_> = (0..c.clients)
        .map(|i| {
            let (config, connects) = (Arc::clone(&config), Arc::clone(&connects));
            let (ready, start) = (ready_tx.clone(), start_rx.clone());
            tokio::spawn(client(i, config, epoch, connects, ready, start))
        })
        .collect();
    drop(ready_tx);
    for n in 0..c.clients {
        match timeout(READY_TIMEOUT, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(format!("a client failed to join: {e}")),
            Ok(None) => return Err("clients ended before the start".into()),
            Err(_) => return Err(format!("only {n} of {} clients ready in time", c.clients)),
        }
    }
    let connect_s = epoch.elapsed().as_secs_f64();
    // Let the joins settle (allocator, queues) before measuring memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_joined, _) = rss_kib(&c.pids);
    let t0 = Instant::now() + Duration::from_millis(200);
    let _ = start_tx.send(Some(t0));
    let sending = c.schedule.sending_time();
    sleep_until(t0).await;
    let cpu_start = cpu_now(&c.pids, &c.aux_pids);
    let received_start = RECEIVED.load(Ordering::Relaxed);
    sleep_until(t0 + sending.mul_f64(0.9)).await;
    let (rss_loaded, _) = rss_kib(&c.pids);
    let cpu_end = cpu_now(&c.pids, &c.aux_pids);
    let received_in_window = RECEIVED.load(Ordering::Relaxed) - received_start;
    // Server CPU time per signal relayed while sending (acks and pings included).
    let server_us = 1e6 * (cpu_end[0] - cpu_start[0]) / received_in_window.max(1) as f64;
    let window = sending.mul_f64(0.9).as_secs_f64();
    let pct = |k: usize| 100.0 * (cpu_end[k] - cpu_start[k]) / window;
    // Everything else the machine ran meanwhile (other builds share these cores).
    let cpu_pct = [
        pct(0),
        pct(1),
        (pct(2) - pct(0) - pct(1) - pct(3)).max(0.0),
        pct(3),
    ];

    let mut all = Outcome::default();
    let mut failures = Vec::new();
    let mut sockets = Vec::with_capacity(c.clients);
    for task in tasks {
        match task.await {
            Ok(Ok((o, ws))) => {
                sockets.push(ws);
                all.sent += o.sent;
                all.received += o.received;
                all.errors += o.errors;
                all.latency.extend(o.latency);
                all.second.extend(o.second);
                all.from_write.extend(o.from_write);
                all.lag.extend(o.lag);
            }
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("client task: {e}")),
        }
    }
    let (_, rss_peak) = rss_kib(&c.pids);
    futures_util::stream::iter(sockets)
        .for_each_concurrent(CONNECTS_AT_ONCE, leave)
        .await;
    let (aux_rss, _) = rss_kib(&c.aux_pids);
    report(
        c,
        &mut all,
        &failures,
        connect_s,
        [rss_idle, rss_joined, rss_loaded, rss_peak, aux_rss],
        cpu_pct,
        server_us,
    );
    Ok(())
}

fn report(
    c: &Config,
    all: &mut Outcome,
    failures: &[String],
    connect_s: f64,
    rss: [u64; 5],
    [server_cpu, gen_cpu, others_cpu, aux_cpu]: [f64; 4],
    server_us: f64,
) {
    let [rss_idle, rss_joined, rss_loaded, rss_peak, aux_rss] = rss;
    let timeline = timeline(&all.latency, &all.second);
    let lat = Percentiles::of(&mut all.latency);
    let from_write = Percentiles::of(&mut all.from_write);
    let lag = Percentiles::of(&mut all.lag);
    let expected = c.schedule.total();
    let lost = all.sent.saturating_sub(all.received);
    let sending = c.schedule.sending_time().as_secs_f64();
    let offered = c.clients as f64 * c.rate;
    let achieved = all.received as f64 / sending;
    let per_client = rss_joined.saturating_sub(rss_idle) as f64 / c.clients as f64;
    println!(
        "openload: {} clients ({} rooms) on {} server process(es), {} msg/s each for {} s: \
         offered {offered:.0} msg/s",
        c.clients,
        c.clients / 2,
        c.urls.len(),
        c.rate,
        c.seconds
    );
    println!("openload: connect + join all: {connect_s:.2} s");
    println!(
        "openload: sent {} of {expected}, received {}, lost {lost}; delivered {achieved:.0} msg/s; \
         {} server errors; {} client failures",
        all.sent,
        all.received,
        all.errors,
        failures.len()
    );
    for f in failures.iter().take(5) {
        println!("openload: client failure: {f}");
    }
    println!(
        "openload: latency from schedule: p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        ms(lat.p50),
        ms(lat.p90),
        ms(lat.p99),
        ms(lat.p999),
        ms(lat.max)
    );
    println!("openload: p99 (max) per second of the schedule, ms: {timeline}");
    println!(
        "openload: latency from write: p50 {} ms, p99 {} ms; generator lag p99 {} ms, max {} ms",
        ms(from_write.p50),
        ms(from_write.p99),
        ms(lag.p99),
        ms(lag.max)
    );
    println!(
        "openload: CPU while sending: server(s) {server_cpu:.0} % of a core ({server_us:.1} µs per \
         signal), generator \
         {gen_cpu:.0} %, redis-server {aux_cpu:.0} % (RSS {aux_rss} KiB), everything else on \
         the machine {others_cpu:.0} %"
    );
    println!(
        "openload: server RSS idle {rss_idle} KiB, all joined {rss_joined} KiB \
         ({per_client:.2} KiB per client), under load {rss_loaded} KiB, peak {rss_peak} KiB"
    );
    println!(
        "RESULT test=openload servers={} clients={} rate={} seconds={} offered_msg_s={offered:.0} \
         sent={} received={} lost={lost} failures={} errors={} achieved_msg_s={achieved:.0} \
         p50_ms={} p90_ms={} p99_ms={} p999_ms={} max_ms={} write_p99_ms={} lag_p99_ms={} \
         lag_max_ms={} connect_s={connect_s:.2} rss_idle_kib={rss_idle} \
         rss_joined_kib={rss_joined} rss_loaded_kib={rss_loaded} rss_peak_kib={rss_peak} \
         rss_per_client_kib={per_client:.2} server_cpu_pct={server_cpu:.0} \
         gen_cpu_pct={gen_cpu:.0} others_cpu_pct={others_cpu:.0} aux_cpu_pct={aux_cpu:.0} \
         aux_rss_kib={aux_rss} server_us_per_msg={server_us:.1}",
        c.urls.len(),
        c.clients,
        c.rate,
        c.seconds,
        all.sent,
        all.received,
        failures.len(),
        all.errors,
        ms(lat.p50),
        ms(lat.p90),
        ms(lat.p99),
        ms(lat.p999),
        ms(lat.max),
        ms(from_write.p99),
        ms(lag.p99),
        ms(lag.max),
    );
}

/// `p99 (max)` of the samples of each second, in order.
fn timeline(latency: &[u64], second: &[u32]) -> String {
    let seconds = second.iter().max().map_or(0, |m| *m as usize + 1);
    let mut buckets = vec![Vec::new(); seconds];
    for (l, s) in latency.iter().zip(second) {
        buckets[*s as usize].push(*l);
    }
    buckets
        .iter_mut()
        .map(|b| {
            let p = Percentiles::of(b);
            format!("{} ({})", ms(p.p99), ms(p.max))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// One client: join, wait for the partner and the start, then send on schedule and receive
/// until everything arrived or the drain time is over.
async fn client(
    i: usize,
    c: Arc<Config>,
    epoch: Instant,
    connects: Arc<Semaphore>,
    ready: mpsc::Sender<Result<(), String>>,
    mut start: watch::Receiver<Option<Instant>>,
) -> Result<(Outcome, Ws), String> {
    let url = &c.urls[i % c.urls.len()];
    let room = format!("ol-{}-{}", c.tag, i / 2);
    let joined = async {
        let (mut ws, mut last_seq, partner) = {
            let _permit = connects.acquire().await.map_err(|e| e.to_string())?;
            join(url, &room).await?
        };
        let partner = match partner {
            Some(p) => p,
            None => wait_partner(&mut ws, &mut last_seq).await?,
        };
        Ok::<_, String>((ws, last_seq, partner))
    };
    let joined = match timeout(JOIN_TIMEOUT, joined).await {
        Ok(r) => r,
        Err(_) => Err("join or partner timed out".to_owned()),
    };
    let (mut ws, mut last_seq, partner) = match joined {
        Ok(j) => {
            let _ = ready.send(Ok(())).await;
            j
        }
        Err(e) => {
            let _ = ready.send(Err(format!("client {i}: {e}"))).await;
            return Err(e);
        }
    };
    drop(ready);
    let t0 = match timeout(READY_TIMEOUT, start.wait_for(Option::is_some)).await {
        Ok(Ok(t)) => t.unwrap_or_else(Instant::now),
        _ => return Err("no start".into()),
    };
    let s = c.schedule;
    let n = s.per_client();
    let stop = t0 + s.sending_time() + c.drain;
    let mut out = Outcome {
        latency: Vec::with_capacity(n as usize),
        second: Vec::with_capacity(n as usize),
        from_write: Vec::with_capacity(n as usize),
        lag: Vec::with_capacity(n as usize),
        ..Outcome::default()
    };
    // Acknowledge every ACK_EVERY messages, the first time after 1 to ACK_EVERY of them
    // depending on the client: clients that started together would otherwise all acknowledge
    // in the same second (a burst of twice the load every ACK_EVERY seconds at 1 msg/s, which
    // real clients, joining at different times, do not make).
    let mut next_ack = last_seq + ACK_EVERY - (i as u64 % ACK_EVERY);
    let mut k = 0;
    let mut next = t0 + s.at(i, 0);
    // Two timers for the whole run, reset rather than made anew at every message.
    let send_timer = sleep_until(next);
    let stop_timer = sleep_until(stop);
    tokio::pin!(send_timer, stop_timer);
    while k < n || out.received < n {
        tokio::select! {
            biased;
            () = &mut send_timer, if k < n => {
                let written = Instant::now();
                let (sched_us, written_us) = (us(next - epoch), us(written - epoch));
                let text = format!(
                    r#"{{"type":"signal","to":"{partner}","data":[{sched_us},{written_us}]}}"#
                );
                ws.send(Message::text(text)).await.map_err(|e| format!("send: {e}"))?;
                out.lag.push(written_us - sched_us);
                out.sent += 1;
                k += 1;
                next = t0 + s.at(i, k);
                send_timer.as_mut().reset(next);
            }
            msg = ws.next() => {
                let now_us = us(Instant::now() - epoch);
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(f))) => return Err(format!("closed by the server: {f:?}")),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    None => return Err("connection ended".into()),
                };
                let m: Incoming<'_> = serde_json::from_str(text.as_str())
                    .map_err(|e| format!("bad server message: {e}"))?;
                last_seq = last_seq.max(m.seq);
                match (m.kind, m.data) {
                    ("signal", Some((sched_us, written_us))) => {
                        out.latency.push(now_us.saturating_sub(sched_us));
                        let t0_us = us(t0 - epoch);
                        out.second.push((sched_us.saturating_sub(t0_us) / 1_000_000) as u32);
                        out.from_write.push(now_us.saturating_sub(written_us));
                        out.received += 1;
                        RECEIVED.fetch_add(1, Ordering::Relaxed);
                    }
                    ("error", _) => out.errors += 1,
                    _ => {}
                }
                if last_seq >= next_ack {
                    next_ack = last_seq + ACK_EVERY;
                    let ack = format!(r#"{{"type":"ack","seq":{last_seq}}}"#);
                    ws.send(Message::text(ack)).await.map_err(|e| format!("send: {e}"))?;
                }
            }
            () = &mut stop_timer => break,
        }
    }
    Ok((out, ws))
}

/// Says `bye` and closes, within a bound. Done once every client finished, so that leaving
/// pairs do not load the server while others still measure.
async fn leave(mut ws: Ws) {
    let _ = timeout(Duration::from_secs(2), async {
        let _ = ws.send(Message::text(r#"{"type":"bye"}"#)).await;
        let _ = ws.close(None).await;
    })
    .await;
}

/// Connects, joins `room`; returns the socket, the last `seq` seen and the partner if it was
/// already in the room.
async fn join(url: &str, room: &str) -> Result<(Ws, u64, Option<String>), String> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    let join = format!(r#"{{"type":"join","v":1,"room":"{room}"}}"#);
    ws.send(Message::text(join))
        .await
        .map_err(|e| format!("send join: {e}"))?;
    loop {
        let text = next_text(&mut ws).await?;
        let m: Incoming<'_> =
            serde_json::from_str(&text).map_err(|e| format!("bad server message: {e}"))?;
        match m.kind {
            "joined" => {
                let partner = m.peers.into_iter().next().map(|p| p.id);
                return Ok((ws, m.seq, partner));
            }
            "error" => return Err(format!("join refused: {text}")),
            _ => {}
        }
    }
}

/// Reads until the partner joins.
async fn wait_partner(ws: &mut Ws, last_seq: &mut u64) -> Result<String, String> {
    loop {
        let text = next_text(ws).await?;
        let m: Incoming<'_> =
            serde_json::from_str(&text).map_err(|e| format!("bad server message: {e}"))?;
        *last_seq = (*last_seq).max(m.seq);
        if m.kind == "peer-joined" {
            return m
                .peer_id
                .ok_or_else(|| "peer-joined without peer_id".into());
        }
    }
}

async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(f))) => return Err(format!("closed by the server: {f:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("connection ended".into()),
        }
    }
}
