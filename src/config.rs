//! Deployment configuration: every wrangler var the mesh reads, its default, and its validation.
//!
//! Built from a lookup function (`name -> Option<String>`) so it is tested natively; the Workers glue
//! passes a closure over `env.var`/`env.secret`. Wrangler vars are strings; a bad one is an error that
//! names the var. Must not touch the Workers runtime.

use crate::access::{constant_time_eq, OriginPolicy};
use crate::auth::AuthSettings;
use crate::error::{MeshError, Result};
use crate::event_log::{LogLimits, DEFAULT_LOG_MAX_AGE_MS, DEFAULT_LOG_MAX_EVENTS};
use crate::routing::MAX_SHARD_COUNT;

/// `SHARD_COUNT`: how many `SyncLayer` shard objects sessions are spread over.
pub const DEFAULT_SHARD_COUNT: u32 = 16;
/// Sockets a shard accepts at most: the runtime's hard limit is 32,768 per object, and exceeding it
/// throws inside the object, so the mesh refuses with a 503 a little before.
pub const MAX_SOCKETS_PER_SHARD: u32 = 32_000;
/// `SHARD_BINDING`: the Durable Object binding of the shard class (the seed's default name).
pub const DEFAULT_SHARD_BINDING: &str = "TMCP_DURABLE_OBJECT";
/// `COORDINATOR_BINDING`: the Durable Object binding of the coordinator class.
pub const DEFAULT_COORDINATOR_BINDING: &str = "MESH_COORDINATOR";
/// `KEEPALIVE_MS`: how often the Worker writes an SSE comment on an idle GET stream. It keeps the
/// edge's ~5-minute idle watchdog away and is how a vanished client is noticed (the next write fails).
pub const DEFAULT_KEEPALIVE_MS: u32 = 25_000;
/// `SSE_RETRY_MS`: the `retry:` hint sent on every GET stream.
pub const DEFAULT_SSE_RETRY_MS: u32 = 1_000;
/// `RELAY_ABOVE_SHARDS`: a send to more member shards than this goes through relay objects (see
/// `crate::fanout`); the capacity model has relays cutting the broadcast p99 on Cloudflare from 16
/// shards on, so the default 16 shards stay direct and anything more relays.
pub const DEFAULT_RELAY_ABOVE_SHARDS: u32 = 16;
/// `MAX_BODY_BYTES`: the largest POST body accepted; larger gets 413.
pub const DEFAULT_MAX_BODY_BYTES: u32 = 4 * 1024 * 1024;

/// The mesh's settings, all validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfig {
    /// `SHARD_COUNT` (required, 1 to [`MAX_SHARD_COUNT`]): the shards sessions hash onto. Changing it
    /// moves sessions; list the old count in `PREVIOUS_SHARD_COUNTS` while they drain.
    pub shard_count: u32,
    /// `PREVIOUS_SHARD_COUNTS`: shard counts this deployment used before and whose sessions may
    /// still be live (comma-separated, e.g. "16"). Empty when no resharding is in progress.
    pub previous_shard_counts: Vec<u32>,
    /// `SHARD_BINDING`; default [`DEFAULT_SHARD_BINDING`].
    pub shard_binding: String,
    /// `COORDINATOR_BINDING`; default [`DEFAULT_COORDINATOR_BINDING`].
    pub coordinator_binding: String,
    /// `RELAY_ABOVE_SHARDS` (0 to [`MAX_SHARD_COUNT`]; 0: never); default
    /// [`DEFAULT_RELAY_ABOVE_SHARDS`]. A send to more member shards goes through ⌈√N⌉ relays.
    pub relay_above_shards: u32,
    /// `KEEPALIVE_MS` (100 to 290,000); default [`DEFAULT_KEEPALIVE_MS`].
    pub keepalive_ms: u32,
    /// `SSE_RETRY_MS` (0 to 600,000); default [`DEFAULT_SSE_RETRY_MS`].
    pub sse_retry_ms: u32,
    /// `MAX_BODY_BYTES` (1 KiB to 32 MiB); default [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u32,
    /// `MESH_ADMIN_TOKEN` (a secret). `None` turns the `/mesh/*` admin routes off (they answer 404).
    pub admin_token: Option<String>,
    /// `ALLOWED_HOSTS` / `ALLOWED_ORIGINS`: DNS rebinding protection (see `OriginPolicy`).
    pub origins: OriginPolicy,
    /// `STREAM_BUFFER_BYTES`: bytes a GET stream may have queued unread before it is cut off (the
    /// client resumes with `Last-Event-ID`).
    pub stream_buffer_bytes: u32,
    /// `STREAM_MAX_EVENTS`: a GET stream ends after this many events (0: never), for SSE polling —
    /// clients behind proxies that buffer long responses resume with `Last-Event-ID` each time.
    pub stream_max_events: u32,
    /// `SESSION_IDLE_MS`: a session with no open stream and no request for this long is forgotten
    /// by its shard's alarm.
    pub session_idle_ms: u64,
    /// `SHARD_MAX_SOCKETS`: sockets a shard accepts before answering 503 (lower only: the runtime's
    /// hard limit is 32,768 and going past it throws in the object).
    pub shard_max_sockets: u32,
    /// `EVENT_LOG_MAX_EVENTS` and `EVENT_LOG_MAX_AGE_MS`: the bounds of each shard's replay log.
    pub event_log: LogLimits,
    /// How `/mcp` authenticates callers: off, the development tokens of `AUTH_TOKENS`, or an OAuth
    /// 2.1 resource server (`AUTH_ISSUER` and the other `AUTH_*` vars; see `crate::auth`). Each
    /// session belongs to the principal that created it.
    pub auth: AuthSettings,
    /// `REQUEST_STATE_SECRET` (a secret): signs stateless `requestState`. Unset: a fixed development
    /// key, which lets anyone forge state; set it in production.
    pub request_state_secret: String,
}

