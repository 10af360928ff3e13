//! A throwaway project directory for integration tests: write playbooks, templates and files,
//! then run the built `jetlike` binary on it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct Project {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    /// JSON events from `--output json`.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
    pub fn statuses(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "task")
            .map(|e| e["status"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Project {
    pub fn new() -> Self {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(p.path().join("out")).unwrap();
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where tasks write: `{{out}}` in playbooks is replaced by this directory.
    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// Copies the files under `dir` (a directory inside `root`) into the project at their
    /// paths relative to `root`, with their permissions (executable scripts stay so).
    pub fn copy_tree(&self, root: &Path, dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                self.copy_tree(root, &path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                self.file(&rel, &std::fs::read_to_string(&path).unwrap());
                let mode = std::fs::metadata(&path).unwrap().permissions();
                std::fs::set_permissions(self.path().join(&rel), mode).unwrap();
            }
        }
    }

    pub fn file(&self, rel: &str, content: &str) -> &Self {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let content = content.replace("@OUT@", self.out().to_str().unwrap());
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("jetlike").unwrap();
        c.current_dir(self.path()).args(args).env_remove("NO_COLOR");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `jetlike local -p playbooks/pb.yml` plus `extra` args.
    pub fn local(&self, extra: &[&str]) -> Run {
        let mut args = vec!["local", "-p", "playbooks/pb.yml"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn check(&self, extra: &[&str]) -> Run {
        let mut args = vec!["check-local", "-p", "playbooks/pb.yml"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn json(&self, mode: &str, extra: &[&str]) -> Run {
        let mut args = vec![mode, "-p", "playbooks/pb.yml", "--output", "json"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Files in `out/` whose name starts with `.jetlike.`: leftover temp files.
    pub fn temp_files(&self) -> Vec<String> {
        std::fs::read_dir(self.out())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".jetlike."))
            .collect()
    }
}

/// A random secret of 24 letters and digits (upper and lower case, so case changes show)
/// after `prefix`: unique per test, so a leak is never a coincidence.
pub fn canary(prefix: &str) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let s: String = (0..24)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect();
    format!("{prefix}{s}")
}
