//! `!facts`: reads what the host is, in one read-only round trip (`uname -s`, `uname -m`,
//! `/etc/os-release`), and stores the variables Jet's `!facts` sets:
//! - `jet_os_type`: `Linux`, `MacOS` (Darwin), or `uname -s` as printed for other systems;
//! - `jet_os_flavor`: `EL`, `Debian`, `Arch`, `OSX` or `Unknown` (always set, so templates
//!   and conditions may use it);
//! - `jet_arch`: `uname -m`;
//! - `jet_os_release_<key>` (lower case) for each line of `os-release` (`jet_os_release_id`,
//!   `jet_os_release_version_id`…).
//!
//! Jet derives the flavor from `ID_LIKE` (containing `rhel` → EL, `debian` → Debian, `arch` →
//! Arch) and from `ID` containing `arch`. It calls Debian itself and RHEL itself (whose
//! `ID_LIKE` is only `fedora`) `Unknown`; here `ID` `debian` is Debian and `ID` `rhel` is EL.
//! Jet's `facter:` / `ohai:` (run those tools and store their JSON) are refused at load
//! unless false: run them with `!shell` and `save:`. Read-only: the same in check mode.

use serde::Deserialize;
use serde_json::Value;

use super::registry::{common_fields, task_label, FieldProblem, ModuleFields};
use super::{query, Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::field_path::{FieldStep, TemplatedField};
use crate::output::Status;
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsTask {
    pub name: Option<String>,
    /// Jet: also run `facter --json`. Not supported (only `false` is accepted).
    pub facter: Option<Value>,
    /// Jet: also run `ohai`. Not supported (only `false` is accepted).
    pub ohai: Option<Value>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(FactsTask);

/// The `os-release` keys of os-release(5): their `jet_os_release_` variables are known to lint
/// (a host's file may have others, which are set too).
const OS_RELEASE_KEYS: &[&str] = &[
    "name",
    "id",
    "id_like",
    "pretty_name",
    "cpe_name",
    "variant",
    "variant_id",
    "version",
    "version_id",
    "version_codename",
    "build_id",
    "image_id",
    "image_version",
    "platform_id",
    "home_url",
    "documentation_url",
    "support_url",
    "bug_report_url",
    "privacy_policy_url",
    "logo",
    "ansi_color",
];

/// Marks where `os-release` starts in the script's output.
const OS_RELEASE_MARK: &str = "--- jetlike os-release";

/// The script: POSIX sh, read-only, one round trip.
fn script() -> String {
    format!(
        "printf 'kernel=%s\\n' \"$(uname -s 2>/dev/null)\"\n\
         printf 'arch=%s\\n' \"$(uname -m 2>/dev/null)\"\n\
         echo '{OS_RELEASE_MARK}'\n\
         if [ -r /etc/os-release ]; then cat /etc/os-release\n\
         elif [ -r /usr/lib/os-release ]; then cat /usr/lib/os-release; fi\n\
         exit 0\n"
    )
}

impl ModuleFields for FactsTask {
    fn summary(&self) -> String {
        "os type, flavor, arch, os-release".to_string()
    }

    fn templated_fields<'a>(&'a self, _out: &mut Vec<TemplatedField<'a>>) {}

    fn saved_names(&self) -> Vec<String> {
        ["jet_os_type", "jet_os_flavor", "jet_arch"]
            .iter()
            .map(ToString::to_string)
            .chain(
                OS_RELEASE_KEYS
                    .iter()
                    .map(|k| format!("jet_os_release_{k}")),
            )
            .collect()
    }

    fn check_fields(&self, _written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        let off = |v: &Value| matches!(v, Value::Bool(false)) || v.as_str() == Some("false");
        [("facter", &self.facter), ("ohai", &self.ohai)]
            .into_iter()
            .filter_map(|(key, v)| v.as_ref().filter(|v| !off(v)).map(|_| key))
            .map(|key| FieldProblem {
                code: "invalid-playbook",
                field: vec![FieldStep::Key(key)],
                message: format!(
                    "`{key}:` of !facts is not supported (task {:?})",
                    task_label(self, "facts")
                ),
                help: format!(
                    "run the tool with !shell and keep its output: !shell {{cmd: \"{}\", save: {key}}}",
                    if key == "facter" { "facter --json" } else { "ohai" }
                ),
            })
            .collect()
    }
}

/// The facts in the script's output, in the order they are set.
pub fn parse_facts(out: &str) -> Vec<(String, Value)> {
    let (head, release) = out.split_once(OS_RELEASE_MARK).unwrap_or((out, ""));
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let kernel = field("kernel");
    let mut facts: Vec<(String, Value)> = vec![];
    let set = |facts: &mut Vec<(String, Value)>, k: String, v: String| {
        if let Some(slot) = facts.iter_mut().find(|(name, _)| *name == k) {
            slot.1 = Value::String(v);
        } else {
            facts.push((k, Value::String(v)));
        }
    };
    let os_type = match kernel.as_str() {
        "Linux" => "Linux".to_string(),
        "Darwin" => "MacOS".to_string(),
        "" => "Unknown".to_string(),
        other => other.to_string(),
    };
    set(&mut facts, "jet_os_type".into(), os_type.clone());
    let mut id = String::new();
    let mut id_like = String::new();
    if os_type != "MacOS" {
        for line in release.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let value = unquote(value.trim());
            match key.as_str() {
                "id" => id.clone_from(&value),
                "id_like" => id_like.clone_from(&value),
                _ => {}
            }
            set(&mut facts, format!("jet_os_release_{key}"), value);
        }
    }
    let flavor = if os_type == "MacOS" {
        "OSX"
    } else if id_like.contains("rhel") || id == "rhel" {
        "EL"
    } else if id_like.contains("debian") || id == "debian" {
        "Debian"
    } else if id_like.contains("arch") || id.contains("arch") {
        "Arch"
    } else {
        "Unknown"
    };
    set(&mut facts, "jet_os_flavor".into(), flavor.into());
    set(&mut facts, "jet_arch".into(), field("arch"));
    facts
}

/// An os-release value: shell-quoted (`"…"` with `\` escapes, or `'…'`) or bare.
fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.to_string();
    }
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else if c != '"' {
            out.push(c);
        }
    }
    out
}

