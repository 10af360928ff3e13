//! A play's `secrets:` declaration: the secrets its template files may use, each with its
//! source. Every secret reaches templates as an `ENV_` variable (the one secret namespace, see
//! README "Secrets"), so one policy covers every source: template files only, masked, least
//! privilege per template.
//!
//! ```yaml
//! - name: database
//!   groups: [db]
//!   secrets:
//!     DB_PASSWORD: {provider: pass, key: prod/db}        # a provider from jetlike-secrets.yml
//!     API_TOKEN: {provider: file, key: /run/secrets/api} # built in: a file, mode 0600 or stricter
//!     SMTP_PASSWORD: {provider: env, key: SMTP_PASSWORD} # built in: the environment (--loadenv)
//!     SIGNING_KEY: {command: [sops, -d, --extract, '["signing"]', secrets.enc.yaml]}
//! ```
//!
//! Templates use `{{ENV_DB_PASSWORD}}` (the `ENV_` prefix may also be written in the
//! declaration). With a declaration, a template naming an undeclared `ENV_` variable (or a
//! `{{secret "provider" "key"}}` call matching no declared entry) is an error before the run.
//!
//! This file owns the checks over loaded plays (shape errors, lookups by template variable);
//! the declaration's types are in `secret_spec.rs`, below the playbook model.

use crate::error::Diagnostic;
use crate::playbook::{FieldStep, LoadedPlay};
use crate::secret_source::Source;
use crate::secret_spec::valid_name;
pub use crate::secret_spec::{var_name, Declaration, SecretDecl};

/// The declared source of template variable `var` in `play`, if the play declares secrets:
/// `Some(None)` when it declares secrets but not this one.
pub fn lookup(play: &LoadedPlay, var: &str) -> Option<Option<Source>> {
    let decl = play.play.secrets.as_ref()?;
    Some(
        decl.iter()
            .find(|(k, _)| var_name(k) == var)
            .and_then(|(_, d)| d.source().ok()),
    )
}

/// Whether `play` declares an entry with this source (for `{{secret "p" "k"}}` calls).
pub fn declares_source(play: &LoadedPlay, source: &Source) -> Option<bool> {
    let decl = play.play.secrets.as_ref()?;
    Some(
        decl.values()
            .any(|d| d.source().ok().as_ref() == Some(source)),
    )
}

/// Shape errors of every play's declaration, located at the entry.
pub fn check(plays: &[LoadedPlay]) -> Vec<Diagnostic> {
    use FieldStep::{Index as I, Key as K};
    let mut out = vec![];
    for play in plays {
        let Some(decl) = &play.play.secrets else {
            continue;
        };
        let mut seen = std::collections::BTreeSet::new();
        for (name, d) in decl {
            let at =
                play.source
                    .locate(&[I(play.index), K("secrets"), FieldStep::Name(name.clone())]);
            let ctx = format!("play {:?}, secrets", play.play.name);
            if !valid_name(name) {
                out.push(
                    Diagnostic::new(format!("secret name {name:?} is not a variable name"))
                        .at(Some(at.clone()))
                        .context(ctx.clone())
                        .help("use letters, digits and _ (templates see it as ENV_<NAME>)"),
                );
            } else if !seen.insert(var_name(name)) {
                out.push(
                    Diagnostic::new(format!("secret {} is declared twice", var_name(name)))
                        .at(Some(at.clone()))
                        .context(ctx.clone())
                        .help("declare each secret once (NAME and ENV_NAME are the same secret)"),
                );
            }
            if let Err(e) = d.source() {
                out.push(
                    Diagnostic::new(format!("secret {name}: {e}"))
                        .at(Some(at))
                        .context(ctx)
                        .help("for example DB_PASSWORD: {provider: pass, key: prod/db}"),
                );
            }
        }
    }
    out
}
