//! criterion benches of the core: routing (ns per id), SSE encode/decode (bytes/s), worker↔shard
//! frame building (the SSE bytes with the event id), and fan-out planning for 1,000,000 sessions over 16/64/256 shards.
//! Run with `cargo bench --bench mesh`.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use mcp_mesh::fanout::plan_targeted;
use mcp_mesh::frames::with_event_id;
use mcp_mesh::routing::{session_key, shard_for, shards_for_many};
use mcp_mesh::sse::{encode_message, SseDecoder};

fn ids(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{:08x}-5e68-4ca0-9de1-{:012x}", i.wrapping_mul(2_654_435_761), i)).collect()
}

fn routing(c: &mut Criterion) {
    let ids = ids(1024);
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(ids.len() as u64));
    // The hash alone, so the jump's share of the cost is visible.
    group.bench_function("xxh3_key_uuid", |b| {
        b.iter(|| ids.iter().map(|id| session_key(black_box(id))).fold(0u64, |a, k| a ^ k))
    });
    for shards in [16u32, 256] {
        group.bench_with_input(BenchmarkId::new("shard_for_uuid", shards), &shards, |b, &n| {
            b.iter(|| ids.iter().map(|id| shard_for(black_box(id), n)).fold(0u32, |a, s| a ^ s))
        });
        group.bench_with_input(BenchmarkId::new("shards_for_many_uuid", shards), &shards, |b, &n| {
            b.iter(|| shards_for_many(black_box(&ids), n).len())
        });
    }
    group.finish();
}

fn notification() -> String {
    concat!(
        r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","logger":"announce","#,
        r#""data":{"text":"hello from the mesh","sent_at_ms":1795462500878}}}"#
    )
    .to_owned()
}

fn sse(c: &mut Criterion) {
    let json = notification();
    let encoded: String = (0..100).map(|i| encode_message(&json, Some(&i.to_string()))).collect();
    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode_100_messages", |b| {
        b.iter(|| (0..100).map(|i| encode_message(black_box(&json), Some(&i.to_string())).len()).sum::<usize>())
    });
    group.bench_function("decode_100_messages", |b| {
        b.iter(|| SseDecoder::new().feed(black_box(encoded.as_bytes())).len())
    });
    group.finish();
}

/// What a shard builds once per send: the event's SSE bytes with its id in front.
fn frames(c: &mut Criterion) {
    let payload = encode_message(&notification(), None);
    let mut group = c.benchmark_group("shard_frame");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("with_event_id", |b| b.iter(|| with_event_id(black_box(&payload), black_box("12-3456"))));
    group.finish();
}

fn fanout(c: &mut Criterion) {
    let sessions = ids(1_000_000);
    let mut group = c.benchmark_group("fanout_plan_1m_sessions");
    group.sample_size(10);
    group.throughput(Throughput::Elements(sessions.len() as u64));
    for shards in [16u32, 64, 256] {
        group.bench_with_input(BenchmarkId::from_parameter(shards), &shards, |b, &n| {
            b.iter_batched(|| (), |_| plan_targeted(black_box(&sessions), n).len(), BatchSize::SmallInput)
        });
    }
    group.finish();
}

criterion_group!(benches, routing, sse, frames, fanout);
criterion_main!(benches);
