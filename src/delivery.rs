//! Which streams a notification reaches: the delivery rule's one home, in Rust.
//!
//! Every stream a shard holds has a [`StreamClass`] (a session stream and the log level its session
//! chose, or a listen stream and what it asked to hear about), kept in its socket's attachment as a
//! short key. A send has a [`NotificationKind`]; [`DeliveryRule::admits`] says whether a class takes
//! it. The shard's per-socket loop (JS, `deliver.js`) holds no rule: it gets, once per send, the keys
//! of the admitted classes ([`DeliveryRule::admitted`]) and checks each socket's key against them. The
//! replay path and the in-memory backend call [`DeliveryRule::admits`] directly. Must not touch the
//! runtime.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The log levels of `logging/setLevel` and `notifications/message`, least severe first (RFC 5424).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detailed debugging information.
    Debug,
    /// Normal operation.
    Info,
    /// Normal but significant.
    Notice,
    /// A warning.
    Warning,
    /// An error.
    Error,
    /// A critical condition.
    Critical,
    /// Action must be taken immediately.
    Alert,
    /// The system is unusable.
    Emergency,
}

impl LogLevel {
    /// Every level, least severe first.
    pub const ALL: [LogLevel; 8] = [
        Self::Debug,
        Self::Info,
        Self::Notice,
        Self::Warning,
        Self::Error,
        Self::Critical,
        Self::Alert,
        Self::Emergency,
    ];

    /// The level's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }

    /// The level named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == name)
    }
}

/// Whether a session that chose `chosen` (none: everything) receives a message at `level`.
/// An unknown message level is treated as the most severe, so it is never filtered out silently; an
/// unknown chosen level filters nothing.
pub fn log_level_admits(chosen: Option<&str>, level: &str) -> bool {
    match chosen.and_then(LogLevel::parse) {
        None => true,
        Some(threshold) => LogLevel::parse(level).is_none_or(|level| level >= threshold),
    }
}

/// Which `*/list_changed` notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// `notifications/tools/list_changed`.
    Tools,
    /// `notifications/prompts/list_changed`.
    Prompts,
    /// `notifications/resources/list_changed`.
    Resources,
}

/// What kind of notification a send carries, as far as delivery cares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Anything else: every session stream, no listen stream.
    #[default]
    Other,
    /// `notifications/message` at this level: session streams whose chosen level admits it; never a
    /// listen stream (2026-07-28 listen streams carry no logs).
    Log(String),
    /// A list change: every session stream, and the listen streams that asked for this list.
    ListChanged(ListKind),
    /// `notifications/resources/updated`: its recipients come from the topic index, listen streams
    /// included.
    ResourceUpdated,
    /// `notifications/tasks` (a task changed): to the listen streams that named the task, found in the
    /// topic index like a resource's subscribers.
    TaskStatus,
}

impl NotificationKind {
    /// The kind of a JSON-RPC notification, from its method (and, for a log, its level).
    pub fn of(method: &str, params: &Value) -> Self {
        match method {
            "notifications/message" => {
                Self::Log(params.get("level").and_then(Value::as_str).unwrap_or("emergency").to_owned())
            }
            "notifications/tools/list_changed" => Self::ListChanged(ListKind::Tools),
            "notifications/prompts/list_changed" => Self::ListChanged(ListKind::Prompts),
            "notifications/resources/list_changed" => Self::ListChanged(ListKind::Resources),
            "notifications/resources/updated" => Self::ResourceUpdated,
            crate::tasks::wire::STATUS_NOTIFICATION => Self::TaskStatus,
            _ => Self::Other,
        }
    }

    /// A short name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Other => "other",
            Self::Log(_) => "log",
            Self::ListChanged(_) => "list_changed",
            Self::ResourceUpdated => "resource_updated",
            Self::TaskStatus => "task_status",
        }
    }

    /// Whether this is [`NotificationKind::Other`] (the wire form leaves it out).
    pub fn is_other(&self) -> bool {
        matches!(self, Self::Other)
    }
}

/// What a `subscriptions/listen` stream asked to hear about (resource updates reach it through the
/// topic index).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerFilter {
    /// `notifications/tools/list_changed`.
    pub tools: bool,
    /// `notifications/prompts/list_changed`.
    pub prompts: bool,
    /// `notifications/resources/list_changed`.
    pub resources: bool,
}

impl ListenerFilter {
    /// Whether the stream asked for `list`'s changes.
    pub fn wants(self, list: ListKind) -> bool {
        match list {
            ListKind::Tools => self.tools,
            ListKind::Prompts => self.prompts,
            ListKind::Resources => self.resources,
        }
    }

