//! The logos lexer, and the token stream the lalrpop grammar reads.
//!
//! Number literals never carry a sign (`-3` is `-` then `3`). Tokens that the grammar never
//! accepts (`.`, `[`, strings, `lambda`, `:=`, ...) are still lexed, so that the parser can say
//! which construct is unsupported instead of "unexpected character".

use std::fmt;

use logos::Logos;

use crate::error::{Error, ErrorKind, Span};

/// The deepest parenthesis nesting accepted (the same figure as the AST depth limit).
pub const MAX_PAREN_DEPTH: usize = super::MAX_DEPTH;

/// A token. Digit runs accept Python's single `_` separators (`1_000`): the pattern
/// `[0-9](_?[0-9])*` is spelled out in each number regex.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\n\r\f]+")]
pub enum Tok<'src> {
    #[regex(r"[0-9](_?[0-9])*")]
    Int(&'src str),

    #[regex(r"[0-9](_?[0-9])*\.([0-9](_?[0-9])*)?([eE][+-]?[0-9](_?[0-9])*)?")]
    #[regex(r"\.[0-9](_?[0-9])*([eE][+-]?[0-9](_?[0-9])*)?")]
    #[regex(r"[0-9](_?[0-9])*[eE][+-]?[0-9](_?[0-9])*")]
    Float(&'src str),

    #[regex(r"[0-9](_?[0-9])*[jJ]")]
    #[regex(r"[0-9](_?[0-9])*\.([0-9](_?[0-9])*)?([eE][+-]?[0-9](_?[0-9])*)?[jJ]")]
    #[regex(r"\.[0-9](_?[0-9])*([eE][+-]?[0-9](_?[0-9])*)?[jJ]")]
    #[regex(r"[0-9](_?[0-9])*[eE][+-]?[0-9](_?[0-9])*[jJ]")]
    Imag(&'src str),

    #[token("True")]
    True,
    #[token("False")]
    False,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,

    #[regex(r"[\p{XID_Start}_][\p{XID_Continue}]*")]
    Name(&'src str),

    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("//")]
    SlashSlash,
    #[token("%")]
    Percent,
    #[token("**")]
    StarStar,
    #[token("<<")]
    LShift,
    #[token(">>")]
    RShift,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("^")]
    Caret,
    #[token("~")]
    Tilde,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(",")]
    Comma,
    /// Only valid in keyword arguments `f(x, axis=1)`.
    #[token("=")]
    Assign,

    // Lexed only to be rejected with a useful message.
    #[token(".")]
    Dot,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(":")]
    Colon,
    #[token(":=")]
    Walrus,
    #[token(";")]
    Semicolon,
    #[token("@")]
    At,
    #[token("lambda")]
    Lambda,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    /// A string literal; an unterminated one is a lexer error.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    #[regex(r#"'([^'\\\n]|\\[^\n])*'"#)]
    Str(&'src str),
    /// A string literal missing its closing quote (before the end of the line).
    #[regex(r#""([^"\\\n]|\\[^\n])*"#)]
    #[regex(r#"'([^'\\\n]|\\[^\n])*"#)]
    OpenStr(&'src str),
}

impl Tok<'_> {
    /// The token as written in the source (for "unexpected token 'x'").
    pub fn text(&self) -> &str {
        use Tok::*;
        match self {
            Int(s) | Float(s) | Imag(s) | Name(s) | Str(s) | OpenStr(s) => s,
            True => "True",
            False => "False",
            And => "and",
            Or => "or",
            Not => "not",
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            SlashSlash => "//",
            Percent => "%",
            StarStar => "**",
            LShift => "<<",
            RShift => ">>",
            Amp => "&",
            Pipe => "|",
            Caret => "^",
            Tilde => "~",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            EqEq => "==",
            Ne => "!=",
            LParen => "(",
            RParen => ")",
            Comma => ",",
            Assign => "=",
            Dot => ".",
            LBracket => "[",
            RBracket => "]",
            LBrace => "{",
            RBrace => "}",
            Colon => ":",
            Walrus => ":=",
            Semicolon => ";",
            At => "@",
            Lambda => "lambda",
            If => "if",
            Else => "else",
        }
    }

    fn is_number(&self) -> bool {
        matches!(self, Tok::Int(_) | Tok::Float(_) | Tok::Imag(_))
    }
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// One item of the stream lalrpop consumes: `(start, token, end)` in bytes, or an error.
pub type Spanned<'src> = Result<(usize, Tok<'src>, usize), Error>;

/// The token stream: logos tokens with byte spans, lexer errors as located [`Error`]s, and the
/// parenthesis nesting limit enforced as the tokens go by.
pub struct Lexer<'src> {
    src: &'src str,
    inner: logos::Lexer<'src, Tok<'src>>,
    open_parens: usize,
    /// Set after an error: the stream then ends.
    done: bool,
}

impl<'src> Lexer<'src> {
    pub fn new(src: &'src str) -> Lexer<'src> {
        Lexer {
            src,
            inner: Tok::lexer(src),
            open_parens: 0,
            done: false,
        }
    }

    fn error(&mut self, kind: ErrorKind, span: Span, msg: String) -> Option<Spanned<'src>> {
        self.done = true;
        Some(Err(Error::at(kind, span, msg)))
    }
}

