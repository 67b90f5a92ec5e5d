//! A network's Linux bridge, over netlink: made (or found again after a
//! daemon restart) with the gateway address and up, and removed. A bridge
//! is Corvus's when its alias names the network (`corvus-network:ID`); one
//! of that name without the alias is someone else's and is left alone.

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(
        "managing bridges needs root (CAP_NET_ADMIN); run the daemon as root, or give VMs user-mode networking with port forwards instead (`crv vm net add VM --type user --forward tcp:2222:22`)"
    )]
    NotPermitted,
    #[error(
        "a network interface named {0} already exists and is not Corvus's; remove or rename it (`ip link del {0}`)"
    )]
    Foreign(String),
    #[error("cannot open a netlink socket")]
    Socket(#[source] std::io::Error),
    #[error("netlink refused to {what} {bridge}")]
    Netlink {
        what: &'static str,
        bridge: String,
        #[source]
        source: rtnetlink::Error,
    },
}

/// What marks a bridge as the network's.
pub fn alias(network_id: i64) -> String {
    format!("corvus-network:{network_id}")
}

pub(super) fn connect() -> Result<Handle, BridgeError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(BridgeError::Socket)?;
    tokio::spawn(connection);
    Ok(handle)
}

pub(super) fn failed(
    what: &'static str,
    bridge: &str,
) -> impl FnOnce(rtnetlink::Error) -> BridgeError {
    let bridge = bridge.to_owned();
    move |source| {
        if let rtnetlink::Error::NetlinkError(message) = &source
            && message.to_io().kind() == std::io::ErrorKind::PermissionDenied
        {
            return BridgeError::NotPermitted;
        }
        BridgeError::Netlink {
            what,
            bridge,
            source,
        }
    }
}

pub(super) async fn find(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, BridgeError> {
    match handle
        .link()
        .get()
        .match_name(name.to_owned())
        .execute()
        .try_next()
        .await
    {
        Ok(found) => Ok(found),
        Err(rtnetlink::Error::NetlinkError(message))
            if message.to_io().raw_os_error() == Some(nix::errno::Errno::ENODEV as i32) =>
        {
            Ok(None)
        }
        Err(source) => Err(failed("look up", name)(source)),
    }
}

pub(super) fn alias_of(link: &LinkMessage) -> Option<&str> {
    link.attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::IfAlias(alias) => Some(alias.as_str()),
            _ => None,
        })
}

/// Makes the bridge, or takes the one a previous daemon made, with the
/// gateway address on it, up. True when it was already there.
pub async fn ensure(
    name: &str,
    network_id: i64,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<bool, BridgeError> {
    let handle = connect()?;
    let mark = alias(network_id);
    let adopted = match find(&handle, name).await? {
        Some(link) if alias_of(&link) == Some(mark.as_str()) => true,
        Some(_) => return Err(BridgeError::Foreign(name.to_owned())),
        None => {
            handle
                .link()
                .add(LinkBridge::new(name).build())
                .execute()
                .await
                .map_err(failed("create", name))?;
            false
        }
    };
    let link = find(&handle, name)
        .await?
        .ok_or_else(|| BridgeError::Foreign(name.to_owned()))?;
    let index = link.header.index;
    let has_gateway = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect::<Vec<_>>()
        .await
        .map_err(failed("read the addresses of", name))?
        .iter()
        .any(|address| {
            address.attributes.iter().any(|attribute| {
                matches!(attribute, rtnetlink::packet_route::address::AddressAttribute::Address(IpAddr::V4(ip)) if *ip == gateway)
            })
        });
    if !has_gateway {
        handle
            .address()
            .add(index, IpAddr::V4(gateway), prefix)
            .execute()
            .await
            .map_err(failed("add the gateway address to", name))?;
    }
    // The kernel takes an alias only on a link that exists.
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).alias(mark).up().build())
        .execute()
        .await
        .map_err(failed("bring up", name))?;
    Ok(adopted)
}

/// Removes the network's bridge; one that is gone already is fine, one
/// that is not Corvus's is left alone.
pub async fn remove(name: &str, network_id: i64) -> Result<(), BridgeError> {
    let handle = connect()?;
    match find(&handle, name).await? {
        None => Ok(()),
        Some(link) if alias_of(&link) == Some(alias(network_id).as_str()) => handle
            .link()
            .del(link.header.index)
            .execute()
            .await
            .map_err(failed("delete", name)),
        Some(_) => Err(BridgeError::Foreign(name.to_owned())),
    }
}
