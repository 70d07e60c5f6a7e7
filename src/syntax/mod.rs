//! From source text to AST: the logos lexer, the lalrpop grammar, and the spans for diagnostics.
//!
//! ```
//! use ndexpr::syntax::parse;
//! let e = parse("-2**2 + f(x, axis=1)").unwrap();
//! assert_eq!(e.to_parenthesized(), "((-(2 ** 2)) + f(x, axis=1))");
//! assert_eq!(e.to_source(), "-2 ** 2 + f(x, axis=1)");
//! ```

pub mod ast;
pub mod lexer;
mod print;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_qualifications, dead_code)]
    expr,
    "/expr.rs"
);

use lalrpop_util::ParseError;

use crate::error::{Error, ErrorKind, Result, Span};
use lexer::{Lexer, Tok};

/// The longest expression accepted, in bytes.
pub const MAX_LEN: usize = 64 * 1024;

/// The deepest AST accepted: a leaf has depth 1, `-a` depth 2, `a + b*c` depth 3. The same
/// figure bounds the nesting of parentheses.
pub const MAX_DEPTH: usize = 256;

/// Parses an expression. Errors carry the source and a span (see [`crate::Error`]):
/// [`ErrorKind::Syntax`] for malformed or unsupported input, [`ErrorKind::Limit`] past
/// [`MAX_LEN`] or [`MAX_DEPTH`], [`ErrorKind::Value`] for an integer literal above `u64::MAX`.
pub fn parse(src: &str) -> Result<ast::Expr> {
    parse_inner(src).map_err(|e| e.with_source(src))
}

fn parse_inner(src: &str) -> Result<ast::Expr> {
    if src.len() > MAX_LEN {
        return Err(Error::at(
            ErrorKind::Limit,
            Span::new(0, src.len()),
            format!(
                "expression too long: {} bytes (the limit is {MAX_LEN})",
                src.len()
            ),
        ));
    }
    if Lexer::new(src).next().is_none() {
        return Err(Error::at(
            ErrorKind::Syntax,
            Span::new(0, src.len()),
            "empty expression",
        ));
    }
    match expr::ExprParser::new().parse(src, Lexer::new(src)) {
        Ok(node) => Ok(node.expr),
        Err(e) => Err(translate(src, e)),
    }
}

type RawError<'src> = ParseError<usize, Tok<'src>, Error>;

/// Turns lalrpop's error into a located, readable one.
fn translate(src: &str, err: RawError<'_>) -> Error {
    match err {
        ParseError::User { error } => error,
        ParseError::InvalidToken { location } => Error::at(
            ErrorKind::Syntax,
            Span::new(location, location),
            "invalid token",
        ),
        ParseError::UnrecognizedEof {
            location: _,
            expected,
        } => {
            let end = src.len();
            let expected = expected_at(src, end).unwrap_or(expected);
            let list = Expected::new(&expected, false).describe();
            let mut e = Error::at(
                ErrorKind::Syntax,
                Span::new(end, end),
                format!("unexpected end of input, expected {list}"),
            );
            if let Some(open) = unclosed_paren(src, end) {
                let column = src[..open].chars().count() + 1;
                e = e.with_help(format!("the '(' at column {column} is never closed"));
            }
            e
        }
        ParseError::UnrecognizedToken {
            token: (start, tok, end),
            expected,
        } => {
            let eof_ok = end_of_input_accepted_at(src, start);
            let expected = expected_at(src, start).unwrap_or(expected);
            let expected = Expected::new(&expected, eof_ok);
            unexpected_token(src, Span::new(start, end), tok, &expected)
        }
        ParseError::ExtraToken {
            token: (start, tok, end),
        } => Error::at(
            ErrorKind::Syntax,
            Span::new(start, end),
            format!("unexpected token '{tok}', expected end of input"),
        ),
    }
}

/// Whether the tokens before byte `at` form a complete expression (lalrpop's expected list
/// never mentions the end of input, so we ask the parser directly).
fn end_of_input_accepted_at(src: &str, at: usize) -> bool {
    let prefix = &src[..at];
    !matches!(
        expr::ExprParser::new().parse(prefix, Lexer::new(prefix)),
        Err(ParseError::UnrecognizedEof { .. } | ParseError::UnrecognizedToken { .. })
    )
}