impl MeshConfig {
    /// The settings in force, by var name, as an operator reads them (`/mesh/status`): every var but
    /// the secrets, whose presence alone is shown.
    pub fn public_settings(&self) -> std::collections::BTreeMap<&'static str, String> {
        let list = |values: &[String]| values.join(",");
        let counts: Vec<String> = self.previous_shard_counts.iter().map(u32::to_string).collect();
        let auth = match &self.auth {
            AuthSettings::Off => "off",
            AuthSettings::Tokens(_) => "tokens (AUTH_TOKENS)",
            AuthSettings::OAuth(_) => "oauth (AUTH_ISSUER)",
        };
        let secret_state = if self.request_state_secret == DEV_REQUEST_STATE_SECRET { "unset" } else { "set" };
        [
            ("SHARD_COUNT", self.shard_count.to_string()),
            ("PREVIOUS_SHARD_COUNTS", counts.join(",")),
            ("SHARD_BINDING", self.shard_binding.clone()),
            ("COORDINATOR_BINDING", self.coordinator_binding.clone()),
            ("RELAY_ABOVE_SHARDS", self.relay_above_shards.to_string()),
            ("KEEPALIVE_MS", self.keepalive_ms.to_string()),
            ("SSE_RETRY_MS", self.sse_retry_ms.to_string()),
            ("MAX_BODY_BYTES", self.max_body_bytes.to_string()),
            ("ALLOWED_HOSTS", list(&self.origins.allowed_hosts)),
            ("ALLOWED_ORIGINS", list(&self.origins.allowed_origins)),
            ("STREAM_BUFFER_BYTES", self.stream_buffer_bytes.to_string()),
            ("STREAM_MAX_EVENTS", self.stream_max_events.to_string()),
            ("SESSION_IDLE_MS", self.session_idle_ms.to_string()),
            ("SHARD_MAX_SOCKETS", self.shard_max_sockets.to_string()),
            ("EVENT_LOG_MAX_EVENTS", self.event_log.max_events.to_string()),
            ("EVENT_LOG_MAX_AGE_MS", self.event_log.max_age_ms.to_string()),
            ("auth", auth.to_owned()),
            ("REQUEST_STATE_SECRET", secret_state.to_owned()),
        ]
        .into_iter()
        .collect()
    }
}

/// The development key used when `REQUEST_STATE_SECRET` is unset.
pub const DEV_REQUEST_STATE_SECRET: &str = "mcp-mesh development key: set REQUEST_STATE_SECRET";

