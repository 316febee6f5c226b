//! Values from outside (model names, upstream error text, parse errors quoting the
//! client's bytes) are shown in logs and error messages only up to a bounded length.

use std::borrow::Cow;

/// Bytes of an outside value shown in a log line or error message.
pub const SHOWN_MAX: usize = 256;

/// `s` cut to [`SHOWN_MAX`] bytes (on a character boundary), saying how long it was.
pub fn clip(s: &str) -> Cow<'_, str> {
    if s.len() <= SHOWN_MAX {
        return Cow::Borrowed(s);
    }
    let mut end = SHOWN_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes in all)", &s[..end], s.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        assert_eq!(clip("short"), "short");
        let exact = "a".repeat(SHOWN_MAX);
        assert_eq!(clip(&exact), exact);
        let long = "é".repeat(SHOWN_MAX);
        let c = clip(&long);
        assert!(c.len() < SHOWN_MAX + 40, "{c}");
        assert!(
            c.ends_with(&format!("({} bytes in all)", long.len())),
            "{c}"
        );
        assert!(c.starts_with("éé"));
    }
}
