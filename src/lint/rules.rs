//! One rule per finding code, with its help text: the rule table of SARIF output and the
//! reference for `--format github`/`gitlab` titles. A test checks it against README's list
//! of finding codes, which another test checks against the fixtures.

use super::Severity;

/// A finding code, its default severity, a one-line description and how to fix it.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub code: &'static str,
    pub severity: Severity,
    pub short: &'static str,
    pub help: &'static str,
}

const fn rule(
    code: &'static str,
    severity: Severity,
    short: &'static str,
    help: &'static str,
) -> Rule {
    Rule {
        code,
        severity,
        short,
        help,
    }
}

use Severity::{Error as E, Warning as W};

pub const RULES: &[Rule] = &[
    rule("invalid-playbook", E, "The playbook does not parse or has an invalid field.",
        "Fix the YAML or the field named in the message; unknown fields and module tags are errors. See the formats in README.md."),
    rule("invalid-inventory", E, "An inventory file does not parse.",
        "groups/NAME holds `hosts: [...]` and `subgroups: [...]`; group_vars/ and host_vars/ files hold a mapping of variables."),
    rule("invalid-mode", E, "A file mode is not a valid octal mode.",
        "Write modes as `0o640` or \"0640\"; an unquoted decimal such as 644 is the number 644, not octal 0644."),
    rule("missing-role", E, "A play uses a role that does not exist.",
        "Create roles/NAME/role.yml or fix the role's name."),
    rule("missing-file", E, "A copy source, vars file or task file does not exist.",
        "Create the file or fix its path; sources are looked up in the role's files/, files/ beside the playbook, then the project's files/."),
    rule("missing-template", E, "A template source does not exist.",
        "Create the template or fix `src`; templates are looked up in the role's templates/, templates/ beside the playbook, then the project's templates/."),
    rule("template-syntax", E, "A template or templated field does not parse, or uses an unknown helper, filter or test.",
        "Fix the {{ }} expression at the location given."),
    rule("template-include", E, "A template includes, extends or imports another template.",
        "Includes are not supported: inline the content (inline partials defined in the same file work)."),
    rule("forbidden-source", E, "A copy or template source lies outside the project.",
        "Keep sources inside the project's files/ and templates/ directories."),
    rule("undefined-variable", E, "A variable is used that no play, role, inventory or extra-vars layer defines.",
        "Define the variable, guard it (`isdefined`, `is defined`, `| default(...)`) or fix its name."),
    rule("env-outside-template", E, "An ENV_ variable is referenced outside a template file.",
        "Secrets reach template file contents only: move the reference into a template rendered with --loadenv."),
    rule("env-reserved-name", E, "A variable or saved fact is named ENV_*, which is reserved for the environment.",
        "Rename the variable."),
    rule("env-undefined", E, "A template uses an ENV_ variable the --env-file does not define.",
        "Add the name to the env file your secret injector reads, or fix the variable's name."),
    rule("unknown-group", E, "A play or --limit-groups names a group the inventory does not define.",
        "Add groups/NAME to the inventory or fix the group's name."),
    rule("unknown-host", E, "--limit-hosts names a host the inventory does not define.",
        "Fix the host's name or add it to a group."),
    rule("hardcoded-secret", E, "A value that looks like a secret is written in a playbook, inventory, template or file.",
        "Move the value to the environment and use it from a template as ENV_NAME; or add `# jetlike:allow-secret` to the line if it is not a secret."),
    rule("high-entropy-string", W, "A long random-looking string may be a secret.",
        "If it is a secret, move it to the environment; otherwise add `# jetlike:allow-secret` to the line."),
    rule("handler-never-notified", W, "A handler no task notifies.",
        "Notify it from a task (`and: {notify: NAME}`) or remove it."),
    rule("notify-without-handler", W, "A task notifies a handler that does not exist.",
        "Add a handler subscribed to that name, or fix the name."),
    rule("secret-file-readable", W, "A file that receives secrets is readable by group or others.",
        "Set `attributes: {mode: 0o600}` (or 0o640 with a trusted group)."),
    rule("secret-file-no-mode", W, "A file that receives secrets has no explicit mode.",
        "Set `attributes: {mode: 0o600}` so the file is never created world-readable."),
    rule("secret-in-shared-dir", W, "A file that receives secrets is written to a shared directory such as /tmp.",
        "Write secret-bearing files to a private directory."),
    rule("secret-to-several-groups", W, "One secret is delivered to hosts of several groups.",
        "Check that every targeted group needs the secret; split the play if not."),
    rule("reads-secret-file", W, "A shell command reads a file that holds secrets.",
        "Avoid printing or copying secret files in commands; mark the task `sensitive` if it must."),
    rule("env-unused", W, "The --env-file defines a name no template uses.",
        "Remove the name from the env file, so the injector does not fetch a secret needlessly."),
    rule("host-vars-unused", W, "A host_vars file names a host that is in no group: its variables are never used.",
        "Add the host to a file under groups/, or remove the file."),
    rule("isdefined-quoted", W, "`isdefined \"name\"` tests a string literal, which is always defined: the condition is always true.",
        "Write `(isdefined name)`: Jet's isdefined tests the value of its argument, false when the variable is undefined."),
    rule("shell-unsafe", W, "A shell task is marked `unsafe: true`, so substituted values may carry shell metacharacters.",
        "Quote the values or avoid substitution, and drop `unsafe: true`."),
    rule("shell-pipe-to-shell", W, "A shell command pipes downloaded content into a shell.",
        "Download to a file, verify its checksum, then run it."),
];

/// The rule of a code; codes are `&'static str` constants of the lint module.
pub fn rule_of(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_diagnostic_code_has_a_rule() {
        for code in crate::error::DiagnosticCode::ALL {
            assert!(
                RULES.iter().any(|r| r.code == code.as_str()),
                "{code:?} has no rule"
            );
        }
    }

    /// Every code README documents has a rule, and no rule is undocumented.
    #[test]
    fn rules_match_readme_codes() {
        let readme = include_str!("../../README.md");
        let list = readme
            .split("Finding codes")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        let documented: std::collections::BTreeSet<&str> = list
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'))
            .collect();
        let ruled: std::collections::BTreeSet<&str> = RULES.iter().map(|r| r.code).collect();
        assert_eq!(documented, ruled);
        assert_eq!(ruled.len(), RULES.len(), "a code has two rules");
    }
}
