//! The inventory directory: `groups/`, `group_vars/`, `host_vars/`, subgroups, implicit `all`.
//!
//! Variable resolution is deterministic: group vars apply from the shallowest group to the
//! deepest (`all` first, then top-level groups, then their subgroups); groups at the same depth
//! apply in name order, so when two sibling groups set the same variable the group whose name
//! sorts last wins. Host vars override all group vars.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{Diagnostic, Error, Location, Result};
use crate::playbook::{check_yaml_depth, load_vars_file, yaml_error};
use crate::vars::{merge, Vars};

pub const ALL: &str = "all";

#[derive(Debug, Default, Clone)]
pub struct Group {
    pub hosts: BTreeSet<String>,
    pub subgroups: BTreeSet<String>,
    pub vars: Vars,
}

#[derive(Debug, Default)]
pub struct Inventory {
    pub groups: BTreeMap<String, Group>,
    pub host_vars: BTreeMap<String, Vars>,
    pub dir: Option<PathBuf>,
    /// Problems that do not stop a run (a `host_vars` file for a host in no group, which Jet
    /// accepts): shown as warnings, by `jetlike lint` as findings.
    pub warnings: Vec<Diagnostic>,
    /// Built on first query; the groups must not change after that.
    index: OnceLock<Index>,
}

/// A `groups/NAME` file (its JSON Schema: `jetlike schema inventory`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupFile {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    subgroups: Vec<String>,
}

/// The files of an inventory subdirectory (`groups/`, `group_vars/`, `host_vars/`), by name
/// without `.yml`/`.yaml`. Hidden entries and directories are skipped; anything else that is
/// not a regular file (a FIFO, a device, a socket, a dangling symlink) is a problem in `errors`.
fn entries(dir: &Path, errors: &mut Vec<Diagnostic>) -> Result<Vec<(String, PathBuf)>> {
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Error::invalid(Diagnostic::new(format!(
            "cannot read {}: {e}",
            dir.display()
        )))
    })?;
    let mut out = vec![];
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        match crate::input_file::classify_entry(&p) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                errors.push(e.diagnostic());
                continue;
            }
        }
        let stem = name
            .strip_suffix(".yml")
            .or_else(|| name.strip_suffix(".yaml"))
            .unwrap_or(&name)
            .to_string();
        out.push((stem, p));
    }
    out.sort();
    Ok(out)
}

/// What queries need, computed once from the final group structure in time linear in the
/// inventory's size (groups, subgroup links, host entries). Groups are numbered in name order.
#[derive(Debug, Default)]
struct Index {
    names: Vec<String>,
    /// Each group's parents (the groups naming it in `subgroups:`).
    parents: Vec<Vec<usize>>,
    /// Each group's depth below `all`: the longest chain of subgroups from `all`.
    depth: Vec<usize>,
    /// Each group's position when ordered by (depth, name): the order vars apply in.
    rank: Vec<usize>,
    /// Whether each group sets variables.
    has_vars: Vec<bool>,
    /// The groups naming each host directly.
    direct: HashMap<String, Vec<usize>>,
    /// Every host of every group.
    all_hosts: BTreeSet<String>,
}

