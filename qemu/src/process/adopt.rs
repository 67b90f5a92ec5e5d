//! Re-attaching to a QEMU started by an earlier daemon (DESIGN §4).

use super::exit::{is_our_child, reap};
use super::{ProcessHandle, open_pidfd};
use rustix::io::Errno;
use std::io;

/// How much of a stranger's command line an error quotes.
const QUOTED_CMDLINE: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("Process {pid} has exited")]
    Gone { pid: u32 },
    #[error("Process {pid} is not this VM's QEMU (its command line is '{found_cmdline}')")]
    NotOurs { pid: u32, found_cmdline: String },
    #[error("Cannot inspect process {pid}")]
    Io {
        pid: u32,
        #[source]
        source: io::Error,
    },
}

/// See [`ProcessHandle::adopt`] for the contract.
pub(super) fn adopt(pid: u32, marker: &str) -> Result<ProcessHandle, AdoptError> {
    let pidfd = match open_pidfd(pid) {
        Ok(pidfd) => pidfd,
        // ESRCH: no such process; InvalidInput: not a possible PID at all.
        Err(err)
            if err.raw_os_error() == Some(Errno::SRCH.raw_os_error())
                || err.kind() == io::ErrorKind::InvalidInput =>
        {
            return Err(AdoptError::Gone { pid });
        }
        Err(source) => return Err(AdoptError::Io { pid, source }),
    };
    // procfs reads never wait on the process; fine outside spawn_blocking.
    let cmdline = match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(AdoptError::Gone { pid });
        }
        Err(source) => return Err(AdoptError::Io { pid, source }),
    };
    let child = is_our_child(&pidfd);
    let handle = ProcessHandle { pidfd, pid, child };
    if !handle.is_alive() {
        if child {
            let _ = reap(&handle.pidfd);
        }
        return Err(AdoptError::Gone { pid });
    }
    if !contains_word(&cmdline, marker.as_bytes()) {
        return Err(AdoptError::NotOurs {
            pid,
            found_cmdline: readable_cmdline(&cmdline),
        });
    }
    Ok(handle)
}

/// `marker` occurs in `haystack` with no letter or digit right before or
/// after it.
fn contains_word(haystack: &[u8], marker: &[u8]) -> bool {
    if marker.is_empty() || marker.len() > haystack.len() {
        return false;
    }
    let is_word = |byte: Option<&u8>| byte.is_some_and(u8::is_ascii_alphanumeric);
    haystack
        .windows(marker.len())
        .enumerate()
        .any(|(start, window)| {
            window == marker
                && !is_word(start.checked_sub(1).and_then(|i| haystack.get(i)))
                && !is_word(haystack.get(start + marker.len()))
        })
}

/// Arguments separated by spaces, shortened for an error message.
fn readable_cmdline(cmdline: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(cmdline)
        .trim_end_matches('\0')
        .replace('\0', " ");
    match text.char_indices().nth(QUOTED_CMDLINE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_must_be_a_whole_word() {
        let cmdline =
            b"qemu-system-x86_64\x00-name\x00guest=web,process=corvus-vm-12\x00-m\x00512\x00";
        assert!(contains_word(cmdline, b"corvus-vm-12"));
        assert!(contains_word(cmdline, b"process=corvus-vm-12"));
        assert!(!contains_word(cmdline, b"corvus-vm-1"));
        assert!(!contains_word(cmdline, b"orvus-vm-12"));
        assert!(!contains_word(cmdline, b""));
        assert!(contains_word(b"corvus-vm-3", b"corvus-vm-3"));
    }

    #[test]
    fn a_quoted_cmdline_uses_spaces_and_is_shortened() {
        assert_eq!(readable_cmdline(b"sleep\x00100\x00"), "sleep 100");
        let long = vec![b'x'; 500];
        let quoted = readable_cmdline(&long);
        assert_eq!(quoted.chars().count(), QUOTED_CMDLINE + 1);
        assert!(quoted.ends_with('…'));
    }
}
