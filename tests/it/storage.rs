//! The storage layer, the same suite on SQLite and on a real PostgreSQL.

use corvus_protocol::{
    DisplayKind, DriveFormat, DriveInterface, DriveMedia, DriveSpec, EventCause, NicSpec, NicType,
    RestartPolicy, RuntimePaths, ShareCache, ShareSpec, VmChanges, VmEvent, VmSpec, VmState,
};
use corvus_storage::{Duplicate, StateRecord, Store};
use harness::postgres::Cluster;

fn spec(name: &str) -> VmSpec {
    VmSpec {
        name: name.into(),
        cpu_count: 2,
        ram_mb: 512,
        description: Some("a test VM".into()),
        display: DisplayKind::None,
        cpu_model: None,
        stop_timeout_secs: Some(10),
        restart_policy: RestartPolicy::OnFailure,
        max_restarts: None,
        restart_window_secs: None,
        autostart: true,
        kernel: None,
        initrd: None,
        cmdline: None,
        guest_agent: None,
        cloud_init: None,
        forwards: Vec::new(),
        hotplug_slots: None,
        node: None,
        ha: false,
    }
}

fn runtime() -> RuntimePaths {
    RuntimePaths {
        dir: "/r".into(),
        qmp: "/r/q".into(),
        monitor: "/r/m".into(),
        spice: "/r/s".into(),
        serial: "/r/c".into(),
        serial_log: "/r/l".into(),
    }
}

fn event(seq: u64, vm_id: i64, from: VmState, to: VmState) -> VmEvent {
    VmEvent {
        seq,
        at: "2026-11-26T10:00:00.000Z".into(),
        vm_id,
        vm_name: String::new(),
        from,
        to,
        reason: format!("step {seq}"),
        cause: EventCause::Operator {
            connection: 7,
            command: "vm start".into(),
            client: "alice".into(),
        },
        kind: corvus_protocol::EventKind::State,
    }
}

