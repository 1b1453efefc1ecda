//! Column alignment as Go's `text/tabwriter` does it with kubectl's settings
//! (minwidth 6, padding 3, pad char ' ').
//!
//! Cells are tab-terminated; the text after a line's last tab is not a cell and is never
//! padded, so the last column has no trailing blanks. Widths count bytes, as Go does.

const MIN_WIDTH: usize = 6;
const PADDING: usize = 3;

/// Collects tab-separated lines and renders them aligned.
#[derive(Debug, Default)]
pub struct TabWriter {
    lines: Vec<Vec<String>>,
}

impl TabWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one line; `cells` are the columns in order.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.lines
            .push(cells.into_iter().map(Into::into).collect::<Vec<_>>());
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Renders every line. A column's width is the widest of its cells over the lines that
    /// have a cell there (plus padding), as tabwriter's column blocks are for tables.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for line in &self.lines {
            // The last cell of a line is trailing text, not a column.
            let cells = line.len().saturating_sub(1);
            for (i, cell) in line.iter().take(cells).enumerate() {
                if widths.len() <= i {
                    widths.push(0);
                }
                widths[i] = widths[i].max(cell.len());
            }
        }
        let mut out = String::new();
        for line in &self.lines {
            let last = line.len().saturating_sub(1);
            for (i, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    let w = (widths[i] + PADDING).max(MIN_WIDTH);
                    out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.len())));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_go_tabwriter() {
        let mut w = TabWriter::new();
        w.row(["NAME", "READY", "STATUS", "AGE"]);
        w.row(["web-1", "1/1", "Running", "5m"]);
        w.row(["a", "0/1", "Pending", "10s"]);
        assert_eq!(
            w.render(),
            "NAME    READY   STATUS    AGE\nweb-1   1/1     Running   5m\na       0/1     Pending   10s\n"
        );
    }

    #[test]
    fn narrow_columns_take_the_minimum_width() {
        let mut w = TabWriter::new();
        w.row(["A", "B"]);
        w.row(["x", "y"]);
        assert_eq!(w.render(), "A     B\nx     y\n");
    }
}
