//! One error type for every stage, so that a caller (Rust, CLI or Python) can show any failure
//! the same way: the expression, a caret line under the offending span, and a one-line message.

use std::fmt;
use std::sync::Arc;

/// A half-open byte range `[start, end)` into the expression source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// What went wrong, coarse enough for a binding to pick an exception class
/// (Python: `Syntax` is `SyntaxError`, `UnknownVariable` is `KeyError`, `Type` is `TypeError`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed expression: bad character, unexpected token, unsupported construct.
    Syntax,
    /// Input too long or nested too deeply.
    Limit,
    UnknownVariable,
    UnknownFunction,
    /// Wrong number of arguments to a function.
    Arity,
    /// No loop for these operand dtypes, or a cast NumPy refuses.
    Type,
    /// A literal or constant that cannot be represented (e.g. `int8 + 300`, `1 // 0`).
    Value,
    /// Operand shapes do not broadcast, or an output has the wrong shape.
    Shape,
    /// An output array that cannot be written (wrong dtype, overlapping an input, ...).
    Output,
    /// A bug in ndexpr itself (a panic caught at the API boundary, a missing kernel).
    Internal,
}

/// An error with an optional location in the expression it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    span: Option<Span>,
    source: Option<Arc<str>>,
    help: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            span: None,
            source: None,
            help: None,
        }
    }

    /// An error located at `span` of the expression (attach the source with [`Error::with_source`]).
    pub fn at(kind: ErrorKind, span: Span, message: impl Into<String>) -> Error {
        Error {
            span: Some(span),
            ..Error::new(kind, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Error {
        self.help = Some(help.into());
        self
    }

    /// Attaches the expression text, unless one is attached already.
    pub fn with_source(mut self, source: impl Into<Arc<str>>) -> Error {
        if self.source.is_none() {
            self.source = Some(source.into());
        }
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message, without the caret rendering.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn span(&self) -> Option<Span> {
        self.span
    }

    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    pub fn source_text(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The caret line alone (spaces then `^`s), aligned under the expression as rendered by
    /// `Display` after its two-space indent; `None` without a span and source.
    pub fn caret_line(&self) -> Option<String> {
        let (span, src) = (self.span?, self.source.as_deref()?);
        let clamp = |i: usize| {
            let mut i = i.min(src.len());
            while !src.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let (start, end) = (clamp(span.start), clamp(span.end.max(span.start)));
        // Columns count characters, not bytes, so non-ASCII input still lines up; tabs keep
        // their width by being echoed as tabs.
        let pad: String = src[..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let width = src[start..end].chars().count().max(1);
        Some(format!("{pad}{}", "^".repeat(width)))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let (Some(src), Some(carets)) = (self.source.as_deref(), self.caret_line()) {
            // Multi-line sources are shown on one line so the caret stays under its span.
            let one_line: String = src
                .chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                .collect();
            write!(f, "\n  {one_line}\n  {carets}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span() {
        let e = Error::at(
            ErrorKind::UnknownVariable,
            Span::new(2, 4),
            "unknown variable `bb`",
        )
        .with_source("2*bb + 48")
        .with_help("did you mean `b`?");
        assert_eq!(
            e.to_string(),
            "unknown variable `bb`\n  2*bb + 48\n    ^^\nhelp: did you mean `b`?"
        );
    }

    #[test]
    fn caret_at_end_of_input_and_non_ascii() {
        let e = Error::at(
            ErrorKind::Syntax,
            Span::new(3, 3),
            "unexpected end of input",
        )
        .with_source("a +");
        assert_eq!(e.caret_line().unwrap(), "   ^");
        let e = Error::at(ErrorKind::Syntax, Span::new(4, 6), "x").with_source("é+ é");
        // 'é' is two bytes: the caret sits under the second one, at column 3.
        assert_eq!(e.caret_line().unwrap(), "   ^");
    }
}
