//! Issuing calls whose answers come headers first: a shard answers a send's headers as soon as the
//! event is in its replay log and writes its sockets afterwards, ending the body with its report. The
//! Workers runtime bounds an invocation's connections *waiting for response headers* (six), not the
//! bodies still open, so at most `limit` calls wait for headers at once and the bodies are read as they
//! complete: every shard's writes overlap instead of going six at a time. Must not touch the runtime.

use std::future::Future;

use futures::future::{select, Either};
use futures::stream::{FuturesUnordered, StreamExt};

use crate::error::Result;

/// Runs `calls` with at most `limit` waiting for their headers. Each call resolves, once its headers
/// have come, to the future of its body; the outcomes (one per call, a call that failed before or
/// after its headers as its error) come back in the order they complete.
pub async fn headers_first<I, H, B, T>(calls: I, limit: usize) -> Vec<Result<T>>
where
    I: IntoIterator<Item = H>,
    H: Future<Output = Result<B>>,
    B: Future<Output = Result<T>>,
{
    let mut pending = calls.into_iter();
    let mut waiting = FuturesUnordered::new();
    let mut bodies = FuturesUnordered::new();
    let mut outcomes = Vec::new();
    loop {
        while waiting.len() < limit.max(1) {
            match pending.next() {
                Some(call) => waiting.push(call),
                None => break,
            }
        }
        // Which finished first: a call's headers (then its body is read on) or a body (its outcome).
        let next = match (waiting.is_empty(), bodies.is_empty()) {
            (true, true) => break,
            (false, true) => Either::Left(waiting.next().await),
            (true, false) => Either::Right(bodies.next().await),
            (false, false) => match select(waiting.next(), bodies.next()).await {
                Either::Left((headers, _)) => Either::Left(headers),
                Either::Right((body, _)) => Either::Right(body),
            },
        };
        match next {
            Either::Left(Some(Ok(body))) => bodies.push(body),
            Either::Left(Some(Err(error))) => outcomes.push(Err(error)),
            Either::Right(Some(outcome)) => outcomes.push(outcome),
            Either::Left(None) | Either::Right(None) => {}
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use futures::channel::oneshot;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;

    use super::*;
    use crate::error::MeshError;

    /// A fake object call: counts its start, resolves its headers when told, then its body when told.
    struct Fake {
        started: Rc<Cell<usize>>,
        headers: Vec<Option<oneshot::Sender<()>>>,
        bodies: Vec<Option<oneshot::Sender<Result<u64>>>>,
    }

    fn fake_calls(count: usize) -> (Fake, Vec<impl Future<Output = Result<impl Future<Output = Result<u64>>>>>) {
        let started = Rc::new(Cell::new(0));
        let mut fake = Fake { started: started.clone(), headers: Vec::new(), bodies: Vec::new() };
        let mut calls = Vec::new();
        for _ in 0..count {
            let (headers_tx, headers_rx) = oneshot::channel::<()>();
            let (body_tx, body_rx) = oneshot::channel::<Result<u64>>();
            fake.headers.push(Some(headers_tx));
            fake.bodies.push(Some(body_tx));
            let started = started.clone();
            calls.push(async move {
                started.set(started.get() + 1);
                headers_rx.await.map_err(|_| MeshError::Upstream { what: "shard", detail: "no headers".into() })?;
                Ok(async move {
                    // A body that ends without its report is a failed call, never a delivery.
                    body_rx.await.unwrap_or(Err(MeshError::Upstream { what: "shard", detail: "no report".into() }))
                })
            });
        }
        (fake, calls)
    }

    #[test]
    fn a_seventh_call_starts_when_the_first_headers_arrive_though_its_body_is_open() {
        let mut pool = LocalPool::new();
        let (mut fake, calls) = fake_calls(8);
        let outcomes = Rc::new(RefCell::new(None));
        let done = outcomes.clone();
        pool.spawner()
            .spawn_local(async move {
                *done.borrow_mut() = Some(headers_first(calls, 6).await);
            })
            .unwrap();
        pool.run_until_stalled();
        assert_eq!(fake.started.get(), 6, "six wait for headers");
        fake.headers[0].take().unwrap().send(()).unwrap();
        pool.run_until_stalled();
        assert_eq!(fake.started.get(), 7, "call 7 starts when call 1's headers come, its body still open");
        fake.headers[1].take().unwrap().send(()).unwrap();
        pool.run_until_stalled();
        assert_eq!(fake.started.get(), 8);
        // Every report is collected, whatever order the bodies end in; one shard dies after its headers.
        for i in 2..8 {
            fake.headers[i].take().unwrap().send(()).unwrap();
        }
        for i in (0..8).rev() {
            let body = fake.bodies[i].take().unwrap();
            if i == 3 {
                drop(body);
            } else {
                body.send(Ok(i as u64)).unwrap();
            }
        }
        pool.run_until_stalled();
        let outcomes = outcomes.borrow_mut().take().expect("the fan-out finished");
        assert_eq!(outcomes.len(), 8);
        let mut delivered: Vec<u64> = outcomes.iter().filter_map(|o| o.as_ref().ok().copied()).collect();
        delivered.sort_unstable();
        assert_eq!(delivered, [0, 1, 2, 4, 5, 6, 7]);
        assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 1, "the dead shard counts as failed");
    }

    #[test]
    fn a_call_refused_before_its_headers_is_an_outcome_too() {
        let calls = vec![
            futures::future::ready(Err::<futures::future::Ready<Result<u64>>, _>(MeshError::ShardFull { shard: 2 })),
            futures::future::ready(Ok(futures::future::ready(Ok(5)))),
        ];
        let outcomes = futures::executor::block_on(headers_first(calls, 6));
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.contains(&Err(MeshError::ShardFull { shard: 2 })));
        assert!(outcomes.contains(&Ok(5)));
        let none: Vec<futures::future::Ready<Result<futures::future::Ready<Result<u64>>>>> = Vec::new();
        assert!(futures::executor::block_on(headers_first(none, 6)).is_empty());
    }
}
