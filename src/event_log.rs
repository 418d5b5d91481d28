//! Resumable GET streams: event ids, the shard's bounded event log, and which logged events a
//! reconnecting session gets back.
//!
//! A shard numbers every send it makes (one sequence per shard, in SQLite, so it survives restarts)
//! and logs it once with its audience: every stream of the shard (a broadcast) or a list of session
//! ids. The event id a stream sees is `<shard>-<seq>`: unique within a session because it is unique
//! within the shard that holds the session. A client that reconnects with `Last-Event-ID` gets the
//! logged events after that sequence whose audience includes it, in order — what it missed and
//! nothing addressed to anyone else. The log is bounded by count and age. Must not touch the runtime.

use serde::{Deserialize, Serialize};

use crate::delivery::{ListKind, NotificationKind};

/// `EVENT_LOG_MAX_EVENTS` default: events a shard keeps for replay.
pub const DEFAULT_LOG_MAX_EVENTS: u64 = 1_000;
/// `EVENT_LOG_MAX_AGE_MS` default: how long a shard keeps an event for replay.
pub const DEFAULT_LOG_MAX_AGE_MS: u64 = 5 * 60 * 1000;

/// The id of one event on a session's GET stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId {
    /// The number of the shard that sent the event.
    pub shard: u32,
    /// The shard's sequence number for the send; increases across restarts.
    pub seq: u64,
}

impl EventId {
    /// The wire form, `<shard>-<seq>`; [`EventId::parse`] reads it back.
    pub fn format(self) -> String {
        format!("{}-{}", self.shard, self.seq)
    }

    /// Parses a `Last-Event-ID`. Anything else (a POST stream's priming id, garbage) is `None`:
    /// there is nothing of this stream to replay for it.
    pub fn parse(text: &str) -> Option<Self> {
        let (shard, seq) = text.trim().split_once('-')?;
        if shard.is_empty()
            || seq.is_empty()
            || !shard.bytes().all(|b| b.is_ascii_digit())
            || !seq.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(Self { shard: shard.parse().ok()?, seq: seq.parse().ok()? })
    }
}

/// Who a logged event was for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// Every stream of the shard (a broadcast).
    Everyone,
    /// Only these session ids (a targeted send).
    Sessions(Vec<String>),
}

impl Audience {
    /// The stored form: `*` or a JSON array of ids.
    pub fn encode(&self) -> String {
        match self {
            Self::Everyone => "*".to_owned(),
            Self::Sessions(ids) => serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned()),
        }
    }

    /// The inverse of [`Audience::encode`]; text that is neither form decodes as nobody (an empty list).
    pub fn decode(text: &str) -> Self {
        if text == "*" {
            return Self::Everyone;
        }
        Self::Sessions(serde_json::from_str(text).unwrap_or_default())
    }

    /// Whether the event was for `session`.
    pub fn includes(&self, session: &str) -> bool {
        match self {
            Self::Everyone => true,
            Self::Sessions(ids) => ids.iter().any(|id| id == session),
        }
    }
}

/// How a logged event's [`NotificationKind`] is stored: a log level column and a change-kind column,
/// as the log has always stored them (`tools`, `prompts`, `resources`, `resource`), so rows written
/// before a deploy replay alike after it.
pub fn kind_columns(kind: &NotificationKind) -> (Option<String>, Option<&'static str>) {
    match kind {
        NotificationKind::Other => (None, None),
        NotificationKind::Log(level) => (Some(level.clone()), None),
        NotificationKind::ListChanged(ListKind::Tools) => (None, Some("tools")),
        NotificationKind::ListChanged(ListKind::Prompts) => (None, Some("prompts")),
        NotificationKind::ListChanged(ListKind::Resources) => (None, Some("resources")),
        NotificationKind::ResourceUpdated => (None, Some("resource")),
        NotificationKind::TaskStatus => (None, Some("task")),
    }
}

/// The inverse of [`kind_columns`]; an unknown change kind is an ordinary notification.
pub fn kind_from_columns(level: Option<String>, change: Option<&str>) -> NotificationKind {
    match (level, change) {
        (Some(level), _) => NotificationKind::Log(level),
        (None, Some("tools")) => NotificationKind::ListChanged(ListKind::Tools),
        (None, Some("prompts")) => NotificationKind::ListChanged(ListKind::Prompts),
        (None, Some("resources")) => NotificationKind::ListChanged(ListKind::Resources),
        (None, Some("resource")) => NotificationKind::ResourceUpdated,
        (None, Some("task")) => NotificationKind::TaskStatus,
        (None, _) => NotificationKind::Other,
    }
}

