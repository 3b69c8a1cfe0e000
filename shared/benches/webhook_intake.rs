//! Warm cost of one webhook POST: signature check + parse + split into queue
//! messages, for a typical 2 KB status payload and a 1 MB batch, next to the
//! physical floor (HMAC-SHA256 alone over the same bytes).
//!
//! After criterion's numbers it prints the ratio of the work to the floor,
//! from runs of the two interleaved (so a busy machine slows both alike).
//! `CHASQUI_BENCH_ITERS=n` runs each step n times and exits, without
//! criterion: for `valgrind --tool=callgrind`, whose instruction counts do not
//! depend on the machine's load.
//!
//! `make bench` runs it; docs/benchmarks.md keeps the numbers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use shared::intake::{self, MAX_BODY_BYTES};
use shared::signature;
use shared::webhook::WebhookPayload;

#[path = "support/payloads.rs"]
mod payloads;
use payloads::{batch, typical};

const SECRET: &[u8] = b"bench-app-secret";

#[inline(never)]
fn hmac_only(body: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[inline(never)]
fn intake(body: &[u8], header: &str) -> usize {
    signature::verify(Some(header.as_bytes()), body, SECRET).unwrap();
    intake::split(
        shared::tenant::DEFAULT_APP,
        body,
        1_730_000_000_000,
        MAX_BODY_BYTES,
    )
    .messages
    .len()
}

fn payloads() -> [(&'static str, Vec<u8>); 2] {
    [("2KB", typical()), ("1MB", batch())]
}

fn bench(c: &mut Criterion) {
    for (name, body) in payloads() {
        let header = signature::sign(&body, SECRET);
        assert!(intake(&body, &header) > 0);
        let mut group = c.benchmark_group(format!("webhook_{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("hmac_floor", |b| b.iter(|| hmac_only(black_box(&body))));
        group.bench_function("verify_parse_split", |b| {
            b.iter(|| intake(black_box(&body), &header))
        });
        group.bench_function("typed_parse", |b| {
            b.iter(|| WebhookPayload::parse(black_box(&body)).unwrap().entry.len())
        });
        group.finish();
    }
}

/// The work next to the floor, from rounds that alternate a block of each
/// (so a busy machine slows both alike): the median round, and the fastest.
fn ratios() {
    println!("\nwebhook intake vs the HMAC-SHA256 floor (51 interleaved rounds; goal <= 3x)");
    for (name, body) in payloads() {
        let header = signature::sign(&body, SECRET);
        let block = (4_000_000 / body.len()).max(2);
        let (mut floor, mut work) = (Vec::new(), Vec::new());
        for _ in 0..51 {
            floor.push(per_call(block, || {
                black_box(hmac_only(black_box(&body)));
            }));
            work.push(per_call(block, || {
                black_box(intake(black_box(&body), &header));
            }));
        }
        floor.sort();
        work.sort();
        let ratio = |w: Duration, f: Duration| w.as_secs_f64() / f.as_secs_f64();
        let (median, fastest) = (ratio(work[25], floor[25]), ratio(work[0], floor[0]));
        println!(
            "  {name:>4} ({} bytes): verify+parse+split {:>9.2?}  hmac floor {:>9.2?}  ratio {median:.2}x {}  (fastest rounds: {:.2?} / {:.2?} = {fastest:.2}x)",
            body.len(),
            work[25],
            floor[25],
            if median <= 3.0 { "PASS" } else { "MISS" },
            work[0],
            floor[0],
        );
    }
}

fn per_call(calls: usize, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..calls {
        f();
    }
    started.elapsed() / calls as u32
}

fn main() {
    if let Some(iters) = std::env::var("CHASQUI_BENCH_ITERS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        // For callgrind: `--toggle-collect` on these two functions.
        for (_, body) in payloads() {
            let header = signature::sign(&body, SECRET);
            for _ in 0..iters {
                black_box(hmac_only(black_box(&body)));
                black_box(intake(black_box(&body), &header));
            }
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // `cargo test --all-targets` runs benches once as a smoke test, without `--bench`.
    if std::env::args().any(|a| a == "--bench") {
        ratios();
    }
}
