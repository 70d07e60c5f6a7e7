//! Random trees printed with `to_source` / `to_parenthesized` parse back to the same tree.

use ndexpr::syntax::ast::{BinaryOp, Expr, ExprKind, Keyword, UnaryOp};
use ndexpr::syntax::parse;
use ndexpr::Span;
use proptest::prelude::*;

const KEYWORDS: &[&str] = &["and", "or", "not", "if", "else", "lambda"];

fn node(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,4}"
        .prop_filter("not a keyword", |s| !KEYWORDS.contains(&s.as_str()))
        .prop_filter("not a bool", |s| s != "True" && s != "False")
}

/// Non-negative floats of every magnitude (subnormal to infinite), never NaN.
fn non_negative_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>()
            .prop_map(f64::abs)
            .prop_filter("not NaN", |v| !v.is_nan()),
        (0u32..1000).prop_map(|v| f64::from(v) / 8.0),
        Just(0.0),
        Just(f64::INFINITY),
    ]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        name().prop_map(|n| node(ExprKind::Name(n))),
        any::<u64>().prop_map(|v| node(ExprKind::Int(v))),
        (0u64..100).prop_map(|v| node(ExprKind::Int(v))),
        non_negative_f64().prop_map(|v| node(ExprKind::Float(v))),
        non_negative_f64().prop_map(|v| node(ExprKind::Imag(v))),
        any::<bool>().prop_map(|v| node(ExprKind::Bool(v))),
    ]
}

fn unary_op() -> impl Strategy<Value = UnaryOp> {
    prop_oneof![
        Just(UnaryOp::Neg),
        Just(UnaryOp::Pos),
        Just(UnaryOp::Invert),
        Just(UnaryOp::Not),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    use BinaryOp::*;
    prop::sample::select(vec![
        Add, Sub, Mul, Div, FloorDiv, Mod, Pow, LShift, RShift, BitAnd, BitOr, BitXor, Lt, Le, Gt,
        Ge, Eq, Ne, And, Or,
    ])
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(8, 96, 3, |inner| {
        prop_oneof![
            (unary_op(), inner.clone()).prop_map(|(op, e)| node(ExprKind::Unary {
                op,
                operand: Box::new(e),
            })),
            (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| node(
                ExprKind::Binary {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                }
            )),
            (
                name(),
                prop::collection::vec(inner.clone(), 1..=3),
                prop::option::of((name(), inner)),
            )
                .prop_map(|(func, args, kw)| node(ExprKind::Call {
                    func,
                    func_span: Span::default(),
                    args,
                    kwargs: kw
                        .into_iter()
                        .map(|(name, value)| Keyword {
                            name,
                            name_span: Span::default(),
                            value,
                        })
                        .collect(),
                })),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn to_source_round_trips(e in expr()) {
        let src = e.to_source();
        let back = parse(&src).map_err(|err| TestCaseError::fail(format!("{src:?}: {err}")))?;
        prop_assert!(back.same_shape(&e), "{:?} parsed as {:?}", src, back.without_spans());
        prop_assert_eq!(back.without_spans(), e.without_spans());
        // Printing is stable.
        prop_assert_eq!(back.to_source(), src);
    }

    #[test]
    fn to_parenthesized_round_trips(e in expr()) {
        let src = e.to_parenthesized();
        let back = parse(&src).map_err(|err| TestCaseError::fail(format!("{src:?}: {err}")))?;
        prop_assert!(back.same_shape(&e), "{:?} parsed as {:?}", src, back.without_spans());
        prop_assert_eq!(back.to_parenthesized(), src);
    }

    #[test]
    fn minimal_form_is_never_longer(e in expr()) {
        prop_assert!(e.to_source().len() <= e.to_parenthesized().len());
    }

    /// Arbitrary text never panics the parser, and errors always point inside the input.
    #[test]
    fn arbitrary_text_never_panics(src in "[a-c0-9 ()+*/%<>=!&|^~.,:;_ej-]{0,40}|\\PC{0,20}") {
        match parse(&src) {
            Ok(e) => {
                let again = parse(&e.to_source()).unwrap();
                prop_assert!(again.same_shape(&e));
            }
            Err(err) => {
                let span = err.span().unwrap();
                prop_assert!(span.start <= span.end && span.end <= src.len(), "{:?}: {}", src, err);
                prop_assert!(src.is_char_boundary(span.start) && src.is_char_boundary(span.end));
            }
        }
    }
}