/// Good enough for spotting `1e`, `2x`, `3é`, `1_`: letters and digits of any script.
fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'src> Iterator for Lexer<'src> {
    type Item = Spanned<'src>;

    fn next(&mut self) -> Option<Spanned<'src>> {
        if self.done {
            return None;
        }
        let tok = self.inner.next()?;
        let range = self.inner.span();
        let (start, end) = (range.start, range.end);
        let tok = match tok {
            Ok(tok) => tok,
            Err(()) => {
                let c = self.src[start..].chars().next().unwrap_or(' ');
                let span = Span::new(start, start + c.len_utf8());
                let shown: String = if c.is_control() {
                    c.escape_debug().collect()
                } else {
                    c.to_string()
                };
                let msg = format!("unexpected character '{shown}'");
                self.done = true;
                let mut e = Error::at(ErrorKind::Syntax, span, msg);
                if c == '!' {
                    e = e.with_help("use 'not' or '~' to negate, '!=' to compare");
                }
                return Some(Err(e));
            }
        };
        match tok {
            Tok::OpenStr(_) => {
                return self.error(
                    ErrorKind::Syntax,
                    Span::new(start, end),
                    "unterminated string literal".to_string(),
                );
            }
            Tok::LParen => {
                self.open_parens += 1;
                if self.open_parens > MAX_PAREN_DEPTH {
                    return self.error(
                        ErrorKind::Limit,
                        Span::new(start, end),
                        format!(
                            "expression nested too deeply (the limit is {} levels)",
                            super::MAX_DEPTH
                        ),
                    );
                }
            }
            Tok::RParen => self.open_parens = self.open_parens.saturating_sub(1),
            _ => {}
        }
        if tok.is_number() {
            // `1e`, `2x`, `1.real`, `3jj`: a number glued to a name is one bad literal, as in
            // Python ("invalid decimal literal"), not a number then a name.
            let rest = &self.src[end..];
            let glued: usize = rest
                .chars()
                .take_while(|&c| is_ident_char(c))
                .map(char::len_utf8)
                .sum();
            if glued > 0 {
                let span = Span::new(start, end + glued);
                let text = &self.src[span.start..span.end];
                return self.error(
                    ErrorKind::Syntax,
                    span,
                    format!("invalid number literal '{text}'"),
                );
            }
        }
        Some(Ok((start, tok, end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok<'_>> {
        Lexer::new(src).map(|t| t.unwrap().1).collect()
    }

    fn err(src: &str) -> Error {
        Lexer::new(src)
            .find_map(|t| t.err())
            .expect("a lexer error")
    }

    #[test]
    fn numbers() {
        use Tok::*;
        assert_eq!(
            toks("1 1_000 1.5 .5 2. 1e-3 1E+2 1.e5 2j 1.5e3J .5j 2.j"),
            vec![
                Int("1"),
                Int("1_000"),
                Float("1.5"),
                Float(".5"),
                Float("2."),
                Float("1e-3"),
                Float("1E+2"),
                Float("1.e5"),
                Imag("2j"),
                Imag("1.5e3J"),
                Imag(".5j"),
                Imag("2.j"),
            ]
        );
        // The sign is never part of a literal.
        assert_eq!(toks("-1e-3"), vec![Minus, Float("1e-3")]);
        assert_eq!(toks("1-2"), vec![Int("1"), Minus, Int("2")]);
    }

    #[test]
    fn operators_and_keywords() {
        use Tok::*;
        assert_eq!(
            toks("+ - * / // % ** << >> & | ^ ~ < <= > >= == != ( ) , ="),
            vec![
                Plus, Minus, Star, Slash, SlashSlash, Percent, StarStar, LShift, RShift, Amp, Pipe,
                Caret, Tilde, Lt, Le, Gt, Ge, EqEq, Ne, LParen, RParen, Comma, Assign
            ]
        );
        assert_eq!(
            toks("a**-b//c"),
            vec![Name("a"), StarStar, Minus, Name("b"), SlashSlash, Name("c")]
        );
        assert_eq!(
            toks("and or not True False andy _x x1 été"),
            vec![
                And,
                Or,
                Not,
                True,
                False,
                Name("andy"),
                Name("_x"),
                Name("x1"),
                Name("été")
            ]
        );
    }

    #[test]
    fn rejected_constructs_are_lexed() {
        use Tok::*;
        assert_eq!(
            toks("a.T x[0] 'a' \"b\" lambda : := ; @ if else { }"),
            vec![
                Name("a"),
                Dot,
                Name("T"),
                Name("x"),
                LBracket,
                Int("0"),
                RBracket,
                Str("'a'"),
                Str("\"b\""),
                Lambda,
                Colon,
                Walrus,
                Semicolon,
                At,
                If,
                Else,
                LBrace,
                RBrace,
            ]
        );
    }

    #[test]
    fn whitespace_is_skipped_and_spans_are_bytes() {
        let spans: Vec<_> = Lexer::new(" é\t+\n 2 ")
            .map(|t| {
                let (s, _, e) = t.unwrap();
                (s, e)
            })
            .collect();
        assert_eq!(spans, vec![(1, 3), (4, 5), (7, 8)]);
    }

    #[test]
    fn lexer_errors() {
        let e = err("a + $");
        assert_eq!(e.message(), "unexpected character '$'");
        assert_eq!(e.span(), Some(Span::new(4, 5)));
        let e = err("a ≠ b");
        assert_eq!(e.message(), "unexpected character '≠'");
        assert_eq!(e.span(), Some(Span::new(2, 5)));
        let e = err("!a");
        assert_eq!(e.message(), "unexpected character '!'");
        assert_eq!(
            e.help(),
            Some("use 'not' or '~' to negate, '!=' to compare")
        );
        let e = err("a \\ b");
        assert_eq!(e.message(), "unexpected character '\\'");
        let e = err("a \u{7} b");
        assert_eq!(e.message(), "unexpected character '\\u{7}'");
        let e = err("1e");
        assert_eq!(e.message(), "invalid number literal '1e'");
        assert_eq!(e.span(), Some(Span::new(0, 2)));
        let e = err("x + 'abc");
        assert_eq!(e.message(), "unterminated string literal");
        assert_eq!(e.span(), Some(Span::new(4, 8)));
    }
}