async fn suite(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrations are idempotent");

    // Insert and read back, with defaults filled in.
    let web = store.insert_vm(&spec("web")).await.unwrap();
    assert_eq!(web.vm.status, "stopped");
    assert_eq!((web.vm.max_restarts, web.vm.restart_window_secs), (5, 60));
    let db = store.insert_vm(&spec("db")).await.unwrap();
    assert!(db.vm.id > web.vm.id);

    // Unique name.
    let err = store.insert_vm(&spec("web")).await.unwrap_err();
    assert_eq!(err.duplicate(), Some(Duplicate::VmName), "{err:?}");

    // Devices, a unique MAC across VMs, a unique tag per VM.
    let drive = DriveSpec {
        file_path: "/var/lib/images/a, b.qcow2".into(),
        interface: DriveInterface::Nvme,
        format: DriveFormat::Qcow2,
        media: DriveMedia::Disk,
        read_only: true,
        cache: Some(corvus_protocol::CacheMode::None),
        discard: true,
        disk: None,
    };
    store.insert_drive(web.vm.id, &drive, None).await.unwrap();
    let nic = NicSpec {
        nic_type: NicType::User,
        host_device: None,
        mac_address: None,
        forwards: Vec::new(),
        network: None,
        ip_address: None,
    };
    store
        .insert_nic(web.vm.id, &nic, "52:54:00:00:00:01", None)
        .await
        .unwrap();
    let err = store
        .insert_nic(db.vm.id, &nic, "52:54:00:00:00:01", None)
        .await
        .unwrap_err();
    assert_eq!(err.duplicate(), Some(Duplicate::MacAddress), "{err:?}");
    let share = ShareSpec {
        path: "/srv".into(),
        tag: "srv".into(),
        cache: ShareCache::Never,
        read_only: true,
    };
    let share_row = store.insert_share(web.vm.id, &share).await.unwrap();
    let err = store.insert_share(web.vm.id, &share).await.unwrap_err();
    assert_eq!(err.duplicate(), Some(Duplicate::ShareTag), "{err:?}");
    store
        .insert_share(db.vm.id, &share)
        .await
        .expect("the same tag on another VM is fine");

    reserved_ids_are_never_handed_out_again(&store, web.vm.id).await;

    // Loading groups children under their VM, in id order.
    let all = store.load_vms().await.unwrap();
    assert_eq!(
        all.iter().map(|v| v.vm.name.as_str()).collect::<Vec<_>>(),
        ["web", "db"]
    );
    let info = all[0].clone().into_info(runtime()).unwrap();
    assert_eq!(info.drives[0].file_path, "/var/lib/images/a, b.qcow2");
    assert_eq!(info.drives[0].interface, DriveInterface::Nvme);
    assert_eq!(info.network_interfaces[0].mac_address, "52:54:00:00:00:01");
    assert_eq!(info.shared_dirs[0].cache, ShareCache::Never);
    assert_eq!(all[1].shares.len(), 1);

    // Edits change only what they name; "" clears optional text.
    let edited = store
        .update_vm(
            web.vm.id,
            &VmChanges {
                cpu_count: Some(4),
                description: Some(String::new()),
                ..VmChanges::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (edited.cpu_count, edited.ram_mb, edited.description.clone()),
        (4, 512, None)
    );

    // State changes with their history, atomically.
    let mut record = StateRecord {
        vm_id: web.vm.id,
        status: VmState::Running,
        pid: Some(4242),
        last_error: None,
        share_pids: vec![(share_row.id, Some(4343))],
        event: Some(event(1, web.vm.id, VmState::Starting, VmState::Running)),
    };
    store.record_state(&record).await.unwrap();
    record.status = VmState::Error;
    record.pid = None;
    record.last_error = Some("QEMU killed by signal 9".into());
    record.share_pids = vec![(share_row.id, None)];
    record.event = Some(event(2, web.vm.id, VmState::Running, VmState::Error));
    store.record_state(&record).await.unwrap();
    let reloaded = store.load_vm(web.vm.id).await.unwrap().unwrap();
    assert_eq!(reloaded.vm.status, "error");
    assert_eq!(reloaded.vm.pid, None);
    assert_eq!(
        reloaded.vm.last_error.as_deref(),
        Some("QEMU killed by signal 9")
    );
    assert_eq!(reloaded.shares[0].pid, None);
    store
        .record_state(&StateRecord {
            event: Some(event(3, db.vm.id, VmState::Stopped, VmState::Starting)),
            vm_id: db.vm.id,
            ..record.clone()
        })
        .await
        .unwrap();

    // A journal replayed after a crash writes a record a second time: same
    // columns, and the stored event stays as it was.
    store.record_state(&record).await.unwrap();
    assert_eq!(store.history(web.vm.id, None).await.unwrap().len(), 2);

    assert_eq!(store.max_event_seq().await.unwrap(), 3);
    let history = store.history(web.vm.id, None).await.unwrap();
    assert_eq!(history.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(history[0].vm_name, "web");
    assert_eq!(
        history[0].cause,
        EventCause::Operator {
            connection: 7,
            command: "vm start".into(),
            client: "alice".into(),
        }
    );
    assert_eq!(
        store.history(web.vm.id, Some(1)).await.unwrap()[0].seq,
        2,
        "the latest, oldest first"
    );
    let after = store.events_between(1, None, &[]).await.unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    let only_db = store.events_between(0, Some(3), &[db.vm.id]).await.unwrap();
    assert!(only_db.is_empty(), "seq 3 is excluded by `before`");
    // Past what an i64 column holds: nothing is stored after it.
    assert!(
        store
            .events_between(u64::MAX, None, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .events_between(0, Some(u64::MAX), &[])
            .await
            .unwrap()
            .len(),
        3
    );

    // Deleting a VM takes its devices and history with it.
    assert!(store.delete_vm(web.vm.id).await.unwrap());
    assert!(store.load_vm(web.vm.id).await.unwrap().is_none());
    assert!(store.history(web.vm.id, None).await.unwrap().is_empty());
    store
        .insert_nic(db.vm.id, &nic, "52:54:00:00:00:01", None)
        .await
        .expect("the deleted VM's MAC is free again");
    assert!(
        !store.delete_vm(web.vm.id).await.unwrap(),
        "a second delete finds nothing"
    );

    // A state change for a VM deleted meanwhile is not an error.
    store.record_state(&record).await.unwrap();

    // Ids are never reused, so runtime directories and process markers stay unambiguous.
    let again = store.insert_vm(&spec("web")).await.unwrap();
    assert!(again.vm.id > db.vm.id);

    // Revoked certificates, by serial; revoking one twice changes nothing.
    assert!(store.revoked_serials().await.unwrap().is_empty());
    let serials = ["0a1b".to_owned(), "ff00".to_owned()];
    assert_eq!(
        store.revoke_certificates("alice", &serials).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .revoke_certificates("alice", &serials[..1])
            .await
            .unwrap(),
        0
    );
    let mut revoked = store.revoked_serials().await.unwrap();
    revoked.sort();
    assert_eq!(revoked, serials);
    assert!(store.is_revoked("ff00").await.unwrap());
    assert!(!store.is_revoked("0a1c").await.unwrap());
    store.close().await;
}

/// A live attach names the device after an id taken before its row
/// exists (issue 16): the id is the table's next, no insert reuses it, and
/// the row can be written with it afterwards.
async fn reserved_ids_are_never_handed_out_again(store: &Store, vm_id: i64) {
    use corvus_storage::DeviceTable;
    let drive = DriveSpec {
        file_path: "/img/live.raw".into(),
        interface: DriveInterface::Virtio,
        format: DriveFormat::Raw,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk: None,
    };
    let before = store.insert_drive(vm_id, &drive, None).await.unwrap().id;
    let reserved = store.reserve_id(DeviceTable::Drive).await.unwrap();
    let second = store.reserve_id(DeviceTable::Drive).await.unwrap();
    assert!(
        reserved > before && second > reserved,
        "{before} {reserved} {second}"
    );
    let after = store.insert_drive(vm_id, &drive, None).await.unwrap().id;
    assert!(after > second, "an insert after reservations: {after}");
    let row = store
        .insert_drive_as(Some(reserved), vm_id, &drive, None)
        .await
        .unwrap();
    assert_eq!(row.id, reserved);
    let nic_id = store
        .reserve_id(DeviceTable::NetworkInterface)
        .await
        .unwrap();
    let nic = NicSpec {
        nic_type: NicType::User,
        host_device: None,
        mac_address: None,
        forwards: Vec::new(),
        network: None,
        ip_address: None,
    };
    let row = store
        .insert_nic_as(Some(nic_id), vm_id, &nic, "52:54:00:00:00:77", None)
        .await
        .unwrap();
    assert_eq!(row.id, nic_id);
    for id in [before, after, reserved] {
        assert!(store.delete_drive(vm_id, id).await.unwrap());
    }
    assert!(store.delete_nic(vm_id, nic_id).await.unwrap());
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    suite(&format!(
        "sqlite://{}",
        dir.path().join("nested/dir/corvus.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    suite(&cluster.create_database()).await;
}

#[tokio::test]
async fn an_unreachable_database_is_reported_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgresql://postgres@localhost/none?host={}",
        dir.path().display()
    );
    let err = Store::connect(&url)
        .await
        .err()
        .expect("nothing listens there");
    assert!(err.is_unavailable(), "{err:?}");
}
