//! The real-sshd harness for the SSH integration tests.
//!
//! `Sshd::start` runs a private `/usr/sbin/sshd` on a free port of one or more loopback
//! addresses (127.0.0.0/8 only), with an ed25519 host key and client key generated in its own
//! temp dir, pubkey-only root login and an empty `HOME` for remote sessions (root's `.bashrc`
//! on the dev box runs `pyenv init`, ~90 ms per remote command). It is stopped on drop: the
//! listener by the pid in its pidfile, plus the per-connection processes it forked (found by
//! walking `/proc` from that pid, never by name).
//!
//! `Fleet` is a throwaway project (playbook, `templates/`, `files/`, inventory dir, an
//! `ssh_config` naming its own `known_hosts`) whose hosts point at one or more `Sshd`s, and runs
//! the built `jetlike` binary with a hard timeout.
//!
//! A missing sshd is a test failure, never a skip: with `CI` set it says so loudly; locally it
//! says to run `scripts/test.sh`, which installs openssh-server and sudo.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// Hard limit for one `jetlike` run in a test: a hang fails the test instead of blocking CI.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Panics (never skips) when the tools the SSH tests need are missing.
pub fn require_sshd() {
    let mut missing = vec![];
    if !Path::new(SSHD).exists() {
        missing.push(SSHD);
    }
    for tool in ["ssh", "ssh-keygen"] {
        let found = Command::new(tool).arg("-V").output().is_ok_and(|_| true);
        if !found {
            missing.push(tool);
        }
    }
    if missing.is_empty() {
        return;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: {} missing. The SSH integration tests need a real OpenSSH server and client; \
         CI must run scripts/test.sh (it installs openssh-server, openssh-client and sudo). \
         These tests are never skipped.",
        missing.join(", ")
    );
    panic!(
        "{} missing: the SSH integration tests need a real sshd. Run scripts/test.sh (as root it \
         installs openssh-server and sudo, then runs the suite), or apt-get install -y \
         openssh-server openssh-client sudo. These tests are never skipped.",
        missing.join(", ")
    );
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "jetlike-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen (openssh-client) is needed: run scripts/test.sh");
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port nobody listens on right now (bound then released). Used for sshd and for a
/// deliberately closed port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn assert_loopback(addr: &str) {
    let ip: std::net::Ipv4Addr = addr.parse().expect("an IPv4 address");
    assert!(
        ip.is_loopback(),
        "tests use loopback addresses only, not {addr}"
    );
}

/// Pids of every descendant of `root` (children first-found order), read from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = vec![];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parens, so split after ')'.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(child, ppid) in &parent_of {
            if ppid == p && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

fn sigkill(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: plain syscall on a pid we started (or one of its children).
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// A private sshd on loopback.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub pid: u32,
    /// The loopback addresses it listens on.
    pub addrs: Vec<String>,
    pub client_key: PathBuf,
    /// `type base64` of the host key, for `known_hosts` lines.
    pub host_key: String,
}

impl Sshd {
    /// An sshd on 127.0.0.1.
    pub fn start() -> Sshd {
        Sshd::start_on(&["127.0.0.1"])
    }

    /// An sshd listening on the same free port of each address in `addrs` (all 127.x.y.z).
    pub fn start_on(addrs: &[&str]) -> Sshd {
        Sshd::start_with(addrs, "")
    }

