//! What /proc says about a process: resident memory and CPU time.

use anyhow::Context as _;
use std::time::Duration;

/// Resident set size (`VmRSS`) in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("Cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("No VmRSS in /proc/{pid}/status"))
}

/// CPU time of every live thread, to the nanosecond (`schedstat`). Threads
/// that have exited are not counted, so use it over short spans only.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("Cannot list the threads of {pid}"))?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let path = task.path().join("schedstat");
        // A thread that ended since the listing simply does not count.
        if let Ok(text) = std::fs::read_to_string(&path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(Duration::from_nanos(total))
}

/// User + system CPU time of the whole process, exited threads included,
/// at the kernel's tick resolution (`/proc/PID/stat`).
pub fn cpu_time_ticks(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("Cannot read /proc/{pid}/stat"))?;
    // Fields after the command name, which may contain spaces, in parentheses.
    let (_, rest) = stat
        .rsplit_once(')')
        .with_context(|| format!("Malformed /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index - 3)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("Malformed /proc/{pid}/stat"))
    };
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .unwrap_or(100) as u64;
    let total = ticks(14)? + ticks(15)?;
    Ok(Duration::from_nanos(total * 1_000_000_000 / per_second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let pid = std::process::id();
        assert!(rss_kib(pid).expect("rss") > 0);
        // Burn a little CPU so that the counters cannot be zero.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time(pid).expect("schedstat") > Duration::ZERO);
        cpu_time_ticks(pid).expect("stat");
    }
}
