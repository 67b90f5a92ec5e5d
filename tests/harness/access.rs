//! Talking to a VM through `crv`'s relays, as a user with a pipe would:
//! over the Unix socket or TCP, one-shot or as a background process that
//! keeps its stdin open.

use crate::daemon::{Crv, Daemon};
use crate::postgres::wait_until;
use crate::prereq::binary;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How `crv` reaches the daemon.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    /// `--socket` (what `Daemon::crv` uses).
    Unix,
    /// `--tcp --host H --port P`; the daemon needs `DaemonOptions::tcp_port`.
    Tcp { host: &'a str, port: u16 },
    /// `--remote NAME` over mutual TLS; see `Daemon::add_remote`.
    Remote(&'a str),
}

impl Daemon {
    /// A `crv` command reaching this daemon `via`, with no arguments yet.
    pub fn crv_command(&self, via: Via<'_>) -> Command {
        let mut command = Command::new(binary("crv"));
        command
            .env_remove("CORVUS_SOCKET")
            .env_remove("CORVUS_REMOTE")
            .env("XDG_CONFIG_HOME", &self.client_home);
        match via {
            Via::Unix => {
                command.arg("--socket").arg(&self.socket);
            }
            Via::Tcp { host, port } => {
                command.args(["--tcp", "--host", host, "--port", &port.to_string()]);
            }
            Via::Remote(name) => {
                command.args(["--remote", name]);
            }
        }
        command
    }

    /// Runs `crv` with `input` on its stdin.
    pub fn crv_with_input(&self, args: &[&str], input: &str) -> Crv {
        self.crv_via_with_input(Via::Unix, args, input)
    }

    /// Runs `crv` reaching the daemon `via`, with stdin closed.
    pub fn crv_via(&self, via: Via<'_>, args: &[&str]) -> Crv {
        let output = self
            .crv_command(via)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run crv");
        Crv {
            args: args.iter().map(|a| a.to_string()).collect(),
            output,
        }
    }

    /// Runs `crv` reaching the daemon `via`, with `input` on its stdin.
    pub fn crv_via_with_input(&self, via: Via<'_>, args: &[&str], input: &str) -> Crv {
        let mut child = self
            .crv_command(via)
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

    /// Starts `crv` in the background with its stdin held open (as a user at
    /// a terminal would, minus the terminal) and its output collected.
    pub fn crv_background(&self, via: Via<'_>, args: &[&str]) -> Background {
        Background::spawn(self.crv_command(via).args(args), args)
    }
}

/// A `crv` process running beside the test.
pub struct Background {
    args: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
    })
}

