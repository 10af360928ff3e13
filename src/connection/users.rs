//! User and group names and ids on this machine (the `nix` crate's safe wrappers around
//! `getpwuid_r` and friends): one place, no `unsafe` of ours.

use nix::unistd::{Gid, Group, Uid, User};

/// The name of user `uid`, or the number when it has none.
pub fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

/// The name of group `gid`, or the number when it has none.
pub fn group_name(gid: u32) -> String {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(g)) => g.name,
        _ => gid.to_string(),
    }
}

/// The uid of a user given by name or number.
pub fn uid_of(name: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    match User::from_name(name) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        Ok(None) => Err(format!("no such user {name:?}")),
        Err(e) => Err(format!("cannot look up user {name:?}: {e}")),
    }
}

/// The gid of a group given by name or number.
pub fn gid_of(name: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    match Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(format!("no such group {name:?}")),
        Err(e) => Err(format!("cannot look up group {name:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_numbers() {
        assert_eq!(user_name(0), "root");
        assert_eq!(group_name(0), "root");
        assert_eq!(uid_of("root"), Ok(0));
        assert_eq!(gid_of("0"), Ok(0));
        assert!(uid_of("no-such-user-jetlike").is_err());
        assert_eq!(user_name(4_000_000), "4000000");
    }
}
