//! The DiskService's index of disks: every row, by id and name, the names
//! reserved by operations still running, and the disks an operation holds.

use super::error::DiskError;
use corvus_protocol::{DiskFormat, DiskRef};
use corvus_qemu::ImageLayer;
use corvus_storage::StorageError;
use corvus_storage::entity::disk;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A disk row, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub format: DiskFormat,
    pub virtual_size: u64,
    pub backing_disk_id: Option<i64>,
    pub managed: bool,
    pub created_at: String,
    /// The node whose host holds the file.
    pub node: Option<String>,
}

impl Disk {
    pub fn from_row(row: disk::Model) -> Result<Disk, StorageError> {
        let corrupt = |column: &'static str, value: String| StorageError::Corrupt { column, value };
        Ok(Disk {
            format: row
                .format
                .parse()
                .map_err(|_| corrupt("disk.format", row.format.clone()))?,
            virtual_size: u64::try_from(row.virtual_size)
                .map_err(|_| corrupt("disk.virtual_size", row.virtual_size.to_string()))?,
            created_at: corvus_storage::rows::timestamp(&row.created_at),
            id: row.id,
            name: row.name,
            path: row.path,
            backing_disk_id: row.backing_disk_id,
            managed: row.managed,
            node: row.node,
        })
    }
}

#[derive(Debug, Default, Clone)]
pub struct Catalog {
    by_id: BTreeMap<i64, Disk>,
    by_name: HashMap<String, i64>,
    reserved: HashSet<String>,
    /// Disks an operation is changing, with what it is doing.
    busy: HashMap<i64, &'static str>,
    /// Disks operations are reading (an overlay made on it, a clone of
    /// it), with how many and what the last one is doing: they may share,
    /// but nothing may change the disk meanwhile.
    shared: HashMap<i64, (usize, &'static str)>,
}

impl Catalog {
    pub fn insert(&mut self, disk: Disk) {
        self.by_name.insert(disk.name.clone(), disk.id);
        self.by_id.insert(disk.id, disk);
    }

    pub fn remove(&mut self, id: i64) {
        if let Some(disk) = self.by_id.remove(&id) {
            self.by_name.remove(&disk.name);
        }
    }

