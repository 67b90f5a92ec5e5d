//! The checks of `network create` and `vm net add --network --ip`, pure:
//! the subnet, its gateway and DHCP range, overlaps with the other
//! networks, names and domains, and static addresses.

use super::error::NetworkError;
use corvus_protocol::{NetworkMode, NetworkSpec};
use std::net::Ipv4Addr;

/// An IPv4 subnet with its host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

/// Below /8 a bridge would shadow half the Internet; above /30 there is
/// no room for a gateway and a VM.
const PREFIXES: std::ops::RangeInclusive<u8> = 8..=30;

impl Subnet {
    pub fn parse(text: &str) -> Result<Subnet, NetworkError> {
        let bad = |why: &str| {
            NetworkError::Invalid(format!(
                "--subnet {text} is not an IPv4 subnet: {why} (e.g. 10.77.0.0/24)"
            ))
        };
        let (address, prefix) = text.split_once('/').ok_or_else(|| bad("no /PREFIX"))?;
        let base: Ipv4Addr = address.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| bad("the prefix is not a number"))?;
        if !PREFIXES.contains(&prefix) {
            return Err(bad("the prefix must be between /8 and /30"));
        }
        let subnet = Subnet { base, prefix };
        if u32::from(base) & !subnet.mask() != 0 {
            let network = Ipv4Addr::from(u32::from(base) & subnet.mask());
            return Err(bad(&format!(
                "host bits are set; did you mean {network}/{prefix}?"
            )));
        }
        Ok(subnet)
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.base)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    /// The gateway (the bridge's address) is the first host.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) | !self.mask())
    }

    /// Neither the network, the gateway nor the broadcast address.
    fn is_host_for_vms(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.base && ip != self.gateway() && ip != self.broadcast()
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// A network as recorded: what `create` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub subnet: Subnet,
    pub dhcp_start: Ipv4Addr,
    pub dhcp_end: Ipv4Addr,
}

/// An existing network, as far as the checks need it.
pub struct Existing<'a> {
    pub name: &'a str,
    pub subnet: Subnet,
}

pub fn plan<'a>(
    spec: &NetworkSpec,
    others: impl IntoIterator<Item = Existing<'a>>,
) -> Result<Plan, NetworkError> {
    name(&spec.name)?;
    if let Some(domain) = &spec.dns_domain {
        dns_domain(domain)?;
    }
    let subnet = Subnet::parse(&spec.subnet)?;
    for other in others {
        if other.subnet.overlaps(&subnet) {
            return Err(NetworkError::Overlap {
                subnet: subnet.to_string(),
                other: other.name.to_owned(),
                other_subnet: other.subnet.to_string(),
            });
        }
    }
    let (dhcp_start, dhcp_end) = match &spec.dhcp_range {
        None => (
            Ipv4Addr::from(u32::from(subnet.gateway()) + 1),
            Ipv4Addr::from(u32::from(subnet.broadcast()) - 1),
        ),
        Some(range) => dhcp_range(&subnet, range)?,
    };
    // `mode` needs no check: both modes fit every subnet.
    let (NetworkMode::Nat | NetworkMode::Isolated) = spec.mode;
    Ok(Plan {
        subnet,
        dhcp_start,
        dhcp_end,
    })
}

fn dhcp_range(subnet: &Subnet, range: &str) -> Result<(Ipv4Addr, Ipv4Addr), NetworkError> {
    let bad = |why: String| NetworkError::Invalid(format!("--dhcp-range {range}: {why}"));
    let (first, last) = range
        .split_once('-')
        .ok_or_else(|| bad("give it as FIRST-LAST, e.g. 10.77.0.100-10.77.0.200".into()))?;
    let parse = |text: &str| -> Result<Ipv4Addr, NetworkError> {
        let ip: Ipv4Addr = text
            .trim()
            .parse()
            .map_err(|_| bad(format!("'{text}' is not an IPv4 address")))?;
        if !subnet.is_host_for_vms(ip) {
            return Err(bad(format!(
                "{ip} is not a VM address of {subnet} (inside it, and not the network, gateway {} or broadcast address)",
                subnet.gateway()
            )));
        }
        Ok(ip)
    };
    let (first, last) = (parse(first)?, parse(last)?);
    if first > last {
        return Err(bad(format!("{first} comes after {last}")));
    }
    Ok((first, last))
}

/// Names become dnsmasq and file names: short, lower-case, no dots.
pub fn name(name: &str) -> Result<(), NetworkError> {
    let valid = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid || name.parse::<i64>().is_ok() {
        return Err(NetworkError::Invalid(format!(
            "'{name}' is not a network name: 1 to 32 lower-case letters, digits, '-' or '_', starting with a letter or digit, and not a number"
        )));
    }
    Ok(())
}

