//! The inventory directory: `groups/`, `group_vars/`, `host_vars/`, subgroups, implicit `all`.
//!
//! Variable resolution is deterministic: group vars apply from the shallowest group to the
//! deepest (`all` first, then top-level groups, then their subgroups); groups at the same depth
//! apply in name order, so when two sibling groups set the same variable the group whose name
//! sorts last wins. Host vars override all group vars.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Diagnostic, Error, Location, Result};
use crate::playbook::{load_vars_file, merge, yaml_error, Vars};

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

fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
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
        if name.starts_with('.') || !p.is_file() {
            continue;
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
    pub fn load_lenient(dir: &Path) -> Result<(Self, Vec<Diagnostic>)> {
        if !dir.is_dir() {
            return Err(Error::invalid(
                Diagnostic::new(format!("inventory {} is not a directory", dir.display()))
                    .help("pass a directory holding groups/, group_vars/ and host_vars/"),
            ));
        }
        let mut inv = Inventory {
            dir: Some(dir.to_path_buf()),
            ..Default::default()
        };
        let mut errors = vec![];
        inv.groups.insert(ALL.into(), Group::default());
        for (name, path) in entries(&dir.join("groups"))? {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let gf: GroupFile = if text.trim().is_empty() {
                GroupFile {
                    hosts: vec![],
                    subgroups: vec![],
                }
            } else {
                match serde_yaml_ng::from_str(&text) {
                    Ok(g) => g,
                    Err(e) => {
                        errors.push(yaml_error(&path, &e));
                        inv.groups.entry(name).or_default();
                        continue;
                    }
                }
            };
            let g = inv.groups.entry(name).or_default();
            g.hosts.extend(gf.hosts);
            g.subgroups.extend(gf.subgroups);
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
        for (name, path) in entries(&dir.join("group_vars"))? {
            match load_vars_file(&path) {
                Ok(v) => merge(&mut inv.groups.entry(name).or_default().vars, &v),
                Err(Error::Invalid(mut d)) => errors.append(&mut d),
                Err(e) => errors.push(Diagnostic::new(e.to_string()).in_file(&path)),
            }
        }
        for (name, path) in entries(&dir.join("host_vars"))? {
            match load_vars_file(&path) {
                Ok(v) => {
                    inv.host_vars.insert(name, v);
                }
                Err(Error::Invalid(mut d)) => errors.append(&mut d),
                Err(e) => errors.push(Diagnostic::new(e.to_string()).in_file(&path)),
            }
        }
        // Every group without a parent hangs off `all`.
        let children: BTreeSet<String> = inv
            .groups
            .values()
            .flat_map(|g| g.subgroups.iter().cloned())
            .collect();
        let roots: Vec<String> = inv
            .groups
            .keys()
            .filter(|g| *g != ALL && !children.contains(*g))
            .cloned()
            .collect();
        inv.groups.get_mut(ALL).unwrap().subgroups.extend(roots);
        if let Some(cycle) = inv.find_cycle() {
            errors.push(
                Diagnostic::new(format!("group {cycle:?} is its own subgroup (a cycle)"))
                    .at(Some(Location::new(dir.join("groups").join(&cycle), 0, 0)))
                    .help("remove one of the subgroups: entries forming the cycle"),
            );
        }
        for (host, _) in inv.host_vars.iter() {
            if !inv.all_hosts().contains(host) {
                let base = dir.join("host_vars");
                let file = ["", ".yml", ".yaml"]
                    .iter()
                    .map(|ext| base.join(format!("{host}{ext}")))
                    .find(|p| p.is_file())
                    .unwrap_or_else(|| base.join(host));
                errors.push(
                    Diagnostic::new(format!("host_vars/{host} names a host in no group"))
                        .at(Some(Location::new(file, 0, 0)))
                        .help("add the host to a file under groups/, or remove the file"),
                );
            }
        }
        Ok((inv, errors))
    }

    fn find_cycle(&self) -> Option<String> {
        fn visit(
            inv: &Inventory,
            g: &str,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<String> {
            if stack.iter().any(|s| s == g) {
                return Some(g.to_string());
            }
            if done.contains(g) {
                return None;
            }
            stack.push(g.to_string());
            if let Some(group) = inv.groups.get(g) {
                for s in &group.subgroups {
                    if let Some(c) = visit(inv, s, stack, done) {
                        return Some(c);
                    }
                }
            }
            stack.pop();
            done.insert(g.to_string());
            None
        }
        let mut done = BTreeSet::new();
        self.groups
            .keys()
            .find_map(|g| visit(self, g, &mut vec![], &mut done))
    }

    /// Every host in `group` or its subgroups.
    pub fn hosts_of(&self, group: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![group.to_string()];
        while let Some(g) = todo.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(grp) = self.groups.get(&g) {
                out.extend(grp.hosts.iter().cloned());
                todo.extend(grp.subgroups.iter().cloned());
            }
        }
        out
    }

    pub fn all_hosts(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.hosts_of(ALL);
        for g in self.groups.values() {
            out.extend(g.hosts.iter().cloned());
        }
        out
    }

    pub fn has_group(&self, g: &str) -> bool {
        self.groups.contains_key(g)
    }

    /// The groups holding `host`, each with its depth below `all`.
    pub fn groups_of(&self, host: &str) -> Vec<(usize, String)> {
        let mut depth: BTreeMap<String, usize> = BTreeMap::new();
        let mut frontier = vec![(ALL.to_string(), 0usize)];
        while let Some((g, d)) = frontier.pop() {
            if depth.get(&g).is_some_and(|&old| old >= d) {
                continue;
            }
            depth.insert(g.clone(), d);
            if let Some(grp) = self.groups.get(&g) {
                for s in &grp.subgroups {
                    frontier.push((s.clone(), d + 1));
                }
            }
        }
        let mut out: Vec<(usize, String)> = self
            .groups
            .keys()
            .filter(|g| *g == ALL || self.hosts_of(g).contains(host))
            .map(|g| (depth.get(g).copied().unwrap_or(1), g.clone()))
            .collect();
        out.sort();
        out
    }

    /// Group vars (shallow to deep, siblings by name) then host vars, deep-merged.
    pub fn host_variables(&self, host: &str) -> Vars {
        let mut vars = Vars::new();
        for (_, g) in self.groups_of(host) {
            if let Some(grp) = self.groups.get(&g) {
                merge(&mut vars, &grp.vars);
            }
        }
        if let Some(hv) = self.host_vars.get(host) {
            merge(&mut vars, hv);
        }
        vars
    }
}
