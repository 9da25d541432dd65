//! A private RabbitMQ node the test owns: its own node name, AMQP and
//! distribution ports and data directory (a tempdir), no plugins, so it can
//! be SIGKILLed and restarted without touching the machine's shared broker
//! (`rabbit@localhost` on 5672) or the shared epmd.
//!
//! The node runs `rabbitmq-server` in the foreground (not `-detached`): the
//! script is our child, and the Erlang VM (`beam.smp`) writes its OS pid to
//! `RABBITMQ_PID_FILE`, which is what [`PrivateNode::kill9`] kills. Every
//! process is ended by its pid, and the node is stopped when the value is
//! dropped, even when the test panics.
//!
//! The binaries come from `$HOOKGATE_RABBITMQ_BIN_DIR`, else
//! `/usr/lib/rabbitmq/bin` (the Debian package's real scripts: `/usr/sbin/
//! rabbitmq-server` is a wrapper that switches to the `rabbitmq` user and its
//! own HOME and cookie), else the directory of `rabbitmq-server` on `PATH`.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a (re)start may take until `await_startup` answers.
const START_DEADLINE: Duration = Duration::from_secs(90);
/// Longest a graceful stop may take before the VM is SIGKILLed.
const STOP_DEADLINE: Duration = Duration::from_secs(20);
/// Ports the rabbitmqctl CLI's own Erlang distribution listens on (the
/// default distribution port 25672 + 10000 ..= + 10010): never pick them.
const CLI_PORTS: std::ops::RangeInclusive<u16> = 35672..=35692;

pub struct PrivateNode {
    /// `hgtest-<unique>@localhost`.
    pub name: String,
    /// The AMQP port (127.0.0.1 only).
    pub port: u16,
    /// The Erlang distribution port (127.0.0.1 only).
    pub dist_port: u16,
    bin: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Starts so far (1 after [`start`](Self::start)).
    pub starts: u32,
    dir: tempfile::TempDir,
}

/// Boots of a fresh node tried when its ports were taken meanwhile.
const PORT_TRIES: u32 = 3;

impl PrivateNode {
    /// Starts a fresh node and waits until it accepts AMQP connections.
    ///
    /// # Errors
    /// Why the node could not be started (no RabbitMQ installed, boot
    /// failure with the tail of its output, timeout).
    pub async fn start() -> Result<PrivateNode, String> {
        PrivateNode::start_with(None).await
    }

