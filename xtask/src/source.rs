//! A tiny Rust lexer for tidy: keeps code, drops comments and the contents of literals.
//!
//! Tidy must not flag `Instant::now` in a `// comment` or inside `"a string"`, and it must not
//! mistake the `//` in `"http://..."` for a comment. This is not a full lexer; it knows line and
//! (nested) block comments, string, byte-string and raw-string literals, and char literals versus
//! lifetimes, which is all that matters for finding paths in code.

/// The code of `text`, line by line (same line count), with comments removed and the contents of
/// string and char literals blanked (the quotes stay).
pub(crate) fn code_lines(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => i = skip_block_comment(&chars, i, &mut out),
            '"' => i = skip_string(&chars, i + 1, None, &mut out),
            'r' | 'b' if starts_literal(&chars, i) => {
                let mut j = i;
                if chars[j] == 'b' {
                    out.push('b');
                    j += 1;
                }
                if chars.get(j) == Some(&'r') {
                    out.push('r');
                    j += 1;
                    let mut hashes = 0;
                    while chars.get(j) == Some(&'#') {
                        hashes += 1;
                        j += 1;
                    }
                    // chars[j] is the opening quote (checked by starts_literal).
                    i = skip_string(&chars, j + 1, Some(hashes), &mut out);
                } else if chars.get(j) == Some(&'\'') {
                    i = skip_char_or_lifetime(&chars, j, &mut out);
                } else {
                    i = skip_string(&chars, j + 1, None, &mut out);
                }
            }
            '\'' => i = skip_char_or_lifetime(&chars, i, &mut out),
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out.split('\n').map(str::to_owned).collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `r"`, `r#"`, `b"`, `b'`, `br"`, `br#"` at `i`, not in the middle of an identifier.
fn starts_literal(chars: &[char], i: usize) -> bool {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return false;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
        if chars.get(j) == Some(&'"') || chars.get(j) == Some(&'\'') {
            return true;
        }
    }
    if chars.get(j) != Some(&'r') {
        return false;
    }
    j += 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// Skips a (nested) block comment starting at `i`; keeps its newlines. Returns the next index.
fn skip_block_comment(chars: &[char], mut i: usize, out: &mut String) -> usize {
    let mut depth = 0usize;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1).copied()) {
            ('/', Some('*')) => {
                depth += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            ('\n', _) => {
                out.push('\n');
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Skips string contents starting after the opening quote. `raw_hashes` is `Some(n)` for a raw
/// string (no escapes; ends at `"` followed by `n` `#`). Emits `""` and the contents' newlines.
/// Returns the index after the closing delimiter.
fn skip_string(chars: &[char], mut i: usize, raw_hashes: Option<usize>, out: &mut String) -> usize {
    let raw = raw_hashes.is_some();
    let hashes = raw_hashes.unwrap_or(0);
    out.push('"');
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && !raw {
            if chars.get(i + 1) == Some(&'\n') {
                out.push('\n');
            }
            i += 2;
            continue;
        }
        if c == '\n' {
            out.push('\n');
        }
        if c == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
            out.push('"');
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// At a `'`: a char literal (`'a'`, `'\n'`, `'\u{1F600}'`) is blanked; a lifetime is kept.
fn skip_char_or_lifetime(chars: &[char], i: usize, out: &mut String) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => {
            let mut j = i + 2;
            while j < chars.len() && chars[j] != '\'' && chars[j] != '\n' {
                j += 1;
            }
            out.push_str("' '");
            j + 1
        }
        (Some(_), Some('\'')) => {
            out.push_str("' '");
            i + 3
        }
        _ => {
            out.push('\'');
            i + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::code_lines;

    #[test]
    fn comments_and_literals_are_removed_and_lines_kept() {
        let text = "let a = 1; // Instant::now()\n\
                    /* tokio\n   OsRng */ let b = \"http://x Instant::now\";\n\
                    let c = '\"'; let d = r#\"thread_rng \"# ; fn f<'a>(x: &'a str) {}\n\
                    /// doc: SystemTime::now\n\
                    Instant::now()";
        let lines = code_lines(text);
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0].trim_end(), "let a = 1;");
        assert_eq!(lines[1], "");
        assert_eq!(lines[2].trim(), "let b = \"\";");
        assert!(lines[3].contains("let c = ' ';"), "{:?}", lines[3]);
        assert!(lines[3].contains("let d = r\"\" ;"), "{:?}", lines[3]);
        assert!(lines[3].contains("fn f<'a>(x: &'a str)"), "{:?}", lines[3]);
        assert!(!lines[3].contains("thread_rng"));
        assert_eq!(lines[4], "");
        assert_eq!(lines[5], "Instant::now()");
    }

    #[test]
    fn escaped_quotes_and_nested_block_comments() {
        let lines = code_lines("let s = \"a\\\"b OsRng\"; /* x /* y */ OsRng */ z");
        assert_eq!(lines, vec!["let s = \"\";  z".to_owned()]);
    }
}
