//! Definition changes of a stopped VM: edit, delete, drives, NICs, shares.
//! Each is validated first and written before the actor's copy changes, so
//! a refused or failed change leaves both untouched.

use super::{VmActorState, VmReply};
use crate::supervisor::SupervisorMsg;
use crate::validate;
use crate::wire::{db, storage};
use corvus_protocol::{DriveSpec, NicSpec, Response, ShareSpec, VmChanges, WireError};
use corvus_storage::{Duplicate, rows};

/// Attempts at a random MAC before giving up (only a nearly full
/// 24-bit space would need more than one).
const MAC_ATTEMPTS: usize = 16;

fn generated_mac() -> String {
    let [a, b, c, _] = fastrand::u32(..).to_be_bytes();
    format!("52:54:00:{a:02x}:{b:02x}:{c:02x}")
}

impl VmActorState {
    pub(super) async fn edit(&mut self, changes: VmChanges) -> Result<VmReply, WireError> {
        self.require_stopped("edit it")?;
        validate::changes(&changes)?;
        let merged = |change: &Option<String>, current: &Option<String>| match change {
            Some(text) if text.is_empty() => None,
            Some(text) => Some(text.clone()),
            None => current.clone(),
        };
        let kernel = merged(&changes.kernel, &self.info.kernel);
        let initrd = merged(&changes.initrd, &self.info.initrd);
        let cmdline = merged(&changes.cmdline, &self.info.cmdline);
        validate::kernel_boot(kernel.as_deref(), initrd.as_deref(), cmdline.as_deref())?;
        validate::files::existing_file("kernel", changes.kernel.as_deref()).await?;
        validate::files::existing_file("initrd", changes.initrd.as_deref()).await?;

        let row = db(self.ctx.store.update_vm(self.info.id, &changes))
            .await?
            .ok_or_else(|| self.gone())?;
        let info = &mut self.info;
        info.cpu_count = row.cpu_count as u32;
        info.ram_mb = row.ram_mb as u64;
        info.description = row.description;
        info.display = changes.display.unwrap_or(info.display);
        info.cpu_model = row.cpu_model;
        info.stop_timeout_secs = row.stop_timeout_secs.map(|s| s as u32);
        info.restart_policy = changes.restart_policy.unwrap_or(info.restart_policy);
        info.max_restarts = row.max_restarts as u32;
        info.restart_window_secs = row.restart_window_secs as u32;
        info.autostart = row.autostart;
        info.kernel = row.kernel;
        info.initrd = row.initrd;
        info.cmdline = row.cmdline;
        info.updated_at = rows::timestamp(&row.updated_at);
        self.publish();
        Ok(self.info_reply())
    }

    pub(super) async fn delete(&mut self) -> Result<VmReply, WireError> {
        self.require_stopped("delete it")?;
        if !db(self.ctx.store.delete_vm(self.info.id)).await? {
            return Err(self.gone());
        }
        self.deleted = true;
        // The supervisor forgets the VM before the client hears back, so
        // whatever the client sends next cannot reach this actor.
        let _ = self
            .supervisor
            .cast(SupervisorMsg::Removed { id: self.info.id });
        let _ = tokio::fs::remove_dir_all(&self.ctx.paths(self.info.id).dir).await;
        Ok(VmReply::Response(Response::Deleted {
            id: self.info.id,
            name: self.info.name.clone(),
        }))
    }

    pub(super) async fn add_drive(&mut self, mut drive: DriveSpec) -> Result<VmReply, WireError> {
        self.require_stopped("change its drives")?;
        let disk_id = crate::disks::vm_link::drive_disk(&self.supervisor, &mut drive).await?;
        validate::drive(&drive)?;
        let row = db(self.ctx.store.insert_drive(self.info.id, &drive, disk_id)).await?;
        self.info
            .drives
            .push(rows::drive_info(row).map_err(storage)?);
        self.publish();
        Ok(self.info_reply())
    }

