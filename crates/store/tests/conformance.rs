//! One suite, both backends: every test runs against the embedded redb store and against a
//! real etcd started for the test.

use std::sync::Arc;
use std::time::Duration;

use rkube_store::etcd_process::EtcdProcess;
use rkube_store::{
    EtcdStore, EventKind, ListOptions, RedbStore, Store, StoreError, MAX_VALUE_BYTES,
};

/// A store under test plus whatever keeps it alive.
struct Harness {
    store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any + Send>,
}

fn redb() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path().join("db/state.redb")).expect("open redb");
    Harness {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

async fn etcd() -> Harness {
    let proc = EtcdProcess::start().expect("start etcd");
    let store = EtcdStore::connect(proc.endpoint())
        .await
        .expect("connect etcd");
    Harness {
        store: Arc::new(store),
        _guard: Box::new(proc),
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod redb_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::redb()).await; })*
        }
        mod etcd_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::etcd().await).await; })*
        }
    };
}

conformance!(
    create_get_and_revisions,
    guarded_update,
    guarded_delete,
    list_prefix_and_pages,
    list_at_old_revision,
    watch_replays_then_follows,
    watch_filters_prefix,
    compaction,
    value_size_limit,
    concurrent_writers_get_distinct_revisions,
    future_revision_is_an_error,
    slow_watcher_misses_nothing,
    large_lists_in_one_call,
);

async fn create_get_and_revisions(h: Harness) {
    let s = &h.store;
    let base = s.current_revision().await.unwrap();
    let a = s.create("/r/a", b"1".to_vec()).await.unwrap();
    assert_eq!(a.mod_revision, base + 1);
    assert_eq!(a.create_revision, base + 1);
    assert_eq!(a.version, 1);
    let b = s.create("/r/b", b"2".to_vec()).await.unwrap();
    assert_eq!(
        b.mod_revision,
        base + 2,
        "every write takes the next global revision"
    );
    assert_eq!(s.current_revision().await.unwrap(), base + 2);
    assert_eq!(s.get("/r/a").await.unwrap(), Some(a));
    assert_eq!(s.get("/r/none").await.unwrap(), None);
    match s.create("/r/a", b"again".to_vec()).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, "/r/a"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        s.current_revision().await.unwrap(),
        base + 2,
        "a failed write takes no revision"
    );
}

