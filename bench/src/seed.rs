//! VM definitions written straight into a database before a daemon starts
//! on it: thousands of rows in seconds where as many `vm create` requests
//! would take minutes. The rows are what `crv vm create` would store.

use anyhow::Context as _;
use corvus_protocol::{DisplayKind, RestartPolicy, VmSpec};
use corvus_storage::Store;
use futures::{StreamExt, TryStreamExt};

/// `crv vm create NAME --cpus 1 --ram 64 --display none --cpu-model qemu64`.
pub fn spec(name: &str) -> VmSpec {
    VmSpec {
        name: name.to_owned(),
        cpu_count: 1,
        ram_mb: 64,
        description: None,
        display: DisplayKind::None,
        cpu_model: Some("qemu64".into()),
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
    }
}

/// Migrates the database at `url` and inserts `count` VMs named `{prefix}{n}`.
pub async fn seed(url: &str, prefix: &str, count: usize) -> anyhow::Result<()> {
    let store = Store::connect(url)
        .await
        .context("Cannot open the database to seed")?;
    store
        .migrate()
        .await
        .context("Cannot migrate the database")?;
    futures::stream::iter(0..count)
        .map(|n| {
            let store = &store;
            async move {
                store
                    .insert_vm(&spec(&format!("{prefix}{n:05}")))
                    .await
                    .with_context(|| format!("Cannot insert VM {n}"))
            }
        })
        .buffer_unordered(8)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    store.close().await;
    Ok(())
}
