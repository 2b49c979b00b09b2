//! Throw-away Redis servers and clusters for integration tests.
//!
//! Every server is a `redis-server` child process of the test, on a free loopback port, with
//! persistence off, in its own temporary directory (removed on drop). Nothing here talks to a
//! system Redis on the default port. All waits are bounded; a server that cannot start makes
//! the caller panic with the tail of its log.
//!
//! Include it from an integration test with
//! `#[path = "common/redis.rs"] mod redis_support;`.
//!
//! The binaries default to `redis-server` and `redis-cli` on `PATH`; the environment variables
//! `TOWER_SHIELD_REDIS_SERVER` and `TOWER_SHIELD_REDIS_CLI` override them.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server gets to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `restart` keeps retrying while the port is momentarily busy.
const RESTART_BIND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a cluster gets, after `--cluster create`, to report `cluster_state:ok` everywhere.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for one `redis-cli` run (`--cluster create` included).
const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// Polling interval of every wait.
const POLL: Duration = Duration::from_millis(20);
/// Ports are picked below this, so that the cluster bus port (`port + 10000`) stays valid.
const MAX_PORT: u16 = 55_000;
/// Attempts with a fresh port when a new server finds its port taken.
const START_ATTEMPTS: usize = 5;
/// The environment variable naming a Redis that tests not killing servers may share.
pub const SHARED_URL_ENV: &str = "TOWER_SHIELD_REDIS_URL";

/// One redis-server process on a free loopback port, persistence off.
pub struct RedisServer {
    node: Node,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port, in its own temporary directory, and waits
    /// (at most 10 s) until it answers. Panics, with the server's log, if it cannot start.
    pub fn start() -> RedisServer {
        RedisServer {
            node: Node::start_on_free_port(false, |_| Vec::new()),
        }
    }

    /// `redis://127.0.0.1:P/`
    pub fn url(&self) -> String {
        url_for(self.node.port)
    }

    pub fn port(&self) -> u16 {
        self.node.port
    }

    /// The server's temporary directory (its log is `redis.log` there).
    pub fn dir(&self) -> &Path {
        &self.node.dir
    }

    /// Whether the server answers a PING now.
    pub fn ping(&self) -> bool {
        ping_port(self.node.port)
    }

    /// SIGKILLs the process and waits for it (simulates an outage). Idempotent.
    pub fn kill(&mut self) {
        self.node.kill();
    }

    /// Starts the server again on the same port (killing it first if it still runs), and waits
    /// until it answers. Retries for up to 10 s while the port is momentarily busy. The data is
    /// gone: persistence is off.
    pub fn restart(&mut self) {
        self.node.kill();
        let deadline = Instant::now() + RESTART_BIND_TIMEOUT;
        loop {
            match self.node.spawn() {
                Ok(()) => return,
                Err(e) if e.addr_in_use && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!(
                    "redis-server could not restart on port {}: {}",
                    self.node.port, e.message
                ),
            }
        }
    }

    /// Runs `redis-cli -p P <args...>` and returns its stdout, trimmed. Panics if the command
    /// fails, error replies included (`redis-cli -e`).
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("redis-cli -p {} {args:?} failed: {e}", self.node.port))
    }

    /// `cli`, with a failure (an error reply included) as `Err(output)` instead of a panic.
    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let port = self.node.port.to_string();
        let mut all = vec!["-e", "-h", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        run_cli(&all, CLI_TIMEOUT)
    }
}

/// The URL of the server a test should use for tests that do not kill servers:
/// `TOWER_SHIELD_REDIS_URL` when set (then no server is started), else a fresh [`RedisServer`]
/// (keep it alive for as long as the URL is used).
pub fn shared_or_start() -> (String, Option<RedisServer>) {
    match std::env::var(SHARED_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => (url.trim().to_owned(), None),
        _ => {
            let server = RedisServer::start();
            (server.url(), Some(server))
        }
    }
}

