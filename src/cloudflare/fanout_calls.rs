//! A send's calls to its shards, from the Worker or from a relay: at most
//! `MAX_CONCURRENT_SUBREQUESTS` waiting for their headers (`crate::headers_first`), straight to the
//! shards, or above `RELAY_ABOVE_SHARDS` member shards through ⌈√N⌉ relays (`crate::fanout`), each
//! calling its share the same way. A relay is an object of the shard class named `relay-<i>`: it
//! holds no streams, and its answer ends with its shards' reports summed.

use worker::Env;

use super::stubs::{self, Target};
use crate::config::MeshConfig;
use crate::delivery::NotificationKind;
use crate::error::{MeshError, Result};
use crate::fanout::{fits_direct_fanout, sum_replies, ShardBatch, MAX_CONCURRENT_SUBREQUESTS};
use crate::headers_first::headers_first;
use crate::protocol::{ObjectCall, Payload, RelaySend, SendReply, SendRequest};
use crate::send_plan::{plan_send, SendPlan};

/// Sends `payload` to `batches`, straight or through relays as the configuration says; one outcome
/// per call made (a relay's covers its shards).
pub async fn send(
    env: &Env,
    config: &MeshConfig,
    batches: Vec<ShardBatch>,
    payload: &Payload,
    kind: &NotificationKind,
) -> Vec<Result<SendReply>> {
    match plan_send(batches, config.relay_above_shards) {
        SendPlan::Straight(batches) => send_to_shards(env, config, batches, payload, kind).await,
        SendPlan::Relayed(shares) => {
            let calls = shares.into_iter().enumerate().map(|(index, batches)| {
                (Target::Relay(index), RelaySend { batches, payload: payload.clone(), kind: kind.clone() })
            });
            call_each(env, config, calls).await
        }
    }
}

/// Sends to each of `batches`' shards directly.
async fn send_to_shards(
    env: &Env,
    config: &MeshConfig,
    batches: Vec<ShardBatch>,
    payload: &Payload,
    kind: &NotificationKind,
) -> Vec<Result<SendReply>> {
    if !fits_direct_fanout(&batches) {
        let reason = format!("{} member shards exceed one invocation's subrequest budget", batches.len());
        return vec![Err(MeshError::Config { var: "SHARD_COUNT", reason })];
    }
    let calls = batches.into_iter().map(|batch| {
        (
            Target::Shard(batch.shard),
            SendRequest { sessions: batch.sessions, payload: payload.clone(), kind: kind.clone() },
        )
    });
    call_each(env, config, calls).await
}

/// Makes each (object of the shard class, call) headers first, at most `MAX_CONCURRENT_SUBREQUESTS`
/// waiting for their headers; the calls are built as they go out.
async fn call_each<C: ObjectCall<Reply = SendReply>>(
    env: &Env,
    config: &MeshConfig,
    calls: impl Iterator<Item = (Target, C)>,
) -> Vec<Result<SendReply>> {
    let calls = calls.map(|(target, call)| async move {
        let stub = stubs::stub(env, &config.shard_binding, target)?;
        stubs::call_headers_first(&stub, &call).await
    });
    headers_first(calls, MAX_CONCURRENT_SUBREQUESTS).await
}

/// A relay's work: its share of a send, its shards' replies summed; the first failure fails it (the
/// Worker must not count a shard that did not report).
pub async fn relay(env: Env, config: std::rc::Rc<MeshConfig>, call: RelaySend) -> Result<SendReply> {
    let outcomes = send_to_shards(&env, &config, call.batches, &call.payload, &call.kind).await;
    let (total, mut errors) = sum_replies(outcomes);
    match errors.len() {
        0 => Ok(total),
        1 => Err(errors.remove(0)),
        failed => Err(MeshError::Upstream {
            what: "relay",
            detail: format!("{failed} of its shards failed; the first: {}", errors.remove(0)),
        }),
    }
}
