//! Where secrets flow: each template task's `ENV_` variables, destination and mode (the
//! `flows` of the report), and the warnings about them: readable modes, world-accessible
//! directories, one secret sent to several audiences, shell tasks reading secret files.

use std::collections::{BTreeSet, HashMap};

use super::linter::{Linter, PlayScope, SecretDest, TaskFlow};
use super::{ResolvedDest, TemplateFlow};
use crate::playbook::{FieldStep, FileTask, LoadedPlay, LoadedTask, Mode, Task};

/// Directories anyone can enter (and often list).
pub(super) const WORLD_READABLE_DIRS: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "/srv/www/",
    "/var/www/",
    "/usr/share/nginx/html/",
];

pub(super) fn mode_text(mode: Option<&Mode>, secret: bool) -> (String, Option<u32>) {
    match mode.map(Mode::bits) {
        Some(Ok(b)) => (format!("{b:04o}"), Some(b)),
        Some(Err(_)) => ("invalid".into(), None),
        None if secret => (
            "0600 (default for secret-bearing templates)".into(),
            Some(0o600),
        ),
        None => ("default (0644 less umask for new files)".into(), None),
    }
}

impl Linter<'_> {
    /// The flow of one template task (after every host class and item was checked), and
    /// the warnings about where its secrets go.
    pub(super) fn template_flow(
        &mut self,
        scope: &PlayScope<'_>,
        t: &LoadedTask,
        f: &FileTask,
        acc: TaskFlow,
    ) -> TemplateFlow {
        let secret = !acc.env.is_empty();
        let attrs = f.attributes.clone().unwrap_or_default();
        let (mode, bits) = mode_text(attrs.mode.as_ref(), secret);
        if secret {
            self.secret_file_warnings(t, f, &acc, bits);
            self.note_secret_dests(scope, t, f, &acc);
        }
        let TaskFlow {
            env,
            vars,
            dests,
            loaded,
            ..
        } = acc;
        let n_hosts = scope.all_hosts.len();
        let resolved_dest = if f.dest.contains("{{") && !dests.is_empty() {
            let differ = dests.len() > 1;
            dests
                .into_iter()
                .map(|(path, hosts)| ResolvedDest {
                    path,
                    hosts: (differ && hosts.len() < n_hosts.max(1))
                        .then(|| hosts.into_iter().collect()),
                })
                .collect()
        } else {
            vec![]
        };
        TemplateFlow {
            task: t.task.display_name(),
            src: f.src.clone(),
            dest: f.dest.clone(),
            resolved_dest,
            env: env.into_iter().collect(),
            vars: vars.into_iter().collect(),
            owner: attrs.owner.clone(),
            group: attrs.group.clone(),
            mode,
            not_loaded: !loaded,
        }
    }

    /// A secret-bearing file's mode (readable by others, or unset) and directory
    /// (world-accessible).
    fn secret_file_warnings(
        &mut self,
        t: &LoadedTask,
        f: &FileTask,
        acc: &TaskFlow,
        bits: Option<u32>,
    ) {
        use FieldStep::Key as K;
        let env_list = acc.env.iter().cloned().collect::<Vec<_>>().join(", ");
        let shown_dest = if acc.dests.len() == 1 {
            acc.dests.keys().next().cloned().unwrap_or_default()
        } else {
            f.dest.clone()
        };
        if let Some(b) = bits.filter(|b| b & 0o077 != 0) {
            let who = match (b & 0o070 != 0, b & 0o007 != 0) {
                (true, true) => "group and others",
                (true, false) => "its group",
                _ => "others",
            };
            self.report.warn(
                "secret-file-readable",
                format!("{shown_dest} receives {env_list} but mode {b:04o} lets {who} read it"),
                t.field_location(&[K("attributes"), K("mode")], None),
                "use mode 0600 (0o600): owner-only; give the consuming service the file's ownership rather than group access".into(),
            );
        }
        if f.attributes
            .as_ref()
            .and_then(|a| a.mode.as_ref())
            .is_none()
        {
            self.report.warn(
                "secret-file-no-mode",
                format!(
                    "{shown_dest} receives secrets and sets no mode (jetlike defaults it to 0600)"
                ),
                t.location(),
                "state the mode explicitly, e.g. attributes: {mode: 0o600}".into(),
            );
        }
        for d in &acc.shared {
            let dir = WORLD_READABLE_DIRS
                .iter()
                .find(|w| d.starts_with(*w))
                .unwrap_or(&"/tmp/");
            self.report.warn(
                "secret-in-shared-dir",
                format!("{d} receives secrets under {dir}, a world-accessible directory"),
                t.field_location(&[K("dest")], None),
                "write secrets under a directory only its consumer can enter, e.g. create it first in this play with `install -d -m 0700 DIR`".into(),
            );
        }
    }

    /// Remembers a secret-bearing file's paths (for `reads-secret-file`) and its audience.
    fn note_secret_dests(
        &mut self,
        scope: &PlayScope<'_>,
        t: &LoadedTask,
        f: &FileTask,
        acc: &TaskFlow,
    ) {
        let play = scope.play;
        let id = self.secret_dests.len();
        let templated = f.dest.contains("{{").then_some(&f.dest);
        for d in acc.dests.keys().chain(templated) {
            self.secret_dests.push(SecretDest {
                id,
                path: d.clone(),
                env: acc.env.iter().cloned().collect(),
                play: play.play.name.clone(),
            });
        }
        self.audience(scope.pi, play, t, &acc.env);
    }

    /// The same secret reaching another play's groups: one warning, at the template task that
    /// widens the audience.
    pub(super) fn audience(
        &mut self,
        pi: usize,
        play: &LoadedPlay,
        t: &LoadedTask,
        env: &BTreeSet<String>,
    ) {
        let groups: BTreeSet<String> = play.play.groups.iter().cloned().collect();
        for var in env {
            let a = self.audiences.entry(var.clone()).or_default();
            let other_plays = a.plays.iter().any(|p| *p != pi);
            let new: Vec<String> = groups.difference(&a.groups).cloned().collect();
            if other_plays && !new.is_empty() && !a.plays.contains(&pi) {
                let before = a.groups.iter().cloned().collect::<Vec<_>>().join(", ");
                let first = a.first_play.clone();
                let msg = format!(
                    "{var} is also sent to group(s) {} by play {:?}; play {first:?} already sends it to {before}",
                    new.join(", "),
                    play.play.name
                );
                self.report.warn(
                    "secret-to-several-groups",
                    msg,
                    t.location(),
                    format!("check that every group needs {var}; prefer one secret per audience (a separate ENV_ variable for each group)"),
                );
            }
            let a = self.audiences.get_mut(var).unwrap();
            if a.plays.is_empty() {
                a.first_play.clone_from(&play.play.name);
            }
            a.plays.insert(pi);
            a.groups.extend(groups.iter().cloned());
        }
    }

    /// Shell tasks, in any play, naming a file a template task fills with secrets.
    pub(super) fn reads_secret_files(&mut self) {
        use FieldStep::Key as K;
        let shells = std::mem::take(&mut self.shells);
        // One automaton over every distinct path: each command is scanned once.
        let mut pattern_of: HashMap<&str, usize> = HashMap::new();
        let mut patterns: Vec<&str> = vec![];
        for d in self.secret_dests.iter().filter(|d| !d.path.is_empty()) {
            pattern_of.entry(d.path.as_str()).or_insert_with(|| {
                patterns.push(d.path.as_str());
                patterns.len() - 1
            });
        }
        let Ok(ac) = aho_corasick::AhoCorasick::new(&patterns) else {
            return;
        };
        for s in &shells {
            if s.task.task.sensitive() {
                continue;
            }
            let raw = match &s.task.task {
                Task::Shell(sh) => sh.cmd.as_str(),
                _ => continue,
            };
            let found: BTreeSet<usize> = s
                .cmds
                .iter()
                .flat_map(|c| ac.find_overlapping_iter(c.as_str()))
                .map(|m| m.pattern().as_usize())
                .collect();
            if found.is_empty() {
                continue;
            }
            let mut seen = BTreeSet::new();
            let mut paths = BTreeSet::new();
            for d in &self.secret_dests {
                if d.path.is_empty() || seen.contains(&d.id) || paths.contains(&d.path) {
                    continue;
                }
                if !found.contains(&pattern_of[d.path.as_str()]) {
                    continue;
                }
                let at = match raw.find(d.path.as_str()) {
                    Some(off) => s.task.field_location(&[K("cmd")], Some((raw, off))),
                    None => s.task.field_location(&[K("cmd")], None),
                };
                self.report.warn(
                    "reads-secret-file",
                    format!(
                        "reads {}, which play {:?} fills with {}, without `sensitive: true`; a transformed secret (reversed, re-encoded) would escape masking",
                        d.path,
                        d.play,
                        d.env.join(", ")
                    ),
                    at,
                    "add `sensitive: true` to the task".into(),
                );
                seen.insert(d.id);
                paths.insert(d.path.clone());
            }
        }
    }
}