/// The terminals the parser accepts after the tokens before byte `at`.
///
/// When lalrpop meets a bad token it may first perform the reductions that token's lookahead
/// allows (its tables merge lookaheads), and then lists only what the reduced state accepts:
/// after `a` in `a)` it would offer only the end of input. Feeding the prefix followed by a
/// token the grammar never declares (`;`) makes the parser stop right after the prefix, before
/// any reduction, and list everything that could follow it.
fn expected_at(src: &str, at: usize) -> Option<Vec<String>> {
    let prefix = &src[..at];
    let sentinel = std::iter::once(Ok((at, Tok::Semicolon, at)));
    match expr::ExprParser::new().parse(prefix, Lexer::new(prefix).chain(sentinel)) {
        Err(ParseError::UnrecognizedToken { expected, .. }) => Some(expected),
        _ => None,
    }
}

/// The byte offset of the innermost '(' still open at byte `at`, if any.
fn unclosed_paren(src: &str, at: usize) -> Option<usize> {
    let mut open = Vec::new();
    for (start, tok, _) in Lexer::new(&src[..at]).map_while(|t| t.ok()) {
        match tok {
            Tok::LParen => open.push(start),
            Tok::RParen => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}

/// The tokens that can start an operand.
const EXPR_START: &[&str] = &[
    "Int",
    "Float",
    "Imag",
    "Name",
    "\"True\"",
    "\"False\"",
    "\"(\"",
    "\"-\"",
    "\"+\"",
    "\"~\"",
    "\"not\"",
];

/// Every binary operator.
const BINARY_OPS: &[&str] = &[
    "\"or\"", "\"and\"", "\"<\"", "\"<=\"", "\">\"", "\">=\"", "\"==\"", "\"!=\"", "\"|\"",
    "\"^\"", "\"&\"", "\"<<\"", "\">>\"", "\"+\"", "\"-\"", "\"*\"", "\"/\"", "\"//\"", "\"%\"",
    "\"**\"",
];

/// What the parser would have accepted, summarised.
struct Expected {
    /// An operand may start here.
    operand: bool,
    /// Any binary operator may come here.
    operator: bool,
    /// Other terminals, in readable form (`')'`).
    others: Vec<String>,
    end_of_input: bool,
}

impl Expected {
    fn new(terminals: &[String], end_of_input: bool) -> Expected {
        let has = |t: &str| terminals.iter().any(|x| x == t);
        let operand = has("Name");
        let operator = BINARY_OPS.iter().all(|t| has(t));
        let mut others = Vec::new();
        for t in terminals {
            let t = t.as_str();
            if operand && EXPR_START.contains(&t) {
                continue;
            }
            // After an operand, '(' (a call) and '=' (a keyword) are possible but never what the
            // reader is missing.
            if operator && (BINARY_OPS.contains(&t) || t == "\"(\"" || t == "\"=\"") {
                continue;
            }
            others.push(readable(t));
        }
        Expected {
            operand,
            operator,
            others,
            end_of_input,
        }
    }

    fn items(&self) -> Vec<String> {
        let mut items = Vec::new();
        if self.operand {
            items.push("an expression".to_string());
        }
        if self.operator {
            items.push("an operator".to_string());
        }
        items.extend(self.others.iter().cloned());
        if self.end_of_input {
            items.push("end of input".to_string());
        }
        items
    }

    /// `an expression`, `')'`, or `one of: an operator, ')', ','`.
    fn describe(&self) -> String {
        let items = self.items();
        match items.len() {
            0 => "end of input".to_string(),
            1 => items[0].clone(),
            _ => format!("one of: {}", items.join(", ")),
        }
    }
}

fn readable(terminal: &str) -> String {
    match terminal {
        "Int" => "an integer".to_string(),
        "Float" => "a number".to_string(),
        "Imag" => "an imaginary number".to_string(),
        "Name" => "a name".to_string(),
        t => match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(op) => format!("'{op}'"),
            None => t.to_string(),
        },
    }
}

fn unexpected_token(src: &str, span: Span, tok: Tok<'_>, expected: &Expected) -> Error {
    let syntax = |msg: &str| Error::at(ErrorKind::Syntax, span, msg);
    let after_operand = expected.operator;
    match tok {
        Tok::Dot if after_operand => syntax("attribute access is not supported")
            .with_help("ndexpr values have no attributes or methods; use a function, e.g. real(a) rather than a.real"),
        Tok::LBracket if after_operand => syntax("indexing and slicing are not supported")
            .with_help("ndexpr works element-wise on whole arrays; index or slice the arrays before passing them in"),
        Tok::LBracket => syntax("list literals are not supported")
            .with_help("pass arrays in as variables"),
        Tok::Str(_) => syntax("string literals are not supported")
            .with_help("ndexpr expressions work on numbers and booleans only"),
        Tok::Lambda => syntax("lambda is not supported; ndexpr evaluates a single expression")
            .with_help("write the lambda's body as the expression and pass its parameters in as variables"),
        Tok::Walrus => syntax("assignment expressions (:=) are not supported")
            .with_help("write the value where it is used"),
        Tok::Assign if unclosed_paren(src, span.start).is_none() => {
            syntax("assignment is not supported; ndexpr evaluates a single expression")
                .with_help("to compare for equality, use '=='")
        }
        Tok::Assign => syntax("'=' is only allowed for a keyword argument, as in f(x, axis=1)")
            .with_help("to compare for equality, use '=='"),
        Tok::If | Tok::Else => syntax("conditional expressions are not supported")
            .with_help("use where(c, x, y) rather than x if c else y"),
        Tok::Semicolon => syntax("multiple statements are not supported; ndexpr evaluates a single expression"),
        Tok::At => syntax("matrix multiplication (@) is not supported")
            .with_help("ndexpr operations are element-wise: use * for the element-wise product"),
        _ => {
            let e = syntax(&format!(
                "unexpected token '{tok}', expected {}",
                expected.describe()
            ));
            match tok {
                Tok::RParen if unclosed_paren(src, span.start).is_none() => {
                    e.with_help("this ')' has no matching '('")
                }
                Tok::Amp | Tok::Pipe if doubled(src, span) => {
                    let op = tok.text();
                    let word = if op == "&" { "and" } else { "or" };
                    e.with_help(format!(
                        "'{op}{op}' is not an operator: use '{op}' (element-wise) or '{word}'"
                    ))
                }
                Tok::LParen if after_operand => e.with_help(
                    "only a function name can be called, as in f(x); to multiply, write '*'",
                ),
                _ => e,
            }
        }
    }
}

/// Whether the token at `span` repeats the character just before it (`&&`, `||`).
fn doubled(src: &str, span: Span) -> bool {
    span.start > 0 && src.as_bytes()[span.start - 1] == src.as_bytes()[span.start]
}

/// The helpers the grammar's actions call: each builds one node, computing its depth from its
/// children, and fails once the depth passes [`MAX_DEPTH`].
pub(crate) mod build {
    use lalrpop_util::ParseError;

    use super::ast::{BinaryOp, Expr, ExprKind, Keyword, UnaryOp};
    use super::lexer::Tok;
    use super::MAX_DEPTH;
    use crate::error::{Error, ErrorKind, Span};

    type Res<'src, T> = Result<T, ParseError<usize, Tok<'src>, Error>>;

    /// An expression with its depth (a leaf is 1).
    pub struct Node {
        pub expr: Expr,
        pub depth: usize,
    }

    /// A `Comparison` nonterminal: whether it is itself a bare (unparenthesised) comparison,
    /// so that `a < b < c` can be rejected.
    pub struct Cmp {
        pub node: Node,
        pub is_comparison: bool,
    }

    /// One argument of a call.
    pub enum Arg<'src> {
        Positional(Node),
        /// Name start and end, name, value.
        Keyword(usize, usize, &'src str, Node),
    }

    fn user<'src, T>(error: Error) -> Res<'src, T> {
        Err(ParseError::User { error })
    }

    fn node<'src>(l: usize, r: usize, kind: ExprKind, depth: usize) -> Res<'src, Node> {
        let span = Span::new(l, r);
        if depth > MAX_DEPTH {
            return user(Error::at(
                ErrorKind::Limit,
                span,
                format!("expression nested too deeply (the limit is {MAX_DEPTH} levels)"),
            ));
        }
        Ok(Node {
            expr: Expr { kind, span },
            depth,
        })
    }

    fn leaf(l: usize, r: usize, kind: ExprKind) -> Node {
        Node {
            expr: Expr {
                kind,
                span: Span::new(l, r),
            },
            depth: 1,
        }
    }

    pub fn binary<'src>(l: usize, r: usize, op: BinaryOp, a: Node, b: Node) -> Res<'src, Node> {
        let depth = 1 + a.depth.max(b.depth);
        let kind = ExprKind::Binary {
            op,
            lhs: Box::new(a.expr),
            rhs: Box::new(b.expr),
        };
        node(l, r, kind, depth)
    }

    pub fn unary<'src>(l: usize, r: usize, op: UnaryOp, a: Node) -> Res<'src, Node> {
        let depth = 1 + a.depth;
        let kind = ExprKind::Unary {
            op,
            operand: Box::new(a.expr),
        };
        node(l, r, kind, depth)
    }

    pub fn compare<'src>(
        src: &str,
        l: usize,
        r: usize,
        a: Cmp,
        op: BinaryOp,
        b: Node,
    ) -> Res<'src, Cmp> {
        if a.is_comparison {
            // `a < b < c`: Python means `a < b and b < c`; for arrays that is `&`.
            // Operands as written, on one line.
            let text = |s: Span| {
                let t = src.get(s.start..s.end).unwrap_or("?");
                t.split_whitespace().collect::<Vec<_>>().join(" ")
            };
            let first = text(a.node.expr.span);
            let middle = match &a.node.expr.kind {
                ExprKind::Binary { rhs, .. } => text(rhs.span),
                _ => "b".to_string(),
            };
            let last = text(b.expr.span);
            let op = op.symbol();
            return user(
                Error::at(
                    ErrorKind::Syntax,
                    Span::new(l, r),
                    "chained comparisons are not supported",
                )
                .with_help(format!("write ({first}) & ({middle} {op} {last})")),
            );
        }
        Ok(Cmp {
            node: binary(l, r, op, a.node, b)?,
            is_comparison: true,
        })
    }

    pub fn int<'src>(l: usize, r: usize, text: &str) -> Res<'src, Node> {
        let digits: String = text.chars().filter(|&c| c != '_').collect();
        if digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|b| b != b'0') {
            let trimmed = digits.trim_start_matches('0');
            return user(
                Error::at(
                    ErrorKind::Syntax,
                    Span::new(l, r),
                    "leading zeros in decimal integer literals are not permitted",
                )
                .with_help(format!("write {trimmed}")),
            );
        }
        match digits.parse::<u64>() {
            Ok(v) => Ok(leaf(l, r, ExprKind::Int(v))),
            Err(_) => user(Error::at(
                ErrorKind::Value,
                Span::new(l, r),
                format!("integer literal too large: {text} does not fit in 64 bits"),
            )),
        }
    }

    fn parse_f64<'src>(l: usize, r: usize, text: &str) -> Res<'src, f64> {
        let digits: String = text.chars().filter(|&c| c != '_').collect();
        // Overflow gives inf, as in Python (`1e999`).
        match digits.parse::<f64>() {
            Ok(v) => Ok(v),
            Err(_) => user(Error::at(
                ErrorKind::Syntax,
                Span::new(l, r),
                format!("invalid number literal '{text}'"),
            )),
        }
    }

    pub fn float<'src>(l: usize, r: usize, text: &str) -> Res<'src, Node> {
        let v = parse_f64(l, r, text)?;
        Ok(leaf(l, r, ExprKind::Float(v)))
    }

    pub fn imag<'src>(l: usize, r: usize, text: &str) -> Res<'src, Node> {
        let v = parse_f64(l, r, &text[..text.len() - 1])?;
        Ok(leaf(l, r, ExprKind::Imag(v)))
    }

    pub fn boolean(l: usize, r: usize, v: bool) -> Node {
        leaf(l, r, ExprKind::Bool(v))
    }

    pub fn name(l: usize, r: usize, s: &str) -> Node {
        leaf(l, r, ExprKind::Name(s.to_string()))
    }

    pub fn call<'src>(
        l: usize,
        r: usize,
        func: &str,
        func_end: usize,
        items: Vec<Arg<'_>>,
    ) -> Res<'src, Node> {
        let mut args = Vec::new();
        let mut kwargs: Vec<Keyword> = Vec::new();
        let mut depth = 0;
        for item in items {
            match item {
                Arg::Positional(n) => {
                    if !kwargs.is_empty() {
                        return user(
                            Error::at(
                                ErrorKind::Syntax,
                                n.expr.span,
                                "positional argument follows keyword argument",
                            )
                            .with_help("put keyword arguments last, as in f(x, axis=1)"),
                        );
                    }
                    depth = depth.max(n.depth);
                    args.push(n.expr);
                }
                Arg::Keyword(nl, nr, name, n) => {
                    if kwargs.iter().any(|k| k.name == name) {
                        return user(Error::at(
                            ErrorKind::Syntax,
                            Span::new(nl, nr),
                            format!("keyword argument repeated: {name}"),
                        ));
                    }
                    depth = depth.max(n.depth);
                    kwargs.push(Keyword {
                        name: name.to_string(),
                        name_span: Span::new(nl, nr),
                        value: n.expr,
                    });
                }
            }
        }
        let kind = ExprKind::Call {
            func: func.to_string(),
            func_span: Span::new(l, func_end),
            args,
            kwargs,
        };
        node(l, r, kind, depth + 1)
    }
}
