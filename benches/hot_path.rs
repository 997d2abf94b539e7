//! The hot path in one process: encoding an event, and publishing one event to a room of N
//! members without sockets — what the publisher waits for (queueing one job per partition), and
//! the whole fan-out (encode once per format, hand the shared frame to each member's backlog),
//! run by the partitions' pump tasks on a multi-threaded runtime.
//!
//! `cargo bench --bench hot_path`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stagehand::config::Config;
use stagehand::delivery::outbox::Outbox;
use stagehand::metrics::Metrics;
use stagehand::rooms::features::backend;
use stagehand::rooms::{Audience, Rooms};
use stagehand_protocol::server::{Event, EventBody, ServerMessage};
use stagehand_protocol::types::Actor;
use stagehand_protocol::{codec, ClientMessage, Command, Wire};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn activity() -> EventBody {
    EventBody::Activity { kind: "load".into(), text: "x".repeat(64) }
}

fn codec_bench(c: &mut Criterion) {
    let event =
        ServerMessage::Event(Event { room: "room-1".into(), seq: 42, staff_seq: None, ts: 1, body: activity() });
    let request = ClientMessage::new(7, Command::Comment { room: "room-1".into(), text: "hello there".into() });
    let mut group = c.benchmark_group("codec");
    for wire in Wire::BOTH {
        group.bench_function(BenchmarkId::new("encode_event", format!("{wire:?}")), |b| {
            b.iter(|| codec::encode(wire, &event).unwrap())
        });
        let bytes = codec::encode(wire, &request).unwrap();
        group.bench_function(BenchmarkId::new("decode_request", format!("{wire:?}")), |b| {
            b.iter(|| codec::decode_request(wire, &bytes, 16 * 1024).unwrap())
        });
    }
    group.finish();
}

fn fanout_bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("fanout");
    group.measurement_time(Duration::from_secs(5));
    for members in [1_000usize, 5_000, 100_000] {
        let config = Arc::new(Config::default());
        let _guard = runtime.enter();
        let limits = backend::Limits::from_config(&config);
        let publish = |room: &stagehand::rooms::room::Room| {
            let event = backend::Publish::Activity { event_id: None, kind: "load".into(), text: "x".repeat(64) };
            backend::publish(room, event, limits, 1, |_| true).unwrap();
        };
        let rooms = Rooms::in_memory(config, Arc::new(Metrics::default()));
        let creator = Actor { id: "c".into(), name: "C".into() };
        let room = rooms.get_or_create("r", &creator, None).unwrap();
        room.op().publish(EventBody::RoomStarted { title: "t".into() });
        let outboxes: Vec<Outbox> = (0..members as u64)
            .map(|id| {
                let outbox = Outbox::socketless(id, Wire::MsgPack, 1 << 20);
                room.join(&outbox, Audience::Viewers, None, None, 1);
                outbox
            })
            .collect();
        let drain = || outboxes.iter().for_each(|o| drop(o.take_frames()));
        runtime.block_on(room.idle());
        drain();
        group.throughput(Throughput::Elements(members as u64));
        group.bench_function(BenchmarkId::new("publish_returns", members), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let publish =
                        backend::Publish::Activity { event_id: None, kind: "load".into(), text: "x".repeat(64) };
                    backend::publish(&room, publish, limits, 1, |_| true).unwrap();
                    spent += start.elapsed();
                    runtime.block_on(room.idle());
                    drain();
                }
                spent
            })
        });
        group.bench_function(BenchmarkId::new("publish_delivered", members), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    publish(&room);
                    runtime.block_on(room.idle());
                    spent += start.elapsed();
                    drain();
                }
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec_bench, fanout_bench);
criterion_main!(benches);
