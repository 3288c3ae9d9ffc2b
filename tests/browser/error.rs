//! The harness error: one message that already carries the context needed to debug a failure
//! (the page's log, the tail of Chromium's stderr).

use std::fmt;

/// A browser-harness failure, with its context folded into the message.
///
/// `Debug` prints the same multi-line text as `Display`, so a test returning
/// `Result<(), Box<dyn Error>>` shows readable context when it fails.
pub struct Error {
    msg: String,
}

impl Error {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self { msg: msg.into() }
    }

    /// Appends a titled block of context (skipped when empty).
    pub(crate) fn with_context(mut self, title: &str, body: &str) -> Self {
        let body = body.trim_end();
        if !body.is_empty() {
            self.msg.push_str(&format!("\n--- {title} ---\n{body}"));
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}
