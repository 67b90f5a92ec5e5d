//! Piped monitor output without the line editor's redraws.
//!
//! QEMU's HMP readline echoes every typed byte and redraws the line with
//! cursor moves (`ESC[D`) and erases (`ESC[K`); on a terminal that shows the
//! line once, in a pipe it is noise. This plays those few controls onto a
//! line buffer and emits each finished line as a terminal would show it.

#[derive(Default)]
pub struct LineRenderer {
    line: Vec<u8>,
    cursor: usize,
    escape: Option<Vec<u8>>,
}

impl LineRenderer {
    /// Feeds bytes; returns the text of the lines they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &byte in bytes {
            if let Some(sequence) = &mut self.escape {
                sequence.push(byte);
                if sequence.len() > 1 && (byte.is_ascii_alphabetic() || sequence.len() > 16) {
                    let sequence = self.escape.take().unwrap_or_default();
                    self.control(&sequence);
                }
                continue;
            }
            match byte {
                0x1b => self.escape = Some(Vec::new()),
                b'\r' => self.cursor = 0,
                b'\n' => {
                    out.extend_from_slice(&self.line);
                    out.push(b'\n');
                    self.line.clear();
                    self.cursor = 0;
                }
                0x08 => self.cursor = self.cursor.saturating_sub(1),
                byte => {
                    if self.cursor < self.line.len() {
                        self.line[self.cursor] = byte;
                    } else {
                        self.line.push(byte);
                    }
                    self.cursor += 1;
                }
            }
        }
        out
    }

    /// The unfinished line (a prompt), for the end of the output.
    pub fn pending(&self) -> &[u8] {
        &self.line
    }

    fn control(&mut self, sequence: &[u8]) {
        match sequence {
            [b'[', b'K'] => self.line.truncate(self.cursor),
            [b'[', b'D'] => self.cursor = self.cursor.saturating_sub(1),
            [b'[', b'C'] => self.cursor = (self.cursor + 1).min(self.line.len()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LineRenderer;

    #[test]
    fn readline_redraws_collapse_into_the_line_typed() {
        let mut renderer = LineRenderer::default();
        let echo = b"(qemu) i\x1b[K\x1b[Din\x1b[K\x1b[D\x1b[Dinf\x1b[K\x1b[D\x1b[D\x1b[Dinfo\x1b[K\r\nVM status: running\r\n(qemu) ";
        let out = renderer.feed(echo);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "(qemu) info\nVM status: running\n"
        );
        assert_eq!(renderer.pending(), b"(qemu) ");
    }
}
