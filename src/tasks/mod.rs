//! Long-running work as tasks (the 2026-07-28 tasks extension): a task's durable record and the
//! transitions it allows ([`record`]), its wire forms ([`wire`]), the rules a task request meets
//! before any task is looked up ([`requests`]), and what its shard does with a task a restart
//! interrupted: resume it or fail it ([`upkeep`]). A task lives on
//! `shard_for(task_id)`, so every isolate finds it; its record is all a shard needs to answer for
//! it and to run its handler again with every answer so far. Must not touch the runtime.

pub mod record;
pub mod requests;
pub mod upkeep;
pub mod wire;

pub use record::{Answered, TaskOutcome, TaskRecord, TaskStatus};
pub use requests::{addressed_task, call_mode, task_header_name, CallMode, TaskSupport};
pub use upkeep::{recovery, Recovery};
pub use wire::{declares_tasks, task_topic, TASKS_EXTENSION, TASK_TOPIC_PREFIX};
