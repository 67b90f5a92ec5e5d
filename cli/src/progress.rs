//! A spinner on stderr while `--wait` waits, only when stdout is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Spinner {
    message: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

impl Spinner {
    pub fn start(message: &str) -> Option<Spinner> {
        if !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
            return None;
        }
        let message = Arc::new(Mutex::new(message.to_owned()));
        let shown = message.clone();
        let task = tokio::spawn(async move {
            for frame in FRAMES.iter().cycle() {
                let text = shown.lock().map(|m| m.clone()).unwrap_or_default();
                eprint!("\r\x1b[2K{frame} {text}");
                let _ = std::io::stderr().flush();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Some(Spinner { message, task })
    }

    pub fn set_message(&self, message: &str) {
        if let Ok(mut current) = self.message.lock() {
            *current = message.to_owned();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.task.abort();
        eprint!("\r\x1b[2K");
        let _ = std::io::stderr().flush();
    }
}
