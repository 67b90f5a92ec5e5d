//! PCIe root ports. On q35 only a device behind a root port can be
//! unplugged (the root complex's own slots are not hotpluggable), so every
//! pluggable device present at boot gets a port of its own (`port-<device
//! id>`), and the VM gets `hotplug_slots` empty ones (`hotplug<n>`) for
//! devices added live. Ports are packed eight to a slot as functions of a
//! multifunction device, as libvirt does, so that 16 hotplug slots and a
//! few dozen devices fit the root bus's 32 slots.

use serde_json::Value;

/// The root-bus slot of the first port; QEMU assigns the built-in and
/// other devices from slot 1 upward, well below this.
pub const FIRST_PORT_SLOT: usize = 0x10;
const FUNCTIONS: usize = 8;

/// The empty port number `n` of a VM's hotplug slots.
pub fn hotplug_port(n: u32) -> String {
    format!("hotplug{n}")
}

/// The port a device present at boot sits on.
pub fn port_of(device_id: &str) -> String {
    format!("port-{device_id}")
}

/// Hands out root-port addresses in order; one per VM command line.
#[derive(Debug, Default)]
pub struct PortAllocator {
    next: usize,
}

impl PortAllocator {
    /// The `-device` value of the next port, named `id`.
    pub fn next(&mut self, id: &str) -> super::Props {
        let index = self.next;
        self.next += 1;
        let (slot, function) = (FIRST_PORT_SLOT + index / FUNCTIONS, index % FUNCTIONS);
        let mut port = super::Props::new("pcie-root-port")
            .with("id", id)
            .with("chassis", (index + 1).to_string())
            .with("addr", format!("{slot:#x}.{function}"));
        if function == 0 {
            port = port.with("multifunction", "on");
        }
        port
    }
}

/// The first of the VM's hotplug ports with nothing behind it, from a
/// `query-pci` answer.
pub fn free_hotplug_port(query_pci: &Value, slots: u32) -> Option<String> {
    let mut ports = Vec::new();
    collect_ports(query_pci, &mut ports);
    (0..slots).map(hotplug_port).find(|wanted| {
        ports
            .iter()
            .any(|(id, occupied)| id == wanted && !*occupied)
    })
}

/// (qdev id, has a device behind it) of every bridge in the answer.
fn collect_ports(value: &Value, out: &mut Vec<(String, bool)>) {
    let buses = value.as_array().cloned().unwrap_or_default();
    for bus in buses {
        let devices = bus.get("devices").and_then(Value::as_array);
        for device in devices.into_iter().flatten() {
            let Some(bridge) = device.get("pci_bridge") else {
                continue;
            };
            let behind = bridge.get("devices").and_then(Value::as_array);
            let id = device.get("qdev_id").and_then(Value::as_str).unwrap_or("");
            out.push((id.to_owned(), behind.is_some_and(|d| !d.is_empty())));
            // A bridge's own devices may be bridges too.
            collect_ports(&Value::Array(vec![bridge.clone()]), out);
        }
    }
}
