//! placeholder until the masker lands
use crate::secret::Secret;
use std::sync::Arc;
pub struct Masker {
    secrets: Vec<Vec<u8>>,
    short: Vec<String>,
}
impl Masker {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Masker {
        let mut m = Masker {
            secrets: vec![],
            short: vec![],
        };
        for s in secrets {
            if s.expose().len() < 4 {
                m.short.push(s.name().to_string())
            } else {
                m.secrets.push(s.expose().to_vec())
            }
        }
        m
    }
    pub fn empty() -> Masker {
        Masker {
            secrets: vec![],
            short: vec![],
        }
    }
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
    pub fn mask(&self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for s in &self.secrets {
            let mut i = 0;
            while i + s.len() <= out.len() {
                if &out[i..i + s.len()] == s.as_slice() {
                    out.splice(i..i + s.len(), b"***".iter().copied());
                    i += 3;
                } else {
                    i += 1;
                }
            }
        }
        out
    }
    pub fn mask_str(&self, input: &str) -> String {
        String::from_utf8_lossy(&self.mask(input.as_bytes())).into_owned()
    }
    pub fn unmasked_names(&self) -> Vec<String> {
        self.short.clone()
    }
    pub fn stream(self: &Arc<Self>) -> MaskStream {
        MaskStream {
            masker: self.clone(),
            pending: vec![],
        }
    }
}
pub struct MaskStream {
    masker: Arc<Masker>,
    pending: Vec<u8>,
}
impl MaskStream {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        Vec::new()
    }
    pub fn finish(&mut self) -> Vec<u8> {
        let p = std::mem::take(&mut self.pending);
        self.masker.mask(&p)
    }
}
