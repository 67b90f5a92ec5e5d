//! One sea-orm entity per table (DESIGN §7).

pub mod cloud_init;
pub mod daemon_lock;
pub mod deleted_vm_event;
pub mod disk;
pub mod drive;
pub mod network;
pub mod network_event;
pub mod network_interface;
pub mod node;
pub mod shared_dir;
pub mod tls_revocation;
pub mod vm;
pub mod vm_event;
pub mod vm_snapshot;
pub mod web_session;
