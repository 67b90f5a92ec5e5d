//! The runtime directory of one VM (DESIGN §5): `<root>/<vm_id>/` holding
//! its sockets and logs.

use crate::private_dir::{self, PrivateDirError, Strictness};
use corvus_protocol::RuntimePaths;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `sun_path` holds 108 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPaths {
    pub dir: PathBuf,
    /// QMP (JSON) control socket; the daemon's own session.
    pub qmp: PathBuf,
    /// HMP (human monitor) socket relayed by `crv vm monitor`.
    pub monitor: PathBuf,
    pub spice: PathBuf,
    /// Serial console socket relayed by `crv vm console`.
    pub serial: PathBuf,
    /// Everything the guest wrote on the serial port since this boot.
    pub serial_log: PathBuf,
    /// QEMU's stderr, where it explains why it refused to start or died.
    pub qemu_log: PathBuf,
    /// The QEMU guest agent's channel (a virtio-serial port's chardev).
    pub qga: PathBuf,
    /// The cloud-init NoCloud seed volume, written at each start.
    pub seed: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Socket path {} is {len} bytes, over the {limit}-byte limit of Unix sockets; use a shorter runtime directory",
    path.display()
)]
pub struct PathTooLong {
    pub path: PathBuf,
    pub len: usize,
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Directory(#[from] PrivateDirError),
    #[error("Cannot remove the stale socket {}", path.display())]
    StaleSocket {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl VmPaths {
    pub fn new(runtime_root: &Path, vm_id: i64) -> VmPaths {
        VmPaths::in_dir(runtime_root.join(vm_id.to_string()))
    }

    /// The files of a VM whose directory is already known (a re-adopted
    /// QEMU names it on its command line).
    pub fn in_dir(dir: PathBuf) -> VmPaths {
        VmPaths {
            qmp: dir.join("qmp.sock"),
            monitor: dir.join("monitor.sock"),
            spice: dir.join("spice.sock"),
            serial: dir.join("serial.sock"),
            serial_log: dir.join("serial.log"),
            qemu_log: dir.join("qemu.log"),
            qga: dir.join("qga.sock"),
            seed: dir.join("seed.img"),
            dir,
        }
    }

    /// The share's tag is part of a file name, so it must not contain `/`
    /// (share tags are validated where they are defined).
    pub fn virtiofsd_socket(&self, tag: &str) -> PathBuf {
        self.dir.join(format!("virtiofsd-{tag}.sock"))
    }

    pub fn virtiofsd_log(&self, tag: &str) -> PathBuf {
        self.dir.join(format!("virtiofsd-{tag}.log"))
    }

    fn sockets<'a>(&'a self, share_tags: &'a [&'a str]) -> impl Iterator<Item = PathBuf> + 'a {
        [
            &self.qmp,
            &self.monitor,
            &self.spice,
            &self.serial,
            &self.qga,
        ]
        .into_iter()
        .cloned()
        .chain(share_tags.iter().map(|tag| self.virtiofsd_socket(tag)))
    }

    /// QEMU would fail with an obscure bind error on a path that does not
    /// fit `sun_path`; refusing up front names the culprit.
    pub fn check_socket_lengths(&self, share_tags: &[&str]) -> Result<(), PathTooLong> {
        match self
            .sockets(share_tags)
            .find(|path| path.as_os_str().len() > MAX_SOCKET_PATH)
        {
            Some(path) => Err(PathTooLong {
                len: path.as_os_str().as_bytes().len(),
                path,
                limit: MAX_SOCKET_PATH,
            }),
            None => Ok(()),
        }
    }

