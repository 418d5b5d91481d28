//! Which sockets a shard's send reaches, decided once per send so that the per-socket loop (in JS,
//! beside the shard) needs no decision from wasm: a [`DeliveryRule`] names the session-stream log
//! levels that block the message and which listen streams take it. It must agree with [`admits`], the
//! per-socket form used by the replay path and the tests. The log-level order and filter live here too:
//! this file is the delivery filter's one home. Must not touch the runtime.

use crate::protocol::{topic, SendRequest, SocketAttachment};

/// Which listen streams (`subscriptions/listen`) a send reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerRule {
    /// No listen stream (log notifications, plain sends).
    None,
    /// Every listen stream.
    All,
    /// Those whose filter has this flag set: a [`crate::protocol::ListenerFilter`] field name.
    Flag(&'static str),
}

impl ListenerRule {
    /// The form the JS loop reads: absent, `"*"`, or a filter field name.
    pub fn as_key(self) -> Option<&'static str> {
        match self {
            ListenerRule::None => None,
            ListenerRule::All => Some("*"),
            ListenerRule::Flag(flag) => Some(flag),
        }
    }
}

/// The per-socket checks of one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRule {
    /// Session streams whose chosen log level is one of these do not receive the message.
    pub blocked_levels: Vec<&'static str>,
    /// Which listen streams receive the message.
    pub listeners: ListenerRule,
}

impl DeliveryRule {
    /// The rule for one send, from its `level` (a log notification) or `topic` (a change notification).
    pub fn for_request(request: &SendRequest) -> Self {
        if let Some(level) = &request.level {
            // Logs never travel on a listen stream.
            let blocked_levels =
                LOG_LEVELS.iter().copied().filter(|chosen| !log_level_admits(Some(chosen), level)).collect();
            return Self { blocked_levels, listeners: ListenerRule::None };
        }
        let listeners = match request.topic.as_deref() {
            Some(topic::TOOLS_LIST_CHANGED) => ListenerRule::Flag("tools"),
            Some(topic::PROMPTS_LIST_CHANGED) => ListenerRule::Flag("prompts"),
            Some(topic::RESOURCES_LIST_CHANGED) => ListenerRule::Flag("resources"),
            Some(topic::RESOURCE_UPDATED) => ListenerRule::All,
            _ => ListenerRule::None,
        };
        Self { blocked_levels: Vec::new(), listeners }
    }

    /// Whether a socket with this attachment receives the send: what the JS loop computes.
    pub fn admits(&self, attachment: Option<&crate::protocol::SocketAttachment>) -> bool {
        match attachment.and_then(|a| a.listener) {
            Some(filter) => match self.listeners {
                ListenerRule::None => false,
                ListenerRule::All => true,
                ListenerRule::Flag("tools") => filter.tools,
                ListenerRule::Flag("prompts") => filter.prompts,
                ListenerRule::Flag("resources") => filter.resources,
                ListenerRule::Flag(_) => false,
            },
            None => {
                let chosen = attachment.and_then(|a| a.log_level.as_deref());
                !chosen.is_some_and(|level| self.blocked_levels.contains(&level))
            }
        }
    }
}