    /// The compact form used in keys: any of `t`, `p`, `r`.
    pub fn to_flags(self) -> String {
        [(self.tools, 't'), (self.prompts, 'p'), (self.resources, 'r')]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, c)| *c)
            .collect()
    }

    /// The inverse of [`Self::to_flags`]; unknown characters are ignored.
    pub fn from_flags(flags: &str) -> Self {
        Self { tools: flags.contains('t'), prompts: flags.contains('p'), resources: flags.contains('r') }
    }

    /// All eight filters.
    fn every() -> impl Iterator<Item = Self> {
        (0..8u8).map(|bits| Self { tools: bits & 1 != 0, prompts: bits & 2 != 0, resources: bits & 4 != 0 })
    }
}

/// The delivery class of one stream. Kept in the socket's attachment as its [`StreamClass::key`]
/// (`s`, `s:warning`, `l:tp`), which is what the per-socket loop compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum StreamClass {
    /// A session's GET stream, with the level its session chose (`None`: every message).
    Session {
        /// The `logging/setLevel` level; an unknown one filters nothing.
        log_level: Option<String>,
    },
    /// A `subscriptions/listen` stream.
    Listener(ListenerFilter),
}

impl StreamClass {
    /// A session stream whose session chose `log_level`. An unknown level filters nothing, so it is
    /// kept as none (classes are a closed set).
    pub fn session(log_level: Option<&str>) -> Self {
        let log_level = log_level.and_then(LogLevel::parse).map(|level| level.as_str().to_owned());
        Self::Session { log_level }
    }

    /// The short key the attachment carries.
    pub fn key(&self) -> String {
        match self {
            Self::Session { log_level: None } => "s".to_owned(),
            Self::Session { log_level: Some(level) } => format!("s:{level}"),
            Self::Listener(filter) => format!("l:{}", filter.to_flags()),
        }
    }

    /// The inverse of [`Self::key`].
    pub fn parse(key: &str) -> Option<Self> {
        match key.split_once(':') {
            None if key == "s" => Some(Self::session(None)),
            Some(("s", level)) if LogLevel::parse(level).is_some() => Some(Self::session(Some(level))),
            Some(("l", flags)) => Some(Self::Listener(ListenerFilter::from_flags(flags))),
            _ => None,
        }
    }

    /// Whether this is a listen stream.
    pub fn is_listener(&self) -> bool {
        matches!(self, Self::Listener(_))
    }

    /// Every class there is: 9 session classes, 8 listener classes.
    pub fn every() -> impl Iterator<Item = Self> {
        std::iter::once(Self::session(None))
            .chain(LogLevel::ALL.iter().map(|level| Self::session(Some(level.as_str()))))
            .chain(ListenerFilter::every().map(Self::Listener))
    }
}

impl From<StreamClass> for String {
    fn from(class: StreamClass) -> Self {
        class.key()
    }
}

impl TryFrom<String> for StreamClass {
    type Error = String;

    fn try_from(key: String) -> Result<Self, Self::Error> {
        Self::parse(&key).ok_or_else(|| format!("unknown stream class {key:?}"))
    }
}

/// The streams one send reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRule {
    kind: NotificationKind,
}

/// A rule as the per-socket loop takes it: the keys of the admitted classes, by stream kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdmittedClasses {
    /// Session-stream classes that take the send.
    pub sessions: Vec<String>,
    /// Whether every session-stream class takes it (then a broadcast reads no attachment).
    pub every_session: bool,
    /// Listen-stream classes that take it (empty: a broadcast skips listen streams).
    pub listeners: Vec<String>,
}

impl DeliveryRule {
    /// The rule of a send of `kind`.
    pub fn for_kind(kind: &NotificationKind) -> Self {
        Self { kind: kind.clone() }
    }

    /// Whether a stream of `class` receives the send (its recipient list aside): the rule.
    pub fn admits(&self, class: &StreamClass) -> bool {
        match (class, &self.kind) {
            (StreamClass::Session { log_level }, NotificationKind::Log(level)) => {
                log_level_admits(log_level.as_deref(), level)
            }
            (StreamClass::Session { .. }, _) => true,
            (StreamClass::Listener(filter), NotificationKind::ListChanged(list)) => filter.wants(*list),
            (StreamClass::Listener(_), NotificationKind::ResourceUpdated | NotificationKind::TaskStatus) => true,
            (StreamClass::Listener(_), NotificationKind::Other | NotificationKind::Log(_)) => false,
        }
    }