impl TaskModule for FactsTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let out = query(ctx, "reading facts", &script()).await?;
        Ok(Plan::Control(Box::new(Applied {
            status: Some(Status::Complete),
            saves: parse_facts(&out),
            ..Applied::default()
        })))
    }

    async fn apply(&self, _ctx: &TaskCtx<'_>, plan: Plan) -> Result<Applied, TaskError> {
        Ok(match plan {
            Plan::Control(applied) => *applied,
            _ => Applied::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kernel: &str, arch: &str, os_release: &str) -> serde_json::Map<String, Value> {
        let out = format!("kernel={kernel}\narch={arch}\n{OS_RELEASE_MARK}\n{os_release}");
        parse_facts(&out).into_iter().collect()
    }

    fn get<'a>(f: &'a serde_json::Map<String, Value>, k: &str) -> &'a str {
        f.get(k)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {k} in {f:?}"))
    }

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

    const UBUNTU: &str = r#"PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"#;

    const ROCKY: &str = r#"NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
"#;

    const RHEL: &str =
        "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.2\"\n";

    const ARCH: &str =
        "NAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\n";

    const OPENSUSE: &str = r#"NAME="openSUSE Leap"
VERSION="15.5"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.5"
# a comment
CPE_NAME="cpe:/o:opensuse:leap:15.5"
"#;

    #[test]
    fn debian_and_ubuntu_are_debian() {
        let d = facts("Linux", "x86_64", DEBIAN);
        assert_eq!(get(&d, "jet_os_type"), "Linux");
        assert_eq!(get(&d, "jet_os_flavor"), "Debian");
        assert_eq!(get(&d, "jet_arch"), "x86_64");
        assert_eq!(get(&d, "jet_os_release_id"), "debian");
        assert_eq!(get(&d, "jet_os_release_version_id"), "12");
        assert_eq!(
            get(&d, "jet_os_release_pretty_name"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        let u = facts("Linux", "aarch64", UBUNTU);
        assert_eq!(get(&u, "jet_os_flavor"), "Debian");
        assert_eq!(
            get(&u, "jet_os_release_version"),
            "22.04.3 LTS (Jammy Jellyfish)"
        );
        assert_eq!(get(&u, "jet_os_release_ubuntu_codename"), "jammy");
        assert_eq!(get(&u, "jet_arch"), "aarch64");
    }

    #[test]
    fn rocky_and_rhel_are_el() {
        let r = facts("Linux", "x86_64", ROCKY);
        assert_eq!(get(&r, "jet_os_flavor"), "EL");
        assert_eq!(get(&r, "jet_os_release_id_like"), "rhel centos fedora");
        assert_eq!(get(&r, "jet_os_release_platform_id"), "platform:el9");
        assert_eq!(get(&facts("Linux", "x86_64", RHEL), "jet_os_flavor"), "EL");
    }

    #[test]
    fn arch_opensuse_and_no_os_release() {
        let a = facts("Linux", "x86_64", ARCH);
        assert_eq!(get(&a, "jet_os_flavor"), "Arch");
        assert_eq!(get(&a, "jet_os_release_build_id"), "rolling");
        let s = facts("Linux", "x86_64", OPENSUSE);
        assert_eq!(get(&s, "jet_os_flavor"), "Unknown");
        assert_eq!(get(&s, "jet_os_release_id"), "opensuse-leap");
        assert_eq!(
            get(&s, "jet_os_release_cpe_name"),
            "cpe:/o:opensuse:leap:15.5"
        );
        assert!(!s.keys().any(|k| k.contains('#')));
        let none = facts("Linux", "riscv64", "");
        assert_eq!(get(&none, "jet_os_flavor"), "Unknown");
        assert_eq!(none.len(), 3);
    }

    #[test]
    fn macos_is_macos_osx() {
        let m = facts("Darwin", "arm64", "");
        assert_eq!(get(&m, "jet_os_type"), "MacOS");
        assert_eq!(get(&m, "jet_os_flavor"), "OSX");
        assert_eq!(get(&m, "jet_arch"), "arm64");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn values_are_unquoted_like_the_shell_would() {
        assert_eq!(unquote(r#""a \"b\" \$c""#), r#"a "b" $c"#);
        assert_eq!(unquote("'x y'"), "x y");
        assert_eq!(unquote("bare"), "bare");
    }

    #[test]
    fn the_script_is_posix_sh_and_reads_only() {
        let s = script();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&s)
            .output()
            .unwrap();
        assert!(out.status.success());
        let f: serde_json::Map<String, Value> = parse_facts(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .collect();
        assert_eq!(get(&f, "jet_os_type"), "Linux");
        assert!(!get(&f, "jet_arch").is_empty());
        assert!(!s.replace("2>/dev/null", "").contains('>'), "{s}");
        for word in ["rm ", "mv ", "tee", "sudo"] {
            assert!(!s.contains(word), "{word} in {s}");
        }
    }

    #[test]
    fn facter_and_ohai_are_refused_unless_false() {
        let t: FactsTask = serde_yaml_ng::from_str("facter: 'true'\nohai: false").unwrap();
        let p = t.check_fields(&|_| None);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, vec![FieldStep::Key("facter")]);
        let t: FactsTask = serde_yaml_ng::from_str("{}").unwrap();
        assert!(t.check_fields(&|_| None).is_empty());
        assert!(t.saved_names().contains(&"jet_os_flavor".to_string()));
    }
}
