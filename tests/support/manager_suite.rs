//! The behavioural suite of the `SessionManager` API. The same cases run against the in-memory
//! implementation (`tests/manager_behaviour.rs`) and against the sharded Durable Object
//! implementation on workerd (`tests/e2e.rs`), through a [`Driver`] each.

#![allow(dead_code)]

use std::time::Duration;

use mcp_mesh::protocol::SendReport;
use mcp_mesh::sse;

#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    Conflict,
    Other(String),
}

pub trait Probe {
    /// The payloads received so far, waiting up to `timeout` until there are at least `count`.
    fn wait_payloads(&mut self, count: usize, timeout: Duration) -> Vec<String>;
    /// Whether the stream ended, waiting up to `timeout`.
    fn wait_closed(&mut self, timeout: Duration) -> bool;
}

pub trait Driver {
    type Stream: Probe;
    fn create(&self, id: &str) -> Result<Self::Stream, CreateError>;
    fn delete(&self, id: &str);
    fn has(&self, id: &str) -> bool;
    fn send(&self, ids: Option<Vec<String>>, data: &str) -> SendReport;
    /// How long to wait for a delivery that must happen.
    fn patience(&self) -> Duration;
}

pub type Case<D> = (&'static str, fn(&D, &str) -> Result<(), String>);

/// Every case, with its name. `prefix` keeps ids unique between runs sharing storage.
pub fn cases<D: Driver>() -> Vec<Case<D>> {
    vec![
        ("create_then_has", create_then_has::<D>),
        ("second_create_conflicts", second_create_conflicts::<D>),
        ("targeted_send_reaches_exactly_the_targets", targeted_send_reaches_exactly_the_targets::<D>),
        ("broadcast_reaches_everyone_once", broadcast_reaches_everyone_once::<D>),
        ("delete_closes_and_forgets", delete_closes_and_forgets::<D>),
        ("recreate_after_delete", recreate_after_delete::<D>),
    ]
}

fn check(condition: bool, what: impl Into<String>) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn frame(text: &str) -> String {
    sse::encode_message(&format!("\"{text}\""), None)
}

/// Payloads that are messages (not comments, retry hints or other suites' traffic for this prefix).
fn messages(payloads: &[String], prefix: &str) -> Vec<String> {
    let mut decoder = sse::SseDecoder::new();
    payloads
        .iter()
        .flat_map(|p| decoder.feed(p.as_bytes()))
        .map(|e| e.data.trim_matches('"').to_owned())
        .filter(|d| d.starts_with(prefix))
        .collect()
}

fn create_then_has<D: Driver>(d: &D, prefix: &str) -> Result<(), String> {
    let id = format!("{prefix}-has");
    check(!d.has(&id), "has() is true before create")?;
    let _stream = d.create(&id).map_err(|e| format!("create: {e:?}"))?;
    check(d.has(&id), "has() is false after create")?;
    check(!d.has(&format!("{prefix}-never-created")), "has() is true for an unknown id")
}

fn second_create_conflicts<D: Driver>(d: &D, prefix: &str) -> Result<(), String> {
    let id = format!("{prefix}-twice");
    let _first = d.create(&id).map_err(|e| format!("create: {e:?}"))?;
    match d.create(&id) {
        Err(CreateError::Conflict) => Ok(()),
        Err(other) => Err(format!("expected a conflict, got {other:?}")),
        Ok(_) => Err("a second create for a live id succeeded".into()),
    }
}

fn targeted_send_reaches_exactly_the_targets<D: Driver>(d: &D, prefix: &str) -> Result<(), String> {
    let ids: Vec<String> = (0..12).map(|i| format!("{prefix}-t{i}")).collect();
    let mut streams = Vec::new();
    for id in &ids {
        streams.push(d.create(id).map_err(|e| format!("create {id}: {e:?}"))?);
    }
    let targets: Vec<String> = ids.iter().step_by(3).cloned().collect();
    let mut with_unknown = targets.clone();
    with_unknown.push(format!("{prefix}-nobody"));
    let tag = format!("{prefix}-targeted");
    let report = d.send(Some(with_unknown), &frame(&tag));
    check(report.delivered == targets.len() as u64, format!("delivered {report:?}, expected {}", targets.len()))?;
    check(report.missing == 1, format!("missing {report:?}, expected 1"))?;
    // A fence to everyone: once a stream has the fence, anything targeted at it has arrived too.
    let fence = format!("{prefix}-fence");
    d.send(Some(ids.clone()), &frame(&fence));
    for (id, stream) in ids.iter().zip(streams.iter_mut()) {
        let expected = if targets.contains(id) { 2 } else { 1 };
        let got = messages(&stream.wait_payloads(expected, d.patience()), prefix);
        let want: Vec<String> =
            if targets.contains(id) { vec![tag.clone(), fence.clone()] } else { vec![fence.clone()] };
        check(got == want, format!("{id} received {got:?}, expected {want:?}"))?;
    }
    Ok(())
}

fn broadcast_reaches_everyone_once<D: Driver>(d: &D, prefix: &str) -> Result<(), String> {
    let ids: Vec<String> = (0..10).map(|i| format!("{prefix}-b{i}")).collect();
    let mut streams = Vec::new();
    for id in &ids {
        streams.push(d.create(id).map_err(|e| format!("create {id}: {e:?}"))?);
    }
    let tag = format!("{prefix}-all");
    let report = d.send(None, &frame(&tag));
    check(report.delivered >= ids.len() as u64, format!("broadcast report {report:?}"))?;
    let fence = format!("{prefix}-bfence");
    d.send(Some(ids.clone()), &frame(&fence));
    for (id, stream) in ids.iter().zip(streams.iter_mut()) {
        let got = messages(&stream.wait_payloads(2, d.patience()), &format!("{prefix}-"));
        let copies = got.iter().filter(|m| **m == tag).count();
        check(copies == 1, format!("{id} got the broadcast {copies} times: {got:?}"))?;
    }
    Ok(())
}

fn delete_closes_and_forgets<D: Driver>(d: &D, prefix: &str) -> Result<(), String> {
    let id = format!("{prefix}-del");
    let mut stream = d.create(&id).map_err(|e| format!("create: {e:?}"))?;
    d.delete(&id);
    check(stream.wait_closed(d.patience()), "the stream stayed open after delete")?;
    check(!d.has(&id), "has() is true after delete")?;
    let report = d.send(Some(vec![id.clone()]), &frame("late"));
    check(report.delivered == 0 && report.missing == 1, format!("send after delete: {report:?}"))?;
    d.delete(&format!("{prefix}-unknown"));
    Ok(())
}

fn recreate_after_delete<D: Driver>(d: &D, prefix: &str) -> Result<(), String> {
    let id = format!("{prefix}-again");
    let first = d.create(&id).map_err(|e| format!("create: {e:?}"))?;
    d.delete(&id);
    drop(first);
    let mut second = d.create(&id).map_err(|e| format!("re-create after delete: {e:?}"))?;
    let report = d.send(Some(vec![id.clone()]), &frame(&format!("{prefix}-again-msg")));
    check(report.delivered == 1, format!("send to the new stream: {report:?}"))?;
    let got = messages(&second.wait_payloads(1, d.patience()), prefix);
    check(got == vec![format!("{prefix}-again-msg")], format!("new stream got {got:?}"))
}
