//! Structured log lines: one JSON object per error or notable event (a shard cutting a stream, a
//! resharding retry, a refused credential), with the fields an operator filters on in Workers Logs
//! (`event`, `shard`, `kind`, `session`, `duration_ms`). Never one per message. Must not touch the
//! runtime: `crate::cloudflare` prints the line at the event's level.

use serde::Serialize;

/// How bad an event is; the runtime's console method follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth knowing, nothing wrong.
    Info,
    /// Something went wrong for one client, or was worked around.
    Warn,
    /// A request or a send failed.
    Error,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    /// How bad it is.
    pub level: Level,
    /// What happened, as a stable snake_case name to filter on.
    pub event: &'static str,
    /// The details, for a person.
    pub message: String,
    /// The shard it happened on or concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// The request or call kind (a route, a send kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The session, as the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// How long it took, where that means something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

impl LogEvent {
    /// An event with only its level, name and message.
    pub fn new(level: Level, event: &'static str, message: impl Into<String>) -> Self {
        Self { level, event, message: message.into(), shard: None, kind: None, session: None, duration_ms: None }
    }

    /// With the shard it concerns.
    pub fn shard(mut self, shard: u32) -> Self {
        self.shard = Some(shard);
        self
    }

    /// With the request or call kind.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// With the session it concerns.
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// With how long it took.
    pub fn duration_ms(mut self, duration_ms: f64) -> Self {
        self.duration_ms = Some(duration_ms);
        self
    }

    /// The event as one line of JSON (no line feed inside: strings are escaped).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"level\":\"error\",\"event\":\"{}\"}}", self.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_with_only_the_fields_set() {
        let line = LogEvent::new(Level::Warn, "stream_cut", "stopped reading\nfor 30 s")
            .shard(7)
            .session("a\"b")
            .duration_ms(1.5)
            .to_json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "warn");
        assert_eq!(value["event"], "stream_cut");
        assert_eq!(value["shard"], 7);
        assert_eq!(value["session"], "a\"b");
        assert_eq!(value["duration_ms"], 1.5);
        assert!(value.get("kind").is_none());
    }
}