/// The log levels of `logging/setLevel`, least severe first (RFC 5424 order).
pub const LOG_LEVELS: &[&str] = &["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/// Whether a session that chose `chosen` (none: everything) receives a message at `level`.
/// An unknown message level is treated as the most severe, so it is never filtered out silently.
pub fn log_level_admits(chosen: Option<&str>, level: &str) -> bool {
    let rank = |l: &str| LOG_LEVELS.iter().position(|x| *x == l);
    match chosen.and_then(rank) {
        None => true,
        Some(threshold) => rank(level).is_none_or(|r| r >= threshold),
    }
}

/// Whether a socket with `attachment` receives `request` (its recipient list aside).
pub fn admits(attachment: Option<&SocketAttachment>, request: &SendRequest) -> bool {
    let listener = attachment.and_then(|a| a.listener);
    if let Some(level) = &request.level {
        // Logs never travel on a listen stream.
        return listener.is_none() && log_level_admits(attachment.and_then(|a| a.log_level.as_deref()), level);
    }
    match listener {
        None => true,
        Some(filter) => match request.topic.as_deref() {
            Some(topic::TOOLS_LIST_CHANGED) => filter.tools,
            Some(topic::PROMPTS_LIST_CHANGED) => filter.prompts,
            Some(topic::RESOURCES_LIST_CHANGED) => filter.resources,
            Some(topic::RESOURCE_UPDATED) => true,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ListenerFilter;

    /// The rule must agree with `admits` for every kind of socket and every kind of send.
    #[test]
    fn the_rule_agrees_with_admits_everywhere() {
        let mut attachments: Vec<Option<SocketAttachment>> = vec![None];
        let mut levels: Vec<Option<String>> = vec![None, Some("loud".into())];
        levels.extend(LOG_LEVELS.iter().map(|l| Some(l.to_string())));
        for level in &levels {
            attachments.push(Some(SocketAttachment {
                v: 1,
                session: "s".into(),
                log_level: level.clone(),
                listener: None,
                topics: vec![],
            }));
        }
        for bits in 0..8u8 {
            let filter = ListenerFilter { tools: bits & 1 != 0, prompts: bits & 2 != 0, resources: bits & 4 != 0 };
            attachments.push(Some(SocketAttachment {
                v: 1,
                session: "l".into(),
                log_level: None,
                listener: Some(filter),
                topics: vec![],
            }));
        }
        let topics = [
            None,
            Some(topic::TOOLS_LIST_CHANGED),
            Some(topic::PROMPTS_LIST_CHANGED),
            Some(topic::RESOURCES_LIST_CHANGED),
            Some(topic::RESOURCE_UPDATED),
            Some("other"),
        ];
        let mut checked = 0;
        for level in &levels {
            for topic in topics {
                let request = SendRequest {
                    sessions: None,
                    data: String::new(),
                    level: level.clone(),
                    topic: topic.map(str::to_owned),
                };
                let rule = DeliveryRule::for_request(&request);
                for attachment in &attachments {
                    assert_eq!(
                        rule.admits(attachment.as_ref()),
                        admits(attachment.as_ref(), &request),
                        "{attachment:?} {request:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, levels.len() * topics.len() * attachments.len());
    }

    #[test]
    fn a_warning_is_blocked_only_where_a_more_severe_level_was_chosen() {
        let request = SendRequest { sessions: None, data: String::new(), level: Some("warning".into()), topic: None };
        let rule = DeliveryRule::for_request(&request);
        assert_eq!(rule.blocked_levels, vec!["error", "critical", "alert", "emergency"]);
        assert_eq!(rule.listeners.as_key(), None);
        let change = SendRequest {
            sessions: None,
            data: String::new(),
            level: None,
            topic: Some(topic::RESOURCE_UPDATED.into()),
        };
        assert_eq!(DeliveryRule::for_request(&change).listeners.as_key(), Some("*"));
    }

    #[test]
    fn listeners_get_only_what_they_asked_for_and_never_logs() {
        let request = |level: Option<&str>, t: Option<&str>| SendRequest {
            sessions: None,
            data: String::new(),
            level: level.map(str::to_owned),
            topic: t.map(str::to_owned),
        };
        let session = SocketAttachment {
            v: 1,
            session: "s".into(),
            log_level: Some("warning".into()),
            listener: None,
            topics: vec![],
        };
        let listener = SocketAttachment {
            v: 1,
            session: "l".into(),
            log_level: None,
            listener: Some(ListenerFilter { tools: true, prompts: false, resources: false }),
            topics: vec![],
        };
        assert!(admits(Some(&session), &request(None, None)));
        assert!(admits(Some(&session), &request(Some("error"), None)));
        assert!(!admits(Some(&session), &request(Some("info"), None)));
        assert!(admits(Some(&session), &request(None, Some(topic::TOOLS_LIST_CHANGED))));
        assert!(!admits(Some(&listener), &request(Some("emergency"), None)));
        assert!(admits(Some(&listener), &request(None, Some(topic::TOOLS_LIST_CHANGED))));
        assert!(!admits(Some(&listener), &request(None, Some(topic::PROMPTS_LIST_CHANGED))));
        assert!(admits(Some(&listener), &request(None, Some(topic::RESOURCE_UPDATED))));
        assert!(!admits(Some(&listener), &request(None, None)));
        assert!(admits(None, &request(None, None)));
        assert_eq!(ListenerFilter::from_flags(&listener.listener.unwrap().to_flags()), listener.listener.unwrap());
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
