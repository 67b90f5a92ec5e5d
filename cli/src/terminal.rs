//! Raw terminal mode for interactive relays, restored however crv ends.

use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use std::io::stdin;

pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enable() -> nix::Result<RawMode> {
        let saved = tcgetattr(stdin())?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin(), SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(stdin(), SetArg::TCSANOW, &self.saved);
    }
}
