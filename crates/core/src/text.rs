//! Checks on text that users give, answered the same on every database: PostgreSQL refuses
//! NUL bytes in text while SQLite stores them, and control characters (ANSI escapes among
//! them) belong in no name.

/// A name: no control characters at all.
pub fn check_name(field: &str, value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("{field} must not contain control characters (found U+{:04X})", u32::from(c))),
        None => Ok(()),
    }
}

/// Free text (a description, a reason): line breaks and tabs are fine, other control
/// characters are not.
pub fn check_text(field: &str, value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        Some(c) => Err(format!("{field} must not contain control characters (found U+{:04X})", u32::from(c))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_every_control_character_and_text_keeps_line_breaks() {
        assert_eq!(check_name("name", "Plain name ✓"), Ok(()));
        for bad in ["nul\u{0}folder", "red\u{1b}[31m", "tab\there", "line\nbreak", "del\u{7f}"] {
            assert!(check_name("name", bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_text("description", "two\nlines\twith tab\r\n"), Ok(()));
        assert_eq!(
            check_text("description", "nul\u{0}"),
            Err("description must not contain control characters (found U+0000)".to_owned())
        );
        assert!(check_text("reason", "\u{1b}[2J").is_err());
    }
}
