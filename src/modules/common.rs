//! What Jet's path and account modules (`!directory`, `!file`, `!stat`, `!git`, `!user`,
//! `!group`, `!sd_service`) share: Jet's templated booleans (`remove: true` or
//! `remove: "{{flag}}"`), rendering and checking a path or a name, the one script that
//! inspects a path (`inspect_path`) with its parser, the attribute comparison and the
//! `chmod`/`chown`/`chgrp` lines that converge them, and carrying out a `Plan::Converge`.

use serde::Deserialize;

use super::file::{Attributes, Mode};
use super::registry::FieldProblem;
use super::{apply_script, Applied, Plan, TaskCtx, TaskError};
use crate::connection::scripts::quote;
use crate::connection::FileAttrs;
use crate::field_path::{push_optional, FieldStep, TemplatedField};
use crate::output::Status;

/// A Jet boolean option: `true`, or text rendered then read as a boolean (`"{{flag}}"`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(String),
}

/// Reads a rendered boolean: `true`/`yes`/`on`/`1` or `false`/`no`/`off`/`0`/empty.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// The value of an optional flag (`default` when absent).
pub fn flag(
    ctx: &TaskCtx<'_>,
    name: &str,
    value: Option<&Flag>,
    default: bool,
) -> Result<bool, TaskError> {
    Ok(opt_flag(ctx, name, value)?.unwrap_or(default))
}

/// The value of an optional flag, `None` when absent.
pub fn opt_flag(
    ctx: &TaskCtx<'_>,
    name: &str,
    value: Option<&Flag>,
) -> Result<Option<bool>, TaskError> {
    match value {
        None => Ok(None),
        Some(Flag::Bool(b)) => Ok(Some(*b)),
        Some(Flag::Text(t)) => {
            let text = render(ctx, name, t)?;
            parse_bool(&text).map(Some).ok_or_else(|| {
                TaskError::new(format!("{name} must be true or false, not {text:?}"))
            })
        }
    }
}

/// Adds the flags written as text to the templated fields.
pub fn push_flags<'a>(
    out: &mut Vec<TemplatedField<'a>>,
    flags: &[(&'static str, &'a Option<Flag>)],
) {
    for (key, value) in flags {
        if let Some(Flag::Text(t)) = value {
            out.push((vec![FieldStep::Key(key)], t));
        }
    }
}

/// Renders one templated field, naming it on failure.
pub fn render(ctx: &TaskCtx<'_>, name: &str, text: &str) -> Result<String, TaskError> {
    ctx.engine
        .render(text, ctx.vars)
        .map_err(|e| TaskError::new(format!("cannot render {name}: {e}")))
}

/// Renders a path: never empty, never holding a NUL or a newline.
pub fn render_path(ctx: &TaskCtx<'_>, name: &str, text: &str) -> Result<String, TaskError> {
    let path = render(ctx, name, text)?;
    check_path(name, &path)?;
    Ok(path)
}

pub fn check_path(name: &str, path: &str) -> Result<(), TaskError> {
    if path.is_empty() {
        return Err(TaskError::new(format!("{name} is empty")));
    }
    if path.contains(['\0', '\n', '\r']) {
        return Err(TaskError::new(format!(
            "{name} {path:?} contains a NUL or a line break: refused"
        )));
    }
    Ok(())
}

/// Renders a user, group or service name: not empty, no leading `-` (it would read as an
/// option), no whitespace, `:`, `,`, NUL or line break.
pub fn render_name(ctx: &TaskCtx<'_>, name: &str, text: &str) -> Result<String, TaskError> {
    let value = render(ctx, name, text)?;
    check_name(name, &value)?;
    Ok(value)
}

pub fn check_name(name: &str, value: &str) -> Result<(), TaskError> {
    if value.is_empty()
        || value.starts_with('-')
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == ',')
    {
        return Err(TaskError::new(format!(
            "{name} {value:?} is not a valid name (empty, starting with '-', or holding \
             whitespace, ':' or ',')"
        )));
    }
    Ok(())
}

/// Renders `attributes:` (owner and group checked as names, the mode as octal).
pub fn render_attrs(ctx: &TaskCtx<'_>, attrs: Option<&Attributes>) -> Result<FileAttrs, TaskError> {
    let mut out = FileAttrs::default();
    let Some(a) = attrs else { return Ok(out) };
    if let Some(o) = &a.owner {
        out.owner = Some(render_name(ctx, "attributes.owner", o)?);
    }
    if let Some(g) = &a.group {
        out.group = Some(render_name(ctx, "attributes.group", g)?);
    }
    out.mode = a
        .mode
        .as_ref()
        .map(Mode::bits)
        .transpose()
        .map_err(TaskError::new)?;
    Ok(out)
}