/// A Redis Cluster of 3 masters (no replicas) on loopback ports, started by the test.
pub struct RedisCluster {
    nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts 3 cluster-enabled nodes, joins them with `redis-cli --cluster create`, and waits
    /// (at most 20 s) until every node reports `cluster_state:ok`, all 16384 slots and 3 known
    /// nodes. Panics, with the nodes' logs, if any of it fails.
    pub fn start() -> RedisCluster {
        let mut nodes = Vec::with_capacity(3);
        for _ in 0..3 {
            nodes.push(Node::start_on_free_port(true, |port| {
                [
                    "--cluster-enabled".to_owned(),
                    "yes".to_owned(),
                    "--cluster-config-file".to_owned(),
                    format!("nodes-{port}.conf"),
                    "--cluster-node-timeout".to_owned(),
                    "2000".to_owned(),
                ]
                .into()
            }));
        }
        let cluster = RedisCluster { nodes };

        let addrs: Vec<String> = cluster
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        if let Err(e) = run_cli(&args, CLI_TIMEOUT) {
            panic!("redis-cli --cluster create failed: {e}\n{}", cluster.logs());
        }

        let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
        loop {
            let infos: Vec<io::Result<String>> = cluster
                .nodes
                .iter()
                .map(|n| match command(n.port, &["CLUSTER", "INFO"])? {
                    Reply::Bulk(Some(text)) => Ok(String::from_utf8_lossy(&text).into_owned()),
                    other => Err(io::Error::other(format!("unexpected reply {other:?}"))),
                })
                .collect();
            let ready = infos.iter().all(|info| {
                info.as_ref().is_ok_and(|info| {
                    info_field(info, "cluster_state") == Some("ok")
                        && info_field(info, "cluster_slots_ok") == Some("16384")
                        && info_field(info, "cluster_known_nodes") == Some("3")
                })
            });
            if ready {
                return cluster;
            }
            if Instant::now() >= deadline {
                let infos: Vec<String> = infos
                    .into_iter()
                    .zip(cluster.ports())
                    .map(|(info, port)| match info {
                        Ok(info) => format!("CLUSTER INFO of {port}:\n{}", info.trim()),
                        Err(e) => format!("CLUSTER INFO of {port}: {e}"),
                    })
                    .collect();
                panic!(
                    "Redis cluster not ready after {CLUSTER_READY_TIMEOUT:?}\n{}\n{}",
                    infos.join("\n"),
                    cluster.logs()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// `["redis://127.0.0.1:P1/", ...]`
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| url_for(n.port)).collect()
    }

    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// `redis-cli -c -p P1 <args>` (cluster mode, follows redirects); stdout trimmed. Panics if
    /// the command fails, error replies included.
    pub fn cli(&self, args: &[&str]) -> String {
        self.node_cli(0, args)
    }

    /// `redis-cli -c -p Pi <args>` through node `i` (0, 1 or 2).
    pub fn node_cli(&self, i: usize, args: &[&str]) -> String {
        let port = self.nodes[i].port.to_string();
        let mut all = vec!["-c", "-e", "-h", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        run_cli(&all, CLI_TIMEOUT)
            .unwrap_or_else(|e| panic!("redis-cli -c -p {port} {args:?} failed: {e}"))
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node {} ---\n{}", n.port, n.log_tail(0)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        // SIGKILL them all before waiting for any; `Node::drop` then removes the directories.
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _ = child.kill();
            }
        }
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

/// Whether a server answers `PING` with `+PONG` on `127.0.0.1:port` (raw RESP over TCP, short
/// timeouts).
pub fn ping_port(port: u16) -> bool {
    matches!(command(port, &["PING"]), Ok(Reply::Simple(s)) if s == "PONG")
}

fn url_for(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

fn server_bin() -> String {
    std::env::var("TOWER_SHIELD_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

fn cli_bin() -> String {
    std::env::var("TOWER_SHIELD_REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned())
}

/// Ports handed out by this process, never handed out twice (a killed server keeps its port).
static RESERVED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
/// Makes temporary directory names unique within the process.
static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A loopback port that was free a moment ago, below [`MAX_PORT`]; with `bus`, `port + 10000`
/// was free too.
fn free_port(bus: bool) -> u16 {
    for _ in 0..1000 {
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = listener.local_addr().map(|a| a.port()) else {
            continue;
        };
        if !(1024..MAX_PORT).contains(&port) {
            continue;
        }
        let bus_port = port + 10_000;
        if bus && TcpListener::bind(("127.0.0.1", bus_port)).is_err() {
            continue;
        }
        let mut reserved = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
        if reserved.contains(&port) || (bus && reserved.contains(&bus_port)) {
            continue;
        }
        reserved.insert(port);
        if bus {
            reserved.insert(bus_port);
        }
        return port;
    }
    panic!("no free loopback port below {MAX_PORT} found");
}

struct StartError {
    message: String,
    addr_in_use: bool,
}

/// One `redis-server` process (or none, when killed) with its port and directory.
struct Node {
    port: u16,
    dir: PathBuf,
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    /// A started node on a fresh port, retried on other ports when the chosen one was taken in
    /// the meantime. Panics if it cannot start.
    fn start_on_free_port(bus: bool, extra_args: impl Fn(u16) -> Vec<String>) -> Node {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port(bus);
            let mut node = Node::new(port, extra_args(port));
            match node.spawn() {
                Ok(()) => return node,
                Err(e) if e.addr_in_use => last = e.message,
                Err(e) => panic!("redis-server could not start on port {port}: {}", e.message),
            }
        }
        panic!("redis-server could not start after {START_ATTEMPTS} attempts (ports busy): {last}");
    }

    fn new(port: u16, extra_args: Vec<String>) -> Node {
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "tower-shield-redis-{}-{port}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Node {
            port,
            dir,
            extra_args,
            child: None,
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// Spawns the server and waits until it answers; on failure the process is gone again.
    fn spawn(&mut self) -> Result<(), StartError> {
        assert!(self.child.is_none(), "redis-server already running");
        let log = self.log_path();
        let log_start = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let output = |name: &str| {
            File::create(self.dir.join(name))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null())
        };
        let mut cmd = Command::new(server_bin());
        cmd.current_dir(&self.dir)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(output("stdout.log"))
            .stderr(output("stderr.log"));
        let child = cmd.spawn().map_err(|e| StartError {
            message: format!("cannot run {:?}: {e}", server_bin()),
            addr_in_use: false,
        })?;
        let pid = child.id();
        self.child = Some(child);

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Ok(None)) => None,
                Some(Err(e)) => Some(format!("cannot be waited for: {e}")),
                None => Some("vanished".to_owned()),
            };
            if let Some(how) = exited {
                self.child = None;
                return Err(self.start_error(format!("redis-server exited ({how})"), log_start));
            }
            // Our own process must answer: another server may have taken the port meanwhile.
            if server_pid(self.port) == Some(pid) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(self.start_error(
                    format!("redis-server did not answer within {START_TIMEOUT:?}"),
                    log_start,
                ));
            }
            thread::sleep(POLL);
        }
    }

    fn start_error(&self, what: String, log_start: u64) -> StartError {
        let tail = self.log_tail(log_start);
        StartError {
            addr_in_use: tail.contains("Address already in use"),
            message: format!("{what}\n{tail}"),
        }
    }

    /// The last lines of the log (written after byte `from`), stdout and stderr.
    fn log_tail(&self, from: u64) -> String {
        let mut out = String::new();
        for (name, from) in [("redis.log", from), ("stdout.log", 0), ("stderr.log", 0)] {
            let text = read_from(&self.dir.join(name), from);
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            if !tail.is_empty() {
                out.push_str(&format!(
                    "--- {} ---\n{}\n",
                    self.dir.join(name).display(),
                    tail.join("\n")
                ));
            }
        }
        if out.is_empty() {
            out.push_str("(no output)");
        }
        out
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn read_from(path: &Path, from: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut file) = File::open(path)
        && file.seek(SeekFrom::Start(from)).is_ok()
    {
        let _ = file.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The `process_id` of the server answering on `port`, if one answers.
fn server_pid(port: u16) -> Option<u32> {
    match command(port, &["INFO", "server"]) {
        Ok(Reply::Bulk(Some(info))) => info_field(&String::from_utf8_lossy(&info), "process_id")?
            .parse()
            .ok(),
        _ => None,
    }
}

/// The value of `field:value` in an `INFO`-style text.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':').map(str::trim))
}

/// Runs `redis-cli <args>`, killing it after `timeout`; its stdout trimmed, or what went wrong.
fn run_cli(args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(cli_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cli_bin()))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));

    let deadline = Instant::now() + timeout;
    let status: Result<ExitStatus, String> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {timeout:?}"));
            }
            Ok(None) => thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("cannot be waited for: {e}"));
            }
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Ok(status) if status.success() => Ok(stdout.trim().to_owned()),
        Ok(status) => Err(format!(
            "{status}\nstdout: {}\nstderr: {}",
            stdout.trim(),
            stderr.trim()
        )),
        Err(e) => Err(format!(
            "{e}\nstdout: {}\nstderr: {}",
            stdout.trim(),
            stderr.trim()
        )),
    }
}

/// A RESP reply, as far as this module needs one.
#[derive(Debug)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// Sends one command to `127.0.0.1:port` over a fresh connection and reads its reply (short
/// timeouts, so a dead or stuck server is an error, not a hang).
fn command(port: u16, args: &[&str]) -> io::Result<Reply> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(250))?;
    stream.set_read_timeout(Some(Duration::from_millis(1000)))?;
    stream.set_write_timeout(Some(Duration::from_millis(1000)))?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad RESP line {line:?}"),
        )
    };
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    let len = || rest.parse::<i64>().map_err(|_| bad());
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Integer(len()?),
        "$" => match usize::try_from(len()?) {
            Err(_) => Reply::Bulk(None),
            Ok(n) => {
                let mut data = vec![0; n + 2];
                reader.read_exact(&mut data)?;
                data.truncate(n);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match usize::try_from(len()?) {
            Err(_) => Reply::Array(None),
            Ok(n) => Reply::Array(Some(
                (0..n)
                    .map(|_| read_reply(reader))
                    .collect::<io::Result<_>>()?,
            )),
        },
        _ => return Err(bad()),
    })
}
