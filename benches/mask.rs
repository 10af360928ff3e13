//! Throughput of the masker alone (`cargo bench --bench mask`): 100 secrets with every
//! variant, over typical output (log lines, prose, JSON, hex ids), whole-buffer and streamed
//! in 4 KiB and 64 KiB chunks, with and without terminal colour codes, and the whole output
//! path (quiet and `-vvv`). Each figure is the best pass over a 32 MB text, repeated until
//! 1 GB has gone through. Prints MB/s; no timing is asserted anywhere.
// Measurement arithmetic on small, known ranges (sizes, timings, a test PRNG).
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::io::Write as _;

use jetlike::capture::{Capture, DEFAULT_SAVE_LIMIT};
use jetlike::connection::transport::OutputSink as _;
use jetlike::mask::Masker;
use jetlike::output::{Format, LiveHead, Output};
use jetlike::secret::Secret;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// 100 secrets as they come: passwords with symbols, API tokens, hex keys, a few short PINs
/// and words, a PEM-like multi-line key and some non-ASCII passphrases.
/// With `short`, one secret in ten is a 6-digit PIN (masked as a whole word only); without,
/// those are 12-character passwords instead.
fn secrets(rng: &mut Rng, short: bool) -> Vec<Secret> {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const SYM: &[u8] = b"!@#$%^&*()-_=+[]{};:,.<>/?~";
    let mut out = Vec::new();
    for i in 0..100 {
        let v: Vec<u8> = match i % 10 {
            0..=3 => (0..12 + rng.below(20))
                .map(|_| {
                    if rng.below(6) == 0 {
                        SYM[rng.below(SYM.len())]
                    } else {
                        ALNUM[rng.below(ALNUM.len())]
                    }
                })
                .collect(),
            4..=5 => {
                let mut t = b"ghp_".to_vec();
                t.extend((0..36).map(|_| ALNUM[rng.below(ALNUM.len())]));
                t
            }
            6 => (0..64)
                .map(|_| b"0123456789abcdef"[rng.below(16)])
                .collect(),
            7 if short => format!("{:06}", rng.below(1_000_000)).into_bytes(),
            7 => (0..12).map(|_| ALNUM[rng.below(ALNUM.len())]).collect(),
            8 => format!("Grüße-Straße-{}-ñandú", rng.below(100_000)).into_bytes(),
            _ => {
                let mut k = b"-----BEGIN PRIVATE KEY-----\n".to_vec();
                for _ in 0..4 {
                    k.extend((0..64).map(|_| ALNUM[rng.below(ALNUM.len())]));
                    k.push(b'\n');
                }
                k.extend_from_slice(b"-----END PRIVATE KEY-----\n");
                k
            }
        };
        out.push(Secret::new(format!("ENV_S{i}"), v));
    }
    out
}

/// About `size` bytes of ordinary command output.
fn typical_text(rng: &mut Rng, size: usize, colour: bool) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "service",
        "started",
        "request",
        "handled",
        "connection",
        "closed",
        "user",
        "deploy",
        "config",
        "reloaded",
        "worker",
        "queue",
        "timeout",
        "retrying",
        "cache",
        "miss",
        "hit",
        "database",
        "migration",
        "applied",
        "listening",
        "on",
        "port",
        "and",
        "with",
        "from",
        "to",
        "of",
        "in",
        "is",
        "was",
        "error",
        "warning",
        "info",
        "debug",
    ];
    const LEVELS: &[&str] = &["INFO", "WARN", "DEBUG", "ERROR"];
    let mut t = Vec::with_capacity(size + 256);
    while t.len() < size {
        match rng.below(4) {
            0 | 1 => {
                let level = rng.pick(LEVELS);
                if colour {
                    t.extend_from_slice(b"\x1b[32m");
                }
                t.extend_from_slice(
                    format!(
                        "2026-12-03T10:{:02}:{:02}.{:03}Z {level}",
                        rng.below(60),
                        rng.below(60),
                        rng.below(1000)
                    )
                    .as_bytes(),
                );
                if colour {
                    t.extend_from_slice(b"\x1b[0m");
                }
                t.extend_from_slice(
                    format!(
                        " worker[{}]: {} {} path=/api/v1/{}/{} status={} bytes={} req={:016x}\n",
                        rng.below(9999),
                        rng.pick(WORDS),
                        rng.pick(WORDS),
                        rng.pick(WORDS),
                        rng.below(100_000),
                        [200, 201, 204, 301, 404, 500][rng.below(6)],
                        rng.below(1 << 20),
                        rng.next()
                    )
                    .as_bytes(),
                );
            }
            2 => {
                let n = 6 + rng.below(12);
                let line: Vec<&str> = (0..n).map(|_| rng.pick(WORDS)).collect();
                t.extend_from_slice(line.join(" ").as_bytes());
                t.extend_from_slice(b".\n");
            }
            _ => {
                t.extend_from_slice(
                    format!(
                        "{{\"id\":{},\"name\":\"{}\",\"ok\":{},\"ts\":\"2026-12-03\"}}\n",
                        rng.below(1_000_000),
                        rng.pick(WORDS),
                        rng.below(2) == 1
                    )
                    .as_bytes(),
                );
            }
        }
    }
    t
}

