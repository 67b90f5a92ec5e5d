//! The host's own IPv4 routes, over netlink: a new network's subnet must
//! not overlap one, or the bridge would take traffic meant for a network
//! the host already reaches (or lose its own to it).

use super::bridge::{BridgeError, connect, failed};
use super::plan::Subnet;
use futures::TryStreamExt;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteType};
use std::net::Ipv4Addr;

/// The first unicast route (not the default one) whose destination
/// overlaps `subnet`, as `ADDR/PREFIX`.
pub async fn overlapping(subnet: Subnet) -> Result<Option<String>, BridgeError> {
    let handle = connect()?;
    let routes: Vec<_> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(failed("read the routes of", "the host"))?;
    for route in routes {
        let prefix = route.header.destination_prefix_length;
        if route.header.kind != RouteType::Unicast || prefix == 0 {
            continue;
        }
        let Some(destination) = route.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
            _ => None,
        }) else {
            continue;
        };
        let theirs = Subnet {
            base: destination,
            prefix,
        };
        if theirs.overlaps(&subnet) {
            return Ok(Some(format!("{destination}/{prefix}")));
        }
    }
    Ok(None)
}
