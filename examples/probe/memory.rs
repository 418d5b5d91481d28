//! The server's memory and CPU as the probe reports them: peak RSS (VmHWM) of the workerd processes
//! serving a port, and the CPU they spent in each phase.

use std::collections::HashSet;

// ---------------------------------------------------------------------------------------------
// Server memory

pub(crate) fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

/// CPU time (user + system, ms) the processes have used so far; `None` if one of them is gone.
pub(crate) fn cpu_ms(pids: &[u32]) -> Option<f64> {
    // USER_HZ: /proc reports clock ticks of 10 ms on Linux's mainstream architectures.
    const MS_PER_TICK: f64 = 10.0;
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let mut fields = after.split_whitespace().skip(11);
            let utime: u64 = fields.next()?.parse().ok()?;
            let stime: u64 = fields.next()?.parse().ok()?;
            Some((utime + stime) as f64 * MS_PER_TICK)
        })
        .sum()
}

/// The server's CPU (ms, as [`cpu_ms`] reads it) at the start and end of each phase.
#[derive(Default)]
pub(crate) struct PhaseCpu {
    pub(crate) create: (Option<f64>, Option<f64>),
    pub(crate) broadcast: (Option<f64>, Option<f64>),
    pub(crate) targeted: (Option<f64>, Option<f64>),
}

impl PhaseCpu {
    /// `{"create": ms, "broadcast": ms, "targeted": ms}`, null where a reading is missing.
    pub(crate) fn report(&self) -> serde_json::Value {
        let spent = |(start, end): (Option<f64>, Option<f64>)| start.zip(end).map(|(s, e)| e - s);
        serde_json::json!({
            "create": spent(self.create), "broadcast": spent(self.broadcast), "targeted": spent(self.targeted),
        })
    }
}

pub(crate) fn pgid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// The workerd processes serving `port`: the listener found with `ss -ltnp`, plus every workerd in
/// its process group (wrangler's proxy workerd listens; the user worker's workerd does not).
pub(crate) fn find_server_pids(port: u16) -> Vec<u32> {
    let Ok(out) = std::process::Command::new("ss").args(["-ltnpH"]).output() else { return vec![] };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut listeners = Vec::new();
    for line in text.lines() {
        if !line.split_whitespace().any(|f| f.ends_with(&format!(":{port}"))) {
            continue;
        }
        for part in line.split("pid=").skip(1) {
            if let Ok(pid) = part.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("").parse::<u32>() {
                listeners.push(pid);
            }
        }
    }
    let groups: HashSet<u32> = listeners.iter().filter_map(|&p| pgid_of(p)).collect();
    let mut pids: HashSet<u32> = listeners.into_iter().collect();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "workerd" && pgid_of(pid).is_some_and(|g| groups.contains(&g)) {
                pids.insert(pid);
            }
        }
    }
    let mut v: Vec<u32> = pids.into_iter().collect();
    v.sort();
    v
}
