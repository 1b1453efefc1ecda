//! Store benchmark: both backends side by side in one run, printed as a table.
//!
//! `cargo bench -p rkube-store --bench store` (needs Debian's etcd-server). Scale with
//! `RKUBE_BENCH_SCALE` (default 1.0) for quick runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rkube_store::etcd_process::EtcdProcess;
use rkube_store::{EtcdStore, ListOptions, RedbStore, Store};

struct Figures {
    writes_1: f64,
    writes_64: f64,
    gets: f64,
    list_10k_ms: f64,
    watch_p50_us: f64,
    watch_p99_us: f64,
    db_mb: f64,
}

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("RKUBE_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64) * s).max(1.0) as usize
}

async fn writes(
    s: &Arc<dyn Store>,
    prefix: &str,
    writers: usize,
    per_writer: usize,
    value: usize,
) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let s = s.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                s.create(&format!("{prefix}{w:03}/{i:06}"), vec![b'x'; value])
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    (writers * per_writer) as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

async fn run(s: Arc<dyn Store>, size: impl Fn() -> u64) -> Figures {
    let writes_1 = writes(&s, "/b/w1/", 1, scale(2000), 256).await;
    let writes_64 = writes(&s, "/b/w64/", 64, scale(300), 256).await;

    // 10k keys of 1 KB for gets and the list.
    writes(&s, "/b/list/", 64, scale(10_000).div_ceil(64), 1024).await;
    let keys: Vec<String> = s
        .list("/b/list/", ListOptions::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    let n_gets = scale(50_000);
    let start = Instant::now();
    let mut tasks = Vec::new();
    let keys = Arc::new(keys);
    for t in 0..4 {
        let (s, keys) = (s.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..n_gets / 4 {
                let k = &keys[(i * 7919 + t) % keys.len()];
                s.get(k).await.expect("get").expect("present");
            }
        }));
    }
    for t in tasks {
        t.await.expect("getter");
    }
    let gets = (n_gets / 4 * 4) as f64 / start.elapsed().as_secs_f64();

    let mut list_times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let r = s
            .list("/b/list/", ListOptions::default())
            .await
            .expect("list");
        list_times.push(start.elapsed());
        assert_eq!(r.items.len(), keys.len());
    }
    list_times.sort();
    let list_10k_ms = list_times[2].as_secs_f64() * 1e3;

    // Watch latency: time from issuing a write to the watcher holding its event.
    let rev = s.current_revision().await.expect("revision");
    let mut w = s.watch("/b/watch/", rev).await.expect("watch");
    let n = scale(1000);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let receiver = tokio::spawn(async move {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match w.next().await {
                Some(Ok(_)) => got.push(Instant::now()),
                other => panic!("watch ended: {:?}", other.map(|r| r.map(|e| e.kv.key))),
            }
        }
        got
    });
    for i in 0..n {
        let _ = tx.send(Instant::now());
        s.create(&format!("/b/watch/{i:06}"), vec![b'w'; 256])
            .await
            .expect("create");
    }
    let received = receiver.await.expect("receiver");
    let mut lat = Vec::with_capacity(n);
    for r in received {
        let sent = rx.recv().await.expect("sent time");
        lat.push(r.saturating_duration_since(sent));
    }
    lat.sort();

    // 100k values of 1 KB.
    writes(&s, "/b/size/", 64, scale(100_000).div_ceil(64), 1024).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Figures {
        writes_1,
        writes_64,
        gets,
        list_10k_ms,
        watch_p50_us: percentile(&lat, 0.5),
        watch_p99_us: percentile(&lat, 0.99),
        db_mb: size() as f64 / (1024.0 * 1024.0),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        let redb = RedbStore::open(&path).expect("open redb");
        let p2 = path.clone();
        let r = run(Arc::new(redb), move || {
            std::fs::metadata(&p2).map(|m| m.len()).unwrap_or(0)
        })
        .await;

        let etcd = EtcdProcess::start().expect("start etcd (apt-get install etcd-server)");
        let store = EtcdStore::connect(etcd.endpoint())
            .await
            .expect("connect etcd");
        let e = run(Arc::new(store), || etcd.db_size()).await;

        println!();
        println!("| store benchmark (2 cores)        | redb (embedded) | etcd 3.4 | redb / etcd |");
        println!("|----------------------------------|----------------:|---------:|------------:|");
        let row = |name: &str, a: f64, b: f64, higher_better: bool| {
            let ratio = if higher_better { a / b } else { b / a };
            println!("| {name:<32} | {a:>15.1} | {b:>8.1} | {ratio:>10.1}x |");
        };
        row("writes/s, 1 writer", r.writes_1, e.writes_1, true);
        row("writes/s, 64 writers", r.writes_64, e.writes_64, true);
        row("gets/s (4 readers)", r.gets, e.gets, true);
        row(
            "list 10k keys of 1 KB, ms",
            r.list_10k_ms,
            e.list_10k_ms,
            false,
        );
        row(
            "watch delivery p50, us",
            r.watch_p50_us,
            e.watch_p50_us,
            false,
        );
        row(
            "watch delivery p99, us",
            r.watch_p99_us,
            e.watch_p99_us,
            false,
        );
        row("db size after 100k x 1 KB, MiB", r.db_mb, e.db_mb, false);
        println!();
        println!("(ratio column: how many times better redb is; >1 = redb better)");
    });
}
