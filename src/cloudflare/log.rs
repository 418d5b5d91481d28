//! Prints structured log lines (`crate::log_event`) at their level: `console.error` for errors,
//! `console.warn` for warnings, `console.log` otherwise, so Workers Logs (`[observability]` in
//! wrangler.toml) keeps their level and parses each line's JSON into fields.

use crate::log_event::{Level, LogEvent};

/// Prints `event` as one JSON line.
pub fn emit(event: &LogEvent) {
    let line = event.to_json_line();
    match event.level {
        Level::Error => worker::console_error!("{line}"),
        Level::Warn => worker::console_warn!("{line}"),
        Level::Info => worker::console_log!("{line}"),
    }
}
