//! The abstract syntax tree, with the span of every node.

use crate::error::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A non-negative integer literal (`-3` is `Neg` of `3`); at most `u64::MAX`.
    Int(u64),
    Float(f64),
    /// An imaginary literal `2j`: the value is the imaginary part.
    Imag(f64),
    Bool(bool),
    Name(String),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call {
        func: String,
        func_span: Span,
        args: Vec<Expr>,
        kwargs: Vec<Keyword>,
    },
}

/// A keyword argument `name=value` (only reductions' `axis=` will accept one).
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    pub name: String,
    pub name_span: Span,
    pub value: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Pos,
    Invert,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    LShift,
    RShift,
    BitAnd,
    BitOr,
    BitXor,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl Expr {
    /// The direct subexpressions, left to right: operands, call arguments, then keyword
    /// values.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Unary { operand, .. } => vec![operand],
            ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            ExprKind::Call { args, kwargs, .. } => {
                args.iter().chain(kwargs.iter().map(|k| &k.value)).collect()
            }
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Imag(_)
            | ExprKind::Bool(_)
            | ExprKind::Name(_) => Vec::new(),
        }
    }

    /// The value of an integer literal as written, `-1` included (the grammar makes it `Neg` of
    /// `1`): how a reduction's `axis` is given. `None` for anything else or beyond `i64`.
    pub fn int_literal(&self) -> Option<i64> {
        match &self.kind {
            ExprKind::Int(v) => i64::try_from(*v).ok(),
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand,
            } => match operand.kind {
                ExprKind::Int(v) => i64::try_from(v).ok().map(|v| -v),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether two trees are equal ignoring every span (literals compare bit for bit, so `NaN`
    /// equals itself and `0.0` differs from `-0.0`).
    pub fn same_shape(&self, other: &Expr) -> bool {
        use ExprKind::*;
        match (&self.kind, &other.kind) {
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) | (Imag(a), Imag(b)) => a.to_bits() == b.to_bits(),
            (Bool(a), Bool(b)) => a == b,
            (Name(a), Name(b)) => a == b,
            (
                Unary { op, operand },
                Unary {
                    op: op2,
                    operand: operand2,
                },
            ) => op == op2 && operand.same_shape(operand2),
            (
                Binary { op, lhs, rhs },
                Binary {
                    op: op2,
                    lhs: lhs2,
                    rhs: rhs2,
                },
            ) => op == op2 && lhs.same_shape(lhs2) && rhs.same_shape(rhs2),
            (
                Call {
                    func, args, kwargs, ..
                },
                Call {
                    func: func2,
                    args: args2,
                    kwargs: kwargs2,
                    ..
                },
            ) => {
                func == func2
                    && args.len() == args2.len()
                    && args.iter().zip(args2).all(|(a, b)| a.same_shape(b))
                    && kwargs.len() == kwargs2.len()
                    && kwargs
                        .iter()
                        .zip(kwargs2)
                        .all(|(a, b)| a.name == b.name && a.value.same_shape(&b.value))
            }
            _ => false,
        }
    }

    /// A copy with every span (and `func_span`, `name_span`) set to `Span::default()`, for
    /// comparing trees with `==` and printing them without positions.
    pub fn without_spans(&self) -> Expr {
        use ExprKind::*;
        let kind = match &self.kind {
            Unary { op, operand } => Unary {
                op: *op,
                operand: Box::new(operand.without_spans()),
            },
            Binary { op, lhs, rhs } => Binary {
                op: *op,
                lhs: Box::new(lhs.without_spans()),
                rhs: Box::new(rhs.without_spans()),
            },
            Call {
                func, args, kwargs, ..
            } => Call {
                func: func.clone(),
                func_span: Span::default(),
                args: args.iter().map(Expr::without_spans).collect(),
                kwargs: kwargs
                    .iter()
                    .map(|k| Keyword {
                        name: k.name.clone(),
                        name_span: Span::default(),
                        value: k.value.without_spans(),
                    })
                    .collect(),
            },
            leaf => leaf.clone(),
        };
        Expr {
            kind,
            span: Span::default(),
        }
    }

    /// The depth of the tree: 1 for a leaf, 1 + the deepest child otherwise. The parser never
    /// builds a tree deeper than [`crate::syntax::MAX_DEPTH`].
    pub fn depth(&self) -> usize {
        1 + match &self.kind {
            ExprKind::Unary { operand, .. } => operand.depth(),
            ExprKind::Binary { lhs, rhs, .. } => lhs.depth().max(rhs.depth()),
            ExprKind::Call { args, kwargs, .. } => args
                .iter()
                .map(Expr::depth)
                .chain(kwargs.iter().map(|k| k.value.depth()))
                .max()
                .unwrap_or(0),
            _ => 0,
        }
    }
}
