//! `--shard K/N`: a stable split of the fleet over N controllers (a CI job matrix). A host's
//! shard depends on its name alone — the first 8 bytes of SHA-256 of the name, big-endian,
//! modulo N — so every job computes the same assignment from the same inventory, adding a
//! host moves no other host, and the N shards cover every host exactly once.

use sha2::{Digest, Sha256};

/// Shard `index` (1-based, as written) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = || format!("{text:?} is not K/N with 1 <= K <= N (e.g. --shard 2/8)");
        let (k, n) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = k.trim().parse().map_err(|_| usage())?;
        let count: u64 = n.trim().parse().map_err(|_| usage())?;
        if index == 0 || count == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }

    /// The shard (1-based) `host` belongs to among `count`.
    pub fn of(host: &str, count: u64) -> u64 {
        let digest = Sha256::digest(host.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % count + 1
    }

    /// Whether `host` is in this shard.
    pub fn holds(&self, host: &str) -> bool {
        Shard::of(host, self.count) == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("2/8"), Ok(Shard { index: 2, count: 8 }));
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", "1/2/3", "-1/2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_every_host_exactly_once_and_stay_stable() {
        let hosts: Vec<String> = (0..2000).map(|i| format!("web-{i}.example")).collect();
        for count in [1u64, 2, 3, 7, 16] {
            let mut sizes = vec![0usize; usize::try_from(count).unwrap()];
            for h in &hosts {
                let holders: Vec<u64> = (1..=count)
                    .filter(|&k| Shard { index: k, count }.holds(h))
                    .collect();
                assert_eq!(holders.len(), 1, "{h} in {holders:?} of {count}");
                sizes[usize::try_from(holders[0] - 1).unwrap()] += 1;
            }
            // Balanced within a few standard deviations.
            let mean = hosts.len() / sizes.len();
            for s in &sizes {
                assert!(s.abs_diff(mean) < mean / 4 + 10, "{sizes:?}");
            }
        }
        // The assignment is a function of the name alone (recorded: a change would move
        // hosts between the jobs of a matrix already in use).
        assert_eq!(Shard::of("db1", 4), Shard::of("db1", 4));
        let recorded: Vec<u64> = ["web1", "web2", "db1", "db2"]
            .iter()
            .map(|h| Shard::of(h, 3))
            .collect();
        assert_eq!(recorded, recorded_assignment());
    }

    fn recorded_assignment() -> Vec<u64> {
        // Computed independently: python3 -c "import hashlib;
        // print([int.from_bytes(hashlib.sha256(h.encode()).digest()[:8],'big')%3+1
        //        for h in ['web1','web2','db1','db2']])"
        vec![3, 3, 1, 2]
    }
}
