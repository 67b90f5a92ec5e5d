//! Reading back a running QEMU's command line (`/proc/PID/cmdline`): where
//! it put its control sockets, so that a QEMU started under another runtime
//! directory is still reached at the path it really listens on.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// Splits a `head,key=value,...` option string, undoing doubled commas.
fn split_opts(arg: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = vec![Vec::new()];
    let mut bytes = arg.iter().peekable();
    while let Some(&byte) = bytes.next() {
        if byte == b',' {
            if bytes.peek() == Some(&&b',') {
                bytes.next();
                if let Some(part) = parts.last_mut() {
                    part.push(b',');
                }
            } else {
                parts.push(Vec::new());
            }
        } else if let Some(part) = parts.last_mut() {
            part.push(byte);
        }
    }
    parts
}

/// The directory holding the VM's sockets, read from the QMP chardev that
/// [`super::build`] writes (`-chardev socket,id=qmp,path=DIR/qmp.sock,...`).
pub fn runtime_dir_of(cmdline: &[u8]) -> Option<PathBuf> {
    let mut args = cmdline.split(|&byte| byte == 0);
    while let Some(arg) = args.next() {
        if arg != b"-chardev" {
            continue;
        }
        let Some(value) = args.next() else {
            break;
        };
        let parts = split_opts(value);
        let is_qmp = parts.first().is_some_and(|head| head == b"socket")
            && parts.iter().any(|part| part == b"id=qmp");
        if !is_qmp {
            continue;
        }
        let path = parts
            .iter()
            .find_map(|part| part.strip_prefix(b"path=".as_slice()))?;
        return PathBuf::from(OsString::from_vec(path.to_vec()))
            .parent()
            .map(PathBuf::from);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Accel, VmPaths, build_cmdline as build};
    use std::path::Path;

    #[test]
    fn the_runtime_directory_is_read_back_from_what_build_wrote() {
        let vm = crate::cmdline::tests::vm();
        for root in ["/run/corvus", "/tmp/a dir, with commas,,/x"] {
            let paths = VmPaths::new(Path::new(root), vm.id);
            let args = build(&vm, &crate::DriveImages::new(), &paths, Accel::Tcg);
            let mut cmdline = b"qemu-system-x86_64\0".to_vec();
            for arg in args {
                cmdline.extend_from_slice(&arg.into_vec());
                cmdline.push(0);
            }
            assert_eq!(runtime_dir_of(&cmdline), Some(paths.dir.clone()), "{root}");
        }
    }

    #[test]
    fn a_command_line_without_a_qmp_socket_has_none() {
        assert_eq!(
            runtime_dir_of(b"qemu\0-chardev\0socket,id=hmp,path=/x/m.sock\0"),
            None
        );
        assert_eq!(runtime_dir_of(b"qemu\0-chardev\0"), None);
        assert_eq!(runtime_dir_of(b""), None);
    }
}
