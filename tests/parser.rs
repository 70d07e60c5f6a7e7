//! The parser against hand-derived expectations: precedence (checked against Python 3.11's
//! `ast` module), literal values, spans, every error with its exact message and caret, limits.

use std::time::{Duration, Instant};

use ndexpr::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use ndexpr::syntax::{parse, MAX_DEPTH, MAX_LEN};
use ndexpr::{ErrorKind, Span};

/// Source, and its fully parenthesised form as derived by hand from Python's grammar (and
/// cross-checked with `ast.parse` in Python 3.11).
const PRECEDENCE: &[(&str, &str)] = &[
    ("-2**2", "(-(2 ** 2))"),
    ("2**-1", "(2 ** (-1))"),
    ("2**3**2", "(2 ** (3 ** 2))"),
    ("a & b < c", "((a & b) < c)"),
    ("not a < b", "(not (a < b))"),
    ("not a and b", "((not a) and b)"),
    ("a or b and c", "(a or (b and c))"),
    ("a | b ^ c & d", "(a | (b ^ (c & d)))"),
    ("a << 1 + 2", "(a << (1 + 2))"),
    ("-a**-b", "(-(a ** (-b)))"),
    ("a + b * c", "(a + (b * c))"),
    ("a * b + c", "((a * b) + c)"),
    ("a - b - c", "((a - b) - c)"),
    ("a / b / c", "((a / b) / c)"),
    ("a // b % c * d", "(((a // b) % c) * d)"),
    ("a + b - c + d", "(((a + b) - c) + d)"),
    ("a ** b * c", "((a ** b) * c)"),
    ("a * b ** c", "(a * (b ** c))"),
    ("-a * b", "((-a) * b)"),
    ("a * -b", "(a * (-b))"),
    ("--a", "(-(-a))"),
    ("-+~a", "(-(+(~a)))"),
    ("~a ** 2", "(~(a ** 2))"),
    ("a ** ~b ** c", "(a ** (~(b ** c)))"),
    ("(a + b) * c", "((a + b) * c)"),
    ("(-2) ** 2", "((-2) ** 2)"),
    ("(2 ** 3) ** 2", "((2 ** 3) ** 2)"),
    ("a << b << c", "((a << b) << c)"),
    ("a >> b + c >> d", "((a >> (b + c)) >> d)"),
    ("a & b & c", "((a & b) & c)"),
    ("a & b | c & d", "((a & b) | (c & d))"),
    ("a ^ b | c", "((a ^ b) | c)"),
    ("a | b < c | d", "((a | b) < (c | d))"),
    ("a == b", "(a == b)"),
    ("a + 1 >= b * 2", "((a + 1) >= (b * 2))"),
    ("a != b and c <= d", "((a != b) and (c <= d))"),
    ("a > b or c < d", "((a > b) or (c < d))"),
    ("not not a", "(not (not a))"),
    ("not a or not b", "((not a) or (not b))"),
    ("a and b and c", "((a and b) and c)"),
    ("a or b or c", "((a or b) or c)"),
    ("a and not b or c", "((a and (not b)) or c)"),
    ("not a == b & c", "(not (a == (b & c)))"),
    ("(a < b) < c", "((a < b) < c)"),
    ("a < (b < c)", "(a < (b < c))"),
    ("f(a + b, -c)", "f((a + b), (-c))"),
    ("f(x, axis=1)", "f(x, axis=1)"),
    ("-f(x) ** 2", "(-(f(x) ** 2))"),
    ("f(g(x), y * 2)", "f(g(x), (y * 2))"),
    ("a * (b + c) / d", "((a * (b + c)) / d)"),
    ("2 ** -3 ** 2", "(2 ** (-(3 ** 2)))"),
    ("-1 - -1", "((-1) - (-1))"),
    ("~a & ~b", "((~a) & (~b))"),
    ("a % -b ** c", "(a % (-(b ** c)))"),
    ("((a))", "a"),
    (
        "a+b*c**d**e-f//g",
        "((a + (b * (c ** (d ** e)))) - (f // g))",
    ),
];

