//! A fuzz harness that runs on the stable toolchain: proptest mutates the seed corpus under
//! `fuzz/corpus/` (playbooks, role files, templates, inventory files) with grammar fragments —
//! YAML and template syntax, tags, anchors, deep nesting, odd bytes — and drives the library's
//! loaders in process: playbook loading (strict and lenient), `lint` over a whole project,
//! template analysis and rendering in both dialects, inventory loading and resolution, and the
//! masker over the same texts with secrets cut from them.
//!
//! A panic anywhere fails the case (and a stack overflow aborts the run), and each target
//! also checks a property that could fail: every loading problem is located in a file;
//! template errors say where; inventory resolution agrees with a naive reference; no secret
//! survives masking, and streaming masks exactly as whole-buffer masking does.
//!
//! `JETLIKE_FUZZ_CASES` sets the cases per target (default 32, for CI); for a long run:
//!
//! ```text
//! JETLIKE_FUZZ_CASES=20000 cargo test --release --test fuzz_load -- --nocapture
//! JETLIKE_FUZZ_SECONDS=1800 JETLIKE_FUZZ_CASES=2000 cargo test --release --test fuzz_load fuzz_masker -- --nocapture
//! ```
//!
//! A stack overflow aborts the process before proptest can print the input: with
//! `JETLIKE_FUZZ_LAST=<file>`, the template and masker targets write each input there before
//! trying it, so the file holds the one that crashed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use jetlike::inventory::Inventory;
use jetlike::playbook::{load_playbooks, load_playbooks_lenient};
use jetlike::template::{Dialect, Engine};

