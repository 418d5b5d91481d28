//! What the mesh counts and how it is shown: shard and Worker counters that add up across flushes,
//! shards and isolates ([`counters`]), fixed-bucket latency histograms ([`histogram`]), the
//! Prometheus text exposition of `/mesh/metrics` ([`exposition`]), and the Workers Analytics Engine
//! data points ([`analytics`]). Must not touch the runtime: the shards and the Worker hold the
//! counters and store them (`crate::cloudflare`).

pub mod analytics;
pub mod counters;
pub mod exposition;
pub mod histogram;

pub use counters::{route_label, status_class, ShardCounters, ToolOutcome, WorkerCounters};
pub use histogram::Histogram;