async fn guarded_update(h: Harness) {
    let s = &h.store;
    let a = s.create("/u/a", b"1".to_vec()).await.unwrap();
    let a2 = s
        .update("/u/a", b"2".to_vec(), Some(a.mod_revision))
        .await
        .unwrap();
    assert_eq!(a2.version, 2);
    assert_eq!(a2.create_revision, a.create_revision);
    assert!(a2.mod_revision > a.mod_revision);
    match s.update("/u/a", b"3".to_vec(), Some(a.mod_revision)).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => {
            assert_eq!(expected, a.mod_revision);
            assert_eq!(actual, a2.mod_revision);
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let a3 = s.update("/u/a", b"3".to_vec(), None).await.unwrap();
    assert_eq!(a3.version, 3);
    assert_eq!(s.get("/u/a").await.unwrap().unwrap().value, b"3");
    assert!(matches!(
        s.update("/u/missing", b"x".to_vec(), None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.update("/u/missing", b"x".to_vec(), Some(1)).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn guarded_delete(h: Harness) {
    let s = &h.store;
    let a = s.create("/d/a", b"1".to_vec()).await.unwrap();
    let a2 = s.update("/d/a", b"2".to_vec(), None).await.unwrap();
    assert!(matches!(
        s.delete("/d/a", Some(a.mod_revision)).await,
        Err(StoreError::Conflict { actual, .. }) if actual == a2.mod_revision
    ));
    let d = s.delete("/d/a", Some(a2.mod_revision)).await.unwrap();
    assert_eq!(d.prev, a2);
    assert_eq!(d.revision, a2.mod_revision + 1);
    assert_eq!(s.get("/d/a").await.unwrap(), None);
    assert!(matches!(
        s.delete("/d/a", None).await,
        Err(StoreError::NotFound { .. })
    ));
    // A re-created key starts over.
    let again = s.create("/d/a", b"3".to_vec()).await.unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(again.create_revision, again.mod_revision);
    s.delete("/d/a", None).await.unwrap();
}

async fn list_prefix_and_pages(h: Harness) {
    let s = &h.store;
    for i in 0..25 {
        s.create(&format!("/l/pods/ns/p{i:02}"), format!("{i}").into_bytes())
            .await
            .unwrap();
    }
    s.create("/l/pods2/x", b"other".to_vec()).await.unwrap();
    s.create("/l/pod", b"shorter".to_vec()).await.unwrap();
    let all = s.list("/l/pods/", ListOptions::default()).await.unwrap();
    assert_eq!(all.items.len(), 25);
    assert!(
        all.items.windows(2).all(|w| w[0].key < w[1].key),
        "key order"
    );
    assert!(all.continue_token.is_none());
    assert_eq!(all.revision, s.current_revision().await.unwrap());

    // Pages of 10 at the first page's revision, even while writes happen in between.
    let mut seen = Vec::new();
    let mut opts = ListOptions {
        limit: Some(10),
        ..Default::default()
    };
    let mut pages = 0;
    let mut first_rev = None;
    loop {
        let page = s.list("/l/pods/", opts.clone()).await.unwrap();
        pages += 1;
        let rev = *first_rev.get_or_insert(page.revision);
        assert_eq!(
            page.revision, rev,
            "every page is read at the first page's revision"
        );
        seen.extend(page.items.iter().map(|kv| kv.key.clone()));
        if pages == 1 {
            assert_eq!(page.remaining, Some(15));
            // Writes after the first page must not show up in later pages.
            s.create("/l/pods/ns/p99", b"late".to_vec()).await.unwrap();
            s.delete("/l/pods/ns/p15", None).await.unwrap();
        }
        match page.continue_token {
            Some(t) => {
                opts = ListOptions {
                    limit: Some(10),
                    continue_token: Some(t),
                    ..Default::default()
                }
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..25).map(|i| format!("/l/pods/ns/p{i:02}")).collect();
    assert_eq!(seen, want);

    let bad = s
        .list(
            "/l/pods/",
            ListOptions {
                continue_token: Some("garbage!".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidContinue(_))));
}

async fn list_at_old_revision(h: Harness) {
    let s = &h.store;
    let a = s.create("/o/a", b"a1".to_vec()).await.unwrap();
    s.create("/o/b", b"b1".to_vec()).await.unwrap();
    let at = s.current_revision().await.unwrap();
    s.update("/o/a", b"a2".to_vec(), Some(a.mod_revision))
        .await
        .unwrap();
    s.delete("/o/b", None).await.unwrap();
    s.create("/o/c", b"c1".to_vec()).await.unwrap();
    s.create("/o/b", b"b2".to_vec()).await.unwrap();

    let old = s
        .list(
            "/o/",
            ListOptions {
                revision: Some(at),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(old.revision, at);
    let got: Vec<(&str, &[u8])> = old
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_slice()))
        .collect();
    assert_eq!(got, vec![("/o/a", &b"a1"[..]), ("/o/b", &b"b1"[..])]);

    let now = s.list("/o/", ListOptions::default()).await.unwrap();
    let got: Vec<(&str, &[u8])> = now
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("/o/a", &b"a2"[..]),
            ("/o/b", &b"b2"[..]),
            ("/o/c", &b"c1"[..])
        ]
    );

    let paged = s
        .list(
            "/o/",
            ListOptions {
                revision: Some(at),
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(paged.items.len(), 1);
    let rest = s
        .list(
            "/o/",
            ListOptions {
                limit: Some(1),
                continue_token: paged.continue_token,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items[0].value, b"b1");
    assert!(rest.continue_token.is_none());
}

async fn next_event(w: &mut rkube_store::WatchStream) -> rkube_store::Event {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("event within 10s")
        .expect("watch open")
        .expect("no error")
}

async fn watch_replays_then_follows(h: Harness) {
    let s = &h.store;
    let start = s.current_revision().await.unwrap();
    let a = s.create("/w/a", b"1".to_vec()).await.unwrap();
    s.update("/w/a", b"2".to_vec(), None).await.unwrap();
    let mut w = s.watch("/w/", start).await.unwrap();
    let e1 = next_event(&mut w).await;
    assert_eq!(e1.kind, EventKind::Put);
    assert!(e1.is_create());
    assert_eq!(e1.kv, a);
    assert_eq!(e1.prev, None);
    let e2 = next_event(&mut w).await;
    assert!(!e2.is_create());
    assert_eq!(e2.kv.value, b"2");
    assert_eq!(
        e2.prev.as_ref().map(|p| p.value.as_slice()),
        Some(&b"1"[..])
    );
    // Live events after the replay.
    let d = s.delete("/w/a", None).await.unwrap();
    let e3 = next_event(&mut w).await;
    assert_eq!(e3.kind, EventKind::Delete);
    assert_eq!(e3.revision(), d.revision);
    assert_eq!(e3.kv.key, "/w/a");
    assert_eq!(
        e3.prev.as_ref().map(|p| p.value.as_slice()),
        Some(&b"2"[..])
    );
    // A watch from the current revision sees only later events.
    let now = s.current_revision().await.unwrap();
    let mut w2 = s.watch("/w/", now).await.unwrap();
    let b = s.create("/w/b", b"x".to_vec()).await.unwrap();
    assert_eq!(next_event(&mut w2).await.kv, b);
    assert_eq!(next_event(&mut w).await.kv, b);
}

async fn watch_filters_prefix(h: Harness) {
    let s = &h.store;
    let now = s.current_revision().await.unwrap();
    let mut w = s.watch("/f/pods/", now).await.unwrap();
    s.create("/f/podsX", b"no".to_vec()).await.unwrap();
    s.create("/f/svc/a", b"no".to_vec()).await.unwrap();
    let yes = s.create("/f/pods/a", b"yes".to_vec()).await.unwrap();
    let ev = next_event(&mut w).await;
    assert_eq!(ev.kv, yes);
    let nothing = tokio::time::timeout(Duration::from_millis(300), w.next()).await;
    assert!(nothing.is_err(), "no other event: {nothing:?}");
}

async fn compaction(h: Harness) {
    let s = &h.store;
    let a = s.create("/c/a", b"1".to_vec()).await.unwrap();
    s.create("/c/gone", b"x".to_vec()).await.unwrap();
    let old = s.current_revision().await.unwrap();
    s.update("/c/a", b"2".to_vec(), Some(a.mod_revision))
        .await
        .unwrap();
    s.delete("/c/gone", None).await.unwrap();
    s.create("/c/b", b"3".to_vec()).await.unwrap();
    let keep = s.current_revision().await.unwrap();
    s.update("/c/a", b"4".to_vec(), None).await.unwrap();
    s.compact(keep).await.unwrap();

    let err = s
        .list(
            "/c/",
            ListOptions {
                revision: Some(old),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(err, Err(StoreError::Compacted { .. })), "{err:?}");
    let err = s.watch("/c/", old).await;
    assert!(
        matches!(err, Err(StoreError::Compacted { .. })),
        "watch from a compacted revision"
    );

    let at_keep = s
        .list(
            "/c/",
            ListOptions {
                revision: Some(keep),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got: Vec<(&str, &[u8])> = at_keep
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_slice()))
        .collect();
    assert_eq!(got, vec![("/c/a", &b"2"[..]), ("/c/b", &b"3"[..])]);
    let now = s.list("/c/", ListOptions::default()).await.unwrap();
    assert_eq!(now.items.len(), 2);
    assert_eq!(now.items[0].value, b"4");
    // A watch from the compaction point still delivers later events with their previous values.
    let mut w = s.watch("/c/", keep).await.unwrap();
    let ev = next_event(&mut w).await;
    assert_eq!(ev.kv.value, b"4");
    assert_eq!(ev.prev.map(|p| p.value), Some(b"2".to_vec()));
    // Compacting again to the same revision is harmless.
    s.compact(keep).await.unwrap();
}

async fn value_size_limit(h: Harness) {
    let s = &h.store;
    let ok = vec![b'x'; MAX_VALUE_BYTES];
    s.create("/big/ok", ok).await.unwrap();
    let too_big = vec![b'x'; MAX_VALUE_BYTES + 1];
    match s.create("/big/no", too_big.clone()).await {
        Err(StoreError::ValueTooLarge { size, limit, .. }) => {
            assert_eq!(size, MAX_VALUE_BYTES + 1);
            assert_eq!(limit, MAX_VALUE_BYTES);
        }
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    assert!(matches!(
        s.update("/big/ok", too_big, None).await,
        Err(StoreError::ValueTooLarge { .. })
    ));
    assert_eq!(s.get("/big/no").await.unwrap(), None);
    assert_eq!(
        s.get("/big/ok").await.unwrap().unwrap().value.len(),
        MAX_VALUE_BYTES
    );
}

async fn concurrent_writers_get_distinct_revisions(h: Harness) {
    let s = &h.store;
    let base = s.current_revision().await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..10 {
                revs.push(
                    s.create(&format!("/cw/{w}/{i}"), vec![1; 100])
                        .await
                        .unwrap()
                        .mod_revision,
                );
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let want: Vec<i64> = (base + 1..=base + 640).collect();
    assert_eq!(all, want, "640 writes took exactly the next 640 revisions");
}

async fn future_revision_is_an_error(h: Harness) {
    let s = &h.store;
    s.create("/fr/a", b"1".to_vec()).await.unwrap();
    let cur = s.current_revision().await.unwrap();
    let r = s
        .list(
            "/fr/",
            ListOptions {
                revision: Some(cur + 100),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(r, Err(StoreError::FutureRevision { .. })), "{r:?}");
}

async fn slow_watcher_misses_nothing(h: Harness) {
    let s = &h.store;
    let start = s.current_revision().await.unwrap();
    let mut w = s.watch("/slow/", start).await.unwrap();
    // Far more events than any internal buffer while the watcher does not read.
    let n = 3000;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 8 {
                s.create(&format!("/slow/{t}/{i}"), vec![0; 10])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut last = start;
    for _ in 0..n {
        let ev = next_event(&mut w).await;
        assert!(ev.revision() > last, "in order");
        last = ev.revision();
    }
    assert_eq!(last, start + n as i64);
}

async fn large_lists_in_one_call(h: Harness) {
    let s = &h.store;
    // 2,500 values of 2 KiB: more than one etcd page and more than gRPC's default 4 MiB reply.
    let mut tasks = Vec::new();
    for w in 0..25 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                s.create(&format!("/big-list/{w:02}/{i:03}"), vec![b'v'; 2048])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = s.list("/big-list/", ListOptions::default()).await.unwrap();
    assert_eq!(all.items.len(), 2500);
    assert!(all.continue_token.is_none());
    assert!(all.items.windows(2).all(|w| w[0].key < w[1].key));
    let some = s
        .list(
            "/big-list/",
            ListOptions {
                limit: Some(1200),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(some.items.len(), 1200);
    assert_eq!(some.remaining, Some(1300));
    let rest = s
        .list(
            "/big-list/",
            ListOptions {
                continue_token: some.continue_token,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1300);
}
