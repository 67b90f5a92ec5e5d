//! The `disk` table and `drive.disk_id` on SQLite and a real PostgreSQL:
//! unique names and paths, and the database itself refusing to delete a
//! disk that a drive or another disk still refers to.

use corvus_protocol::{
    DiskFormat, DisplayKind, DriveFormat, DriveInterface, DriveMedia, DriveSpec, RestartPolicy,
    VmSpec,
};
use corvus_storage::{Duplicate, NewDisk, Store};
use harness::postgres::Cluster;

fn disk(name: &str, backing: Option<i64>) -> NewDisk {
    NewDisk {
        name: name.into(),
        path: format!("/d/{name}.qcow2"),
        format: DiskFormat::Qcow2,
        virtual_size: 1 << 30,
        backing_disk_id: backing,
        managed: true,
    }
}

async fn suite(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let base = store.insert_disk(&disk("base", None)).await.unwrap();
    assert_eq!(
        (base.format.as_str(), base.virtual_size),
        ("qcow2", 1 << 30)
    );
    let top = store
        .insert_disk(&disk("top", Some(base.id)))
        .await
        .unwrap();
    let mut same_name = disk("base", None);
    same_name.path = "/d/elsewhere.qcow2".into();
    let err = store.insert_disk(&same_name).await.unwrap_err();
    assert_eq!(err.duplicate(), Some(Duplicate::DiskName), "{err:?}");
    let mut same_file = disk("other", None);
    same_file.path = base.path.clone();
    let err = store.insert_disk(&same_file).await.unwrap_err();
    assert_eq!(err.duplicate(), Some(Duplicate::DiskPath), "{err:?}");

    let vm = store
        .insert_vm(&VmSpec {
            name: "web".into(),
            cpu_count: 1,
            ram_mb: 256,
            description: None,
            display: DisplayKind::None,
            cpu_model: None,
            stop_timeout_secs: None,
            restart_policy: RestartPolicy::Never,
            max_restarts: None,
            restart_window_secs: None,
            autostart: false,
            kernel: None,
            initrd: None,
            cmdline: None,
            guest_agent: None,
            cloud_init: None,
            forwards: Vec::new(),
            hotplug_slots: None,
            node: None,
            ha: false,
        })
        .await
        .unwrap();
    let drive = DriveSpec {
        file_path: top.path.clone(),
        interface: DriveInterface::Virtio,
        format: DriveFormat::Qcow2,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk: None,
    };
    let row = store
        .insert_drive(vm.vm.id, &drive, Some(top.id))
        .await
        .unwrap();
    assert_eq!(row.disk_id, Some(top.id));
    let loaded = store.load_vm(vm.vm.id).await.unwrap().unwrap();
    assert_eq!(loaded.drives[0].disk_id, Some(top.id));

    // Referenced by a drive, or backing another disk: the database refuses.
    let err = store.delete_disk(top.id).await.unwrap_err();
    assert!(err.referenced(), "{err:?}");
    let err = store.delete_disk(base.id).await.unwrap_err();
    assert!(err.referenced(), "{err:?}");
    // A drive on a disk that does not exist is refused too.
    let err = store
        .insert_drive(vm.vm.id, &drive, Some(9999))
        .await
        .unwrap_err();
    assert!(err.referenced(), "{err:?}");

    store.set_disk_size(top.id, 2 << 30).await.unwrap();
    assert!(store.delete_vm(vm.vm.id).await.unwrap());
    assert!(store.delete_disk(top.id).await.unwrap());
    assert!(store.delete_disk(base.id).await.unwrap());
    assert!(!store.delete_disk(base.id).await.unwrap());
    assert!(store.load_disks().await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    suite(&format!(
        "sqlite://{}",
        dir.path().join("corvus.db").display()
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