fn cases() -> u32 {
    std::env::var("JETLIKE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

/// With `JETLIKE_FUZZ_SECONDS`, each target runs batches of `JETLIKE_FUZZ_CASES` cases, each
/// batch from a fresh random seed, until that many seconds have passed.
fn seconds() -> Option<u64> {
    std::env::var("JETLIKE_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Runs `batch` once, or until the `JETLIKE_FUZZ_SECONDS` deadline, and reports executions.
fn fuzz_for(name: &str, runs: &std::cell::Cell<u64>, mut batch: impl FnMut(TestRunner)) {
    let started = std::time::Instant::now();
    let deadline = seconds().map(|s| started + std::time::Duration::from_secs(s));
    loop {
        batch(runner());
        if deadline.is_none_or(|d| std::time::Instant::now() >= d) {
            break;
        }
    }
    eprintln!(
        "{name}: {} executions in {:.0} s",
        runs.get(),
        started.elapsed().as_secs_f64()
    );
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        // Shrinking a text through thousands of mutations takes long and the failing input is
        // printed anyway.
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs a target on a thread with the stack every jetlike thread that parses or renders
/// has (8 MiB: the main thread's, and the runtime's workers are built with it), not the 2 MiB
/// of a test thread: the depth limits are chosen for that stack.
fn on_jetlike_stack(target: fn()) {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(target)
        .unwrap()
        .join()
        .unwrap();
}

/// Saves `input` to `$JETLIKE_FUZZ_LAST`, if set (see the module doc).
fn keep_last(input: &[u8]) {
    if let Ok(path) = std::env::var("JETLIKE_FUZZ_LAST") {
        std::fs::write(path, input).unwrap();
    }
}

/// The seed files of one corpus directory, by name.
fn corpus(kind: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(kind);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Pieces of the grammars jetlike reads, inserted (often repeated) by the mutator.
const FRAGMENTS: &[&str] = &[
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    ": ",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "'",
    "\"",
    "#",
    "|\n",
    ">-\n",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "!shell\n",
    "!copy\n",
    "!template\n",
    "!bogus ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "tasks:",
    "handlers:",
    "vars:",
    "roles:",
    "vars_files: [",
    "subgroups: [",
    "hosts: [",
    "groups: [",
    "name: ",
    "src: ",
    "dest: ",
    "cmd: ",
    "items: ",
    "with: {",
    "and: {",
    "mode: 0o777",
    "mode: 644",
    "0640",
    "~",
    "null",
    "{{",
    "}}",
    "{{{",
    "}}}",
    "{{#if a}}",
    "{{/if}}",
    "{{#each xs}}",
    "{{/each}}",
    "{{else}}",
    "(to_upper_case ",
    ")",
    "{{> p}}",
    "{{!-- ",
    " --}}",
    "{{{{raw}}}}",
    "{{{{/raw}}}}",
    "\\{{",
    "{{ENV_X}}",
    "ENV_",
    "{%",
    "%}",
    "{% if a %}",
    "{% endif %}",
    "{% for x in xs %}",
    "{% endfor %}",
    "{% include 'x' %}",
    "{% elif a %}",
    "{{else if a}}",
    "|upper",
    " ~ a",
    ".a",
    "not ",
    "{#",
    "#}",
    "((",
    "))",
    "| default(1)",
    "\t",
    "\r",
    "\u{0}",
    "\u{feff}",
    "é",
    "\u{10FFFF}",
    "🦀",
    "../",
    "/dev/zero",
    "/proc/self/environ",
    "all",
    "web",
    "db",
    "h1",
    "a",
    "b",
    "c",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Insert fragment `frag`, `times` times in a row, at `at` (a fraction of the length).
    Insert {
        at: u16,
        frag: usize,
        times: u16,
    },
    Delete {
        at: u16,
        len: u16,
    },
    Duplicate {
        at: u16,
        len: u16,
        times: u8,
    },
    Byte {
        at: u16,
        byte: u8,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<u16>(), 0..FRAGMENTS.len(), prop_oneof![4 => 1u16..4, 1 => 1u16..400])
            .prop_map(|(at, frag, times)| Mutation::Insert { at, frag, times }),
        2 => (any::<u16>(), 1u16..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<u16>(), 1u16..60, 1u8..20)
            .prop_map(|(at, len, times)| Mutation::Duplicate { at, len, times }),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Byte { at, byte }),
    ]
}

/// A seed (by index) and the mutations applied to it.
fn mutated(seeds: usize) -> impl Strategy<Value = (usize, Vec<Mutation>)> {
    (0..seeds, prop::collection::vec(mutation(), 0..8))
}

/// Applies `muts` to `seed` (as bytes; the result may not be UTF-8, as files may not be).
fn apply(seed: &str, muts: &[Mutation]) -> Vec<u8> {
    let mut b = seed.as_bytes().to_vec();
    let pos = |at: u16, len: usize| (at as usize * (len + 1)) / (u16::MAX as usize + 1);
    for m in muts {
        match *m {
            Mutation::Insert { at, frag, times } => {
                let p = pos(at, b.len());
                let ins = FRAGMENTS[frag].repeat(times as usize);
                b.splice(p..p, ins.bytes());
            }
            Mutation::Delete { at, len } => {
                let p = pos(at, b.len());
                let end = (p + len as usize).min(b.len());
                b.drain(p..end);
            }
            Mutation::Duplicate { at, len, times } => {
                let p = pos(at, b.len());
                let end = (p + len as usize).min(b.len());
                let piece = b[p..end].to_vec();
                for _ in 0..times {
                    b.splice(end..end, piece.iter().copied());
                }
            }
            Mutation::Byte { at, byte } => {
                if !b.is_empty() {
                    let p = pos(at, b.len() - 1);
                    b[p] = byte;
                }
            }
        }
    }
    b
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

type Seeded = (usize, Vec<Mutation>);

#[test]
fn fuzz_playbook_loading_and_lint() {
    on_jetlike_stack(fuzz_playbook_loading_and_lint_target);
}

fn fuzz_playbook_loading_and_lint_target() {
    let playbooks = corpus("playbook");
    let templates = corpus("template");
    let inventory = corpus("inventory");
    let n = playbooks.len();
    let strategy = (
        mutated(n),
        mutated(n),
        mutated(n),
        mutated(templates.len()),
        mutated(inventory.len()),
    );
    let runs = std::cell::Cell::new(0u64);
    fuzz_for("fuzz_playbook_loading_and_lint", &runs, |mut runner| {
        runner
            .run(
                &strategy,
                |(pb, role, tasks, tpl, inv): (Seeded, Seeded, Seeded, Seeded, Seeded)| {
                    runs.set(runs.get() + 1);
                    let dir = tempfile::tempdir().unwrap();
                    let root = dir.path();
                    write(root, "playbooks/pb.yml", &apply(&playbooks[pb.0], &pb.1));
                    write(
                        root,
                        "playbooks/roles/r/role.yml",
                        &apply(&playbooks[role.0], &role.1),
                    );
                    write(
                        root,
                        "playbooks/roles/r/tasks/main.yml",
                        &apply(&playbooks[tasks.0], &tasks.1),
                    );
                    let t = apply(&templates[tpl.0], &tpl.1);
                    for name in ["t.hb", "t.j2", "app.conf.hb"] {
                        write(root, &format!("templates/{name}"), &t);
                    }
                    write(
                        root,
                        "playbooks/vars.yml",
                        &apply(&inventory[inv.0], &inv.1),
                    );
                    write(root, "files/f.txt", b"content\n");
                    write(root, "files/motd.txt", b"motd\n");
                    write(root, "inv/groups/web", &apply(&inventory[inv.0], &inv.1));
                    write(root, "inv/groups/db", b"hosts: [h1]\n");
                    write(
                        root,
                        "inv/group_vars/web",
                        &apply(&inventory[inv.0], &inv.1),
                    );

                    let paths = vec![root.join("playbooks/pb.yml")];
                    let (_, report) = load_playbooks_lenient(&paths);
                    for (code, d) in &report.problems {
                        let loc = d.location.as_ref();
                        prop_assert!(
                            loc.is_some_and(|l| l.file.starts_with(root)),
                            "{code}: problem not located in the project: {d:?}"
                        );
                    }
                    let strict = load_playbooks(&paths);
                    prop_assert_eq!(
                        strict.is_ok(),
                        report.problems.is_empty(),
                        "strict and lenient loading disagree"
                    );
                    let opts = jetlike::lint::Options {
                        playbooks: paths.clone(),
                        inventory: Some(root.join("inv")),
                        extra_vars: vec![],
                        env_file: None,
                        limit_hosts: vec![],
                        limit_groups: vec![],
                    };
                    let lint = jetlike::lint::lint(&opts);
                    if !report.problems.is_empty() {
                        prop_assert!(lint.errors() > 0, "lint found nothing where loading failed");
                    }
                    Ok(())
                },
            )
            .unwrap();
    });
}

#[test]
fn fuzz_templates() {
    on_jetlike_stack(fuzz_templates_target);
}

fn fuzz_templates_target() {
    let templates = corpus("template");
    let engine = Engine::new();
    let ctx = serde_json::json!({"a": 1, "xs": [1, 2], "maybe": "m", "ENV_X": "s", "x": 3});
    let runs = std::cell::Cell::new(0u64);
    fuzz_for("fuzz_templates", &runs, |mut runner| {
        runner
            .run(&mutated(templates.len()), |(seed, muts)| {
                runs.set(runs.get() + 1);
                let bytes = apply(&templates[seed], &muts);
                keep_last(&bytes);
                let text = String::from_utf8_lossy(&bytes);
                for dialect in [Dialect::Handlebars, Dialect::Jinja] {
                    let refs = engine.references(dialect, &text);
                    match &refs {
                        Ok(refs) => {
                            for r in refs {
                                prop_assert!(r.line >= 1 && r.column >= 1, "{r:?} not located");
                            }
                            let _ = engine.includes(dialect, &text);
                            let _ = engine.render_file(dialect, &text, &ctx);
                        }
                        Err(e) => {
                            prop_assert!(
                                e.position().is_some() && e.to_string().contains("line"),
                                "{dialect:?} error without a line: {e}"
                            );
                        }
                    }
                    // Too deep for Handlebars is always refused, whatever else is wrong.
                    if dialect == Dialect::Handlebars
                        && jetlike::depth::check_handlebars(&text).is_err()
                    {
                        prop_assert!(refs.is_err());
                        prop_assert!(engine.render(&text, &ctx).is_err());
                    }
                }
                let _ = engine.render(&text, &ctx);
                let _ = engine.condition(&text, &ctx);
                Ok(())
            })
            .unwrap();
    });
}

#[test]
fn fuzz_inventory() {
    on_jetlike_stack(fuzz_inventory_target);
}

fn fuzz_inventory_target() {
    let seeds = corpus("inventory");
    let n = seeds.len();
    let files = prop::collection::vec(
        (
            prop::sample::select(vec!["a", "b", "c", "web", "all"]),
            0..3usize,
            mutated(n),
        ),
        1..6,
    );
    let runs = std::cell::Cell::new(0u64);
    fuzz_for("fuzz_inventory", &runs, |mut runner| {
        runner
            .run(&files, |files| {
                runs.set(runs.get() + 1);
                let dir = tempfile::tempdir().unwrap();
                let root = dir.path();
                for (name, kind, (seed, muts)) in &files {
                    let sub = ["groups", "group_vars", "host_vars"][*kind];
                    write(root, &format!("{sub}/{name}"), &apply(&seeds[*seed], muts));
                }
                let (inv, problems) = match Inventory::load_lenient(root) {
                    Ok(x) => x,
                    Err(e) => return Err(TestCaseError::fail(format!("not loaded: {e:?}"))),
                };
                for d in &problems {
                    prop_assert!(
                        d.location
                            .as_ref()
                            .is_some_and(|l| l.file.starts_with(root)),
                        "problem not located: {d:?}"
                    );
                }
                let cyclic = problems.iter().any(|d| d.message.contains("cycle"));
                let counts = inv.member_counts();
                for h in inv.all_hosts() {
                    let groups: BTreeSet<String> =
                        inv.groups_of(&h).into_iter().map(|(_, g)| g).collect();
                    let _ = inv.host_variables(&h);
                    if cyclic {
                        continue;
                    }
                    // The index agrees with a walk down from each group.
                    for g in inv.groups.keys() {
                        prop_assert_eq!(
                            groups.contains(g),
                            g == "all" || inv.hosts_of(g).contains(&h),
                            "host {} group {}",
                            h,
                            g
                        );
                    }
                }
                if !cyclic {
                    for g in inv.groups.keys() {
                        prop_assert_eq!(counts[g], inv.hosts_of(g).len(), "count of {}", g);
                    }
                }
                Ok(())
            })
            .unwrap();
    });
}

#[test]
fn fuzz_masker() {
    on_jetlike_stack(fuzz_masker_target);
}

fn fuzz_masker_target() {
    use jetlike::mask::{Masker, MIN_ANYWHERE};
    use jetlike::secret::Secret;
    use std::sync::Arc;

    let seeds: Vec<String> = ["playbook", "template", "inventory"]
        .iter()
        .flat_map(|k| corpus(k))
        .collect();
    let strategy = (
        mutated(seeds.len()),
        prop::collection::vec((any::<u16>(), 8usize..40), 1..5),
        prop::collection::vec(any::<u16>(), 0..8),
    );
    let runs = std::cell::Cell::new(0u64);
    fuzz_for("fuzz_masker", &runs, |mut runner| {
        runner
            .run(&strategy, |((seed, muts), cuts_of_secrets, cuts)| {
                runs.set(runs.get() + 1);
                let text = apply(&seeds[seed], &muts);
                keep_last(&text);
                // Secrets are pieces of the text itself, so every one occurs at least once; a
                // piece that is mostly blank, or holds the mask token's `*`, is not a fair test.
                let values: Vec<Vec<u8>> = cuts_of_secrets
                    .iter()
                    .filter_map(|&(at, len)| {
                        let start = at as usize % (text.len().max(1));
                        let v = text.get(start..start + len)?.to_vec();
                        (v.trim_ascii().len() >= MIN_ANYWHERE && !v.contains(&b'*')).then_some(v)
                    })
                    .collect();
                let secrets: Vec<Secret> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Secret::new(format!("S{i}"), v.clone()))
                    .collect();
                let masker = Arc::new(Masker::new(&secrets));
                let whole = masker.mask(&text);
                // A value the masker reports it cannot mask (too short once its escape
                // sequences are set aside) is warned about by name instead.
                let unmasked = masker.unmasked_names();
                for (i, v) in values.iter().enumerate() {
                    if unmasked.contains(&format!("S{i}")) {
                        continue;
                    }
                    prop_assert!(
                        !whole.windows(v.len()).any(|w| w == &v[..]),
                        "a secret survived masking: {:?} (secrets {:?}) in {:?}",
                        String::from_utf8_lossy(v),
                        values
                            .iter()
                            .map(|v| String::from_utf8_lossy(v))
                            .collect::<Vec<_>>(),
                        String::from_utf8_lossy(&text)
                    );
                }
                let mut cuts: Vec<usize> = cuts
                    .into_iter()
                    .map(|c| c as usize % (text.len() + 1))
                    .collect();
                cuts.sort_unstable();
                let mut stream = masker.stream();
                let mut streamed = Vec::new();
                let mut at = 0;
                for c in cuts {
                    streamed.extend(stream.push(&text[at..c]));
                    at = c;
                }
                streamed.extend(stream.push(&text[at..]));
                streamed.extend(stream.finish());
                prop_assert!(
                    streamed == whole,
                    "streaming and whole-buffer masking differ"
                );
                Ok(())
            })
            .unwrap();
    });
}
