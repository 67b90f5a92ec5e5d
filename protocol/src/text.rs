//! Characters that act on a terminal instead of printing, shared by the
//! daemon (which refuses them in descriptions) and `crv` (which shows them
//! escaped wherever it prints text for people).
//!
//! Descriptions, `last_error` and event reasons (which quote QEMU's stderr)
//! are not Corvus's own text: an escape sequence in them would recolour,
//! retitle or rewrite the operator's terminal, a carriage return would hide
//! what came before it, and a bidirectional override would reorder what
//! follows.

use std::borrow::Cow;
use std::fmt::Write;

/// C0 and C1 control characters, DEL, and the Unicode bidirectional
/// embedding, override and isolate controls.
pub fn is_terminal_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How one control character is shown: `\t`, `\n`, `\r`, `\x1b` (other
/// ASCII controls), `\u{9b}` (the rest).
pub fn escaped_char(c: char) -> String {
    match c {
        '\t' => "\\t".to_owned(),
        '\n' => "\\n".to_owned(),
        '\r' => "\\r".to_owned(),
        c if c.is_ascii() => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

/// Whether line breaks in a text are kept or escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// A table cell or one-line field: every control is escaped.
    One,
    /// A message that may span lines (an error quoting QEMU): newlines and
    /// tabs stay, every other control is escaped.
    Many,
}

/// `text` with every terminal control escaped; borrowed when there is none.
pub fn escape_controls(text: &str, lines: Lines) -> Cow<'_, str> {
    let kept = |c: char| lines == Lines::Many && matches!(c, '\n' | '\t');
    if !text.chars().any(|c| is_terminal_control(c) && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_terminal_control(c) && !kept(c) {
            let _ = write!(out, "{}", escaped_char(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The first terminal control in `text`, with its 1-based character position.
pub fn first_control(text: &str) -> Option<(usize, char)> {
    text.chars()
        .enumerate()
        .find(|(_, c)| is_terminal_control(*c))
        .map(|(index, c)| (index + 1, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_as_escapes_and_plain_text_is_untouched() {
        let hostile = "ok\x1b]0;pwned\x07\x1b[2J\rgone\u{9b}31m\u{202e}txt.exe";
        assert_eq!(
            escape_controls(hostile, Lines::One),
            "ok\\x1b]0;pwned\\x07\\x1b[2J\\rgone\\u{9b}31m\\u{202e}txt.exe"
        );
        assert!(matches!(
            escape_controls("web — ünïcode, tabs\u{a0}ok", Lines::One),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape_controls("a\tb\nc", Lines::One), "a\\tb\\nc");
        assert_eq!(escape_controls("a\tb\nc\x1b", Lines::Many), "a\tb\nc\\x1b");
    }

    #[test]
    fn the_first_control_is_found_with_its_position_in_characters() {
        assert_eq!(first_control("plain"), None);
        assert_eq!(first_control("éé\x1b[31m"), Some((3, '\x1b')));
        assert_eq!(first_control("tab\there"), Some((4, '\t')));
        assert_eq!(escaped_char('\x1b'), "\\x1b");
        assert_eq!(escaped_char('\u{202e}'), "\\u{202e}");
    }
}