    /// Creates the directory (mode 0700: the sockets give full control of
    /// the VM), or checks that the existing one is the daemon user's alone,
    /// and removes sockets a previous run left behind, so that "the socket
    /// exists" means "this run created it".
    pub async fn prepare(&self, share_tags: &[&str]) -> Result<(), PrepareError> {
        private_dir::ensure_async(self.dir.clone(), Strictness::Private).await?;
        for socket in self.sockets(share_tags) {
            match tokio::fs::remove_file(&socket).await {
                Err(err) if err.kind() != io::ErrorKind::NotFound => {
                    return Err(PrepareError::StaleSocket {
                        path: socket,
                        source: err,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn to_protocol(&self) -> RuntimePaths {
        let text = |path: &Path| path.to_string_lossy().into_owned();
        RuntimePaths {
            dir: text(&self.dir),
            qmp: text(&self.qmp),
            monitor: text(&self.monitor),
            spice: text(&self.spice),
            serial: text(&self.serial),
            serial_log: text(&self.serial_log),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_lives_in_the_vm_directory() {
        let paths = VmPaths::new(Path::new("/run/corvus"), 7);
        assert_eq!(paths.dir, Path::new("/run/corvus/7"));
        assert_eq!(paths.qmp, Path::new("/run/corvus/7/qmp.sock"));
        assert_eq!(paths.monitor, Path::new("/run/corvus/7/monitor.sock"));
        assert_eq!(paths.spice, Path::new("/run/corvus/7/spice.sock"));
        assert_eq!(paths.serial, Path::new("/run/corvus/7/serial.sock"));
        assert_eq!(paths.serial_log, Path::new("/run/corvus/7/serial.log"));
        assert_eq!(paths.qemu_log, Path::new("/run/corvus/7/qemu.log"));
        assert_eq!(
            paths.virtiofsd_socket("home"),
            Path::new("/run/corvus/7/virtiofsd-home.sock")
        );
        assert_eq!(
            paths.virtiofsd_log("home"),
            Path::new("/run/corvus/7/virtiofsd-home.log")
        );
        let wire = paths.to_protocol();
        assert_eq!(wire.dir, "/run/corvus/7");
        assert_eq!(wire.serial_log, "/run/corvus/7/serial.log");
    }

    #[test]
    fn a_socket_over_the_limit_is_named_with_the_limit() {
        // 86 + "/7/virtiofsd-" (13) + tag + ".sock" (5): a 3-byte tag makes
        // 107 bytes, a 4-byte one 108.
        let root = format!("/{}", "r".repeat(85));
        let paths = VmPaths::new(Path::new(&root), 7);
        assert_eq!(paths.check_socket_lengths(&["abc"]), Ok(()));

        let err = paths.check_socket_lengths(&["abc", "abcd"]).unwrap_err();
        assert_eq!(err.len, 108);
        assert_eq!(err.limit, MAX_SOCKET_PATH);
        assert_eq!(err.path, paths.virtiofsd_socket("abcd"));
        let message = err.to_string();
        assert!(message.contains("virtiofsd-abcd.sock"), "{message}");
        assert!(message.contains("107-byte limit"), "{message}");
    }

    #[test]
    fn exactly_107_bytes_is_allowed() {
        // 92 + "/1/monitor.sock" (15) = 107, the longest of QEMU's sockets.
        let root = format!("/{}", "r".repeat(91));
        let paths = VmPaths::new(Path::new(&root), 1);
        assert_eq!(paths.monitor.as_os_str().len(), 107);
        assert_eq!(paths.check_socket_lengths(&[]), Ok(()));

        let longer = VmPaths::new(Path::new(&format!("{root}r")), 1);
        let err = longer.check_socket_lengths(&[]).unwrap_err();
        assert_eq!((err.path, err.len), (longer.monitor.clone(), 108));
    }

    #[tokio::test]
    async fn prepare_creates_a_private_directory_and_clears_stale_sockets() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("tempdir");
        let paths = VmPaths::new(root.path(), 3);
        std::fs::create_dir_all(&paths.dir).expect("mkdir");
        std::fs::set_permissions(&paths.dir, std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        std::fs::write(&paths.qmp, b"stale").expect("write");
        std::fs::write(paths.virtiofsd_socket("t"), b"stale").expect("write");
        std::fs::write(&paths.serial_log, b"kept").expect("write");
        paths.prepare(&["t"]).await.expect("prepare");
        assert!(!paths.qmp.exists());
        assert!(!paths.virtiofsd_socket("t").exists());
        assert!(paths.serial_log.exists());
        let fresh = VmPaths::new(root.path(), 4);
        fresh.prepare(&[]).await.expect("prepare");
        let mode = std::fs::metadata(&fresh.dir)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[tokio::test]
    async fn a_planted_vm_directory_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("tempdir");
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).expect("mkdir");
        let paths = VmPaths::new(root.path(), 5);
        std::os::unix::fs::symlink(&elsewhere, &paths.dir).expect("symlink");
        let err = paths.prepare(&[]).await.unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");

        let open = VmPaths::new(root.path(), 6);
        std::fs::create_dir(&open.dir).expect("mkdir");
        std::fs::set_permissions(&open.dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(
            open.prepare(&[]).await.is_err(),
            "a directory others can write is refused"
        );
    }
}
