//! One scrape as text: the daemon's instruments and every VM's latest
//! figures, encoded by prometheus-client in the Prometheus text format
//! (or OpenMetrics, when the scraper asks for it). Metric names are listed
//! in the README; counters get their `_total` suffix from the encoder.

use super::DaemonMetrics;
use corvus_protocol::{VmState, VmStats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::fmt;

/// A metric with no labels.
const NO_LABELS: [(&str, &str); 0] = [];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`, what Prometheus has always read.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// What one scrape shows besides the daemon's instruments.
#[derive(Debug)]
pub struct Scrape {
    pub vms: Vec<VmStats>,
    pub connections: u64,
    pub backlog: u64,
}

pub fn render(
    daemon: &DaemonMetrics,
    scrape: Scrape,
    format: Format,
) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register(
        "corvus_rpc_duration_seconds",
        "Time from a request's arrival to its answer (or the start of its stream), by request",
        daemon.rpc.clone(),
    );
    registry.register(
        "corvus_event_subscribers",
        "Clients following events (crv events, crv vm watch, start/stop --wait)",
        daemon.subscribers.clone(),
    );
    registry.register(
        "corvus_event_lagged",
        "Events dropped for subscribers that fell behind (they are told how many)",
        daemon.lagged.clone(),
    );
    registry.register_collector(Box::new(scrape));
    let mut text = String::new();
    match format {
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &registry)?,
    }
    Ok(text)
}

fn family<L, M>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result
where
    L: EncodeLabelSet,
    M: EncodeMetric,
{
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, metric) in samples {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauges<L: EncodeLabelSet, N: EncodeGaugeValue + fmt::Debug>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, N)>,
) -> fmt::Result {
    let samples = samples.into_iter().map(|(l, v)| (l, ConstGauge::new(v)));
    family(encoder, name, help, MetricType::Gauge, samples)
}

fn counters<L: EncodeLabelSet, N: EncodeCounterValue + fmt::Debug>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, N)>,
) -> fmt::Result {
    let samples = samples.into_iter().map(|(l, v)| (l, ConstCounter::new(v)));
    family(encoder, name, help, MetricType::Counter, samples)
}

/// A VM's labels: its name and id.
struct Vm<'a> {
    stats: &'a VmStats,
    id: String,
}

impl<'a> Vm<'a> {
    fn labels(&self) -> [(&'static str, &str); 2] {
        [("vm", &self.stats.vm_name), ("id", &self.id)]
    }

    fn with(&self, key: &'static str, value: &'a str) -> [(&'static str, &str); 3] {
        [("vm", &self.stats.vm_name), ("id", &self.id), (key, value)]
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let e = &mut encoder;
        gauges(
            e,
            "corvus_connections",
            "Client connections open now",
            [(NO_LABELS, self.connections)],
        )?;
        gauges(
            e,
            "corvus_persistence_backlog",
            "State changes waiting to be written to the database",
            [(NO_LABELS, self.backlog)],
        )?;
        gauges(
            e,
            "corvus_build_info",
            "Always 1; the daemon's version is in the label",
            [([("version", env!("CARGO_PKG_VERSION"))], 1u64)],
        )?;
        let vms: Vec<Vm<'_>> = self
            .vms
            .iter()
            .map(|stats| Vm {
                stats,
                id: stats.vm_id.to_string(),
            })
            .collect();
        vm_metrics(e, &vms)
    }
}

fn vm_metrics(e: &mut DescriptorEncoder<'_>, vms: &[Vm<'_>]) -> fmt::Result {
    let states = vms.iter().flat_map(|vm| {
        VmState::ALL.iter().map(move |state| {
            (
                vm.with("state", state.as_str()),
                u64::from(vm.stats.status == *state),
            )
        })
    });
    gauges(
        e,
        "corvus_vm_state",
        "1 for the state the VM is in, 0 for the others",
        states,
    )?;
    counters(
        e,
        "corvus_vm_restarts",
        "Restarts by the VM's restart policy since the daemon started",
        vms.iter().map(|vm| (vm.labels(), vm.stats.restarts)),
    )?;
    let up = |vm: &&Vm<'_>| vm.stats.pid.is_some();
    gauges(
        e,
        "corvus_vm_uptime_seconds",
        "Seconds since the VM's QEMU started",
        vms.iter()
            .filter_map(|vm| Some((vm.labels(), vm.stats.uptime_secs?))),
    )?;
    gauges(
        e,
        "corvus_vm_qmp_up",
        "1 when QEMU answered the last QMP stats queries in time, 0 when not (block and vCPU figures are then missing)",
        vms.iter()
            .filter(up)
            .map(|vm| (vm.labels(), u64::from(vm.stats.block.unavailable.is_none()))),
    )?;
    counters(
        e,
        "corvus_vm_cpu_seconds",
        "CPU time of the VM's QEMU process, user and system, all threads",
        vms.iter()
            .filter_map(|vm| Some((vm.labels(), vm.stats.cpu.as_ref()?.seconds.0))),
    )?;
    let vcpus = vms.iter().flat_map(|vm| {
        let cpus = vm.stats.cpu.iter().flat_map(|cpu| &cpu.vcpus);
        cpus.map(move |vcpu| {
            (
                (vm.stats.vm_name.as_str(), vm.id.as_str(), vcpu.index),
                vcpu.seconds.0,
            )
        })
    });
    counters(
        e,
        "corvus_vm_vcpu_seconds",
        "CPU time of each vCPU thread",
        vcpus.map(|((name, id, index), seconds)| {
            (
                [
                    ("vm", name.to_owned()),
                    ("id", id.to_owned()),
                    ("vcpu", index.to_string()),
                ],
                seconds,
            )
        }),
    )?;
    gauges(
        e,
        "corvus_vm_rss_bytes",
        "Resident memory of the VM's QEMU process",
        vms.iter()
            .filter_map(|vm| Some((vm.labels(), vm.stats.memory.as_ref()?.rss_bytes))),
    )?;
    gauges(
        e,
        "corvus_vm_balloon_bytes",
        "Guest memory as set by the balloon, for VMs with a balloon device",
        vms.iter()
            .filter_map(|vm| Some((vm.labels(), vm.stats.memory.as_ref()?.balloon_bytes?))),
    )?;
    block_metrics(e, vms)?;
    net_metrics(e, vms)
}

fn block_metrics(e: &mut DescriptorEncoder<'_>, vms: &[Vm<'_>]) -> fmt::Result {
    type Pick = fn(&corvus_protocol::DriveStats) -> f64;
    let families: [(&str, &str, Pick); 8] = [
        (
            "corvus_vm_block_read_bytes",
            "Bytes read from the drive",
            |d| d.rd_bytes as f64,
        ),
        (
            "corvus_vm_block_written_bytes",
            "Bytes written to the drive",
            |d| d.wr_bytes as f64,
        ),
        (
            "corvus_vm_block_read_ops",
            "Read operations on the drive",
            |d| d.rd_operations as f64,
        ),
        (
            "corvus_vm_block_write_ops",
            "Write operations on the drive",
            |d| d.wr_operations as f64,
        ),
        (
            "corvus_vm_block_flush_ops",
            "Flush operations on the drive",
            |d| d.flush_operations as f64,
        ),
        ("corvus_vm_block_read_seconds", "Time spent reading", |d| {
            d.rd_total_time_ns as f64 / 1e9
        }),
        ("corvus_vm_block_write_seconds", "Time spent writing", |d| {
            d.wr_total_time_ns as f64 / 1e9
        }),
        (
            "corvus_vm_block_flush_seconds",
            "Time spent flushing",
            |d| d.flush_total_time_ns as f64 / 1e9,
        ),
    ];
    for (name, help, pick) in families {
        let samples = vms.iter().flat_map(|vm| {
            vm.stats
                .block
                .drives
                .iter()
                .map(move |drive| (vm.with("drive", &drive.device), pick(drive)))
        });
        counters(e, name, help, samples)?;
    }
    Ok(())
}

fn net_metrics(e: &mut DescriptorEncoder<'_>, vms: &[Vm<'_>]) -> fmt::Result {
    type Pick = fn(&corvus_protocol::NetCounters) -> u64;
    let families: [(&str, &str, Pick); 4] = [
        (
            "corvus_vm_net_received_bytes",
            "Bytes the guest received on the NIC",
            |c| c.rx_bytes,
        ),
        (
            "corvus_vm_net_transmitted_bytes",
            "Bytes the guest sent on the NIC",
            |c| c.tx_bytes,
        ),
        (
            "corvus_vm_net_received_packets",
            "Packets the guest received on the NIC",
            |c| c.rx_packets,
        ),
        (
            "corvus_vm_net_transmitted_packets",
            "Packets the guest sent on the NIC",
            |c| c.tx_packets,
        ),
    ];
    let nic_ids: Vec<Vec<(String, &corvus_protocol::NetCounters)>> = vms
        .iter()
        .map(|vm| {
            vm.stats
                .net
                .iter()
                .filter_map(|nic| Some((nic.nic_id.to_string(), nic.counters.as_ref()?)))
                .collect()
        })
        .collect();
    for (name, help, pick) in families {
        let samples = vms.iter().zip(&nic_ids).flat_map(|(vm, nics)| {
            nics.iter()
                .map(move |(nic, counters)| (vm.with("nic", nic), pick(counters)))
        });
        counters(e, name, help, samples)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_vm_has_only_its_state_and_restarts() {
        let scrape = Scrape {
            vms: vec![VmStats::idle(4, "web".into(), VmState::Stopped, 2)],
            connections: 3,
            backlog: 0,
        };
        let text = render(&DaemonMetrics::default(), scrape, Format::Prometheus).expect("render");
        assert!(
            text.contains("corvus_vm_state{vm=\"web\",id=\"4\",state=\"stopped\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("corvus_vm_state{vm=\"web\",id=\"4\",state=\"running\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("corvus_vm_restarts_total{vm=\"web\",id=\"4\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("corvus_connections 3\n"), "{text}");
        assert!(!text.contains("corvus_vm_rss_bytes{"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        let open = render(
            &DaemonMetrics::default(),
            Scrape {
                vms: Vec::new(),
                connections: 0,
                backlog: 0,
            },
            Format::OpenMetrics,
        )
        .expect("render");
        assert!(open.ends_with("# EOF\n"), "{open}");
    }
}
