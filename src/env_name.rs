//! The `ENV_` namespace: names of environment values loaded with `--loadenv`, visible to
//! template files only. A leaf module, so that the loaders, the template analysis and the
//! policy can all name it without importing each other.

/// The prefix of every environment value a template may reference.
pub const ENV_PREFIX: &str = "ENV_";

/// Whether `name` is in the `ENV_` namespace.
pub fn is_env_name(name: &str) -> bool {
    name.starts_with(ENV_PREFIX)
}