    /// The admitted classes' keys, for the per-socket loop.
    pub fn admitted(&self) -> AdmittedClasses {
        let mut admitted = AdmittedClasses { every_session: true, ..Default::default() };
        for class in StreamClass::every() {
            let admits = self.admits(&class);
            match class {
                StreamClass::Session { .. } if admits => admitted.sessions.push(class.key()),
                StreamClass::Session { .. } => admitted.every_session = false,
                StreamClass::Listener(_) if admits => admitted.listeners.push(class.key()),
                StreamClass::Listener(_) => {}
            }
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kinds() -> Vec<NotificationKind> {
        let mut kinds = vec![
            NotificationKind::Other,
            NotificationKind::ResourceUpdated,
            NotificationKind::ListChanged(ListKind::Tools),
            NotificationKind::ListChanged(ListKind::Prompts),
            NotificationKind::ListChanged(ListKind::Resources),
            NotificationKind::Log("made-up".into()),
        ];
        kinds.extend(LogLevel::ALL.iter().map(|level| NotificationKind::Log(level.as_str().to_owned())));
        kinds
    }

    #[test]
    fn the_keys_the_loop_gets_say_what_admits_says_for_every_class_and_kind() {
        let mut checked = 0;
        for kind in kinds() {
            let rule = DeliveryRule::for_kind(&kind);
            let admitted = rule.admitted();
            for class in StreamClass::every() {
                let key = class.key();
                let listed = match class {
                    StreamClass::Session { .. } => admitted.sessions.contains(&key),
                    StreamClass::Listener(_) => admitted.listeners.contains(&key),
                };
                assert_eq!(listed, rule.admits(&class), "{kind:?} {key}");
                if !class.is_listener() && admitted.every_session {
                    assert!(listed, "{kind:?}: every session admitted, but not {key}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, kinds().len() * 17);
    }

    #[test]
    fn a_warning_reaches_only_sessions_that_chose_warning_or_less_and_no_listener() {
        let admitted = DeliveryRule::for_kind(&NotificationKind::Log("warning".into())).admitted();
        assert_eq!(admitted.sessions, ["s", "s:debug", "s:info", "s:notice", "s:warning"]);
        assert!(!admitted.every_session);
        assert!(admitted.listeners.is_empty());
        let plain = DeliveryRule::for_kind(&NotificationKind::Other).admitted();
        assert!(plain.every_session && plain.listeners.is_empty());
    }

    #[test]
    fn listeners_get_only_the_lists_they_asked_for_and_every_resource_update() {
        let tools = DeliveryRule::for_kind(&NotificationKind::ListChanged(ListKind::Tools)).admitted();
        assert!(tools.every_session);
        assert_eq!(tools.listeners, ["l:t", "l:tp", "l:tr", "l:tpr"]);
        let updated = DeliveryRule::for_kind(&NotificationKind::ResourceUpdated).admitted();
        assert_eq!(updated.listeners.len(), 8);
    }

    #[test]
    fn classes_round_trip_through_their_keys_and_unknown_levels_filter_nothing() {
        for class in StreamClass::every() {
            assert_eq!(StreamClass::parse(&class.key()), Some(class.clone()));
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(serde_json::from_str::<StreamClass>(&json).unwrap(), class);
        }
        assert_eq!(StreamClass::session(Some("loud")), StreamClass::session(None));
        assert_eq!(StreamClass::parse("s:loud"), None);
        assert_eq!(StreamClass::parse("x"), None);
    }

    #[test]
    fn notifications_are_classified_by_method() {
        assert_eq!(
            NotificationKind::of("notifications/message", &json!({"level": "info"})),
            NotificationKind::Log("info".into())
        );
        assert_eq!(
            NotificationKind::of("notifications/tools/list_changed", &json!({})),
            NotificationKind::ListChanged(ListKind::Tools)
        );
        assert_eq!(
            NotificationKind::of("notifications/resources/updated", &json!({})),
            NotificationKind::ResourceUpdated
        );
        assert_eq!(NotificationKind::of("notifications/progress", &json!({})), NotificationKind::Other);
        // A log without a level is treated as the most severe: never filtered out silently.
        assert_eq!(
            NotificationKind::of("notifications/message", &json!({})),
            NotificationKind::Log("emergency".into())
        );
    }

    #[test]
    fn log_levels_are_ordered_by_severity_and_named_as_on_the_wire() {
        for level in LogLevel::ALL {
            assert_eq!(LogLevel::parse(level.as_str()), Some(level));
            assert_eq!(serde_json::to_value(level).unwrap(), json!(level.as_str()));
        }
        assert!(LogLevel::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(LogLevel::parse("loud"), None);
    }

    #[test]
    fn log_levels_filter_less_severe_messages() {
        assert!(log_level_admits(None, "debug"));
        assert!(log_level_admits(Some("info"), "info"));
        assert!(log_level_admits(Some("info"), "error"));
        assert!(!log_level_admits(Some("warning"), "info"));
        assert!(log_level_admits(Some("warning"), "made-up"));
    }
}