/// The templated fields of `attributes:`.
pub fn push_attrs<'a>(out: &mut Vec<TemplatedField<'a>>, attrs: Option<&'a Attributes>) {
    use FieldStep::Key as K;
    if let Some(a) = attrs {
        push_optional(
            out,
            &[K("attributes")],
            &[("owner", &a.owner), ("group", &a.group)],
        );
        if let Some(Mode::Text(m)) = &a.mode {
            out.push((vec![K("attributes"), K("mode")], m));
        }
    }
}

/// The load-time check of `attributes.mode` (see `Mode::validate`).
pub fn check_attrs(
    attrs: Option<&Attributes>,
    written: &dyn Fn(&[FieldStep]) -> Option<String>,
) -> Vec<FieldProblem> {
    use FieldStep::Key as K;
    let Some(mode) = attrs.and_then(|a| a.mode.as_ref()) else {
        return vec![];
    };
    let field = vec![K("attributes"), K("mode")];
    match mode.validate(written(&field).as_deref()) {
        Ok(_) => vec![],
        Err(message) => vec![FieldProblem {
            code: "invalid-mode",
            field,
            message,
            help: "modes are octal: 0o640 (YAML's octal) or \"0640\"".into(),
        }],
    }
}

/// What a path is on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathState {
    Missing,
    Present {
        kind: Kind,
        mode: u32,
        owner: String,
        group: String,
        uid: String,
        gid: String,
        /// With `recurse`: the attributes some entry below the directory does not have.
        below: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
    /// Neither (a device, a socket…).
    Other,
}

/// The script that inspects `path` (following symlinks, like `test -d`): `M`, or
/// `D|F|O mode owner group uid gid`; then, with `below`, one `R attribute` line per wanted
/// attribute that some entry under the directory lacks (one `find` each, stopping at the
/// first).
pub fn inspect_path(path: &str, below: Option<&FileAttrs>) -> String {
    let mut s = format!(
        r#"p={p}
if [ ! -e "$p" ]; then echo M; exit 0; fi
if [ -d "$p" ]; then k=D; elif [ -f "$p" ]; then k=F; else k=O; fi
s=$(stat -L -c '%a %U %G %u %g' -- "$p") || exit 1
printf '%s %s\n' "$k" "$s"
"#,
        p = quote(path)
    );
    if let Some(a) = below {
        s.push_str("[ \"$k\" = D ] || exit 0\n");
        let tests = [
            ("mode", a.mode.map(|m| format!("! -perm {m:04o}"))),
            (
                "owner",
                a.owner.as_ref().map(|o| format!("! -user {}", quote(o))),
            ),
            (
                "group",
                a.group.as_ref().map(|g| format!("! -group {}", quote(g))),
            ),
        ];
        for (name, test) in tests {
            if let Some(test) = test {
                s.push_str(&format!(
                    "[ -z \"$(find \"$p\" -mindepth 1 {test} -print -quit)\" ] || echo 'R {name}'\n"
                ));
            }
        }
    }
    s
}

pub fn parse_path_state(out: &str) -> Result<PathState, TaskError> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let head = lines.next().unwrap_or_default();
    let bad = || TaskError::new(format!("unexpected reply when inspecting a path: {head:?}"));
    let mut words = head.split(' ');
    let kind = match words.next() {
        Some("M") => return Ok(PathState::Missing),
        Some("D") => Kind::Directory,
        Some("F") => Kind::File,
        Some("O") => Kind::Other,
        _ => return Err(bad()),
    };
    let mut next = || words.next().map(str::to_string).ok_or_else(bad);
    let mode = u32::from_str_radix(&next()?, 8).map_err(|_| bad())?;
    let (owner, group, uid, gid) = (next()?, next()?, next()?, next()?);
    let below = lines
        .filter_map(|l| l.strip_prefix("R "))
        .map(|a| a.trim().to_string())
        .collect();
    Ok(PathState::Present {
        kind,
        mode,
        owner,
        group,
        uid,
        gid,
        below,
    })
}

/// Whether a wanted owner or group (a name or a number) matches the target's.
fn same_id(want: &str, name: &str, id: &str) -> bool {
    if want.bytes().all(|b| b.is_ascii_digit()) {
        want == id
    } else {
        want == name
    }
}