/// Log bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Events kept at most (`EVENT_LOG_MAX_EVENTS`).
    pub max_events: u64,
    /// How long an event is kept, in milliseconds (`EVENT_LOG_MAX_AGE_MS`).
    pub max_age_ms: u64,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self { max_events: DEFAULT_LOG_MAX_EVENTS, max_age_ms: DEFAULT_LOG_MAX_AGE_MS }
    }
}

impl LogLimits {
    /// After appending `newest_seq` at `now_ms`: events with a smaller sequence than the first
    /// bound, or older than the second, are pruned.
    pub fn prune_bounds(self, newest_seq: u64, now_ms: u64) -> (u64, u64) {
        (newest_seq.saturating_sub(self.max_events.saturating_sub(1)), now_ms.saturating_sub(self.max_age_ms))
    }
}

/// What a shard does with a new GET stream for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOpen {
    /// No stream is open: open this one.
    Open,
    /// A stream is still registered but the client is resuming (`Last-Event-ID`): the old one is
    /// almost surely dead (a dropped client is noticed only at the next write or keepalive), so it
    /// is closed and this one replaces it, replaying what was missed.
    TakeOver,
    /// A second stream without `Last-Event-ID` while one is open: refused (409).
    Conflict,
}

/// Decides [`StreamOpen`] from whether the session has an open stream and whether the client resumes.
pub fn decide_stream_open(already_open: bool, resuming: bool) -> StreamOpen {
    match (already_open, resuming) {
        (false, _) => StreamOpen::Open,
        (true, true) => StreamOpen::TakeOver,
        (true, false) => StreamOpen::Conflict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_foreign_ids_are_refused() {
        let id = EventId { shard: 12, seq: 34_567 };
        assert_eq!(EventId::parse(&id.format()), Some(id));
        for bad in ["", "12", "-5", "12-", "a-1", "1-b", "0ebade1a-d4cf-43bf", "1-2-3", "99999999999-1"] {
            assert_eq!(EventId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn audiences_encode_and_match() {
        for audience in [Audience::Everyone, Audience::Sessions(vec!["a".into(), "b c".into()])] {
            assert_eq!(Audience::decode(&audience.encode()), audience);
        }
        assert!(Audience::Everyone.includes("x"));
        assert!(Audience::Sessions(vec!["a".into()]).includes("a"));
        assert!(!Audience::Sessions(vec!["a".into()]).includes("b"));
        assert_eq!(Audience::decode("not json"), Audience::Sessions(vec![]));
    }

    #[test]
    fn kinds_survive_their_columns() {
        let kinds = [
            NotificationKind::Other,
            NotificationKind::Log("warning".into()),
            NotificationKind::ListChanged(ListKind::Tools),
            NotificationKind::ListChanged(ListKind::Prompts),
            NotificationKind::ListChanged(ListKind::Resources),
            NotificationKind::ResourceUpdated,
            NotificationKind::TaskStatus,
        ];
        for kind in kinds {
            let (level, change) = kind_columns(&kind);
            assert_eq!(kind_from_columns(level, change), kind);
        }
        assert_eq!(kind_from_columns(None, Some("other")), NotificationKind::Other);
    }

    #[test]
    fn prune_bounds_keep_the_newest_events_within_age() {
        let limits = LogLimits { max_events: 3, max_age_ms: 1_000 };
        assert_eq!(limits.prune_bounds(10, 5_000), (8, 4_000));
        assert_eq!(limits.prune_bounds(1, 500), (0, 0));
    }

    #[test]
    fn a_resuming_stream_takes_over_and_a_fresh_second_one_conflicts() {
        assert_eq!(decide_stream_open(false, false), StreamOpen::Open);
        assert_eq!(decide_stream_open(false, true), StreamOpen::Open);
        assert_eq!(decide_stream_open(true, true), StreamOpen::TakeOver);
        assert_eq!(decide_stream_open(true, false), StreamOpen::Conflict);
    }
}
