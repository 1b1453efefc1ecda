//! Container logs as the kubelet serves them: CRI log lines turned back into the container's
//! output, with `tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes`,
//! `previous` and `follow`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

/// What the client asked for.
#[derive(Debug, Default, Clone)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub limit_bytes: Option<usize>,
}

impl LogOptions {
    pub fn parse(query: &[(String, String)]) -> LogOptions {
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let flag = |k: &str| matches!(get(k), Some("true") | Some("1") | Some(""));
        let since = get("sinceTime")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .or_else(|| {
                get("sinceSeconds")
                    .and_then(|s| s.parse::<i64>().ok())
                    .map(|s| chrono::Utc::now() - chrono::Duration::seconds(s))
            });
        LogOptions {
            follow: flag("follow"),
            previous: flag("previous"),
            timestamps: flag("timestamps"),
            tail_lines: get("tailLines").and_then(|t| t.parse().ok()),
            since,
            limit_bytes: get("limitBytes").and_then(|t| t.parse().ok()),
        }
    }
}

/// One parsed CRI record.
struct Record<'a> {
    time: &'a str,
    partial: bool,
    text: &'a str,
}

fn parse(line: &str) -> Option<Record<'_>> {
    let mut it = line.splitn(4, ' ');
    let time = it.next()?;
    let _stream = it.next()?;
    let tag = it.next()?;
    let text = it.next().unwrap_or("");
    Some(Record {
        time,
        partial: tag == "P",
        text,
    })
}

/// Renders complete CRI lines into output bytes (partial records join the next one).
pub struct Renderer {
    opts: LogOptions,
    pending: String,
    pending_time: Option<String>,
}

impl Renderer {
    pub fn new(opts: LogOptions) -> Self {
        Renderer {
            opts,
            pending: String::new(),
            pending_time: None,
        }
    }

    /// Output lines (each ending in `\n`) for the given CRI text; incomplete trailing input
    /// must not be passed.
    pub fn lines(&mut self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in text.lines() {
            let Some(r) = parse(line) else { continue };
            if self.pending_time.is_none() {
                self.pending_time = Some(r.time.to_string());
            }
            self.pending.push_str(r.text);
            if r.partial {
                continue;
            }
            let time = self.pending_time.take().unwrap_or_default();
            let body = std::mem::take(&mut self.pending);
            if let Some(since) = self.opts.since {
                let t = chrono::DateTime::parse_from_rfc3339(&time)
                    .map(|t| t.with_timezone(&chrono::Utc));
                if t.is_ok_and(|t| t < since) {
                    continue;
                }
            }
            out.push(if self.opts.timestamps {
                format!("{time} {body}\n")
            } else {
                format!("{body}\n")
            });
        }
        out
    }
}

/// Streams a log file into `tx`: the existing content (tail/since applied), then, with
/// `follow`, new lines until `still_running` says the container ended and the file is read.
pub async fn stream(
    path: &Path,
    opts: LogOptions,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    still_running: impl Fn() -> bool,
) {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(_) => return,
    };
    let mut renderer = Renderer::new(opts.clone());
    let mut content = String::new();
    if file.read_to_string(&mut content).is_err() {
        return;
    }
    let complete = content.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let mut offset = complete as u64;
    let mut lines = renderer.lines(&content[..complete]);
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut sent = 0usize;
    let limit = opts.limit_bytes.unwrap_or(usize::MAX);
    for l in lines {
        if !send(&tx, l, &mut sent, limit).await {
            return;
        }
    }
    if !opts.follow {
        return;
    }
    let mut carry = String::new();
    loop {
        let running = still_running();
        let mut buf = String::new();
        if file.seek(SeekFrom::Start(offset)).is_ok() && file.read_to_string(&mut buf).is_ok() {
            offset += buf.len() as u64;
            carry.push_str(&buf);
            if let Some(i) = carry.rfind('\n') {
                let done: String = carry.drain(..=i).collect();
                for l in renderer.lines(&done) {
                    if !send(&tx, l, &mut sent, limit).await {
                        return;
                    }
                }
            }
        }
        if !running || tx.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send(
    tx: &tokio::sync::mpsc::Sender<Bytes>,
    line: String,
    sent: &mut usize,
    limit: usize,
) -> bool {
    if *sent >= limit {
        return false;
    }
    let mut b = line.into_bytes();
    if *sent + b.len() > limit {
        b.truncate(limit - *sent);
    }
    *sent += b.len();
    tx.send(Bytes::from(b)).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_records_join_and_timestamps_prefix() {
        let mut r = Renderer::new(LogOptions {
            timestamps: true,
            ..Default::default()
        });
        let out = r.lines(
            "2024-01-01T00:00:00.000000001Z stdout P hel\n2024-01-01T00:00:00.5Z stdout F lo\n2024-01-01T00:00:01Z stderr F x\n",
        );
        assert_eq!(
            out,
            [
                "2024-01-01T00:00:00.000000001Z hello\n",
                "2024-01-01T00:00:01Z x\n"
            ]
        );
    }

    #[test]
    fn since_drops_earlier_lines() {
        let since = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:01Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let mut r = Renderer::new(LogOptions {
            since: Some(since),
            ..Default::default()
        });
        let out = r.lines(
            "2024-01-01T00:00:00.9Z stdout F old\n2024-01-01T00:00:01Z stdout F edge\n2024-01-01T00:00:02Z stderr F new\n",
        );
        assert_eq!(out, ["edge\n", "new\n"]);
    }

    #[test]
    fn since_from_time_or_seconds() {
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let o = LogOptions::parse(&q("sinceTime", "2024-01-01T00:00:01Z"));
        assert_eq!(
            o.since.map(|t| t.to_rfc3339()),
            Some("2024-01-01T00:00:01+00:00".into())
        );
        let before = chrono::Utc::now();
        let o = LogOptions::parse(&q("sinceSeconds", "60"));
        let since = o.since.expect("since");
        let ago = before - since;
        assert!(
            ago >= chrono::Duration::seconds(59) && ago <= chrono::Duration::seconds(61),
            "{ago}"
        );
        assert!(LogOptions::parse(&q("sinceSeconds", "x")).since.is_none());
    }

    #[test]
    fn options_parse() {
        let q = |s: &[(&str, &str)]| {
            s.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        let o = LogOptions::parse(&q(&[("follow", "true"), ("tailLines", "2")]));
        assert!(o.follow && !o.previous);
        assert_eq!(o.tail_lines, Some(2));
    }
}
