//! Printing an AST back to source: [`Expr::to_source`] with as few parentheses as Python's
//! grammar needs, [`Expr::to_parenthesized`] with every operation wrapped (for tests and
//! debugging). Both parse back to the same tree (spans aside).

use std::fmt::Write;

use super::ast::{BinaryOp, Expr, ExprKind, UnaryOp};

impl BinaryOp {
    /// The operator as written in Python: `+`, `//`, `**`, `and`, ...
    pub fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            FloorDiv => "//",
            Mod => "%",
            Pow => "**",
            LShift => "<<",
            RShift => ">>",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Eq => "==",
            Ne => "!=",
            And => "and",
            Or => "or",
        }
    }

    /// The binding strength, Python's order: `or` is 1, ..., `**` is 12 (see [`Prec`]).
    fn prec(self) -> u8 {
        use BinaryOp::*;
        match self {
            Or => Prec::OR,
            And => Prec::AND,
            Lt | Le | Gt | Ge | Eq | Ne => Prec::CMP,
            BitOr => Prec::BIT_OR,
            BitXor => Prec::BIT_XOR,
            BitAnd => Prec::BIT_AND,
            LShift | RShift => Prec::SHIFT,
            Add | Sub => Prec::ARITH,
            Mul | Div | FloorDiv | Mod => Prec::TERM,
            Pow => Prec::POW,
        }
    }

    fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Lt | Le | Gt | Ge | Eq | Ne)
    }
}

impl UnaryOp {
    /// The operator as written in Python: `-`, `+`, `~`, `not`.
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Pos => "+",
            UnaryOp::Invert => "~",
            UnaryOp::Not => "not",
        }
    }
}

/// Precedence tiers, loosest first.
struct Prec;

impl Prec {
    const OR: u8 = 1;
    const AND: u8 = 2;
    const NOT: u8 = 3;
    const CMP: u8 = 4;
    const BIT_OR: u8 = 5;
    const BIT_XOR: u8 = 6;
    const BIT_AND: u8 = 7;
    const SHIFT: u8 = 8;
    const ARITH: u8 = 9;
    const TERM: u8 = 10;
    const UNARY: u8 = 11;
    const POW: u8 = 12;
    const ATOM: u8 = 13;
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => Prec::NOT,
        ExprKind::Unary { .. } => Prec::UNARY,
        ExprKind::Binary { op, .. } => op.prec(),
        _ => Prec::ATOM,
    }
}

/// A float literal that parses back to the same value: Rust's shortest round-trip form
/// (`1.5`, `2.0`, `1e-7`), `1e999` for infinity. NaN has no literal and prints as `nan`.
fn float_literal(v: f64) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "1e999" } else { "-1e999" }.to_string()
    } else {
        format!("{v:?}")
    }
}

impl Expr {
    /// The expression as source text, with only the parentheses Python's grammar needs:
    /// `parse(e.to_source())` gives back `e` (spans aside) for any tree the parser can build.
    /// Literals are written as non-negative: a negative float or NaN (which `parse` never
    /// produces) does not round-trip.
    pub fn to_source(&self) -> String {
        let mut out = String::new();
        write_expr(&mut out, self, false);
        out
    }

    /// The expression with every unary and binary operation in parentheses:
    /// `(a + (b * c))`, `(-(2 ** 2))`, `(not (a < b))`, `f(x, axis=1)`.
    pub fn to_parenthesized(&self) -> String {
        let mut out = String::new();
        write_expr(&mut out, self, true);
        out
    }
}

fn write_child(out: &mut String, e: &Expr, min_prec: u8, all: bool) {
    if !all && prec(e) < min_prec {
        out.push('(');
        write_expr(out, e, all);
        out.push(')');
    } else {
        write_expr(out, e, all);
    }
}

fn write_expr(out: &mut String, e: &Expr, all: bool) {
    match &e.kind {
        ExprKind::Int(v) => {
            let _ = write!(out, "{v}");
        }
        ExprKind::Float(v) => out.push_str(&float_literal(*v)),
        ExprKind::Imag(v) => {
            out.push_str(&float_literal(*v));
            out.push('j');
        }
        ExprKind::Bool(true) => out.push_str("True"),
        ExprKind::Bool(false) => out.push_str("False"),
        ExprKind::Name(n) => out.push_str(n),
        ExprKind::Unary { op, operand } => {
            if all {
                out.push('(');
            }
            out.push_str(op.symbol());
            let min = if *op == UnaryOp::Not {
                out.push(' ');
                Prec::NOT
            } else {
                Prec::UNARY
            };
            write_child(out, operand, min, all);
            if all {
                out.push(')');
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.prec();
            // Left-associative tiers take an operand of their own tier on the left; `**` takes
            // only an atom on the left and a unary factor on the right; comparisons don't chain.
            let (lhs_min, rhs_min) = if *op == BinaryOp::Pow {
                (Prec::ATOM, Prec::UNARY)
            } else if op.is_comparison() {
                (p + 1, p + 1)
            } else {
                (p, p + 1)
            };
            if all {
                out.push('(');
            }
            write_child(out, lhs, lhs_min, all);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write_child(out, rhs, rhs_min, all);
            if all {
                out.push(')');
            }
        }
        ExprKind::Call {
            func, args, kwargs, ..
        } => {
            out.push_str(func);
            out.push('(');
            let mut first = true;
            for a in args {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                write_expr(out, a, all);
            }
            for k in kwargs {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                out.push_str(&k.name);
                out.push('=');
                write_expr(out, &k.value, all);
            }
            out.push(')');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_literals() {
        assert_eq!(float_literal(1.5), "1.5");
        assert_eq!(float_literal(0.5), "0.5");
        assert_eq!(float_literal(2.0), "2.0");
        assert_eq!(float_literal(0.001), "0.001");
        assert_eq!(float_literal(1e-7), "1e-7");
        assert_eq!(float_literal(1e16), "1e16");
        assert_eq!(float_literal(f64::INFINITY), "1e999");
        assert_eq!(float_literal(f64::NAN), "nan");
        // Every non-negative finite value round-trips through Rust's parser.
        for v in [0.1, 1.0 / 3.0, f64::MAX, f64::MIN_POSITIVE, 5e-324] {
            assert_eq!(float_literal(v).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn every_tier_is_ordered_like_python() {
        use BinaryOp::*;
        let tiers = [
            &[Or][..],
            &[And],
            &[Lt, Le, Gt, Ge, Eq, Ne],
            &[BitOr],
            &[BitXor],
            &[BitAnd],
            &[LShift, RShift],
            &[Add, Sub],
            &[Mul, Div, FloorDiv, Mod],
            &[Pow],
        ];
        for pair in tiers.windows(2) {
            for a in pair[0] {
                for b in pair[1] {
                    assert!(a.prec() < b.prec(), "{a:?} should bind looser than {b:?}");
                }
            }
        }
        assert!(And.prec() < Prec::NOT && Prec::NOT < Lt.prec());
        assert!(Mul.prec() < Prec::UNARY && Prec::UNARY < Pow.prec());
    }
}