    /// `start_on`, with `env` (e.g. `PATH=/x:/usr/bin`) added to the sessions' environment.
    pub fn start_with(addrs: &[&str], env: &str) -> Sshd {
        require_sshd();
        for a in addrs {
            assert_loopback(a);
        }
        let dir = tempfile::Builder::new()
            .prefix("jetlike-sshd.")
            .tempdir()
            .unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir_all(d.join("home")).unwrap();
        // Privilege separation directory: sshd refuses to start without it.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let host_key = std::fs::read_to_string(d.join("host_key.pub"))
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        // A port can be taken between free_port() and sshd's bind: retry with a new one.
        for _attempt in 0..5 {
            let port = free_port();
            let listen: String = addrs.iter().fold(String::new(), |mut s, a| {
                s.push_str(&format!("ListenAddress {a}\n"));
                s
            });
            let config = format!(
                "Port {port}\n{listen}HostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 MaxStartups 500:30:1000\nMaxSessions 100\nUseDNS no\nPrintMotd no\n\
                 LogLevel ERROR\nSetEnv HOME={d}/home {env}\n\
                 Subsystem sftp /usr/lib/openssh/sftp-server\n",
                d = d.display()
            );
            std::fs::write(d.join("sshd_config"), config).unwrap();
            let _ = std::fs::remove_file(d.join("sshd.pid"));
            let status = Command::new(SSHD)
                .arg("-f")
                .arg(d.join("sshd_config"))
                .arg("-E")
                .arg(d.join("sshd.log"))
                .status()
                .expect("cannot execute /usr/sbin/sshd");
            if !status.success() {
                let log = std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
                if log.contains("Address already in use") {
                    continue;
                }
                panic!("sshd failed to start: {log}");
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            let pid = loop {
                let pid = std::fs::read_to_string(d.join("sshd.pid"))
                    .ok()
                    .and_then(|p| p.trim().parse::<u32>().ok());
                if let Some(pid) = pid {
                    if addrs.iter().all(|a| TcpStream::connect((*a, port)).is_ok()) {
                        break pid;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "sshd did not come up on port {port}: {}",
                    std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            return Sshd {
                client_key: d.join("client_key"),
                dir,
                port,
                pid,
                addrs: addrs.iter().map(std::string::ToString::to_string).collect(),
                host_key,
            };
        }
        panic!("could not find a free port for sshd after 5 attempts");
    }

    /// `known_hosts` lines for every address this sshd listens on.
    pub fn known_hosts_lines(&self) -> String {
        self.addrs.iter().fold(String::new(), |mut s, a| {
            s.push_str(&format!("[{a}]:{} {}\n", self.port, self.host_key));
            s
        })
    }

    /// Inventory host variables for a host served by this sshd at `addr`.
    pub fn host_vars(&self, addr: &str, root: &Path) -> String {
        assert!(
            self.addrs.iter().any(|a| a == addr),
            "{addr} is not one of {:?}",
            self.addrs
        );
        format!(
            "jet_ssh_hostname: {addr}\njet_ssh_port: {}\njet_ssh_user: root\n\
             jet_ssh_private_key_file: {}\nroot_dir: {}\n",
            self.port,
            self.client_key.display(),
            root.display()
        )
    }

    /// Kills the listener and every session it serves, so hosts behind it drop mid-run.
    pub fn kill(&self) {
        // Stop the listener first so it forks nothing new, then its sessions.
        let tree = descendants(self.pid);
        sigkill(self.pid);
        for p in tree {
            sigkill(p);
        }
        for p in descendants(self.pid) {
            sigkill(p);
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `jetlike` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
    pub raw_stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl Run {
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// JSON events from `--output json` (one object per stdout line).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    pub fn tasks(&self) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "task")
            .collect()
    }

    /// Task statuses of `host`, in output order.
    pub fn statuses_of(&self, host: &str) -> Vec<String> {
        self.tasks()
            .iter()
            .filter(|e| e["host"] == host)
            .map(|e| e["status"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn unreachable(&self) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "unreachable")
            .collect()
    }

    pub fn recap(&self) -> serde_json::Value {
        self.events()
            .into_iter()
            .rfind(|e| e["event"] == "recap")
            .unwrap_or_else(|| panic!("no recap event:\n{}", self.all()))
    }
}

/// A project directory plus an inventory whose hosts live behind test sshds.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub ssh_config: PathBuf,
    pub known_hosts: PathBuf,
    hosts: Vec<String>,
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}

impl Fleet {
    pub fn new() -> Fleet {
        let dir = tempfile::Builder::new()
            .prefix("jetlike-fleet.")
            .tempdir()
            .unwrap();
        let known_hosts = dir.path().join("known_hosts");
        let ssh_config = dir.path().join("ssh_config");
        std::fs::write(&known_hosts, "").unwrap();
        std::fs::write(
            &ssh_config,
            format!(
                "Host *\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  \
                 IdentitiesOnly yes\n  BatchMode yes\n  LogLevel ERROR\n",
                known_hosts.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("inv/groups")).unwrap();
        std::fs::create_dir_all(dir.path().join("inv/host_vars")).unwrap();
        Fleet {
            dir,
            ssh_config,
            known_hosts,
            hosts: vec![],
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a project file (parent dirs created).
    pub fn file(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn playbook(&self, yaml: &str) -> &Self {
        self.file("playbooks/pb.yml", yaml)
    }

    /// Adds `sshd`'s host key for all its addresses to the fleet's `known_hosts`.
    pub fn trust(&self, sshd: &Sshd) -> &Self {
        let mut kh = std::fs::read_to_string(&self.known_hosts).unwrap();
        kh.push_str(&sshd.known_hosts_lines());
        std::fs::write(&self.known_hosts, kh).unwrap();
        self
    }

    /// The directory standing for `host`'s file system root in tasks (`{{root_dir}}`).
    pub fn root(&self, host: &str) -> PathBuf {
        self.path().join("roots").join(host)
    }

    /// Adds inventory host `name` reached through `sshd` at `addr`, with its own `root_dir`
    /// (created), to group `web`. Does not touch `known_hosts` (see `trust`).
    pub fn host(&mut self, name: &str, sshd: &Sshd, addr: &str) -> &mut Self {
        let root = self.root(name);
        std::fs::create_dir_all(&root).unwrap();
        let vars = sshd.host_vars(addr, &root);
        self.raw_host(name, &vars)
    }

    /// Adds inventory host `name` with literal `host_vars` YAML, to group `web`.
    pub fn raw_host(&mut self, name: &str, host_vars: &str) -> &mut Self {
        self.file(&format!("inv/host_vars/{name}"), host_vars);
        self.hosts.push(name.to_string());
        self.file(
            "inv/groups/web",
            format!("hosts: [{}]\n", self.hosts.join(", ")),
        );
        self
    }

    pub fn read(&self, host: &str, rel: &str) -> String {
        let p = self.root(host).join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub fn mode(&self, host: &str, rel: &str) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(self.root(host).join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    /// `jetlike MODE -p playbooks/pb.yml -i inv --ssh-config ... --connect-timeout 5 EXTRA`,
    /// with `env` added to jetlike's own environment only.
    /// The `jetlike` command line `run` uses, to spawn it by hand (e.g. to signal it).
    pub fn command(&self, mode: &str, extra: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("jetlike"));
        c.current_dir(self.path())
            .arg(mode)
            .args(["-p", "playbooks/pb.yml", "-i", "inv", "--ssh-config"])
            .arg(&self.ssh_config)
            .args(["--connect-timeout", "5"])
            .args(extra)
            .env("NO_COLOR", "1");
        c
    }

    pub fn run(&self, mode: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = assert_cmd::Command::from_std(self.command(mode, extra));
        c.timeout(RUN_TIMEOUT);
        for (k, v) in env {
            c.env(k, v);
        }
        let start = Instant::now();
        let out = c.output().expect("cannot run jetlike");
        let elapsed = start.elapsed();
        assert!(
            elapsed < RUN_TIMEOUT,
            "jetlike {mode} {extra:?} hung: killed after {RUN_TIMEOUT:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            raw_stdout: out.stdout,
            raw_stderr: out.stderr,
            elapsed,
        }
    }
}
