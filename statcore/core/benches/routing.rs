//! Routing decision for a string key (hash + table lookup).
use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion};
use statcore_core::routing::{ModelRoute, Router, RoutingTable};

fn routing(c: &mut Criterion) {
    let mut routes = BTreeMap::new();
    routes.insert(
        "doc".to_owned(),
        ModelRoute {
            champion: "doc_1.0.0".into(),
            challenger: Some("doc_1.0.1".into()),
            challenger_share: 0.1,
            salt: "exp".into(),
        },
    );
    let router = Router::new(RoutingTable::new(1, routes).unwrap());
    c.bench_function("route_keyed", |b| {
        b.iter(|| {
            let t = router.current();
            t.decide(std::hint::black_box("doc"), std::hint::black_box(b"user-1234567"))
                .map(|(a, _)| a)
                .unwrap()
        })
    });
}

criterion_group!(benches, routing);
criterion_main!(benches);
