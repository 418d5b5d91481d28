//! Long-running work as tasks (the 2026-07-28 tasks extension): a task's durable record and the
//! transitions it allows ([`record`]), and its wire forms ([`wire`]). A task lives on
//! `shard_for(task_id)`, so every isolate finds it; its record is all a shard needs to answer for
//! it and to run its handler again with every answer so far. Must not touch the runtime.

pub mod record;
pub mod wire;

pub use record::{Answered, TaskOutcome, TaskRecord, TaskStatus};
pub use wire::{declares_tasks, TASKS_EXTENSION};
