//! Shared storage (issue 19): which of a VM's host paths every node sees,
//! by the `--shared-storage` prefixes of this node. A VM fails over or
//! moves to another node only when none of its paths is local.

use super::config::NodeConfig;
use corvus_storage::StoredVm;
use std::path::{Component, Path, PathBuf};

/// Every host path `vm` needs at start: its drives' files (a Corvus
/// disk's file included) and its shared directories.
pub fn vm_paths(vm: &StoredVm) -> Vec<PathBuf> {
    vm.drives
        .iter()
        .map(|drive| PathBuf::from(&drive.file_path))
        .chain(vm.shares.iter().map(|share| PathBuf::from(&share.path)))
        .collect()
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