impl MeshConfig {
    /// Reads every var through `lookup`; a var that is absent takes its default, except
    /// `SHARD_COUNT`, which wrangler.toml must set (a silent default would reshard a deployment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let shard_count = match lookup("SHARD_COUNT") {
            Some(raw) => parse_shard_count(&raw)?,
            None => {
                return Err(MeshError::Config {
                    var: "SHARD_COUNT",
                    reason: format!("is not set; wrangler.toml must set it (e.g. \"{DEFAULT_SHARD_COUNT}\")"),
                })
            }
        };
        let previous_shard_counts = match lookup("PREVIOUS_SHARD_COUNTS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| {
                    parse_shard_count(item).map_err(|_| MeshError::Config {
                        var: "PREVIOUS_SHARD_COUNTS",
                        reason: format!("must list shard counts from 1 to {MAX_SHARD_COUNT}, got {list:?}"),
                    })
                })
                .collect::<Result<Vec<u32>>>()?,
        };
        Ok(Self {
            shard_count,
            previous_shard_counts,
            shard_binding: lookup("SHARD_BINDING").unwrap_or_else(|| DEFAULT_SHARD_BINDING.to_owned()),
            coordinator_binding: lookup("COORDINATOR_BINDING")
                .unwrap_or_else(|| DEFAULT_COORDINATOR_BINDING.to_owned()),
            relay_above_shards: parse_bounded(
                &lookup,
                "RELAY_ABOVE_SHARDS",
                DEFAULT_RELAY_ABOVE_SHARDS,
                0,
                MAX_SHARD_COUNT,
            )?,
            keepalive_ms: parse_bounded(&lookup, "KEEPALIVE_MS", DEFAULT_KEEPALIVE_MS, 100, 290_000)?,
            sse_retry_ms: parse_bounded(&lookup, "SSE_RETRY_MS", DEFAULT_SSE_RETRY_MS, 0, 600_000)?,
            max_body_bytes: parse_bounded(&lookup, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024, 32 * 1024 * 1024)?,
            admin_token: lookup("MESH_ADMIN_TOKEN").filter(|token| !token.trim().is_empty()),
            origins: OriginPolicy::from_lists(
                &lookup("ALLOWED_HOSTS").unwrap_or_default(),
                &lookup("ALLOWED_ORIGINS").unwrap_or_default(),
            ),
            stream_buffer_bytes: parse_bounded(
                &lookup,
                "STREAM_BUFFER_BYTES",
                crate::backpressure::DEFAULT_STREAM_BUFFER_BYTES,
                1024,
                64 * 1024 * 1024,
            )?,
            stream_max_events: parse_bounded(&lookup, "STREAM_MAX_EVENTS", 0, 0, 1_000_000)?,
            session_idle_ms: u64::from(parse_bounded(
                &lookup,
                "SESSION_IDLE_MS",
                crate::expiry::DEFAULT_SESSION_IDLE_MS as u32,
                1_000,
                u32::MAX,
            )?),
            shard_max_sockets: parse_bounded(
                &lookup,
                "SHARD_MAX_SOCKETS",
                MAX_SOCKETS_PER_SHARD,
                1,
                MAX_SOCKETS_PER_SHARD,
            )?,
            event_log: LogLimits {
                max_events: u64::from(parse_bounded(
                    &lookup,
                    "EVENT_LOG_MAX_EVENTS",
                    DEFAULT_LOG_MAX_EVENTS as u32,
                    1,
                    u32::MAX,
                )?),
                max_age_ms: u64::from(parse_bounded(
                    &lookup,
                    "EVENT_LOG_MAX_AGE_MS",
                    DEFAULT_LOG_MAX_AGE_MS as u32,
                    1,
                    u32::MAX,
                )?),
            },
            auth: auth_settings(&lookup)?,
            request_state_secret: lookup("REQUEST_STATE_SECRET")
                .filter(|secret| !secret.trim().is_empty())
                .unwrap_or_else(|| DEV_REQUEST_STATE_SECRET.to_owned()),
        })
    }
}

/// The `AUTH_*` settings, with one rule that spans two vars: without `AUTH_AUDIENCE` the audience is
/// the endpoint's URL as the request's `Host` names it, which is only safe when the hosts are listed;
/// with `ALLOWED_HOSTS = "*"` any `Host` would pick the audience, and a token issued for another
/// resource of the same authorization server would pass.
fn auth_settings(lookup: &impl Fn(&str) -> Option<String>) -> Result<AuthSettings> {
    let auth = AuthSettings::from_lookup(lookup)?;
    let any_host = OriginPolicy::from_lists(&lookup("ALLOWED_HOSTS").unwrap_or_default(), "").allows_any_host();
    if matches!(&auth, AuthSettings::OAuth(oauth) if oauth.audience.is_none()) && any_host {
        return Err(MeshError::Config {
            var: "AUTH_AUDIENCE",
            reason: "must be set when ALLOWED_HOSTS is \"*\": the request's Host would choose the audience".into(),
        });
    }
    Ok(auth)
}