/// CPU time of this thread: what one core spent, whatever else the machine runs.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best of the runs of `f` over `bytes` bytes, in MB/s (10^6 bytes per second): by wall
/// clock, and by this thread's CPU time (throughput per core on a shared machine). Runs
/// until 1 GB has gone through (at least 3 runs, at most 30 s).
fn measure(bytes: usize, mut f: impl FnMut() -> usize) -> (f64, f64) {
    const TOTAL: usize = 1_000_000_000;
    let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut runs = 0;
    while runs < 3 || (runs * bytes < TOTAL && Instant::now() < deadline) {
        let (t, c) = (Instant::now(), thread_cpu());
        black_box(f());
        cpu = cpu.min(thread_cpu().checked_sub(c).unwrap());
        wall = wall.min(t.elapsed());
        runs += 1;
    }
    let rate = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    (rate(wall), rate(cpu))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let size = if quick { 1 << 16 } else { 32 << 20 };
    for short in [false, true] {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let secrets = secrets(&mut rng, short);
        let t = Instant::now();
        let masker = Arc::new(Masker::new(secrets.iter()));
        let build = t.elapsed();
        let kind = if short {
            "90 of 12+ bytes and 10 PINs of 6 digits"
        } else {
            "all of 12+ bytes"
        };
        println!("100 secrets ({kind}), all variants, built in {build:.2?}; {masker:?}");
        if quick {
            let text = typical_text(&mut rng, size, true);
            assert_eq!(
                masker.mask(&text).len(),
                text.len(),
                "typical text has no secret"
            );
            continue;
        }
        run(&masker, &mut rng, size);
    }
}

fn run(masker: &Arc<Masker>, rng: &mut Rng, size: usize) {
    for colour in [false, true] {
        let text = typical_text(rng, size, colour);
        let label = if colour { "coloured" } else { "plain" };
        let (wall, cpu) = measure(text.len(), || masker.mask(&text).len());
        println!("{label:8} whole buffer      {cpu:8.0} MB/s per core ({wall:.0} MB/s wall)");
        for chunk in [4096usize, 65536] {
            let (wall, cpu) = measure(text.len(), || {
                let mut s = masker.stream();
                let mut n = 0;
                for c in text.chunks(chunk) {
                    n += s.push(c).len();
                }
                n + s.finish().len()
            });
            println!(
                "{label:8} streamed {:>3} KiB  {cpu:8.0} MB/s per core ({wall:.0} MB/s wall)",
                chunk / 1024
            );
        }
        for (verbose, what) in [(false, "quiet"), (true, "-vvv ")] {
            let (wall, cpu) = output_path(masker, &text, verbose);
            println!("{label:8} output path {what}  {cpu:8.0} MB/s per core ({wall:.0} MB/s wall)");
        }
    }
}

/// The whole output path of one command in-process: 64 KiB chunks into a `Capture` (quiet:
/// line count and failure tail; `-vvv`: masked, cut into prefixed lines, written to stdout),
/// with stdout sent to /dev/null while it runs.
fn output_path(masker: &Arc<Masker>, text: &[u8], verbose: bool) -> (f64, f64) {
    let out = Output::new(Format::Human, 3);
    out.set_masker(masker.clone());
    let head = LiveHead {
        play: "play".into(),
        host: "web-01.example.net".into(),
        task: "print".into(),
        number: 1,
    };
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    std::io::stdout().flush().expect("flush");
    // SAFETY: plain descriptor calls on fds this process owns; fd 1 is restored below.
    let saved = unsafe { libc::dup(1) };
    // SAFETY: as above.
    unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1) };
    let rates = measure(text.len(), || {
        let live = verbose.then(|| (out.clone(), head.clone()));
        let mut c = Capture::new(live, false, DEFAULT_SAVE_LIMIT);
        for chunk in text.chunks(65536) {
            c.chunk(chunk);
        }
        c.finish().lines
    });
    std::io::stdout().flush().expect("flush");
    // SAFETY: as above; `saved` is the original stdout.
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    rates
}
