//! Spelling QEMU option strings safely. QEMU splits `-drive`, `-chardev`,
//! `-device` and friends on commas, and a doubled comma stands for a literal
//! one; every value that comes from a user (paths, names, tags, host devices)
//! goes through [`Opts::set`], which doubles them. Nothing here passes
//! through a shell, so spaces and quotes need no treatment.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Doubles every comma so QEMU reads the value as one option value.
pub(crate) fn escape_commas(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &byte in value {
        out.push(byte);
        if byte == b',' {
            out.push(b',');
        }
    }
    out
}

/// A `head,key=value,...` option string under construction.
#[derive(Debug, Clone)]
pub(crate) struct Opts(Vec<u8>);

impl Opts {
    /// `head` is a driver or backend name chosen by this crate, never user text.
    pub(crate) fn new(head: &str) -> Opts {
        Opts(head.as_bytes().to_vec())
    }

    pub(crate) fn set(mut self, key: &str, value: impl AsRef<OsStr>) -> Opts {
        if !self.0.is_empty() {
            self.0.push(b',');
        }
        self.0.extend_from_slice(key.as_bytes());
        self.0.push(b'=');
        self.0
            .extend_from_slice(&escape_commas(value.as_ref().as_bytes()));
        self
    }

    pub(crate) fn set_if(self, condition: bool, key: &str, value: impl AsRef<OsStr>) -> Opts {
        if condition {
            self.set(key, value)
        } else {
            self
        }
    }

    pub(crate) fn set_opt(self, key: &str, value: Option<impl AsRef<OsStr>>) -> Opts {
        match value {
            Some(value) => self.set(key, value),
            None => self,
        }
    }
}

impl From<Opts> for OsString {
    fn from(opts: Opts) -> OsString {
        OsString::from_vec(opts.0)
    }
}

/// The growing argument vector.
#[derive(Debug, Default)]
pub(crate) struct Args(Vec<OsString>);

impl Args {
    pub(crate) fn flag(&mut self, flag: &str) {
        self.0.push(flag.into());
    }

    pub(crate) fn pair(&mut self, flag: &str, value: impl Into<OsString>) {
        self.0.push(flag.into());
        self.0.push(value.into());
    }

    pub(crate) fn into_vec(self) -> Vec<OsString> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(opts: Opts) -> String {
        OsString::from(opts).into_string().expect("utf-8")
    }

    #[test]
    fn commas_in_values_are_doubled_and_nothing_else_changes() {
        let opts = Opts::new("drive")
            .set("file", "/tmp/a,b c/disk.img")
            .set("format", "raw");
        assert_eq!(text(opts), "drive,file=/tmp/a,,b c/disk.img,format=raw");
        assert_eq!(escape_commas(b",,x,"), b",,,,x,,".to_vec());
    }

    #[test]
    fn an_empty_head_starts_with_the_first_key() {
        let opts = Opts::new("")
            .set("guest", "web")
            .set_if(false, "debug-threads", "on")
            .set_opt("process", Some("corvus-vm-1"))
            .set_opt("x", None::<&str>);
        assert_eq!(text(opts), "guest=web,process=corvus-vm-1");
    }

    #[test]
    fn non_utf8_bytes_pass_through() {
        let path = OsStr::from_bytes(b"/tmp/\xff,x");
        let opts: OsString = Opts::new("drive").set("file", path).into();
        assert_eq!(opts.as_bytes(), b"drive,file=/tmp/\xff,,x");
    }
}