impl Index {
    fn build(groups: &BTreeMap<String, Group>) -> Index {
        let names: Vec<String> = groups.keys().cloned().collect();
        let id: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let children: Vec<Vec<usize>> = groups
            .values()
            .map(|g| {
                g.subgroups
                    .iter()
                    .filter_map(|s| id.get(s.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut parents = vec![vec![]; names.len()];
        let mut indegree = vec![0usize; names.len()];
        let mut direct: HashMap<String, Vec<usize>> = HashMap::new();
        let mut all_hosts = BTreeSet::new();
        for (g, (kids, grp)) in children.iter().zip(groups.values()).enumerate() {
            for &c in kids {
                parents[c].push(g);
                indegree[c] += 1;
            }
            for h in &grp.hosts {
                direct.entry(h.clone()).or_default().push(g);
                all_hosts.insert(h.clone());
            }
        }
        // Longest-path depth in topological order (Kahn): each link is followed once. Groups
        // on a cycle are never reached (the cycle is reported by `load`) and keep depth 1.
        let mut depth = vec![1usize; names.len()];
        let mut ready: Vec<usize> = (0..names.len()).filter(|&g| indegree[g] == 0).collect();
        for &g in &ready {
            if names[g] == ALL {
                depth[g] = 0;
            }
        }
        while let Some(g) = ready.pop() {
            for &c in &children[g] {
                depth[c] = depth[c].max(depth[g] + 1);
                indegree[c] -= 1;
                if indegree[c] == 0 {
                    ready.push(c);
                }
            }
        }
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by_key(|&g| depth[g]); // stable: names stay in order within a depth
        let mut rank = vec![0; names.len()];
        for (r, &g) in order.iter().enumerate() {
            rank[g] = r;
        }
        Index {
            has_vars: groups.values().map(|g| !g.vars.is_empty()).collect(),
            names,
            parents,
            depth,
            rank,
            direct,
            all_hosts,
        }
    }
}

impl Inventory {
    /// The inventory of local modes: one host, `localhost`, in `all`.
    pub fn localhost() -> Self {
        let mut inv = Inventory::default();
        let mut all = Group::default();
        all.hosts.insert("localhost".into());
        inv.groups.insert(ALL.into(), all);
        inv
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let (inv, errors) = Self::load_lenient(dir)?;
        if errors.is_empty() {
            Ok(inv)
        } else {
            Err(Error::Invalid(errors))
        }
    }

    /// Loads what can be loaded, with every problem found (for `jetlike lint`); a group whose
    /// file does not parse still exists, empty. Fails only when `dir` is not a directory.
    /// An executable `path` is a dynamic inventory (see [`crate::dynamic_inventory`]): it is
    /// run for its groups and hosts, then the `group_vars/` and `host_vars/` beside it apply.
    pub fn load_lenient(path: &Path) -> Result<(Self, Vec<Diagnostic>)> {
        let script = !path.is_dir() && crate::dynamic_inventory::is_script(path);
        if !path.is_dir() && !script {
            return Err(Error::invalid(
                Diagnostic::new(format!(
                    "inventory {} is not a directory or an executable",
                    path.display()
                ))
                .help("pass a directory holding groups/, group_vars/ and host_vars/, or an executable printing the inventory as JSON"),
            ));
        }
        let dir = if script {
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        } else {
            path
        };
        let mut inv = Inventory {
            dir: Some(dir.to_path_buf()),
            ..Default::default()
        };
        let mut errors = vec![];
        inv.groups.insert(ALL.into(), Group::default());
        if script {
            inv.add_printed(path)?;
        } else {
            for (name, path) in entries(&dir.join("groups"), &mut errors)? {
                inv.add_group_file(name, &path, &mut errors);
            }
        }
        // Subgroups named but never defined still exist (empty), as in Jet.
        let named: Vec<String> = inv
            .groups
            .values()
            .flat_map(|g| g.subgroups.iter().cloned())
            .collect();
        for n in named {
            inv.groups.entry(n).or_default();
        }
        inv.add_vars_files(dir, &mut errors)?;
        inv.link_and_check(dir, &mut errors);
        Ok((inv, errors))
    }

    /// The groups, hosts and variables a dynamic inventory `script` prints.
    fn add_printed(&mut self, script: &Path) -> Result<()> {
        let printed = crate::dynamic_inventory::load(script, ALL).map_err(Error::invalid)?;
        for (name, g) in printed.groups {
            let group = self.groups.entry(name).or_default();
            group.hosts.extend(g.hosts);
            group.subgroups.extend(g.subgroups);
            crate::vars::merge(&mut group.vars, &g.vars);
        }
        self.host_vars.extend(printed.host_vars);
        Ok(())
    }

    /// The group `name` from its file `groups/NAME`; a file that cannot be read or parsed is
    /// an error, and the group still exists, empty.
    fn add_group_file(&mut self, name: String, path: &Path, errors: &mut Vec<Diagnostic>) {
        let text = match crate::input_file::read_text(path)
            .map_err(|e| Error::invalid(e.diagnostic()))
            .and_then(|t| check_yaml_depth(path, &t).map(|()| t))
        {
            Ok(t) => t,
            Err(e) => {
                if let Error::Invalid(mut d) = e {
                    errors.append(&mut d);
                }
                self.groups.entry(name).or_default();
                return;
            }
        };
        let gf: GroupFile = if text.trim().is_empty() {
            GroupFile {
                hosts: vec![],
                subgroups: vec![],
            }
        } else {
            match serde_yaml_ng::from_str(&text) {
                Ok(g) => g,
                Err(e) => {
                    errors.push(yaml_error(path, &e));
                    self.groups.entry(name).or_default();
                    return;
                }
            }
        };
        let g = self.groups.entry(name).or_default();
        g.hosts.extend(gf.hosts);
        g.subgroups.extend(gf.subgroups);
    }

    /// The `group_vars/` and `host_vars/` files under `dir`.
    fn add_vars_files(&mut self, dir: &Path, errors: &mut Vec<Diagnostic>) -> Result<()> {
        for (name, path) in entries(&dir.join("group_vars"), errors)? {
            match load_vars_file(&path) {
                Ok(v) => merge(&mut self.groups.entry(name).or_default().vars, &v),
                Err(Error::Invalid(mut d)) => errors.append(&mut d),
                Err(e) => errors.push(Diagnostic::new(e.to_string()).in_file(&path)),
            }
        }
        for (name, path) in entries(&dir.join("host_vars"), errors)? {
            match load_vars_file(&path) {
                Ok(v) => {
                    self.host_vars.insert(name, v);
                }
                Err(Error::Invalid(mut d)) => errors.append(&mut d),
                Err(e) => errors.push(Diagnostic::new(e.to_string()).in_file(&path)),
            }
        }
        Ok(())
    }

    /// Hangs every group without a parent off `all`, then reports a subgroup cycle; `host_vars`
    /// files naming a host in no group are warnings (located at their files under `dir`).
    fn link_and_check(&mut self, dir: &Path, errors: &mut Vec<Diagnostic>) {
        // Every group without a parent hangs off `all`.
        let children: BTreeSet<String> = self
            .groups
            .values()
            .flat_map(|g| g.subgroups.iter().cloned())
            .collect();
        let roots: Vec<String> = self
            .groups
            .keys()
            .filter(|g| *g != ALL && !children.contains(*g))
            .cloned()
            .collect();
        self.groups.get_mut(ALL).unwrap().subgroups.extend(roots);
        if let Some(cycle) = self.find_cycle() {
            let first = &cycle[0];
            let file = ["", ".yml", ".yaml"]
                .iter()
                .map(|ext| dir.join("groups").join(format!("{first}{ext}")))
                .find(|p| p.is_file())
                .unwrap_or_else(|| dir.join("groups").join(first));
            let (line, column) = subgroup_position(&file, &cycle[1]);
            errors.push(
                Diagnostic::new(format!(
                    "group {first:?} is its own subgroup (a cycle: {})",
                    cycle.join(" -> ")
                ))
                .at(Some(Location::new(file, line, column)))
                .help("remove one of the subgroups: entries forming the cycle"),
            );
        }
        let all_hosts = self.all_hosts();
        for host in self.host_vars.keys() {
            if !all_hosts.contains(host) {
                let base = dir.join("host_vars");
                let file = ["", ".yml", ".yaml"]
                    .iter()
                    .map(|ext| base.join(format!("{host}{ext}")))
                    .find(|p| p.is_file())
                    .unwrap_or_else(|| base.join(host));
                self.warnings.push(
                    Diagnostic::new(format!(
                        "{} sets variables for host {host:?}, which is in no group: they are not used",
                        file.display()
                    ))
                    .at(Some(Location::new(file, 1, 1)))
                    .help("add the host to a file under groups/, or remove the file"),
                );
            }
        }
    }

    /// A cycle of subgroups, as the groups along it with the first repeated at the end
    /// (`[a, b, a]`), found by an iterative depth-first search (no recursion: a chain of any
    /// length is fine).
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            OnStack,
            Done,
        }
        let names: Vec<&str> = self.groups.keys().map(String::as_str).collect();
        let id: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let children: Vec<Vec<usize>> = self
            .groups
            .values()
            .map(|g| {
                g.subgroups
                    .iter()
                    .filter_map(|s| id.get(s.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut state = vec![State::New; names.len()];
        for root in 0..names.len() {
            if state[root] != State::New {
                continue;
            }
            // (group, index of its next child to visit)
            let mut stack = vec![(root, 0usize)];
            state[root] = State::OnStack;
            while let Some(&mut (g, ref mut next)) = stack.last_mut() {
                if let Some(&c) = children[g].get(*next) {
                    *next += 1;
                    match state[c] {
                        State::New => {
                            state[c] = State::OnStack;
                            stack.push((c, 0));
                        }
                        State::OnStack => {
                            let from = stack.iter().position(|&(s, _)| s == c).unwrap_or(0);
                            let mut cycle: Vec<String> = stack[from..]
                                .iter()
                                .map(|&(s, _)| names[s].into())
                                .collect();
                            cycle.push(names[c].into());
                            return Some(cycle);
                        }
                        State::Done => {}
                    }
                } else {
                    state[g] = State::Done;
                    stack.pop();
                }
            }
        }
        None
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::build(&self.groups))
    }

    /// Every host in `group` or its subgroups.
    pub fn hosts_of(&self, group: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![group];
        while let Some(g) = todo.pop() {
            if !seen.insert(g) {
                continue;
            }
            if let Some(grp) = self.groups.get(g) {
                out.extend(grp.hosts.iter().cloned());
                todo.extend(grp.subgroups.iter().map(String::as_str));
            }
        }
        out
    }

    /// How many hosts each group has (directly or through subgroups), computed from each
    /// host's groups: time proportional to the memberships.
    pub fn member_counts(&self) -> BTreeMap<String, usize> {
        let idx = self.index();
        let mut counts = vec![0usize; idx.names.len()];
        for h in &idx.all_hosts {
            for g in self.group_ids_of(h) {
                counts[g] += 1;
            }
        }
        idx.names.iter().cloned().zip(counts).collect()
    }

    pub fn all_hosts(&self) -> BTreeSet<String> {
        self.index().all_hosts.clone()
    }

    pub fn has_group(&self, g: &str) -> bool {
        self.groups.contains_key(g)
    }

    /// The groups holding `host` (directly, or through subgroups, and always `all`), each with
    /// its depth below `all`, shallowest first, then by name.
    pub fn groups_of(&self, host: &str) -> Vec<(usize, String)> {
        let idx = self.index();
        self.group_ids_of(host)
            .into_iter()
            .map(|g| (idx.depth[g], idx.names[g].clone()))
            .collect()
    }

    /// [`Inventory::groups_of`] as group numbers: the ancestors of the host's own groups, each
    /// found once, in the order vars apply.
    fn group_ids_of(&self, host: &str) -> Vec<usize> {
        let idx = self.index();
        let mut seen: std::collections::HashSet<usize> = std::collections::HashSet::new();
        let mut todo: Vec<usize> = idx.direct.get(host).cloned().unwrap_or_default();
        if let Ok(all) = idx.names.binary_search_by(|n| n.as_str().cmp(ALL)) {
            todo.push(all);
        }
        let mut found = vec![];
        while let Some(g) = todo.pop() {
            if seen.insert(g) {
                found.push(g);
                todo.extend(idx.parents[g].iter().copied());
            }
        }
        found.sort_by_key(|&g| idx.rank[g]);
        found
    }

    /// The groups naming `group` in their `subgroups:`, by name.
    pub fn parents_of(&self, group: &str) -> BTreeSet<String> {
        self.groups
            .iter()
            .filter(|(_, g)| g.subgroups.contains(group))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Every group above `group` (parents, their parents, ...), by name.
    pub fn ancestors_of(&self, group: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = self.parents_of(group).into_iter().collect();
        while let Some(g) = todo.pop() {
            if out.insert(g.clone()) {
                todo.extend(self.parents_of(&g));
            }
        }
        out
    }

    /// Every group below `group` (subgroups, theirs, ...), by name.
    pub fn descendants_of(&self, group: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<&str> = vec![group];
        while let Some(g) = todo.pop() {
            for s in self
                .groups
                .get(g)
                .map(|g| &g.subgroups)
                .into_iter()
                .flatten()
            {
                if out.insert(s.clone()) {
                    todo.push(s);
                }
            }
        }
        out
    }

    /// The variables of `group` as its hosts inherit them: its ancestors' (shallow to deep,
    /// siblings by name) then its own, deep-merged.
    pub fn group_variables(&self, group: &str) -> Vars {
        let idx = self.index();
        let ancestors = self.ancestors_of(group);
        let mut ids: Vec<usize> = idx
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| ancestors.contains(*n) || n.as_str() == group)
            .map(|(i, _)| i)
            .collect();
        ids.sort_by_key(|&g| (idx.names[g] == group, idx.rank[g]));
        let mut vars = Vars::new();
        for g in ids {
            if let Some(grp) = self.groups.get(&idx.names[g]) {
                merge(&mut vars, &grp.vars);
            }
        }
        vars
    }

    /// Group vars (shallow to deep, siblings by name) then host vars, deep-merged.
    pub fn host_variables(&self, host: &str) -> Vars {
        let idx = self.index();
        let mut vars = Vars::new();
        for g in self.group_ids_of(host) {
            if !idx.has_vars[g] {
                continue;
            }
            if let Some(grp) = self.groups.get(&idx.names[g]) {
                merge(&mut vars, &grp.vars);
            }
        }
        if let Some(hv) = self.host_vars.get(host) {
            merge(&mut vars, hv);
        }
        vars
    }
}

/// Where `groups/<file>` names `subgroup` in its `subgroups:` list, for the cycle error; the
/// start of the file when it cannot be found.
fn subgroup_position(file: &Path, subgroup: &str) -> (usize, usize) {
    use crate::yaml_spans::Step;
    let Ok(text) = crate::input_file::read_text(file) else {
        return (1, 1);
    };
    let (Ok(gf), Some(root)) = (
        serde_yaml_ng::from_str::<GroupFile>(&text),
        crate::yaml_spans::index(&text),
    ) else {
        return (1, 1);
    };
    match gf.subgroups.iter().position(|s| s == subgroup) {
        Some(i) => root.locate(&[Step::Key("subgroups"), Step::Index(i)]),
        None => root.locate(&[Step::Key("subgroups")]),
    }
}
