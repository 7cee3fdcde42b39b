//! What the benchmarks read of processes and of the machine from /proc
//! (Linux), the way `top` reads them: CPU time of a process or of this one,
//! memory figures, the broker's Erlang VM, load average and machine-wide
//! busy time. One reader for `axis-bench`, `docaxis bench` and
//! `adapter-bench`.

use std::time::Duration;

/// Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ,
/// 100 on every Linux architecture docaxis runs on).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time (user + system) of process `pid` so far, from
/// /proc/<pid>/stat (zero once it is gone).
pub fn cpu_of(pid: u32) -> Duration {
    cpu_from_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU time of this process (the bench: the document systems' work and the
/// measuring).
pub fn cpu_of_self() -> Duration {
    cpu_from_stat(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

fn cpu_from_stat(stat: &str) -> Duration {
    // After the command name (in parentheses, possibly with spaces): the
    // state is token 0, utime and stime (fields 14 and 15) tokens 11 and 12.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let tok: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| tok.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((field(11) + field(12)) * 1000 / TICKS_PER_SECOND)
}

/// A field of /proc/<pid>/status in kB (`VmRSS:`, `VmHWM:`), 0 if absent.
pub fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The broker's Erlang VM on this machine: of the RabbitMQ nodes running
/// (test suites may start nodes of their own), the one that has worked the
/// most. `None` when the broker runs elsewhere.
pub fn broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let rabbit = String::from_utf8_lossy(&cmdline).contains("rabbit\0boot");
            (comm.trim() == "beam.smp" && rabbit).then_some(pid)
        })
        .max_by_key(|pid| cpu_of(*pid))
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> [f64; 3] {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut v = s.split_whitespace().map(|x| x.parse().unwrap_or(0.0));
    [
        v.next().unwrap_or(0.0),
        v.next().unwrap_or(0.0),
        v.next().unwrap_or(0.0),
    ]
}

/// Busy and total jiffies of the whole machine, from /proc/stat.
pub fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_past_a_command_name_with_spaces() {
        // tpgid (-1 without a terminal) must not shift the fields.
        let stat =
            "42 (tokio runtime) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_from_stat(stat), Duration::from_millis(3000));
        assert!(cpu_of_self() < Duration::from_secs(3600));
    }
}
