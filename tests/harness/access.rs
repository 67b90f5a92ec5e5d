//! Talking to a VM through `crv`'s relays, as a user with a pipe would.

use crate::daemon::{Crv, Daemon};
use crate::prereq::binary;
use std::io::Write;
use std::process::{Command, Stdio};

impl Daemon {
    /// Runs `crv` with `input` on its stdin.
    pub fn crv_with_input(&self, args: &[&str], input: &str) -> Crv {
        let mut child = Command::new(binary("crv"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run crv");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        let output = child.wait_with_output().expect("crv output");
        Crv {
            args: args.iter().map(|a| a.to_string()).collect(),
            output,
        }
    }
}

/// One HMP command through `crv vm monitor`, returning what it printed.
pub fn hmp(daemon: &Daemon, vm: &str, command: &str) -> String {
    daemon
        .crv_with_input(&["vm", "monitor", vm], &format!("{command}\n"))
        .ok()
}
