//! placeholder until the masker lands
pub struct Secret {
    name: String,
    value: zeroize::Zeroizing<Vec<u8>>,
}
impl Secret {
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Secret {
            name: name.into(),
            value: zeroize::Zeroizing::new(value.into()),
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn expose(&self) -> &[u8] {
        &self.value
    }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, <redacted>)", self.name)
    }
}
