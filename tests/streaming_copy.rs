//! Large `!copy` files are streamed, never held in memory (issue 11): locally and over a real
//! sshd, a copy of a file much larger than the memory jetlike may use gives the exact bytes
//! and mode; a re-run finds it unchanged without sending it; check mode summarises it without
//! reading it; a source that changes after it was hashed fails clearly and writes nothing
//! (or, grown at its end, copies the snapshot that was hashed); a second interrupt during a
//! transfer over SSH stops at once and leaves no temp file.
//!
//! Peak memory and bytes written are those of the jetlike process itself: it is waited for
//! with `waitid(WNOWAIT)`, its `/proc/<pid>/io` read while it is a zombie, then reaped with
//! `wait4` for its peak RSS.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{Fleet, Sshd};

/// The size of the large file: far above `MAX_RSS`, so holding it whole (even once) fails.
const BIG: u64 = 96 << 20;
/// The peak RSS a run may reach, whatever the size of the file (a small run needs ~20 MB).
const MAX_RSS_KB: i64 = 48 * 1024;

/// Writes `len` bytes of a pattern that differs from MiB to MiB (not sparse, not constant).
fn write_pattern(path: &Path, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = len;
    let mut n = 0u64;
    while left > 0 {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&(x ^ n).to_le_bytes()[..b.len()]);
        }
        let k = usize::try_from(left.min(block.len() as u64)).unwrap();
        f.write_all(&block[..k]).unwrap();
        left -= k as u64;
        n += 1;
    }
    f.flush().unwrap();
}

/// Whether two files hold the same bytes (compared in pieces).
fn same_content(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        match std::fs::File::open(b) {
            Ok(f) => f,
            Err(_) => return false,
        },
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// One finished jetlike run, measured.
struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    /// Peak RSS of the jetlike process (KiB).
    max_rss_kb: i64,
    /// Bytes the jetlike process wrote (to pipes and files: `wchar` of `/proc/<pid>/io`).
    wrote: u64,
}

impl Measured {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn statuses(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "task")
            .map(|e| e["status"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Runs `cmd` to the end and measures the jetlike process (see the module doc).
fn measure(mut cmd: std::process::Command) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let child = cmd.spawn().expect("cannot run jetlike");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        // SAFETY: siginfo_t is plain data, valid when zeroed.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child, without reaping it (WNOWAIT); `info` is a valid
        // siginfo_t the kernel writes.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                libc::id_t::try_from(pid).unwrap(),
                &raw mut info,
                libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
            )
        };
        assert_eq!(r, 0, "waitid: {}", std::io::Error::last_os_error());
        // SAFETY: si_pid is valid for a child-state siginfo filled by waitid.
        if unsafe { info.si_pid() } == pid {
            break;
        }
        assert!(Instant::now() < deadline, "jetlike hung");
        std::thread::sleep(Duration::from_millis(20));
    }
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let wrote = io
        .lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("wchar in /proc/<pid>/io");
    let mut status = 0;
    // SAFETY: rusage is plain data, valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: reaps our own child; `status` and `usage` are valid and written by the kernel.
    let r = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!(r, pid);
    drop(child);
    Measured {
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
        max_rss_kb: usage.ru_maxrss,
        wrote,
    }
}

/// A project whose `files/big.bin` is `BIG` bytes, copied to `{{root_dir}}/big.bin` with
/// mode 0640 (local runs use `@ROOT@` for it).
const COPY_BIG: &str = r#"- name: big copy
  groups: [@GROUP@]
  tasks:
    - !copy
      name: big
      src: big.bin
      dest: "@ROOT@/big.bin"
      attributes: {mode: 0o640}
"#;

struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new(playbook: &str) -> Local {
        let dir = tempfile::Builder::new()
            .prefix("jetlike-stream.")
            .tempdir()
            .unwrap();
        for d in ["files", "playbooks", "out"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let l = Local { dir };
        l.playbook(playbook);
        l
    }

    fn playbook(&self, yaml: &str) {
        let yaml = yaml
            .replace("@GROUP@", "all")
            .replace("@ROOT@", self.out().to_str().unwrap());
        std::fs::write(self.dir.path().join("playbooks/pb.yml"), yaml).unwrap();
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn src(&self, name: &str) -> PathBuf {
        self.dir.path().join("files").join(name)
    }

    fn run(&self, mode: &str) -> Measured {
        self.run_with(mode, &["--output", "json"], &[])
    }

    fn run_with(&self, mode: &str, extra: &[&str], env: &[(&str, &str)]) -> Measured {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("jetlike"));
        c.current_dir(self.dir.path())
            .args([mode, "-p", "playbooks/pb.yml"])
            .args(extra)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied());
        measure(c)
    }
}

fn one_host() -> (Fleet, Sshd) {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1");
    f.trust(&sshd);
    std::fs::create_dir_all(f.path().join("files")).unwrap();
    (f, sshd)
}

fn ssh_playbook(f: &Fleet, yaml: &str) {
    f.playbook(
        &yaml
            .replace("@GROUP@", "web")
            .replace("@ROOT@", "{{root_dir}}"),
    );
}

fn ssh_run(f: &Fleet, mode: &str) -> Measured {
    measure(f.command(mode, &["--output", "json"]))
}

/// Asserts the first run wrote the exact bytes with the mode, in bounded memory, and the
/// second found them unchanged without sending or rewriting them.
fn assert_copied_then_unchanged(
    src: &Path,
    dest: &Path,
    first: &Measured,
    run_again: &dyn Fn() -> Measured,
) {
    assert_eq!(first.code, 0, "{}", first.all());
    assert_eq!(first.statuses(), ["created"], "{}", first.all());
    assert!(same_content(src, dest), "the copy differs from its source");
    let meta = std::fs::metadata(dest).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert!(
        first.max_rss_kb < MAX_RSS_KB,
        "peak RSS {} KiB for a {} MiB copy",
        first.max_rss_kb,
        BIG >> 20
    );
    let second = run_again();
    assert_eq!(second.code, 0, "{}", second.all());
    assert_eq!(second.statuses(), ["matched"], "{}", second.all());
    assert_eq!(
        std::fs::metadata(dest).unwrap().ino(),
        meta.ino(),
        "rewritten"
    );
    assert!(second.max_rss_kb < MAX_RSS_KB, "{} KiB", second.max_rss_kb);
    assert!(
        second.wrote < BIG / 16,
        "an unchanged copy sent {} bytes (the first run: {})",
        second.wrote,
        first.wrote
    );
}

#[test]
fn a_large_local_copy_streams_in_bounded_memory() {
    let l = Local::new(COPY_BIG);
    write_pattern(&l.src("big.bin"), BIG);
    let first = l.run("local");
    let dest = l.out().join("big.bin");
    assert_copied_then_unchanged(&l.src("big.bin"), &dest, &first, &|| l.run("local"));
}

#[test]
fn a_large_copy_over_ssh_streams_in_bounded_memory() {
    let (f, _sshd) = one_host();
    ssh_playbook(&f, COPY_BIG);
    let src = f.path().join("files/big.bin");
    write_pattern(&src, BIG);
    let first = ssh_run(&f, "ssh");
    // The content went through the jetlike process (to the ssh channel), all of it.
    assert!(first.wrote >= BIG, "wrote {} bytes", first.wrote);
    let dest = f.root("h1").join("big.bin");
    assert_copied_then_unchanged(&src, &dest, &first, &|| ssh_run(&f, "ssh"));
}

