//! A plain column layout for long lists (`crv vm list` with thousands of
//! VMs): widths in one pass, lines in a second, all written through one
//! buffer. comfy-table lays out every cell through its general machinery,
//! which at 10,000 rows was most of the command's time.

use std::io::{BufWriter, Write};

pub struct Cell {
    text: String,
    /// An ANSI colour code (e.g. "32"), applied around the padded text.
    colour: Option<&'static str>,
}

impl Cell {
    /// Text from the daemon, escaped for the terminal (`output::safe`).
    pub fn plain(text: impl AsRef<str>) -> Cell {
        Cell::coloured(text, None)
    }

    pub fn coloured(text: impl AsRef<str>, colour: Option<&'static str>) -> Cell {
        Cell {
            text: crate::output::safe(text.as_ref()).into_owned(),
            colour,
        }
    }
}

pub struct Columns {
    header: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Columns {
    pub fn new(header: Vec<&'static str>) -> Columns {
        Columns {
            header,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Writes the table within `width` columns: every column keeps its
    /// content's width except `wrap`, which is cut into lines to fit.
    pub fn print(&self, width: usize, wrap: usize) {
        let out = std::io::stdout().lock();
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        let _ = self.write(&mut out, width, wrap);
        let _ = out.flush();
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.text.chars().count());
            }
        }
        widths
    }

    pub fn write(&self, out: &mut impl Write, width: usize, wrap: usize) -> std::io::Result<()> {
        let mut widths = self.widths();
        let separators = 2 * widths.len().saturating_sub(1);
        let others: usize = widths
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != wrap)
            .map(|(_, w)| w)
            .sum::<usize>()
            + separators;
        widths[wrap] = widths[wrap].min(width.saturating_sub(others).max(4));
        let header: Vec<Cell> = self.header.iter().map(|h| Cell::plain(*h)).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let wrapped: Vec<String> = chunks(&row[wrap].text, widths[wrap]);
            for (line, part) in wrapped.iter().enumerate() {
                let mut text = String::with_capacity(width);
                for (i, cell) in row.iter().enumerate() {
                    let (content, colour) = match (i == wrap, line) {
                        (true, _) => (part.as_str(), cell.colour),
                        (false, 0) => (cell.text.as_str(), cell.colour),
                        (false, _) => ("", None),
                    };
                    let pad = widths[i].saturating_sub(content.chars().count());
                    match colour {
                        Some(code) => text.push_str(&format!("\x1b[{code}m{content}\x1b[0m")),
                        None => text.push_str(content),
                    }
                    if i + 1 < row.len() {
                        text.extend(std::iter::repeat_n(' ', pad + 2));
                    }
                }
                writeln!(out, "{}", text.trim_end())?;
            }
        }
        Ok(())
    }
}

/// `text` in pieces of at most `width` characters (at least one piece).
fn chunks(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width || width == 0 {
        return vec![text.to_owned()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(columns: &Columns, width: usize, wrap: usize) -> String {
        let mut out = Vec::new();
        columns.write(&mut out, width, wrap).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_align_two_spaces_apart_without_trailing_blanks() {
        let mut columns = Columns::new(vec!["ID", "NAME", "STATUS"]);
        columns.row(vec![
            Cell::plain("1"),
            Cell::plain("web"),
            Cell::plain("running"),
        ]);
        columns.row(vec![
            Cell::plain("10"),
            Cell::plain("database"),
            Cell::plain("-"),
        ]);
        assert_eq!(
            render(&columns, 80, 1),
            "ID  NAME      STATUS\n1   web       running\n10  database  -\n"
        );
    }

    #[test]
    fn the_wrapping_column_is_cut_to_fit_the_width() {
        let mut columns = Columns::new(vec!["ID", "NAME", "STATUS"]);
        columns.row(vec![
            Cell::plain("1"),
            Cell::plain("a-very-long-name-indeed"),
            Cell::plain("running"),
        ]);
        let text = render(&columns, 22, 1);
        assert!(text.lines().all(|l| l.chars().count() <= 22), "{text}");
        assert_eq!(
            text,
            "ID  NAME       STATUS\n1   a-very-lo  running\n    ng-name-i\n    ndeed\n"
        );
    }

    #[test]
    fn colours_do_not_count_towards_the_width() {
        let mut columns = Columns::new(vec!["STATUS", "X"]);
        columns.row(vec![
            Cell::coloured("running", Some("32")),
            Cell::plain("x"),
        ]);
        assert_eq!(
            render(&columns, 80, 1),
            "STATUS   X\n\x1b[32mrunning\x1b[0m  x\n"
        );
    }
}
