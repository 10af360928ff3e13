//! `!sd_service` (Jet's): a systemd unit is `enabled` (or not) and `started` (or stopped),
//! or restarted (`restart: true`: a running unit is restarted, a stopped one started), read
//! from `systemctl is-enabled` / `is-active` and changed with `systemctl`. On a host where
//! systemd is not running (no `/run/systemd/system`) the task fails saying so.

use serde::Deserialize;

use super::common::{self, Flag};
use super::registry::{common_fields, ModuleFields};
use super::{Plan, TaskCtx, TaskError, TaskModule};
use crate::connection::scripts::quote;
use crate::field_path::{FieldStep, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdServiceTask {
    pub name: Option<String>,
    pub service: String,
    pub enabled: Option<Flag>,
    pub started: Option<Flag>,
    pub restart: Option<Flag>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(SdServiceTask);

impl ModuleFields for SdServiceTask {
    fn summary(&self) -> String {
        self.service.clone()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        out.push((vec![FieldStep::Key("service")], &self.service));
        common::push_flags(
            out,
            &[
                ("enabled", &self.enabled),
                ("started", &self.started),
                ("restart", &self.restart),
            ],
        );
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Wanted {
    enabled: Option<bool>,
    started: Option<bool>,
    restart: bool,
}

/// What `systemctl` reports of the unit.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    NoSystemd,
    Unit {
        /// `None`: a unit that cannot be enabled or disabled (`static`, `indirect`…).
        enabled: Option<bool>,
        active: bool,
    },
}

/// Prints `NOSYSTEMD`, or `E <is-enabled>` and `A <is-active>` (their exit codes say
/// "no" as well as "error": the words decide).
fn inspect_script(service: &str) -> String {
    format!(
        "[ -d /run/systemd/system ] || {{ echo NOSYSTEMD; exit 0; }}\n\
         s={s}\n\
         printf 'E %s\\n' \"$(systemctl is-enabled \"$s\" 2>&1 | head -n 1)\"\n\
         printf 'A %s\\n' \"$(systemctl is-active \"$s\" 2>&1 | head -n 1)\"",
        s = quote(service)
    )
}

fn parse_inspect(service: &str, out: &str) -> Result<Found, TaskError> {
    if out.lines().any(|l| l.trim() == "NOSYSTEMD") {
        return Ok(Found::NoSystemd);
    }
    let line = |tag: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(tag))
            .map(str::trim)
            .ok_or_else(|| TaskError::new(format!("unexpected reply from systemctl: {out:?}")))
    };
    let (e, a) = (line("E ")?, line("A ")?);
    let enabled = match e {
        "enabled" | "enabled-runtime" | "alias" => Some(true),
        "disabled" => Some(false),
        "static" | "indirect" | "generated" | "transient" => None,
        other => {
            return Err(TaskError::new(format!(
                "systemctl is-enabled {service}: unexpected state {other:?}"
            )))
        }
    };
    let active = match a {
        "active" | "reloading" | "activating" | "refreshing" => true,
        "inactive" | "failed" | "deactivating" => false,
        other => {
            return Err(TaskError::new(format!(
                "systemctl is-active {service}: unexpected state {other:?}"
            )))
        }
    };
    Ok(Found::Unit { enabled, active })
}

/// The changes, in the order they are made: `start`/`stop`/`restart`, then
/// `enable`/`disable` (Jet's order).
fn changes(
    service: &str,
    w: Wanted,
    enabled: Option<bool>,
    active: bool,
) -> Result<Vec<String>, TaskError> {
    let mut out = vec![];
    match (active, w.started, w.restart) {
        (_, Some(false), true) => {
            return Err(TaskError::new("started: false and restart: true conflict"))
        }
        (true, _, true) => out.push("restart"),
        (false, None, true) | (false, Some(true), _) => out.push("start"),
        (true, Some(false), false) => out.push("stop"),
        _ => {}
    }
    match (enabled, w.enabled) {
        (Some(true), Some(false)) => out.push("disable"),
        (Some(false), Some(true)) => out.push("enable"),
        (None, Some(_)) => {
            return Err(TaskError::new(format!(
                "{service} cannot be enabled or disabled (systemctl is-enabled: static, indirect, \
                 generated or transient)"
            )))
        }
        _ => {}
    }
    Ok(out.into_iter().map(str::to_string).collect())
}

/// One `systemctl` line per change.
fn converge_script(service: &str, changes: &[String]) -> String {
    let mut s = String::from("set -e\n");
    for c in changes {
        s.push_str(&format!("systemctl {c} {}\n", quote(service)));
    }
    s
}

impl TaskModule for SdServiceTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let service = common::render_name(ctx, "service", &self.service)?;
        let w = Wanted {
            enabled: common::opt_flag(ctx, "enabled", self.enabled.as_ref())?,
            started: common::opt_flag(ctx, "started", self.started.as_ref())?,
            restart: common::flag(ctx, "restart", self.restart.as_ref(), false)?,
        };
        let out = super::query(ctx, "asking systemctl", &inspect_script(&service)).await?;
        let Found::Unit { enabled, active } = parse_inspect(&service, &out)? else {
            return Err(TaskError::new(format!(
                "systemd is not running on {}: !sd_service needs systemctl",
                common::host_name(ctx)
            )));
        };
        let changes = changes(&service, w, enabled, active)?;
        if changes.is_empty() {
            return Ok(Plan::Unchanged);
        }
        Ok(Plan::Converge {
            created: false,
            script: converge_script(&service, &changes),
            changes,
        })
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<super::Applied, TaskError> {
        common::apply_plan(ctx, "systemctl", plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from systemd 252 (Debian 12).
    const NGINX_RUNNING: &str = "E enabled\nA active\n";
    const CRON_STOPPED_DISABLED: &str = "E disabled\nA inactive\n";
    const STATIC_FAILED: &str = "E static\nA failed\n";
    const MISSING: &str =
        "E Failed to get unit file state for nope.service: No such file or directory\nA inactive\n";

    fn wanted(enabled: Option<bool>, started: Option<bool>, restart: bool) -> Wanted {
        Wanted {
            enabled,
            started,
            restart,
        }
    }

    #[test]
    fn parses_systemctl_replies() {
        assert_eq!(parse_inspect("x", "NOSYSTEMD\n").unwrap(), Found::NoSystemd);
        assert_eq!(
            parse_inspect("nginx", NGINX_RUNNING).unwrap(),
            Found::Unit {
                enabled: Some(true),
                active: true
            }
        );
        assert_eq!(
            parse_inspect("cron", CRON_STOPPED_DISABLED).unwrap(),
            Found::Unit {
                enabled: Some(false),
                active: false
            }
        );
        assert_eq!(
            parse_inspect("s", STATIC_FAILED).unwrap(),
            Found::Unit {
                enabled: None,
                active: false
            }
        );
        let e = parse_inspect("nope", MISSING).unwrap_err();
        assert!(
            e.message
                .starts_with("systemctl is-enabled nope: unexpected state"),
            "{}",
            e.message
        );
        assert!(parse_inspect("x", "").is_err());
    }

    #[test]
    fn decides_like_jet() {
        let c = |w, e, a| changes("svc", w, e, a);
        assert!(c(wanted(Some(true), Some(true), false), Some(true), true)
            .unwrap()
            .is_empty());
        assert_eq!(
            c(wanted(Some(true), Some(true), false), Some(false), false).unwrap(),
            ["start", "enable"]
        );
        assert_eq!(
            c(wanted(Some(false), Some(false), false), Some(true), true).unwrap(),
            ["stop", "disable"]
        );
        assert_eq!(
            c(wanted(None, None, true), Some(true), true).unwrap(),
            ["restart"]
        );
        assert_eq!(
            c(wanted(None, None, true), Some(true), false).unwrap(),
            ["start"]
        );
        assert!(c(wanted(None, Some(false), true), Some(true), true).is_err());
        assert!(c(wanted(Some(true), None, false), None, true).is_err());
        assert!(c(wanted(None, Some(true), false), None, true)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn one_quoted_systemctl_line_per_change() {
        assert_eq!(inspect_script("a b").lines().nth(1), Some("s='a b'"));
        assert_eq!(
            converge_script("web app", &["restart".into(), "enable".into()]),
            "set -e\nsystemctl restart 'web app'\nsystemctl enable 'web app'\n"
        );
    }
}
