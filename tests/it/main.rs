//! End-to-end tests: one binary, a file per scenario, the shared harness in
//! `tests/harness`.

/// Runs a scenario `fn(Db)` once against SQLite and once against PostgreSQL.
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[test]
                fn sqlite() {
                    super::$scenario(harness::Db::Sqlite)
                }

                #[test]
                fn postgres() {
                    super::$scenario(harness::Db::Postgres)
                }
            }
        )*
    };
}

mod access;
mod adoption;
mod cli;
mod cloud;
mod cloud_guest;
mod core_races;
mod definition_events;
mod definitions;
mod devices;
mod disk_import;
mod disk_storage;
mod disk_vm;
mod disks;
mod durability;
mod events;
mod faults;
mod foundation;
mod handshake;
mod hardening;
mod hotplug;
mod hotplug_kinds;
mod lifecycle;
mod limits;
mod network_dhcp;
mod network_rights;
mod network_taps;
mod networks;
mod nodes;
mod paging;
mod protocol_faults;
mod remote_refusals;
mod remote_roles;
mod save;
mod signals;
mod snapshots;
mod stats;
mod storage;
mod supervision;
mod systemd;
mod terminal;
mod web;
