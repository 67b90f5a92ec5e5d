//! Liveness needs the heartbeat too: a node whose heartbeats the database
//! refuses is dead though its lock is held.

use super::*;

/// Runs `statement` on the database at `url`.
pub(super) fn on_database(url: &str, statement: &str) {
    use sea_orm::{ConnectionTrait, Database};
    let (url, statement) = (url.to_owned(), statement.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let db = Database::connect(url).await.expect("connect");
            db.execute_unprepared(&statement)
                .await
                .unwrap_or_else(|err| panic!("{statement}: {err}"));
            db.close().await.ok();
        });
    })
    .join()
    .expect("statement thread");
}

/// A node whose heartbeat the database refuses is dead once it is older
/// than the node timeout, though its daemon still holds its lock; the
/// daemon keeps its lock (no second session fighting for it) and comes
/// back live as soon as its heartbeats are taken again.
#[test]
fn a_node_without_heartbeats_is_dead_though_its_lock_is_held() {
    let Some((a, b)) = two_nodes() else {
        return;
    };
    let stale = Instant::now();
    on_database(
        &a.database_url,
        "ALTER TABLE node ADD CONSTRAINT frozen_a CHECK (name <> 'a' OR heartbeat < now() - interval '1 hour') NOT VALID",
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            node_state(&b, "a").as_deref() == Some("dead")
        }),
        "{:?}",
        nodes(&b)
    );
    assert!(
        stale.elapsed() >= Duration::from_secs(3),
        "dead by its heartbeat's age"
    );
    assert_eq!(node_state(&b, "b").as_deref(), Some("live"));
    let log = a.log();
    assert!(log.contains("refuses this node's heartbeat"), "{log}");
    assert!(!log.contains("another corvus took"), "{log}");

    on_database(&a.database_url, "ALTER TABLE node DROP CONSTRAINT frozen_a");
    assert!(wait_until(Duration::from_secs(10), || {
        node_state(&b, "a").as_deref() == Some("live")
    }));
}
