//! The hot path in one process: encoding an event, and publishing one event to a room of N
//! members (encode once per format, `try_send` the shared frame to each member's queue).
//!
//! `cargo bench --bench hot_path`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stagehand::config::Config;
use stagehand::delivery::outbox::{Outbox, Shared};
use stagehand::metrics::Metrics;
use stagehand::rooms::features::backend;
use stagehand::rooms::{Audience, Rooms};
use stagehand_protocol::server::{Event, EventBody, ServerMessage};
use stagehand_protocol::types::Actor;
use stagehand_protocol::{codec, ClientMessage, Command, Wire};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

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

/// How many events each member queue holds before the bench drains it (outside the timing).
const QUEUE: usize = 256;

fn fanout_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group.measurement_time(Duration::from_secs(5));
    for members in [1_000usize, 5_000, 100_000] {
        let config = Arc::new(Config::default());
        let limits = backend::Limits::from_config(&config);
        let rooms = Rooms::in_memory(config, Arc::new(Metrics::default()));
        let creator = Actor { id: "c".into(), name: "C".into() };
        let room = rooms.get_or_create("r", &creator, None).unwrap();
        room.op().publish(EventBody::RoomStarted { title: "t".into() });
        let mut queues = Vec::with_capacity(members);
        for id in 0..members as u64 {
            let (tx, rx) = mpsc::channel(QUEUE);
            let outbox = Outbox::new(id, Wire::MsgPack, tx, Shared::new());
            room.join(&outbox, Audience::Viewers, None, None, 1);
            queues.push(rx);
        }
        // The join replies.
        queues.iter_mut().for_each(|rx| while rx.try_recv().is_ok() {});
        group.throughput(Throughput::Elements(members as u64));
        group.bench_function(BenchmarkId::new("publish_to_members", members), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut queued = 0;
                for _ in 0..iters {
                    let start = Instant::now();
                    let publish =
                        backend::Publish::Activity { event_id: None, kind: "load".into(), text: "x".repeat(64) };
                    backend::publish(&room, publish, limits, 1, |_| true).unwrap();
                    spent += start.elapsed();
                    queued += 1;
                    if queued == QUEUE {
                        queues.iter_mut().for_each(|rx| while rx.try_recv().is_ok() {});
                        queued = 0;
                    }
                }
                queues.iter_mut().for_each(|rx| while rx.try_recv().is_ok() {});
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec_bench, fanout_bench);
criterion_main!(benches);
