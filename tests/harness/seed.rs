//! Rows written straight into a test daemon's database, for scenarios that
//! need more of them than requests could create in reasonable time
//! (thousands of VMs, hundreds of thousands of events). Write only while
//! the daemon is stopped, or rows it does not know about (events above the
//! sequence numbers it hands out).

use crate::daemon::Daemon;
use corvus_protocol::{DisplayKind, RestartPolicy, VmSpec};
use corvus_storage::Store;
use futures::{StreamExt, TryStreamExt};
use sea_orm::ConnectionTrait;

impl Daemon {
    fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite")
    }

    /// Runs `work` on a store of this daemon's database, on a thread of its
    /// own (so that async tests may call it too).
    pub fn with_store<T: Send + 'static>(
        &self,
        work: impl AsyncFnOnce(&Store) -> T + Send + 'static,
    ) -> T {
        let url = self.database_url.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let store = Store::connect(&url)
                    .await
                    .expect("connect to the test database");
                store.migrate().await.expect("migrate the test database");
                let result = work(&store).await;
                store.close().await;
                result
            })
        })
        .join()
        .expect("the database work panicked")
    }

    /// Executes SQL on the database.
    #[track_caller]
    pub fn execute_sql(&self, sql: String) {
        self.with_store(async move |store| {
            store
                .connection()
                .execute_unprepared(&sql)
                .await
                .unwrap_or_else(|err| panic!("{err}: {sql}"));
        });
    }

    /// `count` stopped VMs named `{prefix}{n:05}`, each with `description`.
    pub fn seed_vms(&self, prefix: &str, count: usize, description: &str) {
        let prefix = prefix.to_owned();
        let description = description.to_owned();
        self.with_store(async move |store| {
            futures::stream::iter(0..count)
                .map(|n| {
                    let spec = VmSpec {
                        name: format!("{prefix}{n:05}"),
                        cpu_count: 1,
                        ram_mb: 64,
                        description: Some(description.clone()),
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
                    };
                    async move { store.insert_vm(&spec).await.map(|_| ()) }
                })
                .buffer_unordered(8)
                .try_collect::<()>()
                .await
                .expect("seed VMs");
        });
    }

    /// `count` events of VM `vm_id` (stopped → running, reason `seeded N`,
    /// caused by the daemon) with seqs `first_seq`, `first_seq + 1`, …
    /// Stored events already numbered in that range (the VMs' `defined`
    /// events, say) give way: seqs are unique.
    pub fn seed_events(&self, vm_id: i64, first_seq: u64, count: u64) {
        let last_seq = first_seq + count.saturating_sub(1);
        self.execute_sql(format!(
            "DELETE FROM vm_event WHERE seq BETWEEN {first_seq} AND {last_seq}"
        ));
        let columns = "vm_event (vm_id, seq, at, from_status, to_status, reason, cause)";
        let values = format!(
            "{vm_id}, {first_seq} + i - 1, {}, 'stopped', 'running', 'seeded ' || i, '\"daemon\"'",
            self.timestamp()
        );
        self.execute_sql(self.insert_series(columns, &values, count));
    }

    /// `count` drives of VM `vm_id`, each with a path of `path_len` bytes.
    pub fn seed_drives(&self, vm_id: i64, count: u64, path_len: usize) {
        let columns =
            "drive (vm_id, interface, file_path, format, media, read_only, cache, discard)";
        let padding = "d".repeat(path_len.saturating_sub(12));
        let values =
            format!("{vm_id}, 'virtio', '/{padding}/' || i, 'raw', 'disk', false, NULL, false");
        self.execute_sql(self.insert_series(columns, &values, count));
    }

    fn timestamp(&self) -> &'static str {
        if self.is_sqlite() {
            "'2026-01-01T00:00:00+00:00'"
        } else {
            "TIMESTAMPTZ '2026-01-01 00:00:00+00'"
        }
    }

    /// `INSERT INTO {into} SELECT {values}` once for each `i` in 1..=count.
    fn insert_series(&self, into: &str, values: &str, count: u64) -> String {
        if self.is_sqlite() {
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
                 INSERT INTO {into} SELECT {values} FROM n"
            )
        } else {
            format!("INSERT INTO {into} SELECT {values} FROM generate_series(1, {count}) AS i")
        }
    }
}
