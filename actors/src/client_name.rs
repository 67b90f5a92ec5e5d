//! The name a client goes by in events and logs: its certificate's name,
//! `unix:UID` on a Unix socket, `tcp:ADDRESS` on plain TCP.
//!
//! Names are interned: there are few of them (certificates the CA issued,
//! local users), each lives as long as the daemon anyway, and a `Copy`
//! name keeps `Origin` a plain value that the VM core copies freely into
//! the events it makes.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientName(&'static str);

static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

impl ClientName {
    /// The one `ClientName` for `name`, allocated on first use.
    pub fn intern(name: &str) -> ClientName {
        let names = NAMES.get_or_init(Mutex::default);
        let mut names = names
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = names.get(name) {
            return ClientName(known);
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.insert(leaked);
        ClientName(leaked)
    }

    /// A name known at compile time (tests, the daemon's own commands).
    pub const fn from_static(name: &'static str) -> ClientName {
        ClientName(name)
    }

    /// A user on a Unix socket, by its uid.
    pub fn unix(uid: u32) -> ClientName {
        ClientName::intern(&format!("unix:{uid}"))
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_is_interned_once() {
        let a = ClientName::intern("alice");
        let b = ClientName::intern(&String::from("alice"));
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(ClientName::unix(1000).as_str(), "unix:1000");
        assert_ne!(a, ClientName::intern("bob"));
    }
}