fn dns_domain(domain: &str) -> Result<(), NetworkError> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if domain.len() > 253 || !domain.split('.').all(label_ok) {
        return Err(NetworkError::Invalid(format!(
            "--dns-domain {domain} is not a DNS domain: dot-separated labels of lower-case letters, digits and '-' (e.g. vms.internal)"
        )));
    }
    Ok(())
}

/// `vm net add --ip`: an address of the network's that a VM may hold.
pub fn static_ip(network: &str, subnet: &Subnet, ip: &str) -> Result<Ipv4Addr, NetworkError> {
    let parsed: Ipv4Addr = ip
        .parse()
        .map_err(|_| NetworkError::Invalid(format!("--ip {ip} is not an IPv4 address")))?;
    if !subnet.is_host_for_vms(parsed) {
        return Err(NetworkError::IpOutside {
            ip: ip.to_owned(),
            network: network.to_owned(),
            subnet: subnet.to_string(),
            gateway: subnet.gateway().to_string(),
        });
    }
    Ok(parsed)
}

/// The bridge of a new network: the first `crvbrN` no network has.
pub fn bridge_name<'a>(taken: impl Iterator<Item = &'a str> + Clone) -> String {
    (0..)
        .map(|n| format!("crvbr{n}"))
        .find(|candidate| !taken.clone().any(|t| t == candidate))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(subnet: &str, range: Option<&str>) -> NetworkSpec {
        NetworkSpec {
            name: "lab".into(),
            subnet: subnet.into(),
            mode: NetworkMode::Nat,
            dhcp_range: range.map(str::to_owned),
            dns_domain: None,
        }
    }

    #[test]
    fn a_subnet_gets_its_gateway_and_the_rest_as_dhcp_range() {
        let plan = plan(&spec("10.77.0.0/24", None), []).unwrap();
        assert_eq!(plan.subnet.gateway(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(plan.dhcp_start, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(plan.dhcp_end, Ipv4Addr::new(10, 77, 0, 254));
    }

    #[test]
    fn bad_subnets_are_refused_with_the_reason() {
        for (text, why) in [
            ("10.77.0.0", "no /PREFIX"),
            ("10.77.0/24", "not an IPv4"),
            ("10.77.0.0/31", "between /8 and /30"),
            ("10.77.0.5/24", "did you mean 10.77.0.0/24"),
        ] {
            let err = plan(&spec(text, None), []).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn overlapping_subnets_name_the_other_network() {
        let other = Existing {
            name: "first",
            subnet: Subnet::parse("10.0.0.0/8").unwrap(),
        };
        let err = plan(&spec("10.77.0.0/24", None), [other]).unwrap_err();
        assert!(err.to_string().contains("'first' (10.0.0.0/8)"), "{err}");
    }

    #[test]
    fn a_dhcp_range_must_hold_vm_addresses_in_order() {
        let ok = plan(&spec("10.77.0.0/24", Some("10.77.0.100-10.77.0.200")), []).unwrap();
        assert_eq!(ok.dhcp_start, Ipv4Addr::new(10, 77, 0, 100));
        for range in [
            "10.77.0.100",
            "10.77.1.2-10.77.1.9",
            "10.77.0.1-10.77.0.9",
            "10.77.0.9-10.77.0.2",
            "10.77.0.2-10.77.0.255",
        ] {
            assert!(
                plan(&spec("10.77.0.0/24", Some(range)), []).is_err(),
                "{range}"
            );
        }
    }

    #[test]
    fn static_addresses_are_vm_hosts_of_the_subnet() {
        let subnet = Subnet::parse("10.77.0.0/24").unwrap();
        assert!(static_ip("lab", &subnet, "10.77.0.9").is_ok());
        for ip in ["10.77.1.9", "10.77.0.1", "10.77.0.0", "10.77.0.255", "x"] {
            assert!(static_ip("lab", &subnet, ip).is_err(), "{ip}");
        }
    }

    #[test]
    fn names_domains_and_bridges() {
        assert!(name("lab-1").is_ok());
        for bad in ["", "Lab", "a.b", "42", "-x"] {
            assert!(name(bad).is_err(), "{bad}");
        }
        assert!(dns_domain("vms.internal").is_ok());
        assert!(dns_domain("bad_domain").is_err());
        assert_eq!(bridge_name(["crvbr0", "crvbr2"].into_iter()), "crvbr1");
    }
}
