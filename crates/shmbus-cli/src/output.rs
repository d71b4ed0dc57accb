//! Everything the CLI prints goes through here.
//!
//! * Standard output is written through [`Out`], whose write errors propagate as
//!   [`StdoutError`]: `main` turns a closed pipe (`shmbus ls | head`) into a quiet exit with
//!   status [`BROKEN_PIPE_EXIT`], and any other failure (`> /dev/full`) into one error line.
//! * Standard error is written with `errln!`, which never panics (a failing stderr has no
//!   one left to tell).
//! * Text that comes from outside the program (region and file names, slot keys, symbols, error
//!   messages that quote them) is passed through [`esc`] before it reaches a terminal, so a name
//!   like `$'\e]0;PWNED\a'` cannot drive the terminal. JSON output needs no escaping: serde_json
//!   escapes control characters by JSON's rules.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{self, BufWriter, StdoutLock, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Exit status after stdout turned out to be a closed pipe: 128 + SIGPIPE, what a shell reports
/// for `cat`, `seq` or `ls` stopped by the signal when the reader of their pipe went away.
pub const BROKEN_PIPE_EXIT: u8 = 141;

/// Writing to standard output failed.
#[derive(Debug)]
pub struct StdoutError(pub io::Error);

impl StdoutError {
    /// The reader of the pipe went away (`| head`): not an error worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The OS's words without the "(os error N)" suffix: `No space left on device`.
        let text = self.0.to_string();
        let text = text.split(" (os error ").next().unwrap_or(&text);
        write!(f, "cannot write to stdout: {text}")
    }
}

impl std::error::Error for StdoutError {}

/// Standard output, locked, whose errors propagate: `writeln!(out, ...)?` returns a
/// [`StdoutError`]. Line by line ([`Out::lines`]) or block-buffered ([`Out::buffered`], for
/// streams of many lines: call [`Out::flush`] before waiting and at the end, since dropping it
/// flushes without reporting errors).
pub struct Out {
    w: BufWriter<StdoutLock<'static>>,
}

impl Out {
    /// Each complete line reaches stdout as it is written (a write error shows at once).
    pub fn lines() -> Self {
        // Capacity 0: every write goes straight to stdout's own line buffer.
        Self {
            w: BufWriter::with_capacity(0, io::stdout().lock()),
        }
    }

    /// Block-buffered: for many lines in a row.
    pub fn buffered() -> Self {
        Self {
            w: BufWriter::with_capacity(64 << 10, io::stdout().lock()),
        }
    }

    /// What `write!` and `writeln!` call.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
        self.w.write_fmt(args).map_err(StdoutError)
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> Result<(), StdoutError> {
        self.w.flush().map_err(StdoutError)
    }
}

/// `println!` for commands that print a line here and there: the line goes through
/// [`Out::lines`] and a write error returns from the enclosing function (it must return an
/// `anyhow::Result`), as `?` would.
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(crate::output::Out::lines(), $($arg)*)?
    };
}

/// `eprintln!` that never panics: a failing stderr is ignored.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Characters that could drive a terminal or disguise text: control characters (C0, DEL, C1)
/// and the Unicode bidirectional overrides and isolates.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `s` safe to print on a terminal: control characters become `\n`, `\r`, `\t`, `\x1b`, `\u{9b}`
/// (and bidirectional overrides `\u{202e}`); everything else, backslashes included, is unchanged.
/// Borrows when there is nothing to escape.
pub fn esc(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes as [`esc`] text; bytes that are not UTF-8 become `\xff`.
pub fn esc_bytes(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => esc(s),
        Err(_) => {
            let mut out = String::with_capacity(b.len() + 8);
            for chunk in b.utf8_chunks() {
                out.push_str(&esc(chunk.valid()));
                for byte in chunk.invalid() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            Cow::Owned(out)
        }
    }
}

/// A path as [`esc_bytes`] text (file names are bytes, not always UTF-8).
pub fn esc_path(p: &Path) -> Cow<'_, str> {
    esc_bytes(p.as_os_str().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_drives_a_terminal() {
        assert_eq!(esc("BTCUSD"), "BTCUSD");
        assert!(matches!(esc("plain/path\\x"), Cow::Borrowed(_)));
        assert_eq!(esc("\u{1b}]0;PWNED\u{7}"), "\\x1b]0;PWNED\\x07");
        assert_eq!(esc("a\nb\r\tc\u{7f}"), "a\\nb\\r\\tc\\x7f");
        assert_eq!(esc("\u{9b}31m \u{202e}éü"), "\\u{9b}31m \\u{202e}éü");
        assert_eq!(esc_bytes(b"ok\xff\x1b\xc3\xa9"), "ok\\xff\\x1bé");
        assert_eq!(
            esc_path(Path::new(std::ffi::OsStr::from_bytes(
                b"/dev/shm/\x1bx\xfe"
            ))),
            "/dev/shm/\\x1bx\\xfe"
        );
    }

    #[test]
    fn stdout_error_is_one_line_without_the_errno() {
        let e = StdoutError(io::Error::from_raw_os_error(28));
        assert_eq!(
            e.to_string(),
            "cannot write to stdout: No space left on device"
        );
        assert!(StdoutError(io::Error::from_raw_os_error(32)).is_broken_pipe());
    }
}