    pub(super) async fn remove_drive(&mut self, drive_id: i64) -> Result<VmReply, WireError> {
        self.require_stopped("change its drives")?;
        if !self.info.drives.iter().any(|device| device.id == drive_id) {
            return Err(self.no_such("drive", drive_id));
        }
        db(self.ctx.store.delete_drive(self.info.id, drive_id)).await?;
        self.info.drives.retain(|d| d.id != drive_id);
        self.publish();
        Ok(self.info_reply())
    }

    pub(super) async fn add_nic(&mut self, nic: NicSpec) -> Result<VmReply, WireError> {
        self.require_stopped("change its network interfaces")?;
        validate::nic(&nic)?;
        let given = nic
            .mac_address
            .as_deref()
            .map(validate::parse_mac)
            .transpose()?;
        let attempts = if given.is_some() { 1 } else { MAC_ATTEMPTS };
        for _ in 0..attempts {
            let mac = given.clone().unwrap_or_else(generated_mac);
            match db(self.ctx.store.insert_nic(self.info.id, &nic, &mac)).await {
                Ok(row) => {
                    self.info
                        .network_interfaces
                        .push(rows::nic_info(row).map_err(storage)?);
                    self.publish();
                    return Ok(self.info_reply());
                }
                Err(err) if err.duplicate() == Some(Duplicate::MacAddress) => {
                    if given.is_some() {
                        return Err(WireError::conflict(format!(
                            "MAC address {mac} is already used by another network interface; pick another or omit --mac to get a generated one"
                        )));
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(WireError::conflict(
            "could not find an unused MAC address; pass one with --mac",
        ))
    }

    pub(super) async fn remove_nic(&mut self, nic_id: i64) -> Result<VmReply, WireError> {
        self.require_stopped("change its network interfaces")?;
        if !self
            .info
            .network_interfaces
            .iter()
            .any(|device| device.id == nic_id)
        {
            return Err(self.no_such("network interface", nic_id));
        }
        db(self.ctx.store.delete_nic(self.info.id, nic_id)).await?;
        self.info.network_interfaces.retain(|n| n.id != nic_id);
        self.publish();
        Ok(self.info_reply())
    }

    pub(super) async fn add_share(&mut self, share: ShareSpec) -> Result<VmReply, WireError> {
        self.require_stopped("change its shared directories")?;
        validate::share(&share)?;
        if self.info.shared_dirs.iter().any(|s| s.tag == share.tag) {
            return Err(self.tag_taken(&share.tag));
        }
        validate::files::existing_dir(&share.path).await?;
        let row = match db(self.ctx.store.insert_share(self.info.id, &share)).await {
            Ok(row) => row,
            Err(err) if err.duplicate() == Some(Duplicate::ShareTag) => {
                return Err(self.tag_taken(&share.tag));
            }
            Err(err) => return Err(err.into()),
        };
        self.info
            .shared_dirs
            .push(rows::share_info(row).map_err(storage)?);
        self.publish();
        Ok(self.info_reply())
    }

    pub(super) async fn remove_share(&mut self, share_id: i64) -> Result<VmReply, WireError> {
        self.require_stopped("change its shared directories")?;
        if !self
            .info
            .shared_dirs
            .iter()
            .any(|device| device.id == share_id)
        {
            return Err(self.no_such("share", share_id));
        }
        db(self.ctx.store.delete_share(self.info.id, share_id)).await?;
        self.info.shared_dirs.retain(|s| s.id != share_id);
        self.publish();
        Ok(self.info_reply())
    }

    fn no_such(&self, kind: &str, id: i64) -> WireError {
        let name = self.name();
        WireError::not_found(format!(
            "VM '{name}' has no {kind} {id} (see `crv vm show {name}`)"
        ))
    }

    fn tag_taken(&self, tag: &str) -> WireError {
        WireError::conflict(format!(
            "VM '{}' already has a share tagged '{tag}'",
            self.name()
        ))
    }
}