/// Check mode summarises a large change from sizes and hashes, reading neither side into
/// memory; a small copy is still diffed line by line.
#[test]
fn check_mode_summarises_a_large_copy_without_reading_it() {
    let l = Local::new(&format!(
        "{COPY_BIG}    - !copy\n      name: small\n      src: small.txt\n      dest: \"@ROOT@/small.txt\"\n"
    ));
    write_pattern(&l.src("big.bin"), BIG);
    write_pattern(&l.out().join("big.bin"), BIG / 2);
    std::fs::write(l.src("small.txt"), "a = 1\nb = 2\n").unwrap();
    std::fs::write(l.out().join("small.txt"), "a = 1\nb = 3\n").unwrap();
    let r = l.run("check-local");
    assert_eq!(r.code, 0, "{}", r.all());
    let diffs: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "task")
        .map(|e| e["diff"].clone())
        .collect();
    let summary = diffs[0]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("content differs (over 256 KiB, diff not shown): ")
            && summary.contains(&format!("{} -> {} bytes, sha256 ", BIG / 2, BIG)),
        "{summary}"
    );
    assert!(diffs[0]["hunks"].is_null(), "{}", diffs[0]);
    let small = diffs[1]["hunks"].to_string();
    assert!(
        small.contains("b = 3") && small.contains("b = 2"),
        "{small}"
    );
    assert!(r.max_rss_kb < MAX_RSS_KB, "{} KiB", r.max_rss_kb);
    assert_eq!(
        std::fs::read(l.out().join("small.txt")).unwrap(),
        b"a = 1\nb = 3\n"
    );
}

/// A large template holding a secret, over a large file holding an old one: the summary (the
/// target's content not fetched) gives neither sizes nor hashes of either side, and no
/// secret, old or new, in human or JSON output.
#[test]
fn a_large_template_summary_tells_nothing_of_its_secrets() {
    use sha2::Digest;
    let l = Local::new(
        "- name: t\n  groups: [all]\n  tasks:\n    - !template\n      src: big.hb\n      dest: \"@ROOT@/big.conf\"\n",
    );
    let filler = "x = 1\n".repeat(50_000);
    std::fs::create_dir_all(l.dir.path().join("templates")).unwrap();
    std::fs::write(
        l.dir.path().join("templates/big.hb"),
        format!("{filler}password = {{{{ENV_P}}}}\n"),
    )
    .unwrap();
    let old = format!("{filler}password = OLDSECRET7q\n");
    std::fs::write(l.out().join("big.conf"), &old).unwrap();
    let new = format!("{filler}password = NEWSECRET7q\n");
    let new_sha = hex::encode(sha2::Sha256::digest(new.as_bytes()));
    let old_sha = hex::encode(sha2::Sha256::digest(old.as_bytes()));
    for output in ["json", "human"] {
        let r = l.run_with(
            "check-local",
            &["--loadenv", "--output", output],
            &[("P", "NEWSECRET7q")],
        );
        assert_eq!(r.code, 0, "{}", r.all());
        let all = r.all();
        assert!(all.contains("over 256 KiB, diff not shown)"), "{all}");
        for leak in [
            "NEWSECRET7q",
            "OLDSECRET7q",
            &new_sha[..16],
            &old_sha[..16],
            " bytes",
        ] {
            assert!(!all.contains(leak), "{output}: {leak} in {all}");
        }
    }
}

/// A playbook whose first task changes the copy sources after the pre-run checks hashed
/// them: the large one (streamed after a first round trip) and a small one (sent with the
/// one-round-trip ensure), each over an existing destination.
fn changing_sources(change: &str) -> String {
    format!(
        r#"- name: changing source
  groups: [@GROUP@]
  tasks:
    - !shell
      name: change the sources
      cmd: "{change}"
    - !copy
      name: big
      src: big.bin
      dest: "@ROOT@/big.bin"
      and: {{ignore_errors: true}}
    - !copy
      name: small
      src: small.bin
      dest: "@ROOT@/small.bin"
      and: {{ignore_errors: true}}
"#
    )
}

