//! The exact-match trie over every pattern: which text positions a secret starts or ends at.

use zeroize::Zeroize;

use super::Bytes;

pub(super) const ROOT: u32 = 0;
pub(super) const NONE: u32 = u32::MAX;

/// Every pattern (ASCII-lowercased) as a trie; walked with lowercased text bytes, only at the
/// candidate positions the 4-gram filter lets through and over the tail a stream may hold.
pub(super) struct Trie {
    /// Transitions from the root, by byte.
    pub(super) root: Box<[u32; 256]>,
    pub(super) nodes: Vec<TrieNode>,
}

pub(super) struct TrieNode {
    pub(super) label: u8,
    /// A pattern ends here.
    pub(super) end: bool,
    pub(super) first_child: u32,
    pub(super) next_sibling: u32,
}

impl Trie {
    pub(super) fn new(pats: &[Bytes]) -> Trie {
        let mut trie = Trie {
            root: Box::new([NONE; 256]),
            nodes: vec![TrieNode {
                label: 0,
                end: false,
                first_child: NONE,
                next_sibling: NONE,
            }],
        };
        for p in pats {
            let mut node = ROOT;
            for &b in p.iter() {
                node = if let Some(c) = trie.child(node, b) {
                    c
                } else {
                    let id = u32::try_from(trie.nodes.len()).expect("trie too large");
                    // The root's children live in its table, others in sibling lists.
                    let sibling = if node == ROOT {
                        trie.root[b as usize] = id;
                        NONE
                    } else {
                        std::mem::replace(&mut trie.nodes[node as usize].first_child, id)
                    };
                    trie.nodes.push(TrieNode {
                        label: b,
                        end: false,
                        first_child: NONE,
                        next_sibling: sibling,
                    });
                    id
                };
            }
            trie.nodes[node as usize].end = true;
        }
        trie
    }

    #[inline]
    pub(super) fn child(&self, node: u32, b: u8) -> Option<u32> {
        if node == ROOT {
            let c = self.root[b as usize];
            return (c != NONE).then_some(c);
        }
        let mut c = self.nodes[node as usize].first_child;
        while c != NONE {
            let n = &self.nodes[c as usize];
            if n.label == b {
                return Some(c);
            }
            c = n.next_sibling;
        }
        None
    }

    /// Calls `f(len)` for every pattern that `text` starts with.
    pub(super) fn matches_at(&self, text: &[u8], mut f: impl FnMut(usize)) {
        let mut node = ROOT;
        for (i, &b) in text.iter().enumerate() {
            match self.child(node, b.to_ascii_lowercase()) {
                Some(c) => node = c,
                None => return,
            }
            if self.nodes[node as usize].end {
                f(i + 1);
            }
        }
    }

    /// Whether `text` is a proper prefix of some pattern (a node with children).
    pub(super) fn is_open_prefix(&self, text: &[u8]) -> bool {
        let mut node = ROOT;
        for &b in text {
            match self.child(node, b.to_ascii_lowercase()) {
                Some(c) => node = c,
                None => return false,
            }
        }
        self.nodes[node as usize].first_child != NONE
    }
}

impl Drop for Trie {
    /// The labels spell out the patterns.
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.label.zeroize();
        }
        self.root.zeroize();
    }
}
