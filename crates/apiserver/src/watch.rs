//! Watch: a chunked stream of `{"type":…,"object":…}` lines served from the watch cache,
//! with resourceVersion semantics as upstream (unset or "0": current objects as ADDED, then
//! changes; N: every change after N, or one ERROR event with 410 when N is too old),
//! bookmarks, timeoutSeconds, and selectors applied to both the old and the new object.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use rkube_apimachinery::status::ApiError;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tracing::info;

use crate::cache::{CacheError, CacheEvent, EventType};
use crate::http::{channel_body, Body};
use crate::rest::{list_filter, Ctx};

const BOOKMARK_EVERY: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

pub async fn serve(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let filter = list_filter(ctx)?;
    let rv = match ctx
        .query
        .get("resourceVersion")
        .filter(|s| !s.is_empty() && *s != "0")
    {
        None => None,
        Some(r) => Some(
            r.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {r:?}")))?,
        ),
    };
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let timeout = ctx
        .query
        .int("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64))
        .unwrap_or(DEFAULT_TIMEOUT);
    let table = crate::table::wants_table(ctx.accept());
    let metadata_only = crate::table::wants_metadata(ctx.accept());
    let cache = ctx.srv.cache.clone();
    let resources = ctx.srv.resources.clone();
    if let Some(rv) = rv {
        if rv > cache.revision() {
            cache
                .wait_for(rv, Duration::from_secs(3))
                .await
                .map_err(crate::rest::read_cache_error)?;
        }
    }
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let info = ctx.rr.info;
    let sub = cache.subscribe(&filter.prefix, rv);
    tokio::spawn(async move {
        let mut sub = match sub {
            Ok(s) => s,
            Err(CacheError::TooOld { requested, oldest }) => {
                let e =
                    ApiError::expired(format!("too old resource version: {requested} ({oldest})"));
                let _ = tx.send(line("ERROR", &e.to_status())).await;
                return;
            }
            Err(CacheError::NotFresh { .. }) => return,
        };
        let converts =
            rkube_apimachinery::conversion::storage_version(info.group, info.plural).is_some();
        let encode = |ty: &str, ev: &CacheEvent| -> Bytes {
            if !converts && !table && !metadata_only {
                return event_line(ty, ev.object_json());
            }
            let converted;
            let obj = if converts {
                converted = crate::versions::to_request(info, (*ev.object).clone());
                &converted
            } else {
                &*ev.object
            };
            if table {
                line(ty, &crate::table::watch_row(&resources, info, obj))
            } else if metadata_only {
                line(ty, &crate::table::partial(obj))
            } else {
                line(ty, obj)
            }
        };
        let mut last_rv = sub.rv;
        for ev in sub.backlog.drain(..) {
            if let Some(ty) = visible(&ev, &|o| filter.matches(o)) {
                if tx.send(encode(ty, &ev)).await.is_err() {
                    return;
                }
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut bookmark = tokio::time::interval(BOOKMARK_EVERY);
        bookmark.tick().await;
        loop {
            tokio::select! {
                ev = sub.live.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= last_rv {
                            continue;
                        }
                        last_rv = ev.rv;
                        if !ev.key.starts_with(&filter.prefix) {
                            continue;
                        }
                        if let Some(ty) = visible(&ev, &|o| filter.matches(o)) {
                            if tx.send(encode(ty, &ev)).await.is_err() {
                                return;
                            }
                        }
                    }
                    // Too slow for the feed: end the watch; the client resumes from its last
                    // resourceVersion, served from the cache's history.
                    Err(RecvError::Lagged(missed)) => {
                        info!(prefix = %filter.prefix, last_rv, missed, "closing a watch that fell behind the event feed");
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = bookmark.tick(), if bookmarks => {
                    let rv = cache.revision().max(last_rv);
                    let obj = json!({
                        "kind": info.kind,
                        "apiVersion": info.api_version(),
                        "metadata": {"resourceVersion": rv.to_string()},
                    });
                    if tx.send(line("BOOKMARK", &obj)).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = tx.closed() => return,
            }
        }
    });
    let mut resp = Response::new(channel_body(rx));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// The event a watcher with this filter sees, if any: an object entering the selection is
/// ADDED, one leaving it DELETED.
fn visible(ev: &CacheEvent, matches: &dyn Fn(&Value) -> bool) -> Option<&'static str> {
    let now = matches(&ev.object);
    match ev.kind {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => {
            let was = ev.prev.as_ref().map(|p| matches(p)).unwrap_or(now);
            was.then_some("DELETED")
        }
        EventType::Modified => {
            let was = ev.prev.as_ref().map(|p| matches(p)).unwrap_or(false);
            match (was, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    }
}

/// A watch line around an object already encoded as JSON.
fn event_line(ty: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + ty.len() + 24);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ty.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// A watch line around an object still to be encoded, without copying it.
fn line(ty: &str, obj: &impl serde::Serialize) -> Bytes {
    let object = serde_json::to_vec(obj).unwrap_or_default();
    event_line(ty, &object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn pre_encoded_line_is_the_same_event() {
        let obj = json!({"kind": "Pod", "metadata": {"name": "a\"b", "labels": {"x": "é"}}});
        let ev = CacheEvent::new(
            EventType::Added,
            "/registry/pods/a".into(),
            7,
            Arc::new(obj),
            None,
        );
        let fast = event_line("ADDED", ev.object_json());
        let slow = line("ADDED", &*ev.object);
        assert!(fast.ends_with(b"\n"));
        let a: Value = serde_json::from_slice(&fast).expect("fast line is JSON");
        let b: Value = serde_json::from_slice(&slow).expect("slow line is JSON");
        assert_eq!(a, b);
    }

    #[test]
    fn events_leaving_or_entering_a_selection() {
        let sel = |o: &Value| o["metadata"]["labels"]["app"] == "web";
        let web = Arc::new(json!({"metadata": {"labels": {"app": "web"}}}));
        let db = Arc::new(json!({"metadata": {"labels": {"app": "db"}}}));
        let modified = |prev: &Arc<Value>, now: &Arc<Value>| {
            CacheEvent::new(
                EventType::Modified,
                "k".into(),
                2,
                now.clone(),
                Some(prev.clone()),
            )
        };
        assert_eq!(visible(&modified(&db, &web), &sel), Some("ADDED"));
        assert_eq!(visible(&modified(&web, &db), &sel), Some("DELETED"));
        assert_eq!(visible(&modified(&web, &web), &sel), Some("MODIFIED"));
        assert_eq!(visible(&modified(&db, &db), &sel), None);
    }
}