impl MeshConfig {
    /// Checks an `Authorization` header against `MESH_ADMIN_TOKEN`. Without a configured token the
    /// admin routes do not exist (404), so probing them reveals nothing; a wrong token is 401. The
    /// comparison takes the same time wherever the first differing byte is.
    pub fn authorize_admin(&self, authorization: Option<&str>) -> Result<()> {
        let Some(expected) = &self.admin_token else { return Err(MeshError::NotFound) };
        let given = authorization.and_then(|value| value.strip_prefix("Bearer ")).unwrap_or("");
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(MeshError::Unauthorized)
        }
    }
}

/// Validates a `SHARD_COUNT` value: a whole number from 1 to [`MAX_SHARD_COUNT`].
pub fn parse_shard_count(raw: &str) -> Result<u32> {
    let error = |reason: String| MeshError::Config { var: "SHARD_COUNT", reason };
    let value: u64 = raw
        .trim()
        .parse()
        .map_err(|_| error(format!("must be a whole number from 1 to {MAX_SHARD_COUNT}, got {raw:?}")))?;
    if value == 0 || value > u64::from(MAX_SHARD_COUNT) {
        return Err(error(format!("must be from 1 to {MAX_SHARD_COUNT}, got {value}")));
    }
    Ok(value as u32)
}

