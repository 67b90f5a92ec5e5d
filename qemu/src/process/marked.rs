//! Finding the processes one daemon started by the mark it put in their
//! environment, when what the database recorded about them cannot be
//! trusted (it lagged behind a crash): QEMU carries `corvus-vm-<id>` on
//! its command line, and `CORVUS_OWNER=<mark>` in its environment names the
//! database whose VM it is, so two daemons on different databases (whose VM
//! ids overlap) never take each other's.

use std::collections::HashMap;
use std::path::Path;

/// The environment variable that names a process's owner.
pub const OWNER_VARIABLE: &str = "CORVUS_OWNER";

/// The value of [`OWNER_VARIABLE`] in a process's environment, if any.
pub fn owner_mark_of(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    owner_in(&environ).map(str::to_owned)
}

fn owner_in(environ: &[u8]) -> Option<&str> {
    environ.split(|&byte| byte == 0).find_map(|entry| {
        let text = std::str::from_utf8(entry).ok()?;
        text.strip_prefix(OWNER_VARIABLE)?.strip_prefix('=')
    })
}

/// The VM id on a command line that carries `process=corvus-vm-<id>`.
fn vm_id_in(cmdline: &[u8]) -> Option<i64> {
    const MARK: &[u8] = b"process=corvus-vm-";
    let start = cmdline.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits: Vec<u8> = cmdline[start..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Every live QEMU marked with `owner`, by VM id. Blocking (reads procfs
/// for every process): call it once at start, off the async threads.
pub fn find_marked(owner: &str) -> HashMap<i64, u32> {
    let mut found = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = Path::new("/proc").join(pid.to_string());
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let Some(vm_id) = vm_id_in(&cmdline) else {
            continue;
        };
        if owner_mark_of(pid).as_deref() == Some(owner) {
            found.insert(vm_id, pid);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vm_id_and_the_owner_are_read_exactly() {
        assert_eq!(
            vm_id_in(b"qemu\0-name\0guest=web,process=corvus-vm-12\0-m\0"),
            Some(12)
        );
        assert_eq!(vm_id_in(b"qemu\0-name\0guest=web\0"), None);
        assert_eq!(owner_in(b"PATH=/bin\0CORVUS_OWNER=ab12\0"), Some("ab12"));
        assert_eq!(owner_in(b"CORVUS_OWNERX=ab12\0"), None);
        assert_eq!(owner_in(b"PATH=/bin\0"), None);
    }

    #[test]
    fn a_marked_child_is_found_and_an_unmarked_one_is_not() {
        use std::os::unix::process::CommandExt;
        // The mark rides in argv[0] of a plain sleep: no shell, so no forked
        // child that shares the mark for a moment (nor an exec that drops it).
        let mut marked = std::process::Command::new("sleep")
            .arg0("process=corvus-vm-424242")
            .arg("30")
            .env(OWNER_VARIABLE, "test-owner-mark")
            .spawn()
            .expect("spawn sleep");
        let mut stranger = std::process::Command::new("sleep")
            .arg0("process=corvus-vm-424243")
            .arg("30")
            .env(OWNER_VARIABLE, "someone-else")
            .spawn()
            .expect("spawn sleep");
        // spawn returns once exec has closed the CLOEXEC pipe, which is
        // before the new image has its arguments and environment in place:
        // wait for both, or a loaded machine can read them empty.
        for child in [&marked, &stranger] {
            let ready = (0..500).any(|_| {
                let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id()));
                let started = cmdline.is_ok_and(|c| vm_id_in(&c).is_some())
                    && owner_mark_of(child.id()).is_some();
                if !started {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                started
            });
            assert!(ready, "sleep {} never showed its mark", child.id());
        }
        let found = find_marked("test-owner-mark");
        let _ = marked.kill();
        let _ = stranger.kill();
        let _ = marked.wait();
        let _ = stranger.wait();
        assert_eq!(found.get(&424242), Some(&marked.id()));
        assert!(!found.contains_key(&424243));
    }
}