    /// A fresh node with `cookie` (see [`prepare`](Self::prepare)), booted.
    /// Its ports are free when picked, but something else on the machine
    /// (a parallel test's listener or connection) may take one before the
    /// node binds it: a boot that fails with `eaddrinuse` (or, for the
    /// distribution port, `nodistribution`) is tried again
    /// with new ports, up to [`PORT_TRIES`] times.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn start_with(cookie: Option<&str>) -> Result<PrivateNode, String> {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut node = PrivateNode::prepare(cookie)?;
            match node.boot().await {
                Ok(()) => return Ok(node),
                // The AMQP listener's port, or the distribution's.
                Err(e)
                    if (e.contains("eaddrinuse") || e.contains("nodistribution"))
                        && tries < PORT_TRIES =>
                {
                    eprintln!(
                        "node {}: a port was taken before it bound it; new ports",
                        node.name
                    );
                }
                Err(e) => return Err(format!("node {}: {e}", node.name)),
            }
        }
    }

    /// A node ready to [`boot`](Self::boot), with `cookie` as its Erlang
    /// cookie (nodes of one cluster share it), else a random one.
    pub fn prepare(cookie: Option<&str>) -> Result<PrivateNode, String> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("hgtest-rabbit-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let (port, dist_port) = two_free_ports()?;
        let name = format!("hgtest-{}@localhost", super::unique());
        let d = dir.path();
        let write = |file: &str, text: &str| -> Result<String, String> {
            let p = d.join(file);
            std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(p.display().to_string())
        };
        let plugins = write("enabled_plugins", "[].\n")?;
        if let Some(cookie) = cookie {
            // HOME is the node's directory: the VM and rabbitmqctl read it.
            let p = write(".erlang.cookie", cookie)?;
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400))
                .map_err(|e| format!("{p}: {e}"))?;
        }
        // Empty: listeners come from RABBITMQ_NODE_IP_ADDRESS/PORT (setting
        // them in both places makes the node bind the port twice).
        let config = write("rabbitmq.conf", "# private test node\n")?;
        // Replaces /etc/rabbitmq/rabbitmq-env.conf (the shared node's).
        let env_conf = write("rabbitmq-env.conf", "")?;
        let p = |rel: &str| d.join(rel).display().to_string();
        let env: Vec<(String, String)> = [
            ("HOME", p("")),
            ("RABBITMQ_NODENAME", name.clone()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT", port.to_string()),
            ("RABBITMQ_DIST_PORT", dist_port.to_string()),
            ("RABBITMQ_BASE", p("")),
            ("RABBITMQ_MNESIA_BASE", p("mnesia")),
            ("RABBITMQ_LOG_BASE", p("log")),
            ("RABBITMQ_PID_FILE", p("node.pid")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", plugins),
            ("RABBITMQ_CONFIG_FILE", config),
            ("RABBITMQ_ADVANCED_CONFIG_FILE", p("advanced.config")),
            ("RABBITMQ_CONF_ENV_FILE", env_conf),
            (
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}".into(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(PrivateNode {
            name,
            port,
            dist_port,
            bin,
            env,
            child: None,
            starts: 0,
            dir,
        })
    }

    /// Starts a [`prepare`](Self::prepare)d node and waits until it accepts
    /// AMQP connections.
    pub async fn boot(&mut self) -> Result<(), String> {
        self.spawn()?;
        self.await_startup().await
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f` (guest works on loopback).
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The node's data and log directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILLs the node's Erlang VM (the pid in its pid file, checked to be
    /// this node's `beam.smp`), then reaps the `rabbitmq-server` script.
    /// Returns the VM's pid. epmd (shared) is left alone.
    pub async fn kill9(&mut self) -> Result<u32, String> {
        let pid = self.beam_pid()?;
        signal(pid, "KILL")?;
        self.wait_child(STOP_DEADLINE).await?;
        let _ = std::fs::remove_file(self.pid_file());
        Ok(pid)
    }

    /// Starts the node again with the same name, ports and data directory.
    pub async fn restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err("node still running".into());
        }
        self.spawn()?;
        self.await_startup().await
    }

    /// Graceful stop: SIGTERM to the VM, wait; SIGKILL past the deadline.
    pub async fn stop(&mut self) -> Result<(), String> {
        if self.child.is_none() {
            return Ok(());
        }
        if let Ok(pid) = self.beam_pid() {
            let _ = signal(pid, "TERM");
        }
        if self.wait_child(STOP_DEADLINE).await.is_err() {
            self.force_stop();
        }
        Ok(())
    }

    /// The VM's OS pid, from the pid file, after checking that the process
    /// is a `beam.smp` started for this node.
    pub fn beam_pid(&self) -> Result<u32, String> {
        let text = std::fs::read_to_string(self.pid_file())
            .map_err(|e| format!("pid file {}: {e}", self.pid_file().display()))?;
        let pid: u32 = text
            .trim()
            .parse()
            .map_err(|e| format!("pid file says {text:?}: {e}"))?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map_err(|e| format!("process {pid}: {e}"))?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let ours = cmdline.contains("beam")
            && cmdline.contains(self.dir.path().to_string_lossy().as_ref());
        if !ours {
            return Err(format!(
                "pid {pid} is not this node's VM: {}",
                cmdline.chars().take(200).collect::<String>()
            ));
        }
        Ok(pid)
    }

    /// The last lines of the node's stdout and log, for failure messages.
    pub fn output_tail(&self) -> String {
        let mut out = String::new();
        for f in [
            self.dir.path().join("server.out"),
            self.dir
                .path()
                .join("log")
                .join(format!("{}.log", self.name)),
        ] {
            if let Ok(t) = std::fs::read_to_string(&f) {
                let lines: Vec<&str> = t.lines().collect();
                let from = lines.len().saturating_sub(30);
                out.push_str(&format!("--- {}\n", f.display()));
                out.push_str(&lines[from..].join("\n"));
                out.push('\n');
            }
        }
        out
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("node.pid")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let _ = std::fs::remove_file(self.pid_file());
        let out = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.out"))
            .map_err(|e| format!("server.out: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("server.out: {e}"))?;
        let mut cmd = Command::new(self.bin.join("rabbitmq-server"));
        // Inherit nothing RabbitMQ- or Erlang-specific from the caller.
        for (k, _) in std::env::vars() {
            if k.starts_with("RABBITMQ_") || k.starts_with("ERL_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().map_err(|e| {
            format!(
                "spawning {}: {e}",
                self.bin.join("rabbitmq-server").display()
            )
        })?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// Waits for the pid file, then `rabbitmqctl await_startup`, then an
    /// open AMQP port; fails early when the script exits.
    async fn await_startup(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "rabbitmq-server exited ({status}) while starting:\n{}",
                        self.output_tail()
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {} not up after {START_DEADLINE:?}:\n{}",
                    self.name,
                    self.output_tail()
                ));
            }
            if self.pid_file().exists() {
                let ok = self
                    .ctl(
                        &["await_startup", "--timeout", "15"],
                        Duration::from_secs(20),
                    )
                    .await
                    .is_ok();
                if ok
                    && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                        .await
                        .is_ok()
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Runs `rabbitmqctl -q -n NODE ARGS` with only HOME (the node's cookie)
    /// and PATH in its environment; returns its stdout.
    pub async fn ctl(&self, args: &[&str], timeout: Duration) -> Result<String, String> {
        let mut cmd = tokio::process::Command::new(self.bin.join("rabbitmqctl"));
        cmd.env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .args(["-q", "-n", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(timeout, cmd.output())
            .await
            .map_err(|_| format!("rabbitmqctl {args:?} timed out"))?
            .map_err(|e| format!("rabbitmqctl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "rabbitmqctl {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Waits for the `rabbitmq-server` script to exit (it does once the VM
    /// is gone) and reaps it.
    async fn wait_child(&mut self, limit: Duration) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => {
                    self.child = None;
                    return Ok(());
                }
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(None) => return Err(format!("node {} did not exit in {limit:?}", self.name)),
                Err(e) => return Err(format!("waiting for rabbitmq-server: {e}")),
            }
        }
    }

    /// Synchronous stop for Drop: SIGTERM, wait, SIGKILL (VM, then script).
    fn force_stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let beam = self.beam_pid().ok();
        if let Some(pid) = beam {
            let _ = signal(pid, "TERM");
        }
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(pid) = beam {
            let _ = signal(pid, "KILL");
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PrivateNode {
    fn drop(&mut self) {
        self.force_stop();
    }
}

/// Sends `SIG<sig>` to one process, by pid.
fn signal(pid: u32, sig: &str) -> Result<(), String> {
    let st = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("kill -{sig} {pid}: {st}"))
    }
}

/// Where `rabbitmq-server` and `rabbitmqctl` are.
fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(d) = std::env::var("HOOKGATE_RABBITMQ_BIN_DIR") {
        return Ok(PathBuf::from(d));
    }
    let debian = PathBuf::from("/usr/lib/rabbitmq/bin");
    if debian.join("rabbitmq-server").exists() {
        return Ok(debian);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path) {
        if d.join("rabbitmq-server").exists() && d.join("rabbitmqctl").exists() {
            return Ok(d);
        }
    }
    Err("rabbitmq-server not found (set HOOKGATE_RABBITMQ_BIN_DIR)".into())
}

/// Two distinct free loopback ports outside the CLI's range.
fn two_free_ports() -> Result<(u16, u16), String> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        held.push(l);
        if !CLI_PORTS.contains(&port) {
            ports.push(port);
            if ports.len() == 2 {
                return Ok((ports[0], ports[1]));
            }
        }
    }
    Err("no free ports".into())
}
