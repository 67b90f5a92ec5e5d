use crate::Store;
use crate::entity::{
    cloud_init, deleted_vm_event, drive, network_interface, shared_dir, vm, vm_event,
};
use crate::error::{StorageError, query};
use crate::queries::cloud::{NewVmExtras, insert_with};
use crate::rows::StoredVm;
use crate::transaction::finish;
use chrono::Utc;
use corvus_protocol::{VmChanges, VmSpec, VmState};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use std::collections::HashMap;

/// Empty text clears an optional field; anything else replaces it.
fn text_change(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn group<T>(rows: Vec<T>, vm_id: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut grouped: HashMap<i64, Vec<T>> = HashMap::new();
    for row in rows {
        grouped.entry(vm_id(&row)).or_default().push(row);
    }
    grouped
}

impl Store {
    /// Every VM with its devices, in id order. Four queries whatever the count.
    pub async fn load_vms(&self) -> Result<Vec<StoredVm>, StorageError> {
        let db = &self.db;
        let vms = vm::Entity::find()
            .order_by_asc(vm::Column::Id)
            .all(db)
            .await
            .map_err(query)?;
        let mut drives = group(
            drive::Entity::find()
                .order_by_asc(drive::Column::Id)
                .all(db)
                .await
                .map_err(query)?,
            |d| d.vm_id,
        );
        let mut nics = group(
            network_interface::Entity::find()
                .order_by_asc(network_interface::Column::Id)
                .all(db)
                .await
                .map_err(query)?,
            |n| n.vm_id,
        );
        let mut shares = group(
            shared_dir::Entity::find()
                .order_by_asc(shared_dir::Column::Id)
                .all(db)
                .await
                .map_err(query)?,
            |s| s.vm_id,
        );
        let mut clouds: HashMap<i64, cloud_init::Model> = cloud_init::Entity::find()
            .all(db)
            .await
            .map_err(query)?
            .into_iter()
            .map(|row| (row.vm_id, row))
            .collect();
        Ok(vms
            .into_iter()
            .map(|vm| StoredVm {
                drives: drives.remove(&vm.id).unwrap_or_default(),
                nics: nics.remove(&vm.id).unwrap_or_default(),
                shares: shares.remove(&vm.id).unwrap_or_default(),
                cloud_init: clouds.remove(&vm.id),
                vm,
            })
            .collect())
    }

    pub async fn load_vm(&self, id: i64) -> Result<Option<StoredVm>, StorageError> {
        let db = &self.db;
        let Some(vm) = vm::Entity::find_by_id(id).one(db).await.map_err(query)? else {
            return Ok(None);
        };
        let drives = drive::Entity::find()
            .filter(drive::Column::VmId.eq(id))
            .order_by_asc(drive::Column::Id)
            .all(db)
            .await
            .map_err(query)?;
        let nics = network_interface::Entity::find()
            .filter(network_interface::Column::VmId.eq(id))
            .order_by_asc(network_interface::Column::Id)
            .all(db)
            .await
            .map_err(query)?;
        let shares = shared_dir::Entity::find()
            .filter(shared_dir::Column::VmId.eq(id))
            .order_by_asc(shared_dir::Column::Id)
            .all(db)
            .await
            .map_err(query)?;
        let cloud_init = cloud_init::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(query)?;
        Ok(Some(StoredVm {
            vm,
            drives,
            nics,
            shares,
            cloud_init,
        }))
    }

    /// Inserts a validated definition; a duplicate name comes back as a
    /// unique violation (see `StorageError::duplicate`).
    pub async fn insert_vm(&self, spec: &VmSpec) -> Result<StoredVm, StorageError> {
        self.insert_vm_with(spec, &NewVmExtras::default()).await
    }

    /// Inserts a definition with what comes with it in the same
    /// transaction: its cloud-init configuration and a user NIC for
    /// `--forward` (with the MAC the caller chose).
    pub async fn insert_vm_with(
        &self,
        spec: &VmSpec,
        extras: &NewVmExtras,
    ) -> Result<StoredVm, StorageError> {
        let now = Utc::now();
        let row = vm::ActiveModel {
            name: Set(spec.name.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            status: Set(VmState::Stopped.as_str().to_owned()),
            cpu_count: Set(spec.cpu_count as i32),
            ram_mb: Set(spec.ram_mb as i64),
            description: Set(spec.description.clone()),
            pid: Set(None),
            restart_policy: Set(spec.restart_policy.as_str().to_owned()),
            max_restarts: Set(spec.max_restarts.unwrap_or(5) as i32),
            restart_window_secs: Set(spec.restart_window_secs.unwrap_or(60) as i32),
            stop_timeout_secs: Set(spec.stop_timeout_secs.map(|s| s as i32)),
            autostart: Set(spec.autostart),
            display: Set(spec.display.as_str().to_owned()),
            cpu_model: Set(spec.cpu_model.clone()),
            kernel: Set(spec.kernel.clone()),
            initrd: Set(spec.initrd.clone()),
            cmdline: Set(spec.cmdline.clone()),
            last_error: Set(None),
            guest_agent: Set(spec.guest_agent.unwrap_or(spec.cloud_init.is_some())),
            hotplug_slots: Set(spec
                .hotplug_slots
                .unwrap_or(corvus_protocol::DEFAULT_HOTPLUG_SLOTS)
                as i32),
            node: Set(spec.node.clone()),
            ha: Set(spec.ha),
            ..Default::default()
        };
        let tx = self.begin_write().await?;
        let inserted = insert_with(&tx, row, spec, extras).await;
        let (vm, nics, cloud_init) = finish(tx, inserted).await?;
        Ok(StoredVm {
            vm,
            drives: Vec::new(),
            nics,
            shares: Vec::new(),
            cloud_init,
        })
    }

    /// Applies an edit and returns the updated row.
    pub async fn update_vm(
        &self,
        id: i64,
        changes: &VmChanges,
    ) -> Result<Option<vm::Model>, StorageError> {
        let tx = self.begin_write().await?;
        let updated = update_in(&tx, id, changes).await;
        finish(tx, updated).await
    }

    /// Deletes a VM; its drives, NICs and shares go with it, its events
    /// move to `deleted_vm_event` (so that replays still deliver them).
    pub async fn delete_vm(&self, id: i64) -> Result<bool, StorageError> {
        let tx = self.begin_write().await?;
        let deleted = delete_in(&tx, id).await;
        finish(tx, deleted).await
    }
}

async fn delete_in(tx: &DatabaseTransaction, id: i64) -> Result<bool, StorageError> {
    keep_events_of(tx, id).await?;
    vm::Entity::delete_by_id(id)
        .exec(tx)
        .await
        .map(|result| result.rows_affected > 0)
        .map_err(query)
}

/// Copies a VM's events, with its name, to `deleted_vm_event` before its
/// `vm_event` rows cascade away with it.
async fn keep_events_of(tx: &DatabaseTransaction, id: i64) -> Result<(), StorageError> {
    use deleted_vm_event::Column as To;
    use vm_event::Column as From;
    let event = |column: From| Expr::col((vm_event::Entity, column));
    let select = Query::select()
        .expr(event(From::VmId))
        .expr(Expr::col((vm::Entity, vm::Column::Name)))
        .expr(event(From::Seq))
        .expr(event(From::At))
        .expr(event(From::FromStatus))
        .expr(event(From::ToStatus))
        .expr(event(From::Reason))
        .expr(event(From::Cause))
        .expr(event(From::Kind))
        .from(vm_event::Entity)
        .inner_join(
            vm::Entity,
            Expr::col((vm::Entity, vm::Column::Id)).equals((vm_event::Entity, From::VmId)),
        )
        .and_where(event(From::VmId).eq(id))
        .to_owned();
    let mut insert = Query::insert();
    insert.into_table(deleted_vm_event::Entity).columns([
        To::VmId,
        To::VmName,
        To::Seq,
        To::At,
        To::FromStatus,
        To::ToStatus,
        To::Reason,
        To::Cause,
        To::Kind,
    ]);
    insert
        .select_from(select)
        .map_err(|err| query(DbErr::Custom(err.to_string())))?;
    tx.execute(&insert).await.map_err(query)?;
    Ok(())
}

async fn update_in(
    tx: &DatabaseTransaction,
    id: i64,
    changes: &VmChanges,
) -> Result<Option<vm::Model>, StorageError> {
    let Some(current) = vm::Entity::find_by_id(id).one(tx).await.map_err(query)? else {
        return Ok(None);
    };
    let mut row = current.into_active_model();
    if let Some(cpus) = changes.cpu_count {
        row.cpu_count = Set(cpus as i32);
    }
    if let Some(ram) = changes.ram_mb {
        row.ram_mb = Set(ram as i64);
    }
    if let Some(text) = &changes.description {
        row.description = Set(text_change(text));
    }
    if let Some(display) = changes.display {
        row.display = Set(display.as_str().to_owned());
    }
    if let Some(text) = &changes.cpu_model {
        row.cpu_model = Set(text_change(text));
    }
    if let Some(secs) = changes.stop_timeout_secs {
        row.stop_timeout_secs = Set(Some(secs as i32));
    }
    if let Some(policy) = changes.restart_policy {
        row.restart_policy = Set(policy.as_str().to_owned());
    }
    if let Some(max) = changes.max_restarts {
        row.max_restarts = Set(max as i32);
    }
    if let Some(window) = changes.restart_window_secs {
        row.restart_window_secs = Set(window as i32);
    }
    if let Some(autostart) = changes.autostart {
        row.autostart = Set(autostart);
    }
    if let Some(text) = &changes.kernel {
        row.kernel = Set(text_change(text));
    }
    if let Some(text) = &changes.initrd {
        row.initrd = Set(text_change(text));
    }
    if let Some(text) = &changes.cmdline {
        row.cmdline = Set(text_change(text));
    }
    if let Some(slots) = changes.hotplug_slots {
        row.hotplug_slots = Set(slots as i32);
    }
    if let Some(agent) = changes.guest_agent {
        row.guest_agent = Set(agent);
    }
    if let Some(ha) = changes.ha {
        row.ha = Set(ha);
    }
    row.updated_at = Set(Utc::now());
    row.update(tx).await.map(Some).map_err(query)
}
