//! Pull progress: events from a pull, and a renderer that draws them on a terminal (and
//! stays silent when stderr is not one, so logs and pipes get no control sequences).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::digest::Digest;

/// Where a layer is in a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerStatus {
    Waiting,
    /// Already unpacked or downloaded: nothing to fetch.
    Exists,
    Downloading {
        done: u64,
    },
    Downloaded,
    Unpacking,
    Done,
}

/// Something that happened during a pull.
#[derive(Debug, Clone)]
pub enum PullEvent {
    /// Asking `endpoint` for the manifest of `reference`.
    Resolving { reference: String, endpoint: String },
    /// The manifest is known.
    Resolved {
        reference: String,
        digest: Digest,
        layers: usize,
    },
    /// A layer changed state (`index` counts from the bottom layer).
    Layer {
        index: usize,
        digest: Digest,
        size: u64,
        status: LayerStatus,
    },
    /// The image is stored.
    Done { reference: String, id: Digest },
}

/// Receives pull events. Implementations must be cheap: events come per received chunk.
pub trait PullProgress: Send + Sync {
    fn event(&self, event: PullEvent);
}

/// Ignores events.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl PullProgress for NoProgress {
    fn event(&self, _: PullEvent) {}
}

/// Draws per-layer progress bars on stderr when it is a terminal; otherwise does nothing.
pub struct TerminalProgress {
    state: Option<Mutex<DrawState>>,
}

struct DrawState {
    header: String,
    layers: Vec<(Digest, u64, LayerStatus)>,
    drawn_lines: usize,
    last_draw: Option<Instant>,
}

impl TerminalProgress {
    /// A renderer for stderr, quiet unless stderr is a terminal.
    pub fn stderr() -> TerminalProgress {
        if std::io::stderr().is_terminal() {
            TerminalProgress::forced()
        } else {
            TerminalProgress { state: None }
        }
    }

    /// A renderer that draws whether or not stderr is a terminal.
    pub fn forced() -> TerminalProgress {
        TerminalProgress {
            state: Some(Mutex::new(DrawState {
                header: String::new(),
                layers: Vec::new(),
                drawn_lines: 0,
                last_draw: None,
            })),
        }
    }

    /// Whether anything will be drawn.
    pub fn is_active(&self) -> bool {
        self.state.is_some()
    }
}

impl PullProgress for TerminalProgress {
    fn event(&self, event: PullEvent) {
        let Some(state) = &self.state else { return };
        let Ok(mut s) = state.lock() else { return };
        let mut force = true;
        let mut done_line = None;
        match event {
            PullEvent::Resolving {
                reference,
                endpoint,
            } => s.header = format!("{reference}: resolving at {endpoint}"),
            PullEvent::Resolved {
                reference, digest, ..
            } => s.header = format!("{reference}: {digest}"),
            PullEvent::Layer {
                index,
                digest,
                size,
                status,
            } => {
                if s.layers.len() <= index {
                    s.layers
                        .resize(index + 1, (digest.clone(), 0, LayerStatus::Waiting));
                }
                force = !matches!(status, LayerStatus::Downloading { .. });
                s.layers[index] = (digest, size, status);
            }
            PullEvent::Done { reference, id } => {
                done_line = Some(format!("{reference}: pulled, image id {id}"));
            }
        }
        let due = s
            .last_draw
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if force || due {
            s.draw(done_line.as_deref());
        }
    }
}

impl DrawState {
    fn draw(&mut self, done: Option<&str>) {
        let mut out = String::new();
        if self.drawn_lines > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn_lines));
        }
        let mut lines = vec![self.header.clone()];
        for (d, size, status) in &self.layers {
            lines.push(layer_line(d, *size, *status));
        }
        if let Some(l) = done {
            lines.push(l.to_string());
        }
        for l in &lines {
            out.push_str("\r\x1b[2K");
            out.push_str(l);
            out.push('\n');
        }
        self.drawn_lines = if done.is_some() { 0 } else { lines.len() };
        self.last_draw = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

fn layer_line(d: &Digest, size: u64, status: LayerStatus) -> String {
    let short = &d.hex()[..12.min(d.hex().len())];
    match status {
        LayerStatus::Waiting => format!("  {short}  waiting"),
        LayerStatus::Exists => format!("  {short}  already present"),
        LayerStatus::Downloading { done } => {
            const WIDTH: usize = 30;
            let filled = if size == 0 {
                0
            } else {
                ((done.min(size) as u128 * WIDTH as u128) / size as u128) as usize
            };
            let bar: String = "=".repeat(filled) + &" ".repeat(WIDTH - filled);
            format!(
                "  {short}  downloading [{bar}] {} / {}",
                human(done),
                human(size)
            )
        }
        LayerStatus::Downloaded => format!("  {short}  downloaded {}", human(size)),
        LayerStatus::Unpacking => format!("  {short}  unpacking"),
        LayerStatus::Done => format!("  {short}  done"),
    }
}

/// Bytes in binary units with one decimal (`1.5 MiB`).
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 << 20), "5.0 MiB");
        let d = Digest::sha256_of(b"x");
        let l = layer_line(&d, 100, LayerStatus::Downloading { done: 50 });
        assert!(l.contains(&"=".repeat(15)), "{l}");
        assert!(l.contains("50 B / 100 B"), "{l}");
        // Not a terminal under the test harness: nothing is drawn.
        let p = TerminalProgress { state: None };
        p.event(PullEvent::Done {
            reference: "x".into(),
            id: d,
        });
        assert!(!p.is_active());
    }
}