impl Background {
    pub fn spawn(command: &mut Command, args: &[&str]) -> Background {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run crv");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped"), stdout.clone()),
            collect(child.stderr.take().expect("piped"), stderr.clone()),
        ];
        Background {
            args: args.iter().map(|a| a.to_string()).collect(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
            status: None,
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types into the process's stdin.
    pub fn write(&mut self, input: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(input.as_bytes()).expect("write to crv");
        stdin.flush().expect("flush crv's stdin");
    }

    /// Ends the process's input, as a pipe that reached its end.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits until stdout satisfies `done`; returns it.
    #[track_caller]
    pub fn wait_for_stdout(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let met = wait_until(timeout, || done(&self.stdout()));
        assert!(
            met,
            "crv {:?}: no {what} on stdout within {timeout:?}\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }

    /// Waits until stderr satisfies `done`; returns it.
    #[track_caller]
    pub fn wait_for_stderr(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let met = wait_until(timeout, || done(&self.stderr()));
        assert!(
            met,
            "crv {:?}: no {what} on stderr within {timeout:?}\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        self.stderr()
    }

    /// The exit status if the process has ended by itself within `timeout`;
    /// its stdin stays open meanwhile, so it cannot end for lack of input.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = &mut self.child;
        let mut status = self.status;
        wait_until(timeout, || {
            status = status.or_else(|| child.try_wait().ok().flatten());
            status.is_some()
        });
        self.status = status;
        if status.is_some() {
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        status
    }

    /// Like `wait_exit`, but the process must end, and with status `code`.
    #[track_caller]
    pub fn expect_exit(&mut self, code: i32, timeout: Duration) {
        let status = self.wait_exit(timeout);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(code),
            "crv {:?} did not exit with {code} within {timeout:?} (status {status:?})\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout(),
            self.stderr()
        );
    }

    /// Kills the process (a client that vanishes) and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stdin.take();
        self.kill();
    }
}

/// One HMP command through `crv vm monitor`, returning what it printed.
pub fn hmp(daemon: &Daemon, vm: &str, command: &str) -> String {
    hmp_via(daemon, Via::Unix, vm, command)
}

/// One HMP command through `crv vm monitor` reaching the daemon `via`.
pub fn hmp_via(daemon: &Daemon, via: Via<'_>, vm: &str, command: &str) -> String {
    daemon
        .crv_via_with_input(via, &["vm", "monitor", vm], &format!("{command}\n"))
        .ok()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free TCP port")
}

/// `crv` on a pseudo-terminal, as a user at a keyboard runs it: raw mode,
/// Ctrl+] to detach.
pub struct TerminalSession {
    child: Child,
    master: std::fs::File,
    /// Kept open to read the terminal's settings after crv is gone.
    slave: Option<std::os::fd::OwnedFd>,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Daemon {
    /// Runs `crv` with a pseudo-terminal as its stdin, stdout and stderr.
    pub fn crv_on_terminal(&self, via: Via<'_>, args: &[&str]) -> TerminalSession {
        self.crv_on_terminal_with_env(via, args, &[])
    }

    /// `crv_on_terminal` with extra environment variables.
    pub fn crv_on_terminal_with_env(
        &self,
        via: Via<'_>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> TerminalSession {
        let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
        let stdio = |fd: &std::os::fd::OwnedFd| Stdio::from(fd.try_clone().expect("dup the pty"));
        let child = self
            .crv_command(via)
            .args(args)
            .envs(env.iter().copied())
            .stdin(stdio(&pty.slave))
            .stdout(stdio(&pty.slave))
            .stderr(stdio(&pty.slave))
            .spawn()
            .expect("run crv");
        let master = std::fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        // The reader ends (EIO) once every copy of the slave is closed.
        collect(master.try_clone().expect("dup the pty"), output.clone());
        TerminalSession {
            child,
            master,
            slave: Some(pty.slave),
            output,
        }
    }
}

impl TerminalSession {
    /// What crv wrote to the terminal so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Types bytes on the keyboard.
    pub fn type_bytes(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("type on the pty");
    }

    #[track_caller]
    pub fn wait_for(&self, needle: &str, timeout: Duration) {
        let seen = wait_until(timeout, || self.output().contains(needle));
        assert!(
            seen,
            "{needle:?} not on the terminal within {timeout:?}:\n{}",
            self.output()
        );
    }

    /// The terminal's line settings (canonical mode, echo) as crv left them.
    pub fn line_settings(&self) -> nix::sys::termios::LocalFlags {
        nix::sys::termios::tcgetattr(self.slave.as_ref().expect("open until drop"))
            .expect("the pty's settings")
            .local_flags
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Gives the terminal a size (a new pseudo-terminal has none), as a
    /// terminal window would; full-screen programs read it as they draw.
    pub fn resize(&self, columns: u16, rows: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
        let done = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&self.master),
                libc::TIOCSWINSZ,
                &size,
            )
        };
        assert_eq!(done, 0, "set the terminal's size");
    }

    /// `stty -a` on the terminal, as the user's shell would see it.
    pub fn stty(&self) -> String {
        let slave = self.slave.as_ref().expect("open until drop");
        let output = Command::new("stty")
            .arg("-a")
            .stdin(Stdio::from(slave.try_clone().expect("dup the pty")))
            .output()
            .expect("run stty");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits for crv to end, by itself or by a signal.
    #[track_caller]
    pub fn wait_status(&mut self, timeout: Duration) -> ExitStatus {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.unwrap_or_else(|| panic!("crv did not end within {timeout:?}:\n{}", self.output()))
    }

    /// Waits for crv to exit by itself; returns its status code.
    #[track_caller]
    pub fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        assert!(
            status.is_some(),
            "crv did not exit within {timeout:?}:\n{}",
            self.output()
        );
        status.and_then(|s| s.code())
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Closing the last copy of the slave ends the reader thread.
        self.slave.take();
    }
}
