//! Behaviour only the embedded backend has: the file, its lock, and crash safety.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rkube_store::{ListOptions, RedbStore, Store, StoreError};

#[tokio::test]
async fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let (rev, kv) = {
        let s = RedbStore::open(&path).unwrap();
        s.create("/k/a", b"1".to_vec()).await.unwrap();
        let kv = s.update("/k/a", b"2".to_vec(), None).await.unwrap();
        s.create("/k/b", b"3".to_vec()).await.unwrap();
        s.delete("/k/b", None).await.unwrap();
        (s.current_revision().await.unwrap(), kv)
    };
    // The writer thread releases the file when the last handle is gone.
    let s = wait_open(&path);
    assert_eq!(s.current_revision().await.unwrap(), rev);
    assert_eq!(s.get("/k/a").await.unwrap(), Some(kv));
    assert_eq!(s.get("/k/b").await.unwrap(), None);
    let next = s.create("/k/c", b"4".to_vec()).await.unwrap();
    assert_eq!(
        next.mod_revision,
        rev + 1,
        "revisions continue after a restart"
    );
}

fn wait_open(path: &std::path::Path) -> RedbStore {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match RedbStore::open(path) {
            Ok(s) => return s,
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("reopen: {e}"),
        }
    }
}

#[tokio::test]
async fn second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let _first = RedbStore::open(&path).unwrap();
    match RedbStore::open(&path) {
        Err(e @ StoreError::Locked { .. }) => {
            assert!(e.to_string().contains("lock held"), "{e}");
        }
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second opener must be refused"),
    }
}

#[test]
fn garbage_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
    match RedbStore::open(&path) {
        Err(e @ StoreError::Corrupt { .. }) => assert!(e.to_string().contains("state.redb"), "{e}"),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("garbage accepted"),
    }
    // Nothing was overwritten.
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 64 * 1024]);
}

#[test]
fn foreign_redb_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let t = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("someone_else");
            t.open_table(def).unwrap().insert("k", "v").unwrap();
        }
        t.commit().unwrap();
    }
    match RedbStore::open(&path) {
        Err(e @ StoreError::Corrupt { .. }) => {
            assert!(e.to_string().contains("another program"), "{e}")
        }
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("foreign file accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_no_acknowledged_write() {
    // The same test binary, re-run with RKUBE_CRASH_DB set, is the child that gets killed.
    if let Some(path) = std::env::var_os("RKUBE_CRASH_DB") {
        return crash_child(path.into()).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_loses_no_acknowledged_write",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RKUBE_CRASH_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while acked.len() < 3000 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (key, rev) = rest.split_once(' ').unwrap();
            acked.push((key.to_string(), rev.parse::<i64>().unwrap()));
        }
    }
    // SIGKILL mid-stream: writers are still going.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    // Acknowledgements already in the pipe count too.
    for line in lines.map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("ACK ") {
            if let Some((key, rev)) = rest.split_once(' ') {
                if let Ok(rev) = rev.parse::<i64>() {
                    acked.push((key.to_string(), rev));
                }
            }
        }
    }
    child.wait().unwrap();
    assert!(acked.len() >= 3000, "child wrote only {} keys", acked.len());

    let s = RedbStore::open(&path).expect("reopen after SIGKILL");
    for (key, rev) in &acked {
        let kv = s
            .get(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged {key} lost"));
        assert_eq!(kv.mod_revision, *rev, "{key}");
    }
    // Revisions 1..=current are each used exactly once.
    let current = s.current_revision().await.unwrap();
    let all = s.list("/crash/", ListOptions::default()).await.unwrap();
    let mut revs: Vec<i64> = all.items.iter().map(|kv| kv.mod_revision).collect();
    revs.sort();
    let want: Vec<i64> = (1..=current).collect();
    assert_eq!(revs, want, "no gaps or duplicates in revisions");
    // The store keeps working.
    let next = s.create("/crash/after", b"x".to_vec()).await.unwrap();
    assert_eq!(next.mod_revision, current + 1);
}

/// The child side of the crash test: 16 concurrent writers, each acknowledged write printed
/// as soon as `create` returns, until the parent kills the process.
async fn crash_child(path: std::path::PathBuf) {
    let s = RedbStore::open(path).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for w in 0..16 {
        let (s, tx) = (s.clone(), tx.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let key = format!("/crash/{w}/{i}");
                let kv = s.create(&key, vec![b'v'; 512]).await.unwrap();
                let _ = tx.send(format!("ACK {key} {}", kv.mod_revision));
            }
        });
    }
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    while let Some(line) = rx.recv().await {
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    }
}
