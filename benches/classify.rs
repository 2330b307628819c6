//! Speed of the SQL classifier on typical statements; target is under 1 µs each.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datagate::mysql::classify::{SessionContext, classify, route};

const STATEMENTS: &[(&str, &str)] = &[
    ("point_select", "SELECT c FROM sbtest1 WHERE id=5012"),
    (
        "range_select",
        "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 4012 AND 4111 ORDER BY c",
    ),
    (
        "sum_range",
        "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 4012 AND 4111",
    ),
    (
        "insert",
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5012, 4993, \
         '83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-41576422241-93426793964-56405065102-33518432330', \
         '67847967377-48000963322-62604785301-91415491898-96926520291')",
    ),
    ("update_index", "UPDATE sbtest1 SET k=k+1 WHERE id=5012"),
    (
        "update_non_index",
        "UPDATE sbtest1 SET c='08566691963-88624912351-16662227201-46648573979' WHERE id=5012",
    ),
    ("delete", "DELETE FROM sbtest1 WHERE id=5012"),
    ("begin", "BEGIN"),
    ("commit", "COMMIT"),
    ("set_autocommit", "SET autocommit=0"),
    (
        "hinted",
        "SELECT c FROM sbtest1 WHERE id=5012 -- maxscale route to master",
    ),
    (
        "for_update",
        "SELECT c FROM sbtest1 WHERE id=5012 FOR UPDATE",
    ),
    (
        "join",
        "/* app=orders */ SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id \
         WHERE o.created_at > NOW() - INTERVAL 1 DAY AND o.status IN ('new', 'paid') ORDER BY o.id DESC LIMIT 50",
    ),
];

fn bench(c: &mut Criterion) {
    let ctx = SessionContext::default();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(1));
    for (name, sql) in STATEMENTS {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let c = classify(black_box(sql.as_bytes()));
                black_box(route(&c, &ctx));
            })
        });
    }
    group.bench_function("all_mixed", |b| {
        b.iter(|| {
            for (_, sql) in STATEMENTS {
                let c = classify(black_box(sql.as_bytes()));
                black_box(route(&c, &ctx));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
