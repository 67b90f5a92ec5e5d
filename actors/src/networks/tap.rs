//! The tap of a VM's NIC on a managed network: made persistent through
//! /dev/net/tun (the kernel makes taps only that way, not over netlink),
//! put on the network's bridge and up over netlink, and removed when the
//! boot is over. A tap is Corvus's when its alias names the NIC
//! (`corvus-nic:ID`); one of that name without the alias is left alone.

use super::bridge::{self, BridgeError};
use nix::libc;
use rtnetlink::LinkUnspec;
use std::os::fd::AsRawFd;

nix::ioctl_write_ptr_bad!(tun_set_iff, libc::TUNSETIFF, libc::ifreq);
nix::ioctl_write_int_bad!(tun_set_persist, libc::TUNSETPERSIST);

#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("cannot open /dev/net/tun (is the tun module loaded?)")]
    Open(#[source] std::io::Error),
    #[error("the kernel refused to {what} tap {tap}")]
    Tun {
        what: &'static str,
        tap: String,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("the task making the tap died: {0}")]
    Thread(String),
    #[error(transparent)]
    Netlink(#[from] BridgeError),
}

/// What marks a tap as the NIC's.
fn alias(nic_id: i64) -> String {
    format!("corvus-nic:{nic_id}")
}

/// Makes the NIC's tap (or takes the one a crashed boot left), on the
/// bridge and up. It runs to its end even if the launch that asked is
/// abandoned: a tap made but not yet marked would be taken for someone
/// else's by the next start.
pub async fn create(tap: &str, nic_id: i64, bridge_name: &str) -> Result<(), TapError> {
    let (tap, bridge_name) = (tap.to_owned(), bridge_name.to_owned());
    tokio::spawn(async move { create_marked(&tap, nic_id, &bridge_name).await })
        .await
        .map_err(|join| TapError::Thread(join.to_string()))?
}

async fn create_marked(tap: &str, nic_id: i64, bridge_name: &str) -> Result<(), TapError> {
    let handle = bridge::connect()?;
    let mark = alias(nic_id);
    match bridge::find(&handle, tap).await? {
        Some(link) if bridge::alias_of(&link) == Some(mark.as_str()) => {}
        Some(_) => return Err(BridgeError::Foreign(tap.to_owned()).into()),
        None => {
            let name = tap.to_owned();
            tokio::task::spawn_blocking(move || make_persistent(&name))
                .await
                .map_err(|join| TapError::Thread(join.to_string()))??;
        }
    }
    let bridge_index = bridge::find(&handle, bridge_name)
        .await?
        .ok_or_else(|| BridgeError::Foreign(bridge_name.to_owned()))?
        .header
        .index;
    let index = bridge::find(&handle, tap)
        .await?
        .ok_or_else(|| BridgeError::Foreign(tap.to_owned()))?
        .header
        .index;
    handle
        .link()
        .set(
            LinkUnspec::new_with_index(index)
                .controller(bridge_index)
                .alias(mark)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(bridge::failed("put on its bridge", tap))?;
    Ok(())
}

/// Removes the NIC's tap; one that is gone already is fine, one that is
/// not Corvus's is left alone.
pub async fn remove(tap: &str, nic_id: i64) -> Result<(), TapError> {
    let handle = bridge::connect()?;
    match bridge::find(&handle, tap).await? {
        None => Ok(()),
        Some(link) if bridge::alias_of(&link) == Some(alias(nic_id).as_str()) => Ok(handle
            .link()
            .del(link.header.index)
            .execute()
            .await
            .map_err(bridge::failed("delete", tap))?),
        Some(_) => Err(BridgeError::Foreign(tap.to_owned()).into()),
    }
}

/// A persistent tap outlives this descriptor, so QEMU can open it by name.
fn make_persistent(tap: &str) -> Result<(), TapError> {
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(TapError::Open)?;
    let failed = |what| {
        let tap = tap.to_owned();
        move |source| TapError::Tun { what, tap, source }
    };
    // SAFETY: ifreq is plain data; all zeroes is its empty value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request
        .ifr_name
        .iter_mut()
        .zip(tap.bytes().take(libc::IFNAMSIZ - 1))
    {
        *slot = byte as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: the descriptor is open and the request lives across the call.
    unsafe { tun_set_iff(tun.as_raw_fd(), &request) }.map_err(failed("create"))?;
    // SAFETY: as above; the argument is an integer.
    unsafe { tun_set_persist(tun.as_raw_fd(), 1) }.map_err(failed("make persistent"))?;
    Ok(())
}