/// The attributes of a present path (or of entries below it) that differ from `want`, in
/// the order mode, owner, group.
pub fn attr_changes(state: &PathState, want: &FileAttrs) -> Vec<String> {
    let PathState::Present {
        mode,
        owner,
        group,
        uid,
        gid,
        below,
        ..
    } = state
    else {
        return vec![];
    };
    let differs = [
        ("mode", want.mode.is_some_and(|m| m != *mode)),
        (
            "owner",
            want.owner.as_ref().is_some_and(|o| !same_id(o, owner, uid)),
        ),
        (
            "group",
            want.group.as_ref().is_some_and(|g| !same_id(g, group, gid)),
        ),
    ];
    differs
        .into_iter()
        .filter(|(name, differs)| *differs || below.iter().any(|b| b == name))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The lines that set the attributes named by `which` (all wanted ones when `None`) on `$p`,
/// recursively with `recurse`.
pub fn attr_commands(want: &FileAttrs, which: Option<&[String]>, recurse: bool) -> String {
    let r = if recurse { "-R " } else { "" };
    let named = |n: &str| which.is_none_or(|w| w.iter().any(|c| c == n));
    let mut s = String::new();
    if let (Some(m), true) = (want.mode, named("mode")) {
        s.push_str(&format!("chmod {r}{m:04o} -- \"$p\"\n"));
    }
    if let (Some(o), true) = (&want.owner, named("owner")) {
        s.push_str(&format!("chown {r}{} -- \"$p\"\n", quote(o)));
    }
    if let (Some(g), true) = (&want.group, named("group")) {
        s.push_str(&format!("chgrp {r}{} -- \"$p\"\n", quote(g)));
    }
    s
}

/// `set -e` and `p=PATH`: how every path script starts.
pub fn path_prelude(path: &str) -> String {
    format!("set -e\np={}\n", quote(path))
}

/// Carries out a module's plan: a `Converge` runs its script, anything else is its outcome.
pub async fn apply_plan(ctx: &TaskCtx<'_>, what: &str, plan: Plan) -> Result<Applied, TaskError> {
    match plan {
        Plan::Converge {
            created, script, ..
        } => apply_script(ctx, what, &script, created).await,
        Plan::Control(applied) => Ok(*applied),
        _ => Ok(matched()),
    }
}

pub fn matched() -> Applied {
    Applied {
        status: Some(Status::Matched),
        ..Applied::default()
    }
}

/// The host a task runs on, for messages.
pub fn host_name(ctx: &TaskCtx<'_>) -> String {
    ctx.stream
        .map_or_else(|| "the host".to_string(), |s| s.head.host.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_names() {
        assert_eq!(parse_bool(" Yes "), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        assert!(check_name("user", "jetlike-t").is_ok());
        for bad in ["", "-o", "a b", "a:b", "a,b", "a\nb"] {
            assert!(check_name("user", bad).is_err(), "{bad:?}");
        }
        assert!(check_path("path", "/tmp/x y").is_ok());
        assert!(check_path("path", "/tmp/x\ny").is_err());
        assert!(check_path("path", "/tmp/x\0").is_err());
    }

    #[test]
    fn inspect_script_quotes_and_parses() {
        let want = FileAttrs {
            owner: Some("o'x".into()),
            group: None,
            mode: Some(0o750),
        };
        let s = inspect_path("/srv/it's", Some(&want));
        assert!(s.starts_with("p='/srv/it'\\''s'\n"), "{s}");
        assert!(
            s.contains("find \"$p\" -mindepth 1 ! -perm 0750 -print -quit"),
            "{s}"
        );
        assert!(s.contains("! -user 'o'\\''x'"), "{s}");
        assert!(!s.contains("-group"), "{s}");
        assert!(!inspect_path("/x", None).contains("find"));

        assert_eq!(parse_path_state("M\n").unwrap(), PathState::Missing);
        let st = parse_path_state("D 755 root root 0 0\nR owner\n").unwrap();
        let PathState::Present {
            kind, mode, below, ..
        } = &st
        else {
            panic!("{st:?}")
        };
        assert_eq!((*kind, *mode), (Kind::Directory, 0o755));
        assert_eq!(below, &["owner"]);
        assert!(parse_path_state("D 75x root root 0 0").is_err());
        assert!(parse_path_state("D 755 root").is_err());
        assert!(parse_path_state("").is_err());

        let want = FileAttrs {
            owner: Some("0".into()),
            group: Some("wheel".into()),
            mode: Some(0o755),
        };
        assert_eq!(attr_changes(&st, &want), ["owner", "group"]);
        assert_eq!(
            attr_commands(&want, Some(&["group".to_string()]), true),
            "chgrp -R wheel -- \"$p\"\n"
        );
        assert_eq!(
            attr_commands(&want, None, false),
            "chmod 0755 -- \"$p\"\nchown 0 -- \"$p\"\nchgrp wheel -- \"$p\"\n"
        );
    }
}
