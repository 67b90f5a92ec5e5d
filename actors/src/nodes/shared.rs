//! Shared storage (issue 19): which of a VM's host paths every node sees,
//! by the `--shared-storage` prefixes of this node. A VM fails over or
//! moves to another node only when none of its paths is local.

use super::config::NodeConfig;
use crate::wire::db;
use corvus_protocol::{VmInfo, WireError};
use corvus_storage::Store;
use std::path::{Component, Path, PathBuf};

/// Every host path `vm` needs at start: its drives' files (a Corvus
/// disk's file included), its shared directories and its direct-boot
/// kernel and initrd. A disk's backing chain is the caller's to add
/// (`backing`): only the database knows it.
pub fn vm_paths(vm: &VmInfo, backing: &[String]) -> Vec<PathBuf> {
    vm.drives
        .iter()
        .map(|drive| drive.file_path.as_str())
        .chain(backing.iter().map(String::as_str))
        .chain(vm.shared_dirs.iter().map(|share| share.path.as_str()))
        .chain(vm.kernel.iter().map(String::as_str))
        .chain(vm.initrd.iter().map(String::as_str))
        .map(PathBuf::from)
        .collect()
}

/// Every host path `vm` needs at start (`vm_paths`), with the backing
/// chains of its Corvus disks read from the database.
pub async fn paths_of(store: &Store, vm: &VmInfo) -> Result<Vec<PathBuf>, WireError> {
    let mut backing = Vec::new();
    for disk in vm.drives.iter().filter_map(|drive| drive.disk_id) {
        backing.extend(db(store.backing_paths(disk)).await?);
    }
    Ok(vm_paths(vm, &backing))
}

/// The paths among `paths` under no shared-storage prefix of `node`, in
/// the order given; empty when every one is shared.
pub fn unshared(node: &NodeConfig, paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|path| !is_shared(&node.shared_storage, path))
        .cloned()
        .collect()
}

/// Whether `path`, taken lexically ('..' cannot climb out of a prefix),
/// lies under one of `prefixes`. A relative path is never shared.
pub fn is_shared(prefixes: &[PathBuf], path: &Path) -> bool {
    let Some(path) = lexical(path) else {
        return false;
    };
    prefixes
        .iter()
        .any(|prefix| path != *prefix && path.starts_with(prefix))
}

fn lexical(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut plain = PathBuf::new();
    for part in path.components() {
        match part {
            Component::RootDir | Component::Prefix(_) => plain.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !plain.pop() {
                    return None;
                }
            }
            Component::Normal(name) => plain.push(name),
        }
    }
    Some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_strictly_under_a_prefix_are_shared() {
        let prefixes = [PathBuf::from("/srv/vmstore"), PathBuf::from("/mnt/nfs a")];
        let shared = |p: &str| is_shared(&prefixes, Path::new(p));
        assert!(shared("/srv/vmstore/a.qcow2"));
        assert!(shared("/srv/vmstore/x/./y/../b,c.raw"));
        assert!(shared("/mnt/nfs a/disk with space.img"));
        assert!(
            !shared("/srv/vmstore"),
            "the prefix itself is no file on it"
        );
        assert!(
            !shared("/srv/vmstore2/a.qcow2"),
            "a sibling with a longer name"
        );
        assert!(!shared("/srv/vmstore/../etc/passwd"), "'..' climbs out");
        assert!(!shared("/var/lib/corvus/disks/a.qcow2"));
        assert!(!shared("relative/srv/vmstore/a"));
        assert!(!is_shared(&[], Path::new("/srv/vmstore/a")));
    }
}
