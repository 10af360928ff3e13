//! A private, real `sshd` for tests: started on a free loopback port with a host key and a
//! client key generated in a temp dir, its own config and known_hosts; stopped by pid on drop.
//! A missing sshd is a test failure, never a silent skip (scripts/test.sh installs it).
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub pid: u32,
    pub client_key: PathBuf,
    /// An ssh_config naming our known_hosts, for `--ssh-config`.
    pub ssh_config: PathBuf,
    pub known_hosts: PathBuf,
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is needed: run scripts/test.sh, which installs it")
        .success();
    assert!(ok, "ssh-keygen failed");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    pub fn start() -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} not found: the SSH tests need a real sshd. Run scripts/test.sh (it installs openssh-server), or apt-get install -y openssh-server"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir_all(d.join("home")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nMaxStartups 500:30:1000\nMaxSessions 100\nUseDNS no\n\
             PrintMotd no\nLogLevel ERROR\nSetEnv HOME={d}/home\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let status = Command::new(SSHD)
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .status()
            .unwrap();
        assert!(
            status.success(),
            "sshd failed to start: {}",
            std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            if let Ok(p) = std::fs::read_to_string(d.join("sshd.pid")) {
                if let Ok(p) = p.trim().parse::<u32>() {
                    if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                        break p;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not come up on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let known_hosts = d.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", host_pub.join(" ")),
        )
        .unwrap();
        let ssh_config = d.join("ssh_config");
        std::fs::write(
            &ssh_config,
            format!(
                "Host *\n  UserKnownHostsFile {}\n  IdentitiesOnly yes\n  LogLevel ERROR\n",
                known_hosts.display()
            ),
        )
        .unwrap();
        Sshd {
            client_key: d.join("client_key"),
            dir,
            port,
            pid,
            ssh_config,
            known_hosts,
        }
    }

    /// Inventory host variables pointing at this sshd, plus `root_dir`.
    pub fn host_vars(&self, root: &Path) -> String {
        format!(
            "jet_ssh_hostname: 127.0.0.1\njet_ssh_port: {}\njet_ssh_user: root\njet_ssh_private_key_file: {}\nroot_dir: {}\n",
            self.port,
            self.client_key.display(),
            root.display()
        )
    }

    /// Kills the listener and every connection it serves: hosts behind it drop mid-run.
    pub fn kill(&self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &self.pid.to_string()])
            .status();
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}
