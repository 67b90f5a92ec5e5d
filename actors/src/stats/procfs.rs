//! What the kernel says of a QEMU process: CPU time of the process and of
//! its vCPU threads, resident memory, age. Blocking reads of small /proc
//! files, run on the blocking pool by the collector's tasks, never in an
//! actor's handler. Parsing is kept apart from reading so it can be tested.

use std::io;
use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("Cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Unexpected contents in {path}: {what}")]
    Format { path: PathBuf, what: &'static str },
}

/// CPU time in clock ticks (`/proc/PID/stat` fields 14 and 15).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

impl CpuTicks {
    pub fn total(self) -> u64 {
        self.user + self.system
    }
}

/// One process or thread as `/proc/…/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub cpu: CpuTicks,
    /// When it started, in clock ticks since the host booted (field 22).
    pub start_ticks: u64,
}

/// Everything read about one QEMU in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcFigures {
    pub cpu: CpuTicks,
    pub rss_bytes: u64,
    pub uptime_secs: u64,
    /// (vCPU thread id, its CPU ticks), for the threads still there.
    pub threads: Vec<(u32, CpuTicks)>,
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| rustix::param::clock_ticks_per_second().max(1))
}

fn read(path: PathBuf) -> Result<(String, PathBuf), ProcError> {
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((text, path)),
        Err(source) => Err(ProcError::Read { path, source }),
    }
}

/// Reads a QEMU's figures, and those of the given vCPU threads. A thread
/// that is gone is left out; the process being gone is an error.
pub fn read_process(pid: u32, vcpu_threads: &[u32]) -> Result<ProcFigures, ProcError> {
    let (text, path) = read(PathBuf::from(format!("/proc/{pid}/stat")))?;
    let stat = parse_stat(&text).ok_or(ProcError::Format {
        path,
        what: "no CPU times",
    })?;
    let (text, path) = read(PathBuf::from(format!("/proc/{pid}/status")))?;
    let rss_bytes = parse_rss(&text).ok_or(ProcError::Format {
        path,
        what: "no VmRSS line",
    })?;
    let (text, path) = read(PathBuf::from("/proc/uptime"))?;
    let host_uptime = parse_uptime(&text).ok_or(ProcError::Format {
        path,
        what: "no uptime",
    })?;
    let threads = vcpu_threads
        .iter()
        .filter_map(|tid| {
            let (text, _) = read(PathBuf::from(format!("/proc/{pid}/task/{tid}/stat"))).ok()?;
            Some((*tid, parse_stat(&text)?.cpu))
        })
        .collect();
    let started = stat.start_ticks / ticks_per_second();
    Ok(ProcFigures {
        cpu: stat.cpu,
        rss_bytes,
        uptime_secs: host_uptime.saturating_sub(started),
        threads,
    })
}

/// `/proc/PID/stat`: the command name is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field n of proc(5) is at n - 3 here (state, field 3, comes first).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu: CpuTicks {
            user: field(14)?,
            system: field(15)?,
        },
        start_ticks: field(22)?,
    })
}

/// `VmRSS:   123456 kB` from `/proc/PID/status`, in bytes.
pub fn parse_rss(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whole seconds since the host booted, from `/proc/uptime`.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let seconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(seconds as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let text = "4242 (qemu (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    750 250 0 0 20 0 7 0 98765 1000000 5000 18446744073709551615";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                cpu: CpuTicks {
                    user: 750,
                    system: 250
                },
                start_ticks: 98765
            })
        );
        assert_eq!(parse_stat("4242 (qemu) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn rss_and_uptime_are_read_in_bytes_and_seconds() {
        let status = "Name:\tqemu\nVmPeak:\t 9 kB\nVmRSS:\t  204800 kB\nThreads:\t7\n";
        assert_eq!(parse_rss(status), Some(200 * 1024 * 1024));
        assert_eq!(parse_rss("Name:\tkthreadd\n"), None);
        assert_eq!(parse_uptime("12345.67 2345.00\n"), Some(12345));
        assert_eq!(parse_uptime(""), None);
    }

    #[test]
    fn this_process_reads_as_a_process_with_memory() {
        let me = std::process::id();
        let figures = read_process(me, &[me, u32::MAX]).expect("our own /proc");
        assert!(figures.rss_bytes > 0);
        assert_eq!(figures.threads.len(), 1, "the missing thread is left out");
        assert!(matches!(
            read_process(u32::MAX, &[]),
            Err(ProcError::Read { .. })
        ));
    }
}
