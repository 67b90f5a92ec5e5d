//! Raw terminal mode for interactive relays, restored however crv ends: at
//! the end of the relay, on a panic, and on the signals that end a process
//! from outside (SIGTERM, SIGHUP, SIGINT, SIGQUIT). Raw mode turns off the
//! terminal's own Ctrl+C, so these arrive only from `kill` or a closing
//! terminal; without this they left the user's shell without echo.

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use std::io::stdin;
use std::sync::OnceLock;

/// The settings to go back to, where a signal handler can read them
/// without locks or allocation.
static SAVED: OnceLock<libc::termios> = OnceLock::new();

const FATAL: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
];

pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enable() -> nix::Result<RawMode> {
        let saved = tcgetattr(stdin())?;
        let _ = SAVED.set(libc::termios::from(saved.clone()));
        install(SigHandler::Handler(restore_and_die));
        restore_on_panic();
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        if let Err(err) = tcsetattr(stdin(), SetArg::TCSANOW, &raw) {
            install(SigHandler::SigDfl);
            return Err(err);
        }
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(stdin(), SetArg::TCSANOW, &self.saved);
        install(SigHandler::SigDfl);
    }
}

fn install(handler: SigHandler) {
    // SA_RESETHAND: the handler runs once and leaves the default action
    // in place, which it then triggers.
    let action = SigAction::new(handler, SaFlags::SA_RESETHAND, SigSet::empty());
    for signal in FATAL {
        // SAFETY: `restore_and_die` only makes async-signal-safe calls, and
        // SIG_DFL installs no code; crv has no other handler for these.
        let _ = unsafe { sigaction(signal, &action) };
    }
}

/// Puts the terminal back, then dies of the signal as if never caught, so
/// that the parent sees the real cause.
extern "C" fn restore_and_die(signal: libc::c_int) {
    if let Some(saved) = SAVED.get() {
        // SAFETY: tcsetattr and raise are async-signal-safe (POSIX.1
        // signal-safety list); `saved` is initialised before the handler is
        // installed and never changes afterwards.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
    }
    // SAFETY: as above. The signal is blocked while this handler runs and
    // SA_RESETHAND restored the default action: it is delivered on return.
    unsafe { libc::raise(signal) };
}

/// The panic message then prints on a sane terminal (the `Drop` above would
/// restore it too, but only after the message, and not at all without
/// unwinding).
fn restore_on_panic() {
    static HOOKED: OnceLock<()> = OnceLock::new();
    HOOKED.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(saved) = SAVED.get() {
                // SAFETY: a plain libc call on stdin with a valid termios.
                unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
            }
            previous(info);
        }));
    });
}