#[test]
fn precedence_matches_python() {
    assert!(PRECEDENCE.len() >= 40);
    for (src, expected) in PRECEDENCE {
        let e = parse(src).unwrap_or_else(|e| panic!("{src:?} failed to parse: {e}"));
        assert_eq!(&e.to_parenthesized(), expected, "for {src:?}");
    }
}

#[test]
fn parenthesized_form_parses_to_the_same_tree() {
    for (src, expected) in PRECEDENCE {
        let a = parse(src).unwrap();
        let b = parse(expected).unwrap();
        assert!(a.same_shape(&b), "{src:?} vs {expected:?}");
    }
}

/// Source, and its minimally parenthesised form.
const MINIMAL: &[(&str, &str)] = &[
    ("(a + b) * c", "(a + b) * c"),
    ("a + (b * c)", "a + b * c"),
    ("(-2) ** 2", "(-2) ** 2"),
    ("-(2 ** 2)", "-2 ** 2"),
    ("(2 ** 3) ** 2", "(2 ** 3) ** 2"),
    ("2 ** (3 ** 2)", "2 ** 3 ** 2"),
    ("2 ** (-1)", "2 ** -1"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("(a < b) < c", "(a < b) < c"),
    ("a < (b < c)", "a < (b < c)"),
    ("(a < b) == (c < d)", "(a < b) == (c < d)"),
    ("not (a and b)", "not (a and b)"),
    ("(not a) and b", "not a and b"),
    ("not (not a)", "not not a"),
    ("(not a) == b", "(not a) == b"),
    ("a == (not b)", "a == (not b)"),
    ("-(-a)", "--a"),
    ("a - (-b)", "a - -b"),
    ("(a or b) and c", "(a or b) and c"),
    ("a or (b and c)", "a or b and c"),
    ("~(a & b)", "~(a & b)"),
    ("(a | b) & c", "(a | b) & c"),
    ("(a & b) | c", "a & b | c"),
    ("a ** (b * c)", "a ** (b * c)"),
    ("(f(x)) ** 2", "f(x) ** 2"),
    ("(-a) * b", "-a * b"),
    ("-(a * b)", "-(a * b)"),
    ("f((a + b), x = (1),)", "f(a + b, x=1)"),
    ("g( )", "g()"),
    ("1.5 + 2j", "1.5 + 2.0j"),
    ("True & False", "True & False"),
    (".5 + 2. + 1e-3 + 1E+2", "0.5 + 2.0 + 0.001 + 100.0"),
    ("1e-7 * 1e16", "1e-7 * 1e16"),
    ("1.5e3J", "1500.0j"),
    ("1_000", "1000"),
    ("1e999", "1e999"),
    ("1e999j", "1e999j"),
];

#[test]
fn to_source_uses_minimal_parentheses() {
    for (src, expected) in MINIMAL {
        let e = parse(src).unwrap_or_else(|e| panic!("{src:?} failed to parse: {e}"));
        assert_eq!(&e.to_source(), expected, "for {src:?}");
        assert!(parse(expected).unwrap().same_shape(&e), "for {src:?}");
    }
}

fn literal(src: &str) -> ExprKind {
    parse(src)
        .unwrap_or_else(|e| panic!("{src:?} failed to parse: {e}"))
        .kind
}

#[test]
fn literal_values() {
    assert_eq!(literal("0"), ExprKind::Int(0));
    assert_eq!(literal("00"), ExprKind::Int(0));
    assert_eq!(literal("42"), ExprKind::Int(42));
    assert_eq!(literal("1_000_000"), ExprKind::Int(1_000_000));
    assert_eq!(literal("18446744073709551615"), ExprKind::Int(u64::MAX));
    assert_eq!(literal("1.5"), ExprKind::Float(1.5));
    assert_eq!(literal(".5"), ExprKind::Float(0.5));
    assert_eq!(literal("2."), ExprKind::Float(2.0));
    assert_eq!(literal("1e-3"), ExprKind::Float(0.001));
    assert_eq!(literal("1E+2"), ExprKind::Float(100.0));
    assert_eq!(literal("1.e5"), ExprKind::Float(100000.0));
    assert_eq!(literal("1_0.2_5"), ExprKind::Float(10.25));
    assert_eq!(literal("007.5"), ExprKind::Float(7.5));
    assert_eq!(literal("1e999"), ExprKind::Float(f64::INFINITY));
    assert_eq!(literal("1e-400"), ExprKind::Float(0.0));
    assert_eq!(literal("2j"), ExprKind::Imag(2.0));
    assert_eq!(literal("1.5e3J"), ExprKind::Imag(1500.0));
    assert_eq!(literal(".5j"), ExprKind::Imag(0.5));
    assert_eq!(literal("0j"), ExprKind::Imag(0.0));
    assert_eq!(literal("True"), ExprKind::Bool(true));
    assert_eq!(literal("False"), ExprKind::Bool(false));
    assert_eq!(literal("x_1"), ExprKind::Name("x_1".into()));
    assert_eq!(literal("Truth"), ExprKind::Name("Truth".into()));
    assert_eq!(literal("été"), ExprKind::Name("été".into()));
    // Whitespace of every kind is skipped.
    assert_eq!(literal(" \t\n 7 \r\n"), ExprKind::Int(7));
}

#[test]
fn negative_literals_are_negations() {
    let e = parse("-3").unwrap();
    match e.kind {
        ExprKind::Unary { op, operand } => {
            assert_eq!(op, UnaryOp::Neg);
            assert_eq!(operand.kind, ExprKind::Int(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn spans() {
    // 0123456789012345678
    // (a + b) * f(c, k=d)
    let e = parse("(a + b) * f(c, k=d)").unwrap();
    assert_eq!(e.span, Span::new(0, 19));
    let ExprKind::Binary { op, lhs, rhs } = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(*op, BinaryOp::Mul);
    // A parenthesised expression keeps the span of its content, like Python's ast.
    assert_eq!(lhs.span, Span::new(1, 6));
    assert_eq!(rhs.span, Span::new(10, 19));
    let ExprKind::Call {
        func,
        func_span,
        args,
        kwargs,
    } = &rhs.kind
    else {
        panic!("{rhs:?}")
    };
    assert_eq!(func, "f");
    assert_eq!(*func_span, Span::new(10, 11));
    assert_eq!(args.len(), 1);
    assert_eq!(args[0].span, Span::new(12, 13));
    assert_eq!(kwargs.len(), 1);
    assert_eq!(kwargs[0].name, "k");
    assert_eq!(kwargs[0].name_span, Span::new(15, 16));
    assert_eq!(kwargs[0].value.span, Span::new(17, 18));
    assert_eq!(kwargs[0].value.kind, ExprKind::Name("d".into()));

    // Spans are in bytes: 'é' takes two.
    let e = parse("é + -b").unwrap();
    let ExprKind::Binary { lhs, rhs, .. } = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(lhs.span, Span::new(0, 2));
    assert_eq!(rhs.span, Span::new(5, 7));
    assert_eq!(e.span, Span::new(0, 7));
}

#[test]
fn calls() {
    let e = parse("f()").unwrap();
    assert_eq!(e.to_parenthesized(), "f()");
    let e = parse("f(a,)").unwrap();
    let ExprKind::Call { args, kwargs, .. } = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(args.len(), 1);
    assert!(kwargs.is_empty());
    let e = parse("sum(x + 1, axis=0, keepdims=True)").unwrap();
    assert_eq!(e.to_parenthesized(), "sum((x + 1), axis=0, keepdims=True)");
    let e = parse("f(axis=1)").unwrap();
    assert_eq!(e.to_parenthesized(), "f(axis=1)");
    let e = parse("where(a > b, sin(a) ** 2, 0)").unwrap();
    assert_eq!(e.to_parenthesized(), "where((a > b), (sin(a) ** 2), 0)");
}

/// Source, kind, message, span, help.
type ErrorCase = (
    &'static str,
    ErrorKind,
    &'static str,
    (usize, usize),
    Option<&'static str>,
);

const ERRORS: &[ErrorCase] = &[
    ("", ErrorKind::Syntax, "empty expression", (0, 0), None),
    (" \t\n ", ErrorKind::Syntax, "empty expression", (0, 4), None),
    ("a + $", ErrorKind::Syntax, "unexpected character '$'", (4, 5), None),
    ("a ≠ b", ErrorKind::Syntax, "unexpected character '≠'", (2, 5), None),
    ("a ? b", ErrorKind::Syntax, "unexpected character '?'", (2, 3), None),
    ("1e", ErrorKind::Syntax, "invalid number literal '1e'", (0, 2), None),
    ("2 * 1e+", ErrorKind::Syntax, "invalid number literal '1e'", (4, 6), None),
    ("3x", ErrorKind::Syntax, "invalid number literal '3x'", (0, 2), None),
    ("2jj", ErrorKind::Syntax, "invalid number literal '2jj'", (0, 3), None),
    (
        "007",
        ErrorKind::Syntax,
        "leading zeros in decimal integer literals are not permitted",
        (0, 3),
        Some("write 7"),
    ),
    (
        "1 + 99999999999999999999",
        ErrorKind::Value,
        "integer literal too large: 99999999999999999999 does not fit in 64 bits",
        (4, 24),
        None,
    ),
    (
        "18446744073709551616",
        ErrorKind::Value,
        "integer literal too large: 18446744073709551616 does not fit in 64 bits",
        (0, 20),
        None,
    ),
    (
        "a +",
        ErrorKind::Syntax,
        "unexpected end of input, expected an expression",
        (3, 3),
        None,
    ),
    (
        "not",
        ErrorKind::Syntax,
        "unexpected end of input, expected an expression",
        (3, 3),
        None,
    ),
    (
        "(a",
        ErrorKind::Syntax,
        "unexpected end of input, expected one of: an operator, ')'",
        (2, 2),
        Some("the '(' at column 1 is never closed"),
    ),
    (
        "f(a",
        ErrorKind::Syntax,
        "unexpected end of input, expected one of: an operator, ')', ','",
        (3, 3),
        Some("the '(' at column 2 is never closed"),
    ),
    (
        "f(",
        ErrorKind::Syntax,
        "unexpected end of input, expected one of: an expression, ')'",
        (2, 2),
        Some("the '(' at column 2 is never closed"),
    ),
    (
        "a b",
        ErrorKind::Syntax,
        "unexpected token 'b', expected one of: an operator, end of input",
        (2, 3),
        None,
    ),
    (
        "a)",
        ErrorKind::Syntax,
        "unexpected token ')', expected one of: an operator, end of input",
        (1, 2),
        Some("this ')' has no matching '('"),
    ),
    (
        "f(a b)",
        ErrorKind::Syntax,
        "unexpected token 'b', expected one of: an operator, ')', ','",
        (4, 5),
        None,
    ),
    (
        "a * * b",
        ErrorKind::Syntax,
        "unexpected token '*', expected an expression",
        (4, 5),
        None,
    ),
    (
        "()",
        ErrorKind::Syntax,
        "unexpected token ')', expected an expression",
        (1, 2),
        None,
    ),
    (
        "f(,)",
        ErrorKind::Syntax,
        "unexpected token ',', expected one of: an expression, ')'",
        (2, 3),
        None,
    ),
    (
        "f(a,,)",
        ErrorKind::Syntax,
        "unexpected token ',', expected one of: an expression, ')'",
        (4, 5),
        None,
    ),
    (
        "2(3)",
        ErrorKind::Syntax,
        "unexpected token '(', expected one of: an operator, end of input",
        (1, 2),
        Some("only a function name can be called, as in f(x); to multiply, write '*'"),
    ),
    (
        "a == not b",
        ErrorKind::Syntax,
        "unexpected token 'not', expected an expression",
        (5, 8),
        None,
    ),
    (
        "a && b",
        ErrorKind::Syntax,
        "unexpected token '&', expected an expression",
        (3, 4),
        Some("'&&' is not an operator: use '&' (element-wise) or 'and'"),
    ),
    (
        "a || b",
        ErrorKind::Syntax,
        "unexpected token '|', expected an expression",
        (3, 4),
        Some("'||' is not an operator: use '|' (element-wise) or 'or'"),
    ),
    (
        "!a",
        ErrorKind::Syntax,
        "unexpected character '!'",
        (0, 1),
        Some("use 'not' or '~' to negate, '!=' to compare"),
    ),
    (
        "a < b < c",
        ErrorKind::Syntax,
        "chained comparisons are not supported",
        (0, 9),
        Some("write (a < b) & (b < c)"),
    ),
    (
        "0 <= x+1 != y",
        ErrorKind::Syntax,
        "chained comparisons are not supported",
        (0, 13),
        Some("write (0 <= x+1) & (x+1 != y)"),
    ),
    (
        "x < y\n  >= z",
        ErrorKind::Syntax,
        "chained comparisons are not supported",
        (0, 12),
        Some("write (x < y) & (y >= z)"),
    ),
    (
        "a.T",
        ErrorKind::Syntax,
        "attribute access is not supported",
        (1, 2),
        Some("ndexpr values have no attributes or methods; use a function, e.g. real(a) rather than a.real"),
    ),
    (
        "x + a[0]",
        ErrorKind::Syntax,
        "indexing and slicing are not supported",
        (5, 6),
        Some("ndexpr works element-wise on whole arrays; index or slice the arrays before passing them in"),
    ),
    (
        "[1, 2]",
        ErrorKind::Syntax,
        "list literals are not supported",
        (0, 1),
        Some("pass arrays in as variables"),
    ),
    (
        "a == 'x'",
        ErrorKind::Syntax,
        "string literals are not supported",
        (5, 8),
        Some("ndexpr expressions work on numbers and booleans only"),
    ),
    (
        "f(\"abc\")",
        ErrorKind::Syntax,
        "string literals are not supported",
        (2, 7),
        Some("ndexpr expressions work on numbers and booleans only"),
    ),
    ("a + 'abc", ErrorKind::Syntax, "unterminated string literal", (4, 8), None),
    (
        "lambda x: x + 1",
        ErrorKind::Syntax,
        "lambda is not supported; ndexpr evaluates a single expression",
        (0, 6),
        Some("write the lambda's body as the expression and pass its parameters in as variables"),
    ),
    (
        "a = 1",
        ErrorKind::Syntax,
        "assignment is not supported; ndexpr evaluates a single expression",
        (2, 3),
        Some("to compare for equality, use '=='"),
    ),
    (
        "f(a + 1 = 2)",
        ErrorKind::Syntax,
        "'=' is only allowed for a keyword argument, as in f(x, axis=1)",
        (8, 9),
        Some("to compare for equality, use '=='"),
    ),
    (
        "(y := 2) * y",
        ErrorKind::Syntax,
        "assignment expressions (:=) are not supported",
        (3, 5),
        Some("write the value where it is used"),
    ),
    (
        "x if c else y",
        ErrorKind::Syntax,
        "conditional expressions are not supported",
        (2, 4),
        Some("use where(c, x, y) rather than x if c else y"),
    ),
    (
        "a; b",
        ErrorKind::Syntax,
        "multiple statements are not supported; ndexpr evaluates a single expression",
        (1, 2),
        None,
    ),
    (
        "a @ b",
        ErrorKind::Syntax,
        "matrix multiplication (@) is not supported",
        (2, 3),
        Some("ndexpr operations are element-wise: use * for the element-wise product"),
    ),
    (
        "f(axis=1, x)",
        ErrorKind::Syntax,
        "positional argument follows keyword argument",
        (10, 11),
        Some("put keyword arguments last, as in f(x, axis=1)"),
    ),
    (
        "f(x, axis=1, axis=2)",
        ErrorKind::Syntax,
        "keyword argument repeated: axis",
        (13, 17),
        None,
    ),
];

#[test]
fn error_messages_and_spans() {
    for &(src, kind, message, (start, end), help) in ERRORS {
        let e = match parse(src) {
            Ok(ast) => panic!("{src:?} parsed as {}", ast.to_parenthesized()),
            Err(e) => e,
        };
        assert_eq!(e.kind(), kind, "kind for {src:?}: {e}");
        assert_eq!(e.message(), message, "message for {src:?}");
        assert_eq!(
            e.span(),
            Some(Span::new(start, end)),
            "span for {src:?}: {e}"
        );
        assert_eq!(e.help(), help, "help for {src:?}");
        assert_eq!(e.source_text(), Some(src), "source for {src:?}");
    }
}

#[test]
fn rendered_errors() {
    let e = parse("a +").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unexpected end of input, expected an expression\n  a +\n     ^"
    );
    let e = parse("2*bb +* 48").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unexpected token '*', expected an expression\n  2*bb +* 48\n        ^"
    );
    let e = parse("a < b < c").unwrap_err();
    assert_eq!(
        e.to_string(),
        "chained comparisons are not supported\n  a < b < c\n  ^^^^^^^^^\nhelp: write (a < b) & (b < c)"
    );
    let e = parse("x if c else y").unwrap_err();
    assert_eq!(
        e.to_string(),
        "conditional expressions are not supported\n  x if c else y\n    ^^\nhelp: use where(c, x, y) rather than x if c else y"
    );
    let e = parse("1 + 99999999999999999999").unwrap_err();
    assert_eq!(
        e.to_string(),
        "integer literal too large: 99999999999999999999 does not fit in 64 bits\n  1 + 99999999999999999999\n      ^^^^^^^^^^^^^^^^^^^^"
    );
    let e = parse("é + $").unwrap_err();
    assert_eq!(e.to_string(), "unexpected character '$'\n  é + $\n      ^");
}

fn assert_limit(src: &str, message: &str, span: Span) {
    let t = Instant::now();
    let e = parse(src).expect_err("a limit error");
    assert!(t.elapsed() < Duration::from_secs(5), "too slow");
    assert_eq!(e.kind(), ErrorKind::Limit, "{}", e.message());
    assert_eq!(e.message(), message);
    assert_eq!(e.span(), Some(span));
}

const TOO_DEEP: &str = "expression nested too deeply (the limit is 256 levels)";

#[test]
fn length_limit() {
    assert_eq!(MAX_LEN, 65536);
    let ok = "a".repeat(MAX_LEN);
    assert!(parse(&ok).is_ok());
    let long = "a".repeat(MAX_LEN + 1);
    assert_limit(
        &long,
        "expression too long: 65537 bytes (the limit is 65536)",
        Span::new(0, 65537),
    );
}

/// Hostile inputs run on a thread with a small stack: nothing may recurse per token.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn hostile_inputs_hit_limits_without_crashing() {
    on_small_stack(|| {
        let cases = [
            "(".repeat(100_000),
            "-".repeat(100_000) + "a",
            "a+".repeat(40_000) + "a",
            "not ".repeat(20_000) + "a",
            "a**".repeat(30_000) + "a",
            "f(".repeat(30_000),
        ];
        for src in &cases {
            let e = parse(src).expect_err("a limit error");
            assert_eq!(e.kind(), ErrorKind::Limit, "{}", e.message());
        }
        // Under the length limit, the depth limit applies.
        assert_limit(&"(".repeat(60_000), TOO_DEEP, Span::new(256, 257));
        assert_limit(
            &("-".repeat(60_000) + "a"),
            TOO_DEEP,
            Span::new(59_744, 60_001),
        );
        assert_limit(&("a+".repeat(30_000) + "a"), TOO_DEEP, Span::new(0, 513));
        assert_limit(&("~".repeat(300) + "a"), TOO_DEEP, Span::new(44, 301));
        // `a**a**...`: right-associative, so the innermost 257 terms are the first too deep.
        assert_limit(&("a**".repeat(300) + "a"), TOO_DEEP, Span::new(132, 901));
    });
}

#[test]
fn depth_limit_boundary() {
    assert_eq!(MAX_DEPTH, 256);
    on_small_stack(|| {
        // A flat sum of n terms is a left-deep chain of depth n.
        let sum = |n: usize| vec!["a"; n].join("+");
        let e = parse(&sum(200)).unwrap();
        assert_eq!(e.depth(), 200);
        let e = parse(&sum(256)).unwrap();
        assert_eq!(e.depth(), 256);
        // Printing and dropping the deepest allowed tree is fine.
        assert_eq!(e.to_source(), sum(256).replace('+', " + "));
        assert!(parse(&e.to_parenthesized()).unwrap().same_shape(&e));
        drop(e);
        assert_limit(&sum(257), TOO_DEEP, Span::new(0, 513));
        assert_limit(&sum(300), TOO_DEEP, Span::new(0, 513));

        // 255 negations of a leaf: depth 256.
        let e = parse(&("-".repeat(255) + "a")).unwrap();
        assert_eq!(e.depth(), 256);
        assert_limit(&("-".repeat(256) + "a"), TOO_DEEP, Span::new(0, 257));

        // Nested calls: f(f(...f(a)...)) with 255 calls has depth 256.
        let calls = |n: usize| "f(".repeat(n) + "a" + &")".repeat(n);
        assert_eq!(parse(&calls(255)).unwrap().depth(), 256);
        let src = calls(256);
        assert_limit(&src, TOO_DEEP, Span::new(0, src.len()));

        // Parentheses alone add no depth, but their nesting has the same limit.
        let parens = |n: usize| "(".repeat(n) + "a" + &")".repeat(n);
        assert_eq!(parse(&parens(256)).unwrap().depth(), 1);
        assert_limit(&parens(257), TOO_DEEP, Span::new(256, 257));
    });
}

#[test]
fn same_shape_ignores_spans_only() {
    let a = parse("f(x, axis=1) + 2").unwrap();
    let b = parse("f( x ,axis = 1 )+2").unwrap();
    assert_ne!(a, b);
    assert!(a.same_shape(&b));
    assert_eq!(a.without_spans(), b.without_spans());
    let c = parse("f(x, axis=2) + 2").unwrap();
    assert!(!a.same_shape(&c));
    let d = parse("f(x, axes=1) + 2").unwrap();
    assert!(!a.same_shape(&d));
    assert!(!parse("1").unwrap().same_shape(&parse("1.0").unwrap()));
    assert!(!parse("a - b").unwrap().same_shape(&parse("b - a").unwrap()));
}

#[test]
fn every_operator_is_spelled_like_python() {
    let ops = [
        ("+", BinaryOp::Add),
        ("-", BinaryOp::Sub),
        ("*", BinaryOp::Mul),
        ("/", BinaryOp::Div),
        ("//", BinaryOp::FloorDiv),
        ("%", BinaryOp::Mod),
        ("**", BinaryOp::Pow),
        ("<<", BinaryOp::LShift),
        (">>", BinaryOp::RShift),
        ("&", BinaryOp::BitAnd),
        ("|", BinaryOp::BitOr),
        ("^", BinaryOp::BitXor),
        ("<", BinaryOp::Lt),
        ("<=", BinaryOp::Le),
        (">", BinaryOp::Gt),
        (">=", BinaryOp::Ge),
        ("==", BinaryOp::Eq),
        ("!=", BinaryOp::Ne),
        ("and", BinaryOp::And),
        ("or", BinaryOp::Or),
    ];
    for (text, op) in ops {
        let src = format!("a {text} b");
        let e: Expr = parse(&src).unwrap();
        match &e.kind {
            ExprKind::Binary { op: got, .. } => assert_eq!(*got, op, "{src}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.to_source(), src);
        assert_eq!(op.symbol(), text);
    }
    for (text, op, printed) in [
        ("-a", UnaryOp::Neg, "-a"),
        ("+a", UnaryOp::Pos, "+a"),
        ("~a", UnaryOp::Invert, "~a"),
        ("not a", UnaryOp::Not, "not a"),
    ] {
        let e = parse(text).unwrap();
        match &e.kind {
            ExprKind::Unary { op: got, .. } => assert_eq!(*got, op, "{text}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.to_source(), printed);
    }
}
