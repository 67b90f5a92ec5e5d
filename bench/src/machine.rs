//! The machine a run measured, as BENCHMARKS.md records it.

use serde::Serialize;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub ram_gib: f64,
    pub kernel: String,
    pub qemu: String,
    /// Which KVM this is, and whether it is nested.
    pub kvm: String,
    /// The directory of the measured `corvus` and `crv`, which names the build profile.
    pub binaries: String,
    /// 1-minute load average when the run started and when it ended: other
    /// work on the machine shows in the figures as noise.
    pub load_at_start: f64,
    pub load_at_end: f64,
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

impl Machine {
    pub fn probe(qemu: &Path, bin_dir: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown CPU", |(_, v)| v.trim())
            .to_owned();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let qemu = Command::new(qemu)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown (qemu --version failed)".into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ram_gib: ram_kib / (1024.0 * 1024.0),
            kernel,
            qemu,
            kvm: kvm_kind(),
            binaries: bin_dir.display().to_string(),
            load_at_start: load_average(),
            load_at_end: f64::NAN,
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{} cores ({}), {:.1} GiB RAM, Linux {}, {}, {}; binaries from {}; load average {:.1} at the start, {:.1} at the end",
            self.cores,
            self.cpu,
            self.ram_gib,
            self.kernel,
            self.qemu,
            self.kvm,
            self.binaries,
            self.load_at_start,
            self.load_at_end
        )
    }
}

fn kvm_kind() -> String {
    let usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !usable {
        return "no usable /dev/kvm (TCG)".into();
    }
    let module = |name: &str| Path::new("/sys/module").join(name).exists();
    let hypervisor = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.contains(" hypervisor"))
        .unwrap_or(false);
    let kind = if module("kvm_pvm") {
        "KVM via kvm_pvm"
    } else if module("kvm_intel") {
        "KVM (kvm_intel)"
    } else if module("kvm_amd") {
        "KVM (kvm_amd)"
    } else {
        "KVM"
    };
    if hypervisor {
        format!("{kind}, nested inside a VM")
    } else {
        kind.to_owned()
    }
}
