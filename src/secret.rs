//! A secret value: zeroized on drop, never printable. The only way to its bytes is `expose`,
//! and the only path from there to output is through the masker.

use zeroize::Zeroizing;

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

    /// The variable name (e.g. `ENV_DB_PASSWORD`); names are not secret.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value. Callers must not print it: it goes into rendered content or the masker.
    pub fn expose(&self) -> &[u8] {
        &self.value
    }

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
    fn clone(&self) -> Self {
        Secret::new(self.name.clone(), self.value.to_vec())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, <redacted>)", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("ENV_X", "hunter2-very-secret");
        let d = format!("{s:?} {:?}", vec![s.clone()]);
        assert!(d.contains("ENV_X") && !d.contains("hunter2"));
    }
}
