//! Which survivor runs a lost node's HA VM (issue 19): every survivor
//! decides for itself, in its takeover transaction, from the node rows it
//! reads there; the VM's row lock makes sure only one of those that decide
//! to take it does.
//!
//! A survivor with room for the VM's RAM takes it. One without room leaves
//! it to a survivor that has room. When none has room, the one with the
//! most free RAM (ties: by name) takes it anyway, as placement would: an
//! HA VM is better run squeezed than not at all. Cordoned nodes take a VM
//! only when every survivor is cordoned.

use super::nodes::NodeRow;
use std::time::Duration;

/// A node that may run a lost node's VM, with what it has left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Survivor {
    pub name: String,
    pub free_ram_mib: i64,
    pub cordoned: bool,
}

/// The survivors among `rows`: live nodes other than `dead`. `me` counts
/// as live whatever its row says, since it proved its lock to get here.
pub(crate) fn survivors(
    rows: &[NodeRow],
    me: &str,
    dead: &str,
    timeout: Duration,
) -> Vec<Survivor> {
    rows.iter()
        .filter(|row| row.name != dead && (row.name == me || row.live(timeout)))
        .map(|row| Survivor {
            name: row.name.clone(),
            free_ram_mib: row.free_ram_mib(),
            cordoned: row.cordoned,
        })
        .collect()
}

/// Whether `me` should take a lost VM needing `ram_mib`, as `survivors`
/// (which includes `me`) stand now.
pub(crate) fn should_take(survivors: &[Survivor], me: &str, ram_mib: i64) -> bool {
    let any_uncordoned = survivors.iter().any(|node| !node.cordoned);
    let eligible: Vec<&Survivor> = survivors
        .iter()
        .filter(|node| !node.cordoned || !any_uncordoned)
        .collect();
    let Some(mine) = eligible.iter().find(|node| node.name == me) else {
        return false;
    };
    if mine.free_ram_mib >= ram_mib {
        return true;
    }
    if eligible.iter().any(|node| node.free_ram_mib >= ram_mib) {
        return false;
    }
    eligible
        .iter()
        .max_by(|a, b| {
            a.free_ram_mib
                .cmp(&b.free_ram_mib)
                .then_with(|| b.name.cmp(&a.name))
        })
        .is_some_and(|best| best.name == me)
}

/// Counts a VM `me` took against its free RAM, for the next decision in
/// the same transaction (the taken VM has no QEMU yet, so its row does not
/// count it).
pub(crate) fn charge(survivors: &mut [Survivor], me: &str, ram_mib: i64) {
    if let Some(mine) = survivors.iter_mut().find(|node| node.name == me) {
        mine.free_ram_mib = mine.free_ram_mib.saturating_sub(ram_mib);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, free: i64, cordoned: bool) -> Survivor {
        Survivor {
            name: name.to_owned(),
            free_ram_mib: free,
            cordoned,
        }
    }

    #[test]
    fn who_takes_a_lost_vm() {
        // (survivors, me, VM RAM, takes)
        let rows: &[(&[Survivor], &str, i64, bool)] = &[
            // Room here: take it, whoever else has room.
            (
                &[node("b", 512, false), node("c", 4096, false)],
                "b",
                512,
                true,
            ),
            // No room here but c has some: leave it to c.
            (
                &[node("b", 256, false), node("c", 4096, false)],
                "b",
                512,
                false,
            ),
            (
                &[node("b", 256, false), node("c", 4096, false)],
                "c",
                512,
                true,
            ),
            // Nobody has room: the freest takes it, ties by name.
            (
                &[node("b", 256, false), node("c", 300, false)],
                "b",
                512,
                false,
            ),
            (
                &[node("b", 256, false), node("c", 300, false)],
                "c",
                512,
                true,
            ),
            (
                &[node("b", 300, false), node("c", 300, false)],
                "b",
                512,
                true,
            ),
            (
                &[node("b", 300, false), node("c", 300, false)],
                "c",
                512,
                false,
            ),
            // A cordoned node leaves it to uncordoned ones, even roomier.
            (
                &[node("b", 8192, true), node("c", 100, false)],
                "b",
                512,
                false,
            ),
            (
                &[node("b", 8192, true), node("c", 100, false)],
                "c",
                512,
                true,
            ),
            // Everyone cordoned: the rules apply among them.
            (
                &[node("b", 8192, true), node("c", 100, true)],
                "b",
                512,
                true,
            ),
            (
                &[node("b", 8192, true), node("c", 100, true)],
                "c",
                512,
                false,
            ),
            // Not a survivor (not in the list): never.
            (&[node("c", 8192, false)], "b", 512, false),
        ];
        for (survivors, me, ram, takes) in rows {
            assert_eq!(
                should_take(survivors, me, *ram),
                *takes,
                "{me} for {ram} MiB among {survivors:?}"
            );
        }
    }

    #[test]
    fn a_taken_vm_counts_against_the_taker_at_once() {
        let mut survivors = vec![node("b", 1024, false), node("c", 1024, false)];
        assert!(should_take(&survivors, "b", 768));
        charge(&mut survivors, "b", 768);
        assert!(!should_take(&survivors, "b", 768), "c has room, b no more");
        assert!(should_take(&survivors, "c", 768));
    }

    fn row(name: &str, locked: bool, age_secs: u64) -> NodeRow {
        NodeRow {
            name: name.to_owned(),
            address: None,
            cpus: 1,
            ram_mib: 1024,
            locked,
            heartbeat_age: Duration::from_secs(age_secs),
            vm_count: 0,
            used_ram_mib: 0,
            cordoned: false,
        }
    }

    #[test]
    fn survivors_are_live_nodes_but_the_dead_one_and_always_me() {
        let rows = [
            row("a", false, 60),
            row("b", true, 1),
            row("c", false, 1),
            row("d", true, 60),
        ];
        let names = |me: &str| -> Vec<String> {
            survivors(&rows, me, "a", Duration::from_secs(30))
                .into_iter()
                .map(|node| node.name)
                .collect()
        };
        assert_eq!(names("b"), ["b"]);
        assert_eq!(names("d"), ["b", "d"], "me though its row looks stale");
    }
}
