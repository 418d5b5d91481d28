//! Several probe processes measuring one deployment together (`--cluster-dir`): one process's
//! descriptors cannot hold 50,000 streams. Every process opens its share of the sessions; the leader
//! sends the broadcasts and the targeted calls once all have reported in, and publishes what it sent,
//! so each process counts what its own streams should have received. The processes meet through
//! small JSON files in a shared directory (written whole, then renamed into place).

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a process waits for its peers at one step before giving up on the run.
const STEP_TIMEOUT: Duration = Duration::from_secs(1800);

pub(crate) struct Cluster {
    dir: PathBuf,
    label: String,
    /// The process that sends; the others only listen.
    pub(crate) leader: bool,
    /// How many probe processes take part, the leader included.
    peers: usize,
}

impl Cluster {
    pub(crate) fn new(dir: &str, label: &str, leader: bool, peers: usize) -> Self {
        Self { dir: PathBuf::from(dir), label: label.to_owned(), leader, peers: peers.max(1) }
    }

    /// Tells the others this process reached `step`, with `value`.
    pub(crate) fn report(&self, step: &str, value: &Value) {
        self.write(&format!("{step}.{}.json", self.label), value);
    }

    /// The leader waits for every process's `report` of `step` and returns their values.
    pub(crate) fn gather(&self, step: &str) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let values: Vec<Value> = std::fs::read_dir(&self.dir)
                .map_err(|e| format!("reading {}: {e}", self.dir.display()))?
                .filter_map(|entry| entry.ok())
                .filter(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.starts_with(&format!("{step}.")) && name.ends_with(".json")
                })
                .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
                .filter_map(|text| serde_json::from_str(&text).ok())
                .collect();
            if values.len() >= self.peers {
                return Ok(values);
            }
            if Instant::now() > deadline {
                return Err(format!("{step}: {} of {} processes reported", values.len(), self.peers));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The leader publishes what it did at `step` (what it sent).
    pub(crate) fn publish(&self, step: &str, value: &Value) {
        self.write(&format!("{step}.sent"), value);
    }

    /// A listener waits for the leader's `publish` of `step`.
    pub(crate) fn await_published(&self, step: &str) -> Result<Value, String> {
        let path = self.dir.join(format!("{step}.sent"));
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(value) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(format!("{step}: the leader never published"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn write(&self, name: &str, value: &Value) {
        let tmp = self.dir.join(format!(".{name}.{}", std::process::id()));
        let text = serde_json::to_string(value).unwrap_or_default();
        if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, self.dir.join(name))) {
            eprintln!("probe: cluster file {name}: {e}");
        }
    }
}