fn parse_bounded(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32> {
    let Some(raw) = lookup(var) else { return Ok(default) };
    match raw.trim().parse::<u32>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(MeshError::Config { var, reason: format!("must be a whole number from {min} to {max}, got {raw:?}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<MeshConfig> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        MeshConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_shard_count_is_set() {
        let c = config(&[("SHARD_COUNT", "16")]).unwrap();
        assert_eq!(c.shard_count, 16);
        assert_eq!(c.shard_binding, DEFAULT_SHARD_BINDING);
        assert_eq!(c.coordinator_binding, DEFAULT_COORDINATOR_BINDING);
        assert_eq!(c.keepalive_ms, DEFAULT_KEEPALIVE_MS);
        assert_eq!(c.admin_token, None);
        assert_eq!(c.stream_max_events, 0, "streams stay open unless polling is asked for");
        assert_eq!(c.relay_above_shards, DEFAULT_RELAY_ABOVE_SHARDS);
    }

    #[test]
    fn the_settings_shown_to_operators_never_include_a_secret() {
        let c = config(&[
            ("SHARD_COUNT", "8"),
            ("PREVIOUS_SHARD_COUNTS", "4,2"),
            ("MESH_ADMIN_TOKEN", "admin-secret"),
            ("REQUEST_STATE_SECRET", "state-secret"),
        ])
        .unwrap();
        let shown = c.public_settings();
        assert_eq!(shown["SHARD_COUNT"], "8");
        assert_eq!(shown["PREVIOUS_SHARD_COUNTS"], "4,2");
        assert_eq!(shown["REQUEST_STATE_SECRET"], "set");
        assert_eq!(shown["auth"], "off");
        assert!(shown.values().all(|value| !value.contains("secret")), "{shown:?}");
        assert!(!shown.contains_key("MESH_ADMIN_TOKEN"));
    }

    #[test]
    fn relays_are_configured_by_a_shard_count_and_0_turns_them_off() {
        assert_eq!(config(&[("SHARD_COUNT", "4"), ("RELAY_ABOVE_SHARDS", "0")]).unwrap().relay_above_shards, 0);
        assert_eq!(config(&[("SHARD_COUNT", "4"), ("RELAY_ABOVE_SHARDS", "8")]).unwrap().relay_above_shards, 8);
        for bad in ["-1", "x", "513"] {
            match config(&[("SHARD_COUNT", "4"), ("RELAY_ABOVE_SHARDS", bad)]) {
                Err(MeshError::Config { var, .. }) => assert_eq!(var, "RELAY_ABOVE_SHARDS", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn stream_max_events_turns_on_polling_within_bounds() {
        assert_eq!(config(&[("SHARD_COUNT", "4"), ("STREAM_MAX_EVENTS", "1")]).unwrap().stream_max_events, 1);
        for bad in ["-1", "x", "1000001"] {
            match config(&[("SHARD_COUNT", "4"), ("STREAM_MAX_EVENTS", bad)]) {
                Err(MeshError::Config { var, .. }) => assert_eq!(var, "STREAM_MAX_EVENTS", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_objects_settings_are_read_with_the_same_rules() {
        let c = config(&[("SHARD_COUNT", "4")]).unwrap();
        assert_eq!(c.shard_max_sockets, MAX_SOCKETS_PER_SHARD);
        assert_eq!(c.event_log, LogLimits::default());
        let c = config(&[
            ("SHARD_COUNT", "4"),
            ("SHARD_MAX_SOCKETS", "3"),
            ("EVENT_LOG_MAX_EVENTS", "10"),
            ("EVENT_LOG_MAX_AGE_MS", "2000"),
        ])
        .unwrap();
        assert_eq!((c.shard_max_sockets, c.event_log.max_events, c.event_log.max_age_ms), (3, 10, 2000));
        for (var, bad) in [("SHARD_MAX_SOCKETS", "0"), ("SHARD_MAX_SOCKETS", "32769"), ("EVENT_LOG_MAX_EVENTS", "0")] {
            match config(&[("SHARD_COUNT", "4"), (var, bad)]) {
                Err(MeshError::Config { var: named, .. }) => assert_eq!(named, var),
                other => panic!("{var}={bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_shard_counts_name_the_var() {
        for bad in [None, Some("0"), Some("abc"), Some("-3"), Some("1.5"), Some("513"), Some("99999999999")] {
            let vars: Vec<(&str, &str)> = bad.map(|v| vec![("SHARD_COUNT", v)]).unwrap_or_default();
            match config(&vars) {
                Err(MeshError::Config { var, .. }) => assert_eq!(var, "SHARD_COUNT", "{bad:?}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert_eq!(config(&[("SHARD_COUNT", " 64 ")]).unwrap().shard_count, 64);
    }

    #[test]
    fn admin_routes_hide_without_a_token_and_refuse_wrong_ones() {
        let without = config(&[("SHARD_COUNT", "4")]).unwrap();
        assert_eq!(without.authorize_admin(Some("Bearer x")), Err(MeshError::NotFound));
        let with = config(&[("SHARD_COUNT", "4"), ("MESH_ADMIN_TOKEN", "s3cret")]).unwrap();
        assert_eq!(with.authorize_admin(Some("Bearer s3cret")), Ok(()));
        for bad in
            [None, Some("Bearer s3cre"), Some("Bearer s3cret2"), Some("s3cret"), Some("Bearer "), Some("bearer s3cret")]
        {
            assert_eq!(with.authorize_admin(bad), Err(MeshError::Unauthorized), "{bad:?}");
        }
    }

    #[test]
    fn previous_shard_counts_are_a_validated_list() {
        let c = config(&[("SHARD_COUNT", "24"), ("PREVIOUS_SHARD_COUNTS", " 16, 8 ,")]).unwrap();
        assert_eq!(c.previous_shard_counts, vec![16, 8]);
        assert!(config(&[("SHARD_COUNT", "24")]).unwrap().previous_shard_counts.is_empty());
        for bad in ["16,x", "0", "9999"] {
            match config(&[("SHARD_COUNT", "24"), ("PREVIOUS_SHARD_COUNTS", bad)]) {
                Err(MeshError::Config { var, .. }) => assert_eq!(var, "PREVIOUS_SHARD_COUNTS"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_vars_are_validated_and_an_empty_token_means_none() {
        let c = config(&[("SHARD_COUNT", "4"), ("KEEPALIVE_MS", "500"), ("MESH_ADMIN_TOKEN", " ")]).unwrap();
        assert_eq!(c.keepalive_ms, 500);
        assert_eq!(c.admin_token, None);
        match config(&[("SHARD_COUNT", "4"), ("KEEPALIVE_MS", "5")]) {
            Err(MeshError::Config { var, .. }) => assert_eq!(var, "KEEPALIVE_MS"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn any_host_with_oauth_needs_an_explicit_audience() {
        let oauth = [("SHARD_COUNT", "4"), ("AUTH_ISSUER", "https://as.example"), ("ALLOWED_HOSTS", "*")];
        match config(&oauth) {
            Err(MeshError::Config { var, .. }) => assert_eq!(var, "AUTH_AUDIENCE"),
            other => panic!("{other:?}"),
        }
        let with_audience = [oauth.as_slice(), &[("AUTH_AUDIENCE", "https://mcp.example/mcp")]].concat();
        assert!(config(&with_audience).is_ok());
        let listed = [("SHARD_COUNT", "4"), ("AUTH_ISSUER", "https://as.example"), ("ALLOWED_HOSTS", "mcp.example")];
        assert!(config(&listed).is_ok());
        assert!(config(&[("SHARD_COUNT", "4"), ("ALLOWED_HOSTS", "*")]).is_ok(), "without OAuth, * is allowed");
    }
}
