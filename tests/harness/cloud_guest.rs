//! The cloud test guest (tests/guest/build-cloud.sh): a Debian 12 root
//! filesystem with cloud-init, openssh-server and qemu-guest-agent, booted
//! with its own kernel. Built once per machine and cached.

use crate::prereq::require;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct CloudGuest {
    /// Raw ext4, the whole disk: boot it with `root=/dev/vda`.
    pub root: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// The kernel command line: console on ttyS0, the root filesystem on the
/// first virtio disk (the VM's overlay of `root`).
pub const CMDLINE: &str = "root=/dev/vda rw console=ttyS0 quiet";

static CLOUD_GUEST: OnceLock<Option<CloudGuest>> = OnceLock::new();

fn build() -> Option<CloudGuest> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/build-cloud.sh");
    match Command::new("bash").arg(&script).output() {
        Ok(output) if output.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            Some(CloudGuest {
                root: dir.join("root.img"),
                kernel: dir.join("vmlinuz"),
                initrd: dir.join("initrd.img"),
            })
        }
        Ok(output) => {
            require(
                false,
                &format!(
                    "the cloud test guest (tests/guest/build-cloud.sh failed; scripts/deps installs mmdebstrap): {}",
                    String::from_utf8_lossy(&output.stderr)
                ),
            );
            None
        }
        Err(err) => {
            require(
                false,
                &format!("the cloud test guest (cannot run tests/guest/build-cloud.sh: {err})"),
            );
            None
        }
    }
}

impl CloudGuest {
    /// The guest, built on first use; `None` when it cannot be built outside CI.
    pub fn get() -> Option<&'static CloudGuest> {
        CLOUD_GUEST.get_or_init(build).as_ref()
    }
}