    pub fn set_size(&mut self, id: i64, size: u64) {
        if let Some(disk) = self.by_id.get_mut(&id) {
            disk.virtual_size = size;
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &Disk> {
        self.by_id.values()
    }

    pub fn get(&self, id: i64) -> Option<&Disk> {
        self.by_id.get(&id)
    }

    pub fn resolve(&self, disk: &DiskRef) -> Result<&Disk, DiskError> {
        let id = match disk {
            DiskRef::Id(id) => Some(*id),
            DiskRef::Name(name) => self.by_name.get(name).copied(),
        };
        id.and_then(|id| self.by_id.get(&id))
            .ok_or_else(|| DiskError::Unknown(disk.to_string()))
    }

    /// Reserves a name for a disk being made; refused when it is taken.
    pub fn reserve(&mut self, name: &str) -> Result<(), DiskError> {
        if self.by_name.contains_key(name) || !self.reserved.insert(name.to_owned()) {
            return Err(DiskError::NameTaken(name.to_owned()));
        }
        Ok(())
    }

    pub fn release_name(&mut self, name: &str) {
        self.reserved.remove(name);
    }

    fn busy_error(&self, id: i64, what: &'static str) -> DiskError {
        let disk = self
            .get(id)
            .map_or_else(|| id.to_string(), |d| d.name.clone());
        DiskError::Busy { disk, what }
    }

    /// Marks disks as changed by an operation; refused while any other
    /// operation changes or reads one of them.
    pub fn hold(&mut self, ids: &[i64], what: &'static str) -> Result<(), DiskError> {
        for id in ids {
            if let Some(doing) = self.busy.get(id) {
                return Err(self.busy_error(*id, doing));
            }
            if let Some((_, doing)) = self.shared.get(id) {
                return Err(self.busy_error(*id, doing));
            }
        }
        for id in ids {
            self.busy.insert(*id, what);
        }
        Ok(())
    }

    /// Marks a disk as read by an operation; others may read it too.
    pub fn hold_shared(&mut self, id: i64, what: &'static str) -> Result<(), DiskError> {
        if let Some(doing) = self.busy.get(&id) {
            return Err(self.busy_error(id, doing));
        }
        let entry = self.shared.entry(id).or_insert((0, what));
        *entry = (entry.0 + 1, what);
        Ok(())
    }

    pub fn release(&mut self, ids: &[i64]) {
        for id in ids {
            self.busy.remove(id);
        }
    }

    pub fn release_shared(&mut self, ids: &[i64]) {
        for id in ids {
            if let Some((count, _)) = self.shared.get_mut(id) {
                *count -= 1;
                if *count == 0 {
                    self.shared.remove(id);
                }
            }
        }
    }

    /// Refuses when an operation is changing any of these disks.
    pub fn check_free(&self, ids: &[i64]) -> Result<(), DiskError> {
        match ids
            .iter()
            .find_map(|id| self.busy.get(id).map(|doing| (*id, *doing)))
        {
            Some((id, what)) => Err(self.busy_error(id, what)),
            None => Ok(()),
        }
    }

    /// The disk and every disk below it, top first. A loop in the rows
    /// (only a hand-edited database has one) ends the walk with an error.
    pub fn chain(&self, id: i64) -> Result<Vec<&Disk>, DiskError> {
        let mut chain = Vec::new();
        let mut next = Some(id);
        while let Some(id) = next {
            let disk = self
                .get(id)
                .ok_or_else(|| DiskError::Unknown(id.to_string()))?;
            if chain.iter().any(|seen: &&Disk| seen.id == id) {
                return Err(DiskError::Invalid(format!(
                    "the backing chain of disk '{}' loops back to itself",
                    disk.name
                )));
            }
            chain.push(disk);
            next = disk.backing_disk_id;
        }
        Ok(chain)
    }

    pub fn layers(&self, id: i64) -> Result<Vec<ImageLayer>, DiskError> {
        Ok(self
            .chain(id)?
            .into_iter()
            .map(|disk| ImageLayer {
                path: disk.path.clone(),
                format: disk.format,
            })
            .collect())
    }

    /// The disks directly backed by `id`.
    pub fn overlays_of(&self, id: i64) -> Vec<&Disk> {
        self.by_id
            .values()
            .filter(|disk| disk.backing_disk_id == Some(id))
            .collect()
    }

    pub fn by_path(&self, path: &str) -> Option<&Disk> {
        self.by_id.values().find(|disk| disk.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(id: i64, name: &str, backing: Option<i64>) -> Disk {
        Disk {
            id,
            name: name.into(),
            path: format!("/d/{id}.qcow2"),
            format: DiskFormat::Qcow2,
            virtual_size: 1 << 20,
            backing_disk_id: backing,
            managed: true,
            created_at: String::new(),
            node: None,
        }
    }

    #[test]
    fn chains_walk_down_and_stop_at_a_loop() {
        let mut catalog = Catalog::default();
        catalog.insert(disk(1, "base", None));
        catalog.insert(disk(2, "mid", Some(1)));
        catalog.insert(disk(3, "top", Some(2)));
        let names: Vec<_> = catalog
            .chain(3)
            .unwrap()
            .iter()
            .map(|d| d.name.clone())
            .collect();
        assert_eq!(names, ["top", "mid", "base"]);
        assert_eq!(catalog.overlays_of(1).len(), 1);
        catalog.insert(disk(1, "base", Some(3)));
        let err = catalog.chain(3).unwrap_err();
        assert!(err.to_string().contains("loops back"), "{err}");
    }

    #[test]
    fn names_are_reserved_once_and_holds_are_exclusive() {
        let mut catalog = Catalog::default();
        catalog.insert(disk(1, "base", None));
        assert!(matches!(
            catalog.reserve("base"),
            Err(DiskError::NameTaken(_))
        ));
        catalog.reserve("new").unwrap();
        assert!(catalog.reserve("new").is_err());
        catalog.release_name("new");
        catalog.reserve("new").unwrap();
        catalog.hold(&[1], "a resize").unwrap();
        let err = catalog.hold(&[1], "a snapshot").unwrap_err();
        assert!(err.to_string().contains("a resize is in progress"), "{err}");
        assert!(catalog.check_free(&[1]).is_err());
        catalog.release(&[1]);
        catalog.check_free(&[1]).unwrap();
        // Readers share; a writer waits for all of them.
        catalog.hold_shared(1, "an overlay creation").unwrap();
        catalog.hold_shared(1, "a clone").unwrap();
        catalog.check_free(&[1]).unwrap();
        assert!(catalog.hold(&[1], "a deletion").is_err());
        catalog.release_shared(&[1]);
        assert!(catalog.hold(&[1], "a deletion").is_err());
        catalog.release_shared(&[1]);
        catalog.hold(&[1], "a deletion").unwrap();
        assert!(catalog.hold_shared(1, "a clone").is_err());
        assert!(matches!(
            catalog.resolve(&DiskRef::Name("nope".into())),
            Err(DiskError::Unknown(_))
        ));
        assert_eq!(catalog.resolve(&DiskRef::Id(1)).unwrap().name, "base");
    }
}
