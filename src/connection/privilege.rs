//! Running as another user: a `Privilege` holds the rendered `sudo_template` (or the default
//! `sudo` line from `scripts`) and wraps a whole script in it. The runner renders the
//! template; this file only owns the wrapping, so no transport builds a sudo line itself.

use super::scripts;

/// How to run as another user: the rendered `sudo_template` with a placeholder for the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privilege {
    pub user: String,
    template: String,
}

/// Stands for the command inside a rendered `sudo_template`.
pub const COMMAND_PLACEHOLDER: &str = "\u{1}JETLIKE_COMMAND\u{1}";

impl Privilege {
    /// `template` is the rendered sudo template, holding `COMMAND_PLACEHOLDER` where the
    /// command goes; `None` means `scripts::default_sudo` (`sudo -n -H -u USER -- CMD`).
    pub fn new(user: impl Into<String>, template: Option<String>) -> Self {
        let user = user.into();
        let template =
            template.unwrap_or_else(|| scripts::default_sudo(&user, COMMAND_PLACEHOLDER));
        Privilege { user, template }
    }

    /// Wraps the whole script (not just its first word: Jet's bug) as `sh -c '...'`.
    pub fn wrap(&self, script: &str) -> String {
        self.template
            .replace(COMMAND_PLACEHOLDER, &scripts::sh_c(script))
    }
}

/// `script` as `privilege`'s user, or unchanged without one.
pub fn wrap(script: &str, privilege: Option<&Privilege>) -> String {
    match privilege {
        Some(p) => p.wrap(script),
        None => script.to_string(),
    }
}
