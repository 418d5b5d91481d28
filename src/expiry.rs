//! Idle session expiry: which MCP sessions a shard forgets, and when its alarm should next fire.
//!
//! A session that has no open stream and has not been seen for `idle_ms` is abandoned: its client
//! went away without a DELETE. The shard's alarm (never a timer, which would keep the object from
//! hibernating) runs [`plan_expiry`] and re-arms itself for the earliest remaining deadline. Must
//! not touch the runtime.

/// `SESSION_IDLE_MS` default: one hour.
pub const DEFAULT_SESSION_IDLE_MS: u64 = 60 * 60 * 1000;
/// A session's last-seen time is written at most this often, so a busy session does not cost a
/// storage write per request.
pub const TOUCH_INTERVAL_MS: u64 = 60 * 1000;

/// One session as the alarm sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionActivity {
    /// The session id.
    pub id: String,
    /// The later of its creation and its last recorded request, in Unix milliseconds.
    pub last_seen_ms: u64,
    /// Whether it has an open GET stream; a session with one does not expire while it is open.
    pub has_stream: bool,
}

/// What the alarm does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryPlan {
    /// The sessions to forget now.
    pub expire: Vec<String>,
    /// When to fire next (`None`: no session left to watch).
    pub next_alarm_ms: Option<u64>,
}

/// Sessions idle past `idle_ms` without a stream expire; the alarm re-arms for the earliest
/// deadline among the rest (a session with a stream is checked again one idle period from now).
pub fn plan_expiry(sessions: &[SessionActivity], now_ms: u64, idle_ms: u64) -> ExpiryPlan {
    let mut expire = Vec::new();
    let mut next: Option<u64> = None;
    for session in sessions {
        let deadline = session.last_seen_ms.saturating_add(idle_ms);
        if !session.has_stream && deadline <= now_ms {
            expire.push(session.id.clone());
            continue;
        }
        let check_at = if session.has_stream { now_ms.saturating_add(idle_ms) } else { deadline };
        next = Some(next.map_or(check_at, |n| n.min(check_at)));
    }
    ExpiryPlan { expire, next_alarm_ms: next }
}

/// Whether a request seen at `now_ms` should rewrite the session's last-seen time.
pub fn should_touch(last_seen_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(last_seen_ms) >= TOUCH_INTERVAL_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, last_seen_ms: u64, has_stream: bool) -> SessionActivity {
        SessionActivity { id: id.into(), last_seen_ms, has_stream }
    }

    #[test]
    fn idle_sessions_without_streams_expire_and_the_alarm_rearms_for_the_earliest_deadline() {
        let plan = plan_expiry(
            &[session("old", 0, false), session("streaming", 0, true), session("recent", 900, false)],
            1_000,
            1_000,
        );
        assert_eq!(plan.expire, vec!["old".to_owned()]);
        assert_eq!(plan.next_alarm_ms, Some(1_900));
    }

    #[test]
    fn nothing_left_means_no_alarm() {
        assert_eq!(
            plan_expiry(&[session("a", 0, false)], 5_000, 1_000),
            ExpiryPlan { expire: vec!["a".into()], next_alarm_ms: None }
        );
        assert_eq!(plan_expiry(&[], 5_000, 1_000).next_alarm_ms, None);
    }

    #[test]
    fn touches_are_rate_limited() {
        assert!(!should_touch(1_000, 1_000 + TOUCH_INTERVAL_MS - 1));
        assert!(should_touch(1_000, 1_000 + TOUCH_INTERVAL_MS));
    }
}
