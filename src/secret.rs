//! A secret value: zeroized on drop and never printable. There is no `Display` and no
//! `Serialize`, so a secret cannot reach output by accident; the only way to its bytes is
//! [`Secret::expose`], and every output path runs through the masker.

use zeroize::Zeroizing;

/// A named secret value (e.g. `ENV_DB_PASSWORD`). The value is zeroized when dropped.
pub struct Secret {
    name: String,
    value: Zeroizing<Vec<u8>>,
}

impl Secret {
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Secret {
            name: name.into(),
            value: Zeroizing::new(value.into()),
        }
    }

    /// The variable name, e.g. `ENV_DB_PASSWORD`. Names are not secret: warnings use them.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value's bytes. Callers must not print, log or format them: they may only go into
    /// rendered content or into the masker.
    pub fn expose(&self) -> &[u8] {
        &self.value
    }

    /// The value as text, if it is valid UTF-8. Same rule as [`Secret::expose`]: never print it.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    pub fn len(&self) -> usize {
        self.value.len()
    }

    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

impl Clone for Secret {
    /// A fresh zeroizing copy, so each copy wipes itself independently.
    fn clone(&self) -> Self {
        Secret {
            name: self.name.clone(),
            value: Zeroizing::new(self.value.to_vec()),
        }
    }
}

impl std::fmt::Debug for Secret {
    /// Shows the name only, so `{:?}` in logs and panics is safe.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, <redacted>)", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("ENV_DB_PASSWORD", "hunter2-very-secret");
        let shown = format!("{s:?}");
        assert_eq!(shown, "Secret(ENV_DB_PASSWORD, <redacted>)");
        assert!(!shown.contains("hunter2"));
        let pretty = format!("{:#?}", vec![s.clone()]);
        assert!(!pretty.contains("hunter2"));
    }

    #[test]
    fn accessors() {
        let s = Secret::new("N", vec![b'a', b'b', 0xff]);
        assert_eq!(s.name(), "N");
        assert_eq!(s.expose(), b"ab\xff");
        assert_eq!(s.expose_str(), None);
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
        let c = s.clone();
        assert_eq!(c.expose(), s.expose());
        assert_ne!(c.expose().as_ptr(), s.expose().as_ptr());
        assert_eq!(Secret::new("E", "ok").expose_str(), Some("ok"));
        assert!(Secret::new("E", "").is_empty());
    }
}
