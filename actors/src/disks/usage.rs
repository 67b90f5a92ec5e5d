//! Which VMs use a disk, read from the supervisor's snapshots (never from
//! an actor) and the other nodes' rows: definitions whose drives name the
//! disk by id or by path, or use an overlay whose chain contains it, with
//! each VM's current state.

use super::catalog::{Catalog, Disk};
use super::error::DiskError;
use crate::nodes::every_vm::every_vm;
use crate::supervisor::SupervisorMsg;
use corvus_protocol::{DiskUser, VmInfo};
use corvus_qemu::VmPaths;
use ractor::rpc::CallResult;
use std::sync::Arc;
use std::time::Duration;

const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// Every VM: this node's as its actor last published it, and on
/// PostgreSQL every other node's as its row says (a disk on shared storage
/// may be another node's VM's). Without the other nodes' rows nothing is
/// decided: a database error refuses the operation.
pub async fn vms(env: &super::Env) -> Result<Vec<Arc<VmInfo>>, DiskError> {
    let local = match env
        .supervisor
        .call(|reply| SupervisorMsg::List { reply }, Some(LIST_TIMEOUT))
        .await
    {
        Ok(CallResult::Success(vms)) => vms,
        _ => {
            return Err(DiskError::Unavailable(
                "the supervisor did not list the VMs in time; retry".into(),
            ));
        }
    };
    let paths = |id| VmPaths::new(&env.runtime_root, id).to_protocol();
    Ok(every_vm(&env.store, local, paths).await?)
}

/// A VM using the disk, and whether it has a QEMU now.
pub struct Use {
    pub user: DiskUser,
    pub running: bool,
}

/// The VMs using `disk`: directly (a drive on it, or a plain drive on its
/// file), or through an overlay whose chain contains it.
pub fn uses(catalog: &Catalog, disk: &Disk, vms: &[Arc<VmInfo>]) -> Vec<Use> {
    let mut found = Vec::new();
    for vm in vms {
        let mut direct = false;
        let mut below = false;
        for drive in &vm.drives {
            match drive.disk_id {
                Some(id) if id == disk.id => direct = true,
                Some(id) => {
                    below |= catalog
                        .chain(id)
                        .map(|chain| chain.iter().any(|d| d.id == disk.id))
                        .unwrap_or(false);
                }
                None if drive.file_path == disk.path => direct = true,
                None => {}
            }
        }
        if direct || below {
            found.push(Use {
                user: DiskUser {
                    vm_id: vm.id,
                    vm_name: vm.name.clone(),
                    direct,
                },
                running: vm.status.has_process(),
            });
        }
    }
    found
}

/// `'web' (running), 'db'`: for messages.
pub fn describe<'a>(uses: impl IntoIterator<Item = &'a Use>) -> String {
    uses.into_iter()
        .map(|u| {
            let how = match (u.running, u.user.direct) {
                (true, true) => " (running)",
                (true, false) => " (running, through an overlay)",
                (false, true) => "",
                (false, false) => " (through an overlay)",
            };
            format!("VM '{}'{how}", u.user.vm_name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses while a running VM uses the disk in any way.
pub fn refuse_running(disk: &Disk, uses: &[Use], what: &str) -> Result<(), DiskError> {
    let running: Vec<&Use> = uses.iter().filter(|u| u.running).collect();
    if running.is_empty() {
        return Ok(());
    }
    Err(DiskError::InUse {
        disk: disk.name.clone(),
        users: describe(running),
        hint: match what {
            "snapshot" => "stop the VM first (live snapshots are not supported yet)",
            _ => "stop the VM first",
        },
    })
}
