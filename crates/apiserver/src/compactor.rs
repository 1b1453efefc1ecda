//! Store compaction, as upstream's API server runs it: every interval, compact to the revision
//! seen one interval earlier, so at least one interval of history stays for watches and
//! resumed lists, and the store does not grow without bound.

use std::sync::Arc;
use std::time::Duration;

use rkube_store::Store;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

pub const INTERVAL: Duration = Duration::from_secs(300);

pub fn start(store: Arc<dyn Store>, cancel: CancellationToken) {
    tokio::spawn(async move {
        let mut previous: Option<i64> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = cancel.cancelled() => return,
            }
            let now = match store.current_revision().await {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "compactor: reading the revision failed");
                    continue;
                }
            };
            if let Some(rev) = previous.filter(|r| *r > 0) {
                match store.compact(rev).await {
                    Ok(()) => debug!(revision = rev, "compacted store history"),
                    Err(e) => warn!(revision = rev, error = %e, "compaction failed"),
                }
            }
            previous = Some(now);
        }
    });
}
