//! The real `hookgate` binary as a child process: `serve --config FILE
//! --log-format json`, its bound addresses read from the JSON log line
//! `hookgate listening` (fields `addr`, `admin_addr`) on stderr. Ended by its
//! pid only (SIGKILL or SIGTERM); killed on drop if still running.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub struct GatewayProcess {
    child: Child,
    /// The public listener.
    pub addr: SocketAddr,
    /// The admin listener (plain HTTP).
    pub admin_addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Starts `hookgate serve` on `config` and waits (bounded) for its
    /// "hookgate listening" line.
    pub async fn spawn(config: &Path) -> GatewayProcess {
        Self::spawn_command(&["serve"], config, "hookgate listening").await
    }

    /// Starts `hookgate subscribe` on `config` with `args` and waits
    /// (bounded) for its "hookgate subscriber started" line (`addr` is then
    /// the admin address too).
    pub async fn spawn_subscriber(config: &Path, args: &[&str]) -> GatewayProcess {
        let mut all = vec!["subscribe"];
        all.extend_from_slice(args);
        Self::spawn_command(&all, config, "hookgate subscriber started").await
    }

    /// Starts `hookgate worker` on `config` and waits (bounded) for its
    /// "hookgate worker started" line (`addr` is its admin address).
    pub async fn spawn_worker(config: &Path) -> GatewayProcess {
        Self::spawn_command(&["worker"], config, "hookgate worker started").await
    }

    /// Starts `hookgate <args> --log-format json --config <config>` and waits
    /// for the JSON line whose message is `ready`.
    async fn spawn_command(args: &[&str], config: &Path, ready: &'static str) -> GatewayProcess {
        // reqwest (rustls-no-provider) needs a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(args)
            .args(["--log-format", "json", "--config"])
            .arg(config)
            .env("HOOKGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookgate");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addrs) = listening(&line, ready) {
                    let _ = tx.send(addrs);
                }
                if let Ok(mut l) = lines.lock() {
                    l.push(line);
                }
            }
        });
        let deadline = Instant::now() + super::DEADLINE;
        let (addr, admin_addr) = loop {
            match rx.try_recv() {
                Ok(a) => break a,
                Err(mpsc::TryRecvError::Empty) if Instant::now() < deadline => {
                    if let Ok(Some(st)) = child.try_wait() {
                        panic!(
                            "hookgate exited ({st}) before listening:\n{}",
                            log.lock().map(|l| l.join("\n")).unwrap_or_default()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "no '{ready}' line:\n{}",
                        log.lock().map(|l| l.join("\n")).unwrap_or_default()
                    );
                }
            }
        };
        GatewayProcess {
            child,
            addr,
            admin_addr,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether this process holds an IPv4 TCP socket whose local port is
    /// `port`: the socket's inode from `/proc/net/tcp`, found among the
    /// process's `/proc/<pid>/fd` links. Tells which process a connection
    /// a broker lists by its peer port belongs to.
    pub fn holds_local_port(&self, port: u16) -> bool {
        let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
            return false;
        };
        let suffix = format!(":{port:04X}");
        // Columns: sl local_address rem_address st ... uid timeout inode.
        let sockets: Vec<String> = table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if !f.get(1)?.ends_with(&suffix) {
                    return None;
                }
                Some(format!("socket:[{}]", f.get(9)?))
            })
            .collect();
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", self.pid())) else {
            return false;
        };
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
        })
    }

    /// Every stderr line so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// After a SIGTERM: waits (bounded) for the line whose message is
    /// `stopped`, and asserts that no ERROR line came from the signal on
    /// (lapin logged "Connection error" at every stop while channels were
    /// dropped, not closed, before their connection).
    pub async fn assert_clean_stop(&self, stopped: &str) {
        let want = format!("\"message\":\"{stopped}\"");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(&want) {
            assert!(
                Instant::now() < deadline,
                "no {stopped:?} line:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let log = self.log();
        let errors: Vec<&str> = log
            .lines()
            .skip_while(|l| !l.contains("shutdown signal received"))
            .filter(|l| l.contains("\"level\":\"ERROR\""))
            .collect();
        assert!(errors.is_empty(), "errors at a graceful stop: {errors:#?}");
    }

    /// SIGKILL (no shutdown of any kind), then reap.
    pub fn sigkill(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("reap hookgate")
    }

    /// SIGTERM, then wait (bounded) for the exit; SIGKILL and panic past it.
    pub async fn sigterm(&mut self, limit: Duration) -> ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(st.success(), "kill -TERM {}", self.child.id());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "hookgate did not exit {limit:?} after SIGTERM:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET` on the admin listener: (status, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        match reqwest::Client::new()
            .get(format!("http://{}{path}", self.admin_addr))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    /// One metric's value from `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        metric(&self.admin_get("/metrics").await.1, name)
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of the sample `name` (no labels) in OpenMetrics text.
pub fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(name)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or(0.0)
}

/// `(addr, admin_addr)` from a JSON line whose message is `ready` (fields
/// flattened or nested under `fields`); `addr` is `admin_addr` when the
/// line has none.
fn listening(line: &str, ready: &str) -> Option<(SocketAddr, SocketAddr)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = if v.get("message").is_some() {
        &v
    } else {
        v.get("fields")?
    };
    if fields.get("message")?.as_str()? != ready {
        return None;
    }
    let admin = fields.get("admin_addr")?.as_str()?.parse().ok()?;
    let addr = match fields.get("addr") {
        Some(a) => a.as_str()?.parse().ok()?,
        None => admin,
    };
    Some((addr, admin))
}