/// What each change does to a source: fails (with the message's words) or copies the
/// snapshot that was hashed.
const CHANGES: [(&str, Option<&str>); 3] = [
    (
        "printf X | dd of=@SRC@ bs=1 seek=1000 conv=notrunc 2>/dev/null",
        Some("its content differs"),
    ),
    ("truncate -s 5000 @SRC@", Some("bytes shorter")),
    ("printf appended >> @SRC@", None),
];

/// Runs each change against fresh sources and checks what it left: `dests` is where the
/// host's copies go, `run` one run.
fn check_changing_sources(
    files: &Path,
    dests: &Path,
    set_playbook: &dyn Fn(&str),
    run: &dyn Fn() -> Measured,
) {
    for (change, fails) in CHANGES {
        let mut cmds = Vec::new();
        for name in ["big.bin", "small.bin"] {
            let src = files.join(name);
            let len = if name == "big.bin" { 8 << 20 } else { 20_000 };
            write_pattern(&src, len);
            write_pattern(&files.join(format!("{name}.orig")), len);
            std::fs::write(dests.join(name), "old\n").unwrap();
            cmds.push(change.replace("@SRC@", src.to_str().unwrap()));
        }
        set_playbook(&changing_sources(&cmds.join("; ")));
        let r = run();
        let tasks: Vec<serde_json::Value> = r
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "task")
            .collect();
        assert_eq!(tasks.len(), 3, "{change}: {}", r.all());
        for (name, task) in ["big.bin", "small.bin"].iter().zip(&tasks[1..]) {
            let dest = dests.join(name);
            if let Some(words) = fails {
                let msg = task.to_string();
                assert!(
                    msg.contains("changed while it was being copied") && msg.contains(words),
                    "{change} {name}: {msg}"
                );
                assert_eq!(std::fs::read(&dest).unwrap(), b"old\n", "{change} {name}");
            } else {
                assert_eq!(task["status"], "modified", "{change} {name}: {task}");
                let orig = files.join(format!("{name}.orig"));
                assert!(
                    same_content(&orig, &dest),
                    "{change} {name}: not the snapshot"
                );
            }
        }
        let left: Vec<String> = std::fs::read_dir(dests)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".jetlike"))
            .collect();
        assert!(left.is_empty(), "{change}: temp files left: {left:?}");
    }
}

#[test]
fn a_source_changed_after_hashing_fails_clearly_locally() {
    let l = Local::new("");
    check_changing_sources(
        &l.dir.path().join("files"),
        &l.out(),
        &|yaml| l.playbook(yaml),
        &|| l.run("local"),
    );
}

#[test]
fn a_source_changed_after_hashing_fails_clearly_over_ssh() {
    let (f, _sshd) = one_host();
    check_changing_sources(
        &f.path().join("files"),
        &f.root("h1"),
        &|yaml| ssh_playbook(&f, yaml),
        &|| ssh_run(&f, "ssh"),
    );
}

/// A second interrupt during a large transfer over SSH stops at once (exit 130), and the
/// target is left with neither the file nor a temp file.
#[test]
fn a_second_interrupt_stops_a_large_transfer_over_ssh_at_once() {
    let (f, _sshd) = one_host();
    ssh_playbook(
        &f,
        "- name: slow\n  groups: [@GROUP@]\n  tasks:\n    - !shell\n      cmd: touch @ROOT@/started\n    - !copy\n      src: big.bin\n      dest: \"@ROOT@/big.bin\"\n",
    );
    let big = f.path().join("files/big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let root = f.root("h1");
    let mut child = f
        .command("ssh", &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !root.join("started").exists() {
        assert!(Instant::now() < deadline, "never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Well into the transfer: a temp file beside the destination.
    while !std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".jetlike"))
    {
        assert!(Instant::now() < deadline, "the transfer never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(100));
    let second = Instant::now();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = child.wait().unwrap();
    let took = second.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(took < Duration::from_secs(3), "kept going {took:?}");
    // The remote writer sees its input end and removes its temp file.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if names == ["started"] {
            break;
        }
        assert!(Instant::now() < deadline, "left on the target: {names:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
