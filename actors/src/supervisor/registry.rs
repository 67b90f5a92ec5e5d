//! The supervisor's index of VM actors by id, name and actor id.

use crate::vm::VmActorRef;
use corvus_protocol::{VmInfo, VmRef, WireError};
use ractor::ActorId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::watch;

pub struct Entry {
    pub name: String,
    pub actor: VmActorRef,
    /// The actor's latest published view; read for `list` without asking it.
    pub snapshot: watch::Receiver<Arc<VmInfo>>,
}

#[derive(Default)]
pub struct Registry {
    by_id: BTreeMap<i64, Entry>,
    by_name: HashMap<String, i64>,
    by_actor: HashMap<ActorId, i64>,
    /// Names of VMs being created, not yet in the database.
    reserved: HashSet<String>,
}

impl Registry {
    pub fn insert(&mut self, id: i64, entry: Entry) {
        self.by_name.insert(entry.name.clone(), id);
        self.by_actor.insert(entry.actor.get_id(), id);
        if let Some(old) = self.by_id.insert(id, entry) {
            self.by_actor.remove(&old.actor.get_id());
        }
    }

    pub fn remove(&mut self, id: i64) -> Option<Entry> {
        let entry = self.by_id.remove(&id)?;
        self.by_name.remove(&entry.name);
        self.by_actor.remove(&entry.actor.get_id());
        Some(entry)
    }

    pub fn id_of_actor(&self, actor: ActorId) -> Option<i64> {
        self.by_actor.get(&actor).copied()
    }

    pub fn resolve(&self, vm: &VmRef) -> Result<(i64, &Entry), WireError> {
        let id = match vm {
            VmRef::Id(id) => Some(*id),
            VmRef::Name(name) => self.by_name.get(name).copied(),
        };
        id.and_then(|id| self.by_id.get(&id).map(|entry| (id, entry)))
            .ok_or_else(|| {
                WireError::not_found(format!(
                    "no VM named or numbered '{vm}' (see `crv vm list`)"
                ))
            })
    }

    /// Reserves a name for a VM being created; false when it is taken.
    pub fn reserve(&mut self, name: &str) -> bool {
        !self.by_name.contains_key(name) && self.reserved.insert(name.to_owned())
    }

    pub fn is_reserved(&self, name: &str) -> bool {
        self.reserved.contains(name)
    }

    pub fn release(&mut self, name: &str) {
        self.reserved.remove(name);
    }

    pub fn snapshots(&self) -> impl Iterator<Item = Arc<VmInfo>> + '_ {
        self.by_id
            .values()
            .map(|entry| entry.snapshot.borrow().clone())
    }

    pub fn entries(&self) -> impl Iterator<Item = (&i64, &Entry)> {
        self.by_id.iter()
    }
}
