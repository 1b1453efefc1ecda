use tokio::sync::mpsc;

use crate::{Event, Result};

/// Events of one watch, in revision order. Dropping it ends the watch.
///
/// The channel is bounded: a consumer that stops reading applies back-pressure to its own
/// feeder task only, never to writers or to other watches.
pub struct WatchStream {
    rx: mpsc::Receiver<Result<Event>>,
}

/// Capacity of each watch's channel.
pub(crate) const WATCH_BUFFER: usize = 1024;

impl WatchStream {
    pub(crate) fn channel() -> (mpsc::Sender<Result<Event>>, WatchStream) {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        (tx, WatchStream { rx })
    }

    /// The next event; `None` when the watch ended (store closed). An `Err` (for example
    /// [`crate::StoreError::Compacted`]) is the last item.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        self.rx.recv().await
    }
}
