//! `qemu-img convert -p` progress: it rewrites `    (12.34/100%)` on its
//! stdout, each update ended by `\r`. This turns the byte stream into
//! fractions, whatever way the reads split it.

/// Accumulates stdout bytes and yields each complete progress figure.
#[derive(Debug, Default)]
pub struct ProgressParser {
    pending: Vec<u8>,
}

impl ProgressParser {
    /// Feeds bytes; returns the last complete figure they finished, as a
    /// fraction from 0 to 1.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<f64> {
        let mut last = None;
        for &byte in bytes {
            if byte == b'\r' || byte == b'\n' {
                if let Some(value) = parse_figure(&self.pending) {
                    last = Some(value);
                }
                self.pending.clear();
            } else if self.pending.len() < 64 {
                self.pending.push(byte);
            }
        }
        last
    }
}

fn parse_figure(line: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(line).ok()?.trim();
    let inner = text.strip_prefix('(')?.strip_suffix("/100%)")?;
    let percent: f64 = inner.trim().parse().ok()?;
    Some((percent / 100.0).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_split_across_reads_are_read_once_complete() {
        let mut parser = ProgressParser::default();
        assert_eq!(parser.feed(b"    (0.00/100%)\r    (12.5"), Some(0.0));
        assert_eq!(parser.feed(b"0/100%)\r"), Some(0.125));
        assert_eq!(parser.feed(b"    (100.00/100%)\n"), Some(1.0));
        assert_eq!(parser.feed(b"garbage\r"), None);
    }
}
