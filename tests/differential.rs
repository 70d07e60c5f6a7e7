//! Differential tests: ndexpr against the independent reference evaluator in `tests/common`.
//!
//! Random expressions (trees over the variables `a`, `b`, `c`, literals — imaginary and complex
//! ones too —, operators and functions) are evaluated over random dtypes (complex64/complex128
//! about one variable in eight), shapes (0-d, empty, broadcasting pairs, sizes around the VM's
//! block size) and memory layouts (C, Fortran, stepped, reversed, broadcast), with 1, 2 and 4
//! threads; half of the 0-d variables are passed as Rust scalars (`Var::Scalar`) instead of
//! 0-d arrays. Results must agree in dtype and shape, and bit for bit (any NaN equals any NaN),
//! except where the last operation is a libm-quality function or float `**` (4 ULP; complex
//! functions within per-element tolerances the reference gives, special values not compared),
//! or `maximum`/`minimum` of mixed-sign zeros (either zero), or an approximate value went
//! through further operations (dtype and shape only). An error on both sides is agreement;
//! cases the reference marks as undefined in NumPy (`SKIP`) are discarded, and so are cases that
//! hit a known ndexpr bug (see `known_bug`, `known_deviation` and the `#[ignore]`d tests in
//! `known_bugs`).
//!
//! The reference's own unit tests run on hand-built ASTs with the small hand-written type rules
//! [`test_rules`] (the real ones, `types::resolve`, are verified against NumPy separately); its
//! complex model is checked against every complex row of NumPy 2.4.6's kernel tables
//! (`complex_rows`).

mod common;

use common::reference::{function, reference_eval_ast, Py};
use common::{compare, run_ndexpr_with, ulp_diff, Exactness, RefArray, RefView, SKIP};
use half::f16;
use ndarray::{ArrayD, ArrayViewD, IxDyn, Slice};
use ndexpr::bytecode::Op;
use ndexpr::kernels::Isa;
use ndexpr::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use ndexpr::types::{DType, Loop, Ty};
use ndexpr::Span;
use num_complex::{Complex32, Complex64};
use proptest::prelude::*;
use proptest::sample::select;

// =============================================================================================
// Hand-built ASTs and simple type rules, for the reference's unit tests.

fn node(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

fn var(name: &str) -> Expr {
    node(ExprKind::Name(name.into()))
}

fn int(v: u64) -> Expr {
    node(ExprKind::Int(v))
}

fn flt(x: f64) -> Expr {
    node(ExprKind::Float(x))
}

fn un(op: UnaryOp, x: Expr) -> Expr {
    node(ExprKind::Unary {
        op,
        operand: Box::new(x),
    })
}

fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    node(ExprKind::Binary {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
    })
}

fn call(func: &str, args: Vec<Expr>) -> Expr {
    node(ExprKind::Call {
        func: func.into(),
        func_span: Span::default(),
        args,
        kwargs: vec![],
    })
}

fn rank(d: DType) -> u32 {
    d.size() as u32
}

/// A small approximation of NumPy 2's promotion, enough for the hand-derived unit tests and the
/// reference's smoke test (it is NOT what the differential tests use).
fn promote(a: DType, b: DType) -> DType {
    use DType::*;
    if a == b {
        return a;
    }
    if a == Bool {
        return b;
    }
    if b == Bool {
        return a;
    }
    let float_for = |i: DType| match i.size() {
        1 => F16,
        2 => F32,
        _ => F64,
    };
    match (a.is_float(), b.is_float()) {
        (true, true) => return if rank(a) >= rank(b) { a } else { b },
        (true, false) => return promote(a, float_for(b)),
        (false, true) => return promote(float_for(a), b),
        _ => {}
    }
    let signed = |d: DType| matches!(d, I8 | I16 | I32 | I64);
    let int_of = |n: u32, s: bool| match (n, s) {
        (1, true) => I8,
        (2, true) => I16,
        (4, true) => I32,
        (8, true) => I64,
        (1, false) => U8,
        (2, false) => U16,
        (4, false) => U32,
        _ => U64,
    };
    if signed(a) == signed(b) {
        return int_of(rank(a).max(rank(b)), signed(a));
    }
    let (s, u) = if signed(a) { (a, b) } else { (b, a) };
    if rank(s) > rank(u) {
        s
    } else if rank(u) < 8 {
        int_of(rank(u) * 2, true)
    } else {
        F64
    }
}

fn test_rules(op: Op, tys: &[Ty]) -> Result<Loop, String> {
    use DType::*;
    let operands: &[Ty] = if op == Op::Where { &tys[1..] } else { tys };
    let strong: Vec<DType> = operands
        .iter()
        .filter_map(|t| match t {
            Ty::Strong(d) => Some(*d),
            _ => None,
        })
        .collect();
    // Complex values and `complex()` are beyond these rules (the TSV-backed tests below use the
    // real ones).
    if op == Op::Complex || strong.iter().any(|d| d.is_complex()) {
        return Err("complex".into());
    }
    let mut d = strong.iter().copied().reduce(promote);
    for t in operands {
        match (*t, d) {
            (Ty::WeakInt(v), Some(s)) if s.is_integer() => {
                let (lo, hi) = match s {
                    I8 => (-128, 127),
                    I16 => (-32768, 32767),
                    I32 => (i32::MIN as i128, i32::MAX as i128),
                    I64 => (i64::MIN as i128, i64::MAX as i128),
                    U8 => (0, 255),
                    U16 => (0, 65535),
                    U32 => (0, u32::MAX as i128),
                    _ => (0, u64::MAX as i128),
                };
                if v < lo || v > hi {
                    return Err(format!("Python integer {v} out of bounds for {s}"));
                }
            }
            (Ty::WeakInt(_), Some(Bool)) | (Ty::WeakInt(_), None) => d = Some(I64),
            (Ty::WeakFloat, Some(s)) if !s.is_float() => d = Some(F64),
            (Ty::WeakFloat, None) => d = Some(F64),
            (Ty::WeakComplex, _) => return Err("complex".into()),
            _ => {}
        }
    }
    let mut d = d.unwrap_or(I64);
    let to_float = |d: DType| if d.is_float() { d } else { promote(d, F16) };
    let out = match op {
        Op::Less
        | Op::LessEqual
        | Op::Greater
        | Op::GreaterEqual
        | Op::Equal
        | Op::NotEqual
        | Op::LogicalAnd
        | Op::LogicalOr
        | Op::LogicalNot
        | Op::IsNan
        | Op::IsInf
        | Op::IsFinite
        | Op::SignBit => Bool,
        Op::Subtract | Op::Negative if d == Bool => return Err("bool subtract".into()),
        Op::TrueDivide if !d.is_float() => {
            d = F64;
            F64
        }
        Op::LeftShift | Op::RightShift | Op::FloorDivide | Op::Remainder | Op::Power
            if d == Bool =>
        {
            d = I8;
            I8
        }
        Op::LeftShift
        | Op::RightShift
        | Op::BitwiseAnd
        | Op::BitwiseOr
        | Op::BitwiseXor
        | Op::Invert
            if d.is_float() =>
        {
            return Err("bitwise on floats".into())
        }
        op if common::reference::is_transcendental(op)
            || matches!(op, Op::Sqrt | Op::Copysign | Op::Nextafter) =>
        {
            d = to_float(d);
            d
        }
        _ => d,
    };
    let mut inputs = vec![d; tys.len()];
    if op == Op::Where {
        inputs[0] = Bool;
    }
    Ok(Loop {
        inputs,
        output: out,
    })
}

fn arr<T: Clone>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn eval(expr: &Expr, vars: &[(&str, RefArray)]) -> Result<RefArray, String> {
    reference_eval_ast(expr, vars, &test_rules).map(|(a, _)| a)
}

fn eval_ok(expr: &Expr, vars: &[(&str, RefArray)]) -> RefArray {
    eval(expr, vars).unwrap_or_else(|e| panic!("{expr:?}: {e}"))
}

fn f64s(a: RefArray) -> Vec<f64> {
    match a {
        RefArray::F64(x) => x.iter().copied().collect(),
        other => panic!("not float64: {other:?}"),
    }
}

fn i64s(a: RefArray) -> Vec<i64> {
    match a {
        RefArray::I64(x) => x.iter().copied().collect(),
        other => panic!("not int64: {other:?}"),
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

mod reference_unit {
    use super::*;
    use BinaryOp::*;

    fn i64v(v: Vec<i64>) -> RefArray {
        RefArray::I64(arr(&[v.len()], v))
    }

    fn f64v(v: Vec<f64>) -> RefArray {
        RefArray::F64(arr(&[v.len()], v))
    }

    #[test]
    fn integer_floor_division_and_modulo_take_the_divisors_sign() {
        let vars = [
            ("a", i64v(vec![-7, 7, 7, -7, 0, i64::MIN, i64::MIN, 5])),
            ("b", i64v(vec![2, -2, 2, -2, 3, -1, -1, 0])),
        ];
        let q = i64s(eval_ok(&bin(FloorDiv, var("a"), var("b")), &vars));
        let r = i64s(eval_ok(&bin(Mod, var("a"), var("b")), &vars));
        assert_eq!(q, [-4, -4, 3, 3, 0, i64::MIN, i64::MIN, 0]);
        assert_eq!(r, [1, -1, 1, -1, 0, 0, 0, 0]);
        let f = i64s(eval_ok(&call("fmod", vec![var("a"), var("b")]), &vars));
        assert_eq!(f, [-1, 1, 1, -1, 0, 0, 0, 0]);
    }

    #[test]
    fn integers_wrap() {
        let vars = [("x", RefArray::I8(arr(&[3], vec![127i8, -128, 5])))];
        let got = eval_ok(&bin(Add, var("x"), int(1)), &vars);
        assert_eq!(got, RefArray::I8(arr(&[3], vec![-128, -127, 6])));
        let got = eval_ok(&un(UnaryOp::Neg, var("x")), &vars);
        assert_eq!(got, RefArray::I8(arr(&[3], vec![-127, -128, -5])));
        let got = eval_ok(&call("abs", vec![var("x")]), &vars);
        assert_eq!(got, RefArray::I8(arr(&[3], vec![127, -128, 5])));
        let got = eval_ok(&bin(Pow, var("x"), int(3)), &vars);
        assert_eq!(got, RefArray::I8(arr(&[3], vec![127, 0, 125])));
        let u = [("u", RefArray::U8(arr(&[2], vec![0u8, 200])))];
        let got = eval_ok(&bin(Sub, var("u"), int(1)), &u);
        assert_eq!(got, RefArray::U8(arr(&[2], vec![255, 199])));
    }

    #[test]
    fn out_of_bounds_python_ints_are_errors() {
        let vars = [("x", RefArray::I8(arr(&[1], vec![1i8])))];
        assert!(eval(&bin(Add, var("x"), int(300)), &vars).is_err());
        let vars = [("u", RefArray::U8(arr(&[1], vec![1u8])))];
        assert!(eval(&bin(Add, var("u"), un(UnaryOp::Neg, int(1))), &vars).is_err());
    }

    #[test]
    fn shifts_past_the_width() {
        let vars = [
            ("x", RefArray::I8(arr(&[5], vec![1i8, -8, -8, 1, 64]))),
            ("n", RefArray::I8(arr(&[5], vec![8i8, 9, 2, -1, 1]))),
        ];
        let l = eval_ok(&bin(LShift, var("x"), var("n")), &vars);
        assert_eq!(l, RefArray::I8(arr(&[5], vec![0, 0, -32, 0, -128])));
        let r = eval_ok(&bin(RShift, var("x"), var("n")), &vars);
        assert_eq!(r, RefArray::I8(arr(&[5], vec![0, -1, -2, 0, 32])));
    }

    #[test]
    fn float_floor_division_and_modulo_follow_npy_divmod() {
        let inf = f64::INFINITY;
        let vars = [
            ("a", f64v(vec![5.0, -0.0, 7.5, -1.0, 1.0, 1.0, 0.0, -5.0])),
            ("b", f64v(vec![-3.0, 1.0, 2.0, inf, inf, 0.0, -2.0, 3.0])),
        ];
        let m = f64s(eval_ok(&bin(Mod, var("a"), var("b")), &vars));
        let want = [-1.0, 0.0, 1.5, inf, 1.0, f64::NAN, -0.0, 1.0];
        for (g, w) in m.iter().zip(want) {
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{m:?}"
            );
        }
        let q = f64s(eval_ok(&bin(FloorDiv, var("a"), var("b")), &vars));
        assert_eq!(
            bits(&q),
            bits(&[-2.0, -0.0, 3.0, -1.0, 0.0, inf, -0.0, -2.0])
        );
    }

    #[test]
    fn broadcasting_follows_numpy() {
        let vars = [
            ("a", RefArray::I64(arr(&[3, 1], vec![0, 10, 20]))),
            ("b", i64v(vec![1, 2, 3, 4])),
        ];
        let got = eval_ok(&bin(Add, var("a"), var("b")), &vars);
        assert_eq!(got.shape(), vec![3, 4]);
        assert_eq!(i64s(got), [1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24]);
        let vars = [("a", i64v(vec![1, 2, 3])), ("b", i64v(vec![1, 2]))];
        assert!(eval(&bin(Add, var("a"), var("b")), &vars).is_err());
        let vars = [
            ("a", RefArray::I64(arr(&[2, 0, 3], vec![]))),
            ("b", RefArray::I64(arr(&[], vec![7]))),
        ];
        assert_eq!(
            eval_ok(&bin(Mul, var("a"), var("b")), &vars).shape(),
            vec![2, 0, 3]
        );
    }

    #[test]
    fn float16_rounds_after_every_operation() {
        let h = |v: f32| f16::from_f32(v);
        let vars = [("h", RefArray::F16(arr(&[1], vec![h(2048.0)])))];
        // (2048 + 1) rounds to 2048 in float16, then + 1 again: still 2048.
        let e = bin(Add, bin(Add, var("h"), int(1)), int(1));
        assert_eq!(
            eval_ok(&e, &vars),
            RefArray::F16(arr(&[1], vec![h(2048.0)]))
        );
        let vars = [("h", RefArray::F16(arr(&[1], vec![h(60000.0)])))];
        let got = eval_ok(&bin(Mul, var("h"), int(2)), &vars);
        assert_eq!(got, RefArray::F16(arr(&[1], vec![f16::INFINITY])));
    }

    #[test]
    fn bool_arithmetic_is_logic() {
        let t = RefArray::Bool(arr(&[4], vec![false, false, true, true]));
        let u = RefArray::Bool(arr(&[4], vec![false, true, false, true]));
        let vars = [("p", t), ("q", u)];
        let add = eval_ok(&bin(Add, var("p"), var("q")), &vars);
        assert_eq!(
            add,
            RefArray::Bool(arr(&[4], vec![false, true, true, true]))
        );
        let mul = eval_ok(&bin(Mul, var("p"), var("q")), &vars);
        assert_eq!(
            mul,
            RefArray::Bool(arr(&[4], vec![false, false, false, true]))
        );
        let inv = eval_ok(&un(UnaryOp::Invert, var("p")), &vars);
        assert_eq!(
            inv,
            RefArray::Bool(arr(&[4], vec![true, true, false, false]))
        );
        assert!(eval(&bin(Sub, var("p"), var("q")), &vars).is_err());
    }

    #[test]
    fn true_division_of_integers_is_float64() {
        let vars = [("a", i64v(vec![1, -7, 0])), ("b", i64v(vec![4, 2, 0]))];
        let got = f64s(eval_ok(&bin(Div, var("a"), var("b")), &vars));
        assert_eq!(got[..2], [0.25, -3.5]);
        assert!(got[2].is_nan());
    }

    #[test]
    fn maximum_minimum_and_clip_propagate_nan() {
        let nan = f64::NAN;
        let vars = [
            ("a", f64v(vec![1.0, nan, 3.0, -0.0])),
            ("b", f64v(vec![nan, 2.0, 1.0, 0.0])),
        ];
        let mx = f64s(eval_ok(&call("maximum", vec![var("a"), var("b")]), &vars));
        assert!(mx[0].is_nan() && mx[1].is_nan());
        assert_eq!(bits(&mx[2..]), bits(&[3.0, -0.0]));
        let mn = f64s(eval_ok(&call("minimum", vec![var("a"), var("b")]), &vars));
        assert!(mn[0].is_nan() && mn[1].is_nan());
        assert_eq!(bits(&mn[2..]), bits(&[1.0, -0.0]));
        let c = f64s(eval_ok(
            &call("clip", vec![var("a"), flt(0.5), var("b")]),
            &vars,
        ));
        assert!(c[0].is_nan() && c[1].is_nan());
        // Bounds crossed (0.5 > 0.0): NumPy's clip gives the upper bound.
        assert_eq!(bits(&c[2..]), bits(&[1.0, 0.0]));
    }

    #[test]
    fn rounding_functions() {
        let vars = [("a", f64v(vec![2.5, 3.5, -0.5, -2.7, 0.49999999999999994]))];
        let r = f64s(eval_ok(&call("round", vec![var("a")]), &vars));
        assert_eq!(bits(&r), bits(&[2.0, 4.0, -0.0, -3.0, 0.0]));
        let f = f64s(eval_ok(&call("floor", vec![var("a")]), &vars));
        assert_eq!(bits(&f), bits(&[2.0, 3.0, -1.0, -3.0, 0.0]));
        let t = f64s(eval_ok(&call("trunc", vec![var("a")]), &vars));
        assert_eq!(bits(&t), bits(&[2.0, 3.0, -0.0, -2.0, 0.0]));
        let c = f64s(eval_ok(&call("ceil", vec![var("a")]), &vars));
        assert_eq!(bits(&c), bits(&[3.0, 4.0, -0.0, -2.0, 1.0]));
    }

    #[test]
    fn sign_and_copysign_and_nextafter() {
        let vars = [("a", f64v(vec![-0.0, 2.0, -3.0, f64::NAN]))];
        let s = f64s(eval_ok(&call("sign", vec![var("a")]), &vars));
        assert_eq!(bits(&s[..3]), bits(&[0.0, 1.0, -1.0]));
        assert!(s[3].is_nan());
        let c = f64s(eval_ok(&call("copysign", vec![flt(1.0), var("a")]), &vars));
        assert_eq!(bits(&c[..3]), bits(&[-1.0, 1.0, -1.0]));
        let n = f64s(eval_ok(&call("nextafter", vec![var("a"), flt(1.0)]), &vars));
        assert_eq!(n[0], f64::from_bits(1));
        assert_eq!(n[1], 2.0 - f64::EPSILON);
        assert_eq!(n[2], -3.0 + 2.0 * f64::EPSILON);
        let vars = [("i", i64v(vec![-5, 0, 9]))];
        assert_eq!(
            i64s(eval_ok(&call("sign", vec![var("i")]), &vars)),
            [-1, 0, 1]
        );
    }

    #[test]
    fn float16_nextafter_steps_half_bits() {
        let h = |v: f32| f16::from_f32(v);
        let vars = [
            ("h", RefArray::F16(arr(&[3], vec![h(1.0), h(0.0), h(-2.0)]))),
            ("g", RefArray::F16(arr(&[3], vec![h(2.0), h(-1.0), h(0.0)]))),
        ];
        let got = eval_ok(&call("nextafter", vec![var("h"), var("g")]), &vars);
        let want = vec![
            f16::from_bits(0x3c01),
            -f16::from_bits(1),
            f16::from_bits(0xbfff),
        ];
        assert_eq!(got, RefArray::F16(arr(&[3], want)));
    }

    #[test]
    fn power_shortcuts_and_integer_powers() {
        let vars = [("a", f64v(vec![3.0, -2.0, 0.0]))];
        let sq = f64s(eval_ok(&bin(Pow, var("a"), int(2)), &vars));
        assert_eq!(sq, [9.0, 4.0, 0.0]);
        let rc = f64s(eval_ok(
            &bin(Pow, var("a"), un(UnaryOp::Neg, int(1))),
            &vars,
        ));
        assert_eq!(rc, [1.0 / 3.0, -0.5, f64::INFINITY]);
        // Only Python int 2 / -1 and float 0.5 are shortcuts (NumPy 2): `a ** 2.0` is pow.
        let ex = |e: &Expr| reference_eval_ast(e, &vars, &test_rules).unwrap().1;
        assert_eq!(ex(&bin(Pow, var("a"), int(2))), Exactness::Exact);
        assert_eq!(ex(&bin(Pow, var("a"), flt(2.0))), Exactness::Approx);
        assert_eq!(
            ex(&bin(Pow, var("a"), un(UnaryOp::Neg, flt(1.0)))),
            Exactness::Approx
        );
        let rt = f64s(eval_ok(&bin(Pow, var("a"), flt(0.5)), &vars));
        assert_eq!(rt[0], 3f64.sqrt());
        assert!(rt[1].is_nan());
        let vars = [("i", i64v(vec![3, -2]))];
        assert!(eval(&bin(Pow, var("i"), un(UnaryOp::Neg, int(1))), &vars).is_err());
        assert_eq!(i64s(eval_ok(&bin(Pow, var("i"), int(0)), &vars)), [1, 1]);
        let vars = [("i", i64v(vec![3, 2])), ("j", i64v(vec![2, -1]))];
        assert!(eval(&bin(Pow, var("i"), var("j")), &vars).is_err());
    }

    #[test]
    fn python_literals_fold_first() {
        let vars = [("f", RefArray::F32(arr(&[1], vec![1.0f32])))];
        // 2**-1 is Python's 0.5; 7 // 2 * 2 is 6; then they meet float32 as weak scalars.
        let e = bin(Add, var("f"), bin(Pow, int(2), un(UnaryOp::Neg, int(1))));
        assert_eq!(eval_ok(&e, &vars), RefArray::F32(arr(&[1], vec![1.5])));
        let e = bin(
            Mul,
            bin(Mul, bin(FloorDiv, int(7), int(2)), int(2)),
            var("f"),
        );
        assert_eq!(eval_ok(&e, &vars), RefArray::F32(arr(&[1], vec![6.0])));
        assert!(eval(&bin(FloorDiv, int(1), int(0)), &vars).is_err());
        assert_eq!(
            eval_ok(&bin(Add, int(2), int(3)), &[]),
            RefArray::I64(arr(&[], vec![5]))
        );
        let e = bin(FloorDiv, un(UnaryOp::Neg, int(7)), int(2));
        assert_eq!(eval_ok(&e, &[]), RefArray::I64(arr(&[], vec![-4])));
        let e = bin(Mod, flt(5.0), un(UnaryOp::Neg, flt(3.0)));
        assert_eq!(eval_ok(&e, &[]), RefArray::F64(arr(&[], vec![-1.0])));
        let e = bin(FloorDiv, un(UnaryOp::Neg, flt(0.0)), flt(1.0));
        assert_eq!(f64s(eval_ok(&e, &[]))[0].to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn where_and_logic() {
        let vars = [
            ("a", f64v(vec![1.0, 0.0, f64::NAN])),
            ("b", i64v(vec![5, 6, 7])),
        ];
        let e = call("where", vec![var("a"), var("b"), int(0)]);
        assert_eq!(i64s(eval_ok(&e, &vars)), [5, 0, 7]);
        let e = bin(And, var("a"), var("b"));
        assert_eq!(
            eval_ok(&e, &vars),
            RefArray::Bool(arr(&[3], vec![true, false, true]))
        );
        let e = un(UnaryOp::Not, var("a"));
        assert_eq!(
            eval_ok(&e, &vars),
            RefArray::Bool(arr(&[3], vec![false, true, false]))
        );
    }

    #[test]
    fn numpy2_literal_rules_for_where_clip_and_mixed_comparisons() {
        let i8v = RefArray::I8(arr(&[3], vec![-100i8, 0, 100]));
        let m = RefArray::Bool(arr(&[3], vec![true, false, true]));
        let vars = [("x", i8v), ("m", m)];
        // `where` wraps a Python int into its dtype: 300 is 44 in int8.
        let lp = |_: Op, _: &[Ty]| {
            Ok(Loop {
                inputs: vec![DType::Bool, DType::I8, DType::I8],
                output: DType::I8,
            })
        };
        let e = call("where", vec![var("m"), var("x"), int(300)]);
        let got = reference_eval_ast(&e, &vars, &lp).unwrap().0;
        assert_eq!(got, RefArray::I8(arr(&[3], vec![-100, 44, 100])));
        // clip drops an int bound that clips nothing, instead of refusing it.
        let lp = |_: Op, _: &[Ty]| {
            Ok(Loop {
                inputs: vec![DType::I8; 3],
                output: DType::I8,
            })
        };
        let e = call("clip", vec![var("x"), un(UnaryOp::Neg, int(1000)), int(5)]);
        let got = reference_eval_ast(&e, &vars, &lp).unwrap().0;
        assert_eq!(got, RefArray::I8(arr(&[3], vec![-100, 0, 5])));
        let e = call("clip", vec![var("x"), int(3), int(1000)]);
        let got = reference_eval_ast(&e, &vars, &lp).unwrap().0;
        assert_eq!(got, RefArray::I8(arr(&[3], vec![3, 3, 100])));
        // ... and the rest is `maximum` (here of int8 and int16: nothing caps at 300).
        let vars2 = [
            ("x", RefArray::I8(arr(&[2], vec![-100i8, 100]))),
            ("y", RefArray::I16(arr(&[2], vec![15355i16, -5]))),
        ];
        let e = call("clip", vec![var("x"), var("y"), int(300)]);
        let got = eval_ok(&e, &vars2);
        assert_eq!(got, RefArray::I16(arr(&[2], vec![15355, 100])));
        // Mixed int64/uint64 comparisons compare exact values.
        let vars = [
            ("i", i64v(vec![-1, 5])),
            ("u", RefArray::U64(arr(&[2], vec![u64::MAX, 5]))),
        ];
        let lp = |_: Op, _: &[Ty]| {
            Ok(Loop {
                inputs: vec![DType::I64, DType::U64],
                output: DType::Bool,
            })
        };
        let got = reference_eval_ast(&bin(Lt, var("i"), var("u")), &vars, &lp)
            .unwrap()
            .0;
        assert_eq!(got, RefArray::Bool(arr(&[2], vec![true, false])));
        // A Python int beyond 64 bits compared in float64.
        let lp = |_: Op, _: &[Ty]| {
            Ok(Loop {
                inputs: vec![DType::F64, DType::F64],
                output: DType::Bool,
            })
        };
        let big = bin(Pow, int(2), int(70));
        let got = reference_eval_ast(&bin(Lt, var("u"), big), &vars, &lp)
            .unwrap()
            .0;
        assert_eq!(got, RefArray::Bool(arr(&[2], vec![true, true])));
    }

    #[test]
    fn comparisons_and_tests() {
        let vars = [("a", f64v(vec![1.0, f64::NAN, f64::INFINITY]))];
        let e = bin(Lt, var("a"), flt(2.0));
        assert_eq!(
            eval_ok(&e, &vars),
            RefArray::Bool(arr(&[3], vec![true, false, false]))
        );
        let e = bin(Ne, var("a"), var("a"));
        assert_eq!(
            eval_ok(&e, &vars),
            RefArray::Bool(arr(&[3], vec![false, true, false]))
        );
        let e = call("isfinite", vec![var("a")]);
        assert_eq!(
            eval_ok(&e, &vars),
            RefArray::Bool(arr(&[3], vec![true, false, false]))
        );
        let vars = [("i", i64v(vec![1, 2]))];
        let e = call("isnan", vec![var("i")]);
        assert_eq!(
            eval_ok(&e, &vars),
            RefArray::Bool(arr(&[2], vec![false, false]))
        );
    }

    #[test]
    fn casts_as_astype() {
        let a = RefArray::I16(arr(&[3], vec![-1i16, 300, 255]));
        assert_eq!(
            a.cast(DType::U8).unwrap(),
            RefArray::U8(arr(&[3], vec![255, 44, 255]))
        );
        assert_eq!(
            a.cast(DType::Bool).unwrap(),
            RefArray::Bool(arr(&[3], vec![true, true, true]))
        );
        let f = RefArray::F64(arr(&[2], vec![-2.7, f64::NAN]));
        assert!(f.cast(DType::I32).unwrap_err().starts_with(SKIP));
        let f = RefArray::F64(arr(&[2], vec![-2.7, 1e300]));
        assert_eq!(
            f.cast(DType::F16).unwrap(),
            RefArray::F16(arr(&[2], vec![f16::from_f64(-2.7), f16::INFINITY]))
        );
        let u = RefArray::U64(arr(&[1], vec![u64::MAX]));
        assert_eq!(
            u.cast(DType::F32).unwrap(),
            RefArray::F32(arr(&[1], vec![1.8446744e19]))
        );
    }

    #[test]
    fn exactness_tracks_approximate_functions() {
        let vars = [("a", f64v(vec![0.5]))];
        let ex = |e: &Expr| reference_eval_ast(e, &vars, &test_rules).unwrap().1;
        assert_eq!(ex(&bin(Add, var("a"), int(1))), Exactness::Exact);
        assert_eq!(
            ex(&call("maximum", vec![var("a"), flt(0.0)])),
            Exactness::Exact
        );
        let z = [("z", f64v(vec![-0.0, 1.0]))];
        let e = call("minimum", vec![var("z"), flt(0.0)]);
        let (r, x) = reference_eval_ast(&e, &z, &test_rules).unwrap();
        assert_eq!(x, Exactness::ZeroSign);
        assert!(compare(&common::unsign_zeros(&r), &f64v(vec![0.0, 0.0]), 0).is_ok());
        assert_eq!(ex(&call("sin", vec![var("a")])), Exactness::Approx);
        assert_eq!(ex(&bin(Pow, var("a"), var("a"))), Exactness::Approx);
        assert_eq!(ex(&bin(Pow, var("a"), int(2))), Exactness::Exact);
        let e = bin(Add, call("exp", vec![var("a")]), int(1));
        assert_eq!(ex(&e), Exactness::Tainted);
    }

    #[test]
    fn ulp_distance_and_comparison() {
        assert_eq!(ulp_diff(1.0, 1.0 + f64::EPSILON), 1);
        assert_eq!(ulp_diff(f64::from_bits(1), -f64::from_bits(1)), 2);
        assert_eq!(ulp_diff(0.0, -0.0), 0);
        assert_eq!(ulp_diff(f64::NAN, f64::NAN), 0);
        assert_eq!(ulp_diff(f64::NAN, 1.0), u64::MAX);
        assert_eq!(common::ulp_diff_f16(f16::ONE, f16::from_bits(0x3c02)), 2);
        let z = RefArray::F64(arr(&[1], vec![0.0]));
        let nz = RefArray::F64(arr(&[1], vec![-0.0]));
        assert!(compare(&z, &nz, 0).is_err());
        assert!(compare(&z, &nz, 4).is_ok());
        let n1 = RefArray::F64(arr(&[1], vec![f64::NAN]));
        let n2 = RefArray::F64(arr(&[1], vec![-f64::NAN]));
        assert!(compare(&n1, &n2, 0).is_ok());
        let x = RefArray::F32(arr(&[1], vec![1.0f32]));
        let y = RefArray::F32(arr(&[1], vec![1.0f32 + 3.0 * f32::EPSILON]));
        assert!(compare(&x, &y, 0).is_err());
        assert!(compare(&x, &y, 4).is_ok());
        assert!(compare(&x, &z, 4).is_err()); // dtype
    }
}

// =============================================================================================
// Random expressions.

/// A generated expression tree, rendered both as source text and as an AST.
#[derive(Debug, Clone)]
enum G {
    Var(usize),
    Int(i64),
    Float(f64),
    /// An imaginary literal (`0.5j`; a negative one is `-(0.5j)`).
    Imag(f64),
    Bool(bool),
    Un(UnaryOp, Box<G>),
    Bin(BinaryOp, Box<G>, Box<G>),
    Call(&'static str, Vec<G>),
}

const NAMES: [&str; 3] = ["a", "b", "c"];

impl G {
    fn render(&self) -> String {
        match self {
            G::Var(i) => NAMES[*i].to_string(),
            G::Int(v) if *v < 0 => format!("(-{})", v.unsigned_abs()),
            G::Int(v) => v.to_string(),
            G::Float(x) if x.is_sign_negative() => format!("(-{:?})", -x),
            G::Float(x) => format!("{x:?}"),
            G::Imag(x) if x.is_sign_negative() => format!("(-{:?}j)", -x),
            G::Imag(x) => format!("{x:?}j"),
            G::Bool(b) => (if *b { "True" } else { "False" }).to_string(),
            G::Un(op, x) => {
                let sym = match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Pos => "+",
                    UnaryOp::Invert => "~",
                    UnaryOp::Not => "not ",
                };
                format!("({sym}{})", x.render())
            }
            G::Bin(op, l, r) => format!("({} {} {})", l.render(), symbol(*op), r.render()),
            G::Call(f, args) => {
                let args: Vec<String> = args.iter().map(G::render).collect();
                format!("{f}({})", args.join(", "))
            }
        }
    }

    fn ast(&self) -> Expr {
        match self {
            G::Var(i) => var(NAMES[*i]),
            G::Int(v) if *v < 0 => un(UnaryOp::Neg, int(v.unsigned_abs())),
            G::Int(v) => int(*v as u64),
            G::Float(x) if x.is_sign_negative() => un(UnaryOp::Neg, flt(-x)),
            G::Float(x) => flt(*x),
            G::Imag(x) if x.is_sign_negative() => un(UnaryOp::Neg, node(ExprKind::Imag(-x))),
            G::Imag(x) => node(ExprKind::Imag(*x)),
            G::Bool(b) => node(ExprKind::Bool(*b)),
            G::Un(op, x) => un(*op, x.ast()),
            G::Bin(op, l, r) => bin(*op, l.ast(), r.ast()),
            G::Call(f, args) => call(f, args.iter().map(G::ast).collect()),
        }
    }

    /// Whether `f` holds for this node or any node below it.
    fn any(&self, f: &dyn Fn(&G) -> bool) -> bool {
        f(self)
            || match self {
                G::Un(_, x) => x.any(f),
                G::Bin(_, l, r) => l.any(f) || r.any(f),
                G::Call(_, args) => args.iter().any(|a| a.any(f)),
                _ => false,
            }
    }

    fn uses(&self, used: &mut [bool; 3]) {
        match self {
            G::Var(i) => used[*i] = true,
            G::Un(_, x) => x.uses(used),
            G::Bin(_, l, r) => {
                l.uses(used);
                r.uses(used);
            }
            G::Call(_, args) => args.iter().for_each(|a| a.uses(used)),
            _ => {}
        }
    }
}

fn symbol(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
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

const INTS: &[i64] = &[0, 1, 2, 3, 7, 100, 300, -1, -5, 127, 128];
const FLOATS: &[f64] = &[0.5, 2.0, 1.5, -2.25, 0.0, -0.0, 1e-3, 3.0];
const IMAGS: &[f64] = &[1.0, 0.5, 2.0, -1.5, 0.0, -0.0, 1e-3];
const UNARY_OPS: &[UnaryOp] = &[UnaryOp::Neg, UnaryOp::Pos, UnaryOp::Invert, UnaryOp::Not];
const BINARY_OPS: &[BinaryOp] = {
    use BinaryOp::*;
    &[
        Add, Sub, Mul, Div, FloorDiv, Mod, Pow, LShift, RShift, BitAnd, BitOr, BitXor, Lt, Le, Gt,
        Ge, Eq, Ne, And, Or,
    ]
};
/// Exactly specified functions (bit-exact comparison).
const EXACT_UNARY: &[&str] = &[
    "abs",
    "sign",
    "floor",
    "ceil",
    "trunc",
    "round",
    "rint",
    "isnan",
    "isinf",
    "isfinite",
    "signbit",
    "square",
    "reciprocal",
    "sqrt",
    "copy",
    "absolute",
];
const EXACT_BINARY: &[&str] = &["maximum", "minimum", "copysign", "fmod", "nextafter"];
/// libm-quality functions (compared within 4 ULP when last).
const APPROX_UNARY: &[&str] = &[
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
    "arccosh", "arctanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "cbrt",
];
const APPROX_BINARY: &[&str] = &["arctan2", "hypot"];
/// Complex parts (on real inputs: the value and zeros).
const PARTS: &[&str] = &["real", "imag", "conj"];
/// Literal exponents, including NumPy's shortcut ones (2, -1, 0.5).
const EXPONENTS: &[G] = &[
    G::Int(0),
    G::Int(1),
    G::Int(2),
    G::Int(3),
    G::Int(-1),
    G::Float(0.5),
    G::Float(2.0),
    G::Float(-1.0),
];

fn leaf() -> impl Strategy<Value = G> {
    prop_oneof![
        16 => (0..3usize).prop_map(G::Var),
        4 => select(INTS).prop_map(G::Int),
        4 => select(FLOATS).prop_map(G::Float),
        2 => any::<bool>().prop_map(G::Bool),
        1 => select(IMAGS).prop_map(G::Imag),
        // A complex literal such as `(2.0 + 0.5j)`: Python folds it first.
        1 => (select(FLOATS), select(IMAGS))
            .prop_map(|(x, y)| G::Bin(BinaryOp::Add, Box::new(G::Float(x)), Box::new(G::Imag(y)))),
    ]
}

/// Trees of exactly specified operations (mostly), `depth` levels of operations at most.
fn tree(depth: u32) -> impl Strategy<Value = G> {
    leaf().prop_recursive(depth, 16, 3, |inner| {
        prop_oneof![
            2 => (select(UNARY_OPS), inner.clone()).prop_map(|(op, x)| G::Un(op, Box::new(x))),
            6 => (select(BINARY_OPS), inner.clone(), inner.clone())
                .prop_map(|(op, l, r)| G::Bin(op, Box::new(l), Box::new(r))),
            2 => (inner.clone(), select(EXPONENTS))
                .prop_map(|(x, e)| G::Bin(BinaryOp::Pow, Box::new(x), Box::new(e))),
            3 => (select(EXACT_UNARY), inner.clone()).prop_map(|(f, x)| G::Call(f, vec![x])),
            2 => (select(EXACT_BINARY), inner.clone(), inner.clone())
                .prop_map(|(f, x, y)| G::Call(f, vec![x, y])),
            1 => (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, x, y)| G::Call("where", vec![c, x, y])),
            1 => (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(x, lo, hi)| G::Call("clip", vec![x, lo, hi])),
            1 => (select(APPROX_UNARY), inner.clone()).prop_map(|(f, x)| G::Call(f, vec![x])),
            1 => (select(PARTS), inner.clone()).prop_map(|(f, x)| G::Call(f, vec![x])),
            1 => (inner.clone(), inner.clone())
                .prop_map(|(x, y)| G::Call("complex", vec![x, y])),
        ]
    })
}

/// A tree of depth ≤ 4: exact operations, sometimes under one approximate function at the root
/// (where the comparison can still be made within a few ULP).
fn expression() -> impl Strategy<Value = G> {
    prop_oneof![
        4 => tree(4),
        2 => (select(APPROX_UNARY), tree(3)).prop_map(|(f, x)| G::Call(f, vec![x])),
        1 => (select(APPROX_BINARY), tree(3), tree(3)).prop_map(|(f, x, y)| G::Call(f, vec![x, y])),
        1 => (tree(3), tree(3)).prop_map(|(x, y)| G::Bin(BinaryOp::Pow, Box::new(x), Box::new(y))),
    ]
}

// =============================================================================================
// Random data: dtypes, shapes, layouts, values.

const REAL_DTYPES: &[DType] = &[
    DType::Bool,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::F16,
    DType::F32,
    DType::F64,
];

const COMPLEX_DTYPES: &[DType] = &[DType::C64, DType::C128];

/// A variable's dtype: any real one, complex about one time in eight.
fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![
        7 => select(REAL_DTYPES),
        1 => select(COMPLEX_DTYPES),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Standard row-major.
    C,
    /// Column-major: the reversed axes of a row-major array of the reversed shape.
    Fortran,
    /// Every third element along the last axis (`s![.., ..;3]`).
    Stepped,
    /// Every axis reversed (`s![..;-1, ..;-1]`): negative strides.
    Reversed,
    /// Broadcast from length 1 along the first axis: a zero stride.
    Broadcast,
}

const LAYOUTS: &[Layout] = &[
    Layout::C,
    Layout::Fortran,
    Layout::Stepped,
    Layout::Reversed,
    Layout::Broadcast,
];

/// The shape a variable takes relative to the case's base shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Same,
    /// A 0-d array.
    Scalar,
    /// The first axis set to 1: `(1, 4)` against `(3, 4)`.
    FirstOne,
    /// The last axis set to 1: `(3, 1)` against `(3, 4)`.
    LastOne,
    /// The leading axis dropped: `(4,)` against `(3, 4)`.
    Suffix,
    /// A last axis one longer: does not broadcast (unless the base length is 1).
    Incompatible,
}

fn variant() -> impl Strategy<Value = Variant> {
    prop_oneof![
        10 => Just(Variant::Same),
        2 => Just(Variant::Scalar),
        2 => Just(Variant::FirstOne),
        2 => Just(Variant::LastOne),
        2 => Just(Variant::Suffix),
        1 => Just(Variant::Incompatible),
    ]
}

fn apply_variant(base: &[usize], v: Variant) -> Vec<usize> {
    let mut s = base.to_vec();
    match v {
        Variant::Same => {}
        Variant::Scalar => s.clear(),
        Variant::FirstOne => {
            if let Some(x) = s.first_mut() {
                *x = 1;
            }
        }
        Variant::LastOne => {
            if let Some(x) = s.last_mut() {
                *x = 1;
            }
        }
        Variant::Suffix => {
            if !s.is_empty() {
                s.remove(0);
            }
        }
        Variant::Incompatible => {
            if let Some(x) = s.last_mut() {
                *x += 1;
            }
        }
    }
    s
}

/// Base shapes: 0-d, empty, small, and element counts straddling block boundaries.
fn base_shape() -> impl Strategy<Value = Vec<usize>> {
    let small: Vec<Vec<usize>> = vec![
        vec![],
        vec![0],
        vec![1],
        vec![7],
        vec![3, 4],
        vec![2, 0, 3],
        vec![2, 3, 5],
        vec![4, 1, 3],
    ];
    let block: Vec<Vec<usize>> = vec![
        vec![1023],
        vec![1024],
        vec![1025],
        vec![3079],
        vec![3, 1025],
        vec![33, 31],
        vec![2, 1024, 2],
    ];
    prop_oneof![
        8 => select(small),
        4 => select(block),
        1 => Just(vec![70_000]),
    ]
}

#[derive(Debug, Clone)]
struct VarSpec {
    dtype: DType,
    shape: Vec<usize>,
    layout: Layout,
    seed: u64,
    /// A 0-d variable passed to ndexpr as a Rust scalar ([`ndexpr::Scalar`]) rather than a 0-d
    /// array: a NumPy scalar of its dtype (strong under NEP 50), the same to the reference.
    scalar: bool,
}

#[derive(Debug, Clone)]
struct Case {
    expr: G,
    vars: Vec<VarSpec>,
}

fn var_spec(base: Vec<usize>) -> impl Strategy<Value = VarSpec> {
    (
        dtype(),
        variant(),
        select(LAYOUTS),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(move |(dtype, v, layout, seed, scalar)| {
            let shape = apply_variant(&base, v);
            VarSpec {
                scalar: scalar && shape.is_empty(),
                dtype,
                shape,
                layout,
                seed,
            }
        })
}

fn case_with(
    expr: BoxedStrategy<G>,
    base: BoxedStrategy<Vec<usize>>,
) -> impl Strategy<Value = Case> {
    (expr, base).prop_flat_map(|(expr, base)| {
        (
            Just(expr),
            var_spec(base.clone()),
            var_spec(base.clone()),
            var_spec(base),
        )
            .prop_map(|(expr, a, b, c)| Case {
                expr,
                vars: vec![a, b, c],
            })
    })
}

/// SplitMix64: a tiny deterministic generator for array contents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An integer pattern: mostly small values, some extremes, some random bits.
    fn int_bits(&mut self, bits: u32) -> u64 {
        let r = self.next();
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let v = match r % 8 {
            0..=3 => (((r >> 8) % 17) as i64 - 8) as u64,
            4 => (r >> 8) % 70,
            5 => [0u64, 1, u64::MAX, 1 << (bits - 1), (1 << (bits - 1)) - 1][(r >> 8) as usize % 5],
            _ => r >> 3,
        };
        v & mask
    }

    /// A float: small integers and halves, moderate values, and a few specials.
    fn float(&mut self) -> f64 {
        let r = self.next();
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        match r % 16 {
            0..=4 => ((r >> 8) % 33) as f64 / 2.0 - 8.0,
            5..=10 => (u - 0.5) * 200.0,
            11 => (u - 0.5) * 4.0,
            12 => [1e10, -1e10, 65504.0, 1e-5, 1e300, -1e-300][(r >> 8) as usize % 6],
            13 => [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY][(r >> 8) as usize % 4],
            14 => f64::NAN,
            _ => (u - 0.5) * 2e6,
        }
    }
}

fn fill(dtype: DType, shape: &[usize], seed: u64) -> RefArray {
    let n: usize = shape.iter().product();
    let mut rng = Rng(seed);
    let sh = IxDyn(shape);
    macro_rules! ints {
        ($v:ident, $t:ty, $bits:expr) => {
            RefArray::$v(ArrayD::from_shape_fn(sh, |_| rng.int_bits($bits) as $t))
        };
    }
    let out = match dtype {
        DType::Bool => RefArray::Bool(ArrayD::from_shape_fn(sh, |_| rng.next() & 1 == 1)),
        DType::I8 => ints!(I8, i8, 8),
        DType::I16 => ints!(I16, i16, 16),
        DType::I32 => ints!(I32, i32, 32),
        DType::I64 => ints!(I64, i64, 64),
        DType::U8 => ints!(U8, u8, 8),
        DType::U16 => ints!(U16, u16, 16),
        DType::U32 => ints!(U32, u32, 32),
        DType::U64 => ints!(U64, u64, 64),
        DType::F16 => RefArray::F16(ArrayD::from_shape_fn(sh, |_| f16::from_f64(rng.float()))),
        DType::F32 => RefArray::F32(ArrayD::from_shape_fn(sh, |_| rng.float() as f32)),
        DType::F64 => RefArray::F64(ArrayD::from_shape_fn(sh, |_| rng.float())),
        // Pairs of floats: specials (inf, nan, -0.0) in either part.
        DType::C64 => RefArray::C64(ArrayD::from_shape_fn(sh, |_| {
            Complex32::new(rng.float() as f32, rng.float() as f32)
        })),
        DType::C128 => RefArray::C128(ArrayD::from_shape_fn(sh, |_| {
            Complex64::new(rng.float(), rng.float())
        })),
    };
    assert_eq!(out.len(), n);
    out
}

/// The shape of the backing array a layout is cut from.
fn backing_shape(shape: &[usize], layout: Layout) -> Vec<usize> {
    let mut s = shape.to_vec();
    match layout {
        Layout::C | Layout::Reversed => {}
        Layout::Fortran => s.reverse(),
        Layout::Stepped => {
            if let Some(x) = s.last_mut() {
                *x *= 3;
            }
        }
        Layout::Broadcast => {
            if let Some(x) = s.first_mut() {
                *x = 1;
            }
        }
    }
    s
}

fn lay<'a, T>(a: &'a ArrayD<T>, layout: Layout, shape: &[usize]) -> ArrayViewD<'a, T> {
    let ndim = a.ndim();
    let v = match layout {
        Layout::C => a.view(),
        Layout::Fortran => a.view().reversed_axes(),
        Layout::Stepped if ndim > 0 => a.slice_each_axis(|ax| {
            if ax.axis.index() == ndim - 1 {
                Slice::new(0, None, 3)
            } else {
                Slice::from(..)
            }
        }),
        Layout::Stepped => a.view(),
        Layout::Reversed => a.slice_each_axis(|_| Slice::new(0, None, -1)),
        Layout::Broadcast => a.broadcast(IxDyn(shape)).expect("broadcastable backing"),
    };
    assert_eq!(v.shape(), shape, "{layout:?}");
    v
}

fn layout_view<'a>(backing: &'a RefArray, layout: Layout, shape: &[usize]) -> RefView<'a> {
    match backing {
        RefArray::Bool(a) => RefView::Bool(lay(a, layout, shape)),
        RefArray::I8(a) => RefView::I8(lay(a, layout, shape)),
        RefArray::I16(a) => RefView::I16(lay(a, layout, shape)),
        RefArray::I32(a) => RefView::I32(lay(a, layout, shape)),
        RefArray::I64(a) => RefView::I64(lay(a, layout, shape)),
        RefArray::U8(a) => RefView::U8(lay(a, layout, shape)),
        RefArray::U16(a) => RefView::U16(lay(a, layout, shape)),
        RefArray::U32(a) => RefView::U32(lay(a, layout, shape)),
        RefArray::U64(a) => RefView::U64(lay(a, layout, shape)),
        RefArray::F16(a) => RefView::F16(lay(a, layout, shape)),
        RefArray::F32(a) => RefView::F32(lay(a, layout, shape)),
        RefArray::F64(a) => RefView::F64(lay(a, layout, shape)),
        RefArray::C64(a) => RefView::C64(lay(a, layout, shape)),
        RefArray::C128(a) => RefView::C128(lay(a, layout, shape)),
    }
}

/// The backing arrays of the variables an expression uses (the views borrow from them).
fn backings(case: &Case) -> Vec<(usize, RefArray)> {
    let mut used = [false; 3];
    case.expr.uses(&mut used);
    (0..3)
        .filter(|&i| used[i])
        .map(|i| {
            let v = &case.vars[i];
            (i, fill(v.dtype, &backing_shape(&v.shape, v.layout), v.seed))
        })
        .collect()
}

fn views<'a>(case: &Case, backings: &'a [(usize, RefArray)]) -> Vec<(&'static str, RefView<'a>)> {
    backings
        .iter()
        .map(|(i, b)| {
            let v = &case.vars[*i];
            (NAMES[*i], layout_view(b, v.layout, &v.shape))
        })
        .collect()
}

/// The used variables ndexpr gets as scalars.
fn scalar_names(case: &Case) -> Vec<&'static str> {
    let mut used = [false; 3];
    case.expr.uses(&mut used);
    (0..3)
        .filter(|&i| used[i] && case.vars[i].scalar)
        .map(|i| NAMES[i])
        .collect()
}

fn describe(case: &Case, src: &str) -> String {
    let mut used = [false; 3];
    case.expr.uses(&mut used);
    let vars: Vec<String> = (0..3)
        .filter(|&i| used[i])
        .map(|i| {
            let v = &case.vars[i];
            if v.scalar {
                format!("{}: {} scalar", NAMES[i], v.dtype)
            } else {
                format!("{}: {} {:?} {:?}", NAMES[i], v.dtype, v.shape, v.layout)
            }
        })
        .collect();
    format!("`{src}` with {}", vars.join(", "))
}

/// Known ndexpr bugs, recognised by their error text, each with an `#[ignore]`d test in
/// [`known_bugs`]: cases that hit them are discarded so that the property tests keep checking
/// everything else. A fixed bug no longer produces its error, and its cases are compared again.
fn known_bug(_case: &Case, error: &str) -> Option<&'static str> {
    const BUGS: &[(&str, &str)] = &[(
        "out of bounds for float64",
        "complex() refuses a Python int beyond 64 bits for its float64 part",
    )];
    BUGS.iter()
        .find(|(pattern, _)| error.contains(pattern))
        .map(|&(_, what)| what)
}

/// Evaluates a case with the reference and with ndexpr (1, 2 and 4 threads) and compares.
fn check_case(case: &Case) -> Result<(), TestCaseError> {
    let src = case.expr.render();
    let backing = backings(case);
    let views = views(case, &backing);
    let owned: Vec<(&str, RefArray)> = views.iter().map(|(n, v)| (*n, v.to_owned())).collect();
    let want = common::reference_eval_full(&src, &owned);
    if let Err(e) = &want {
        prop_assume!(!e.starts_with(SKIP), "{}", e);
    }
    let what = describe(case, &src);
    let scalars = scalar_names(case);
    // 1, 2 and 4 threads with the active kernels, then 2 threads with each level's kernels.
    let runs = [1, 2, 4].map(|t| (t, None)).into_iter().chain(
        Isa::ALL
            .into_iter()
            .filter(|l| l.supported())
            .map(|l| (2, Some(l))),
    );
    for (threads, level) in runs {
        let got = run_ndexpr_with(&src, &views, &scalars, threads, level);
        if let Err(e) = &got {
            prop_assume!(known_bug(case, e).is_none(), "{}", e);
        }
        let threads = format!(
            "{threads} (kernels: {})",
            level.map_or("active", |l| l.name())
        );
        match (&got, &want) {
            (Err(_), Err(_)) => {}
            (Ok(g), Ok((w, exactness, tolerance))) => {
                if let Err(e) = common::verdict_within(g, w, *exactness, tolerance.as_ref()) {
                    return Err(TestCaseError::fail(format!(
                        "{what}, {threads} threads ({exactness:?}): {e}"
                    )));
                }
            }
            (Ok(_), Err(e))
                if e.starts_with("Integers to negative integer powers")
                    && case.expr.any(
                        &|g| matches!(g, G::Bin(BinaryOp::Pow, _, x) if matches!(**x, G::Int(0))),
                    ) =>
            {
                return Err(TestCaseError::reject(
                    "known ndexpr bug: a negative integer power after folding `x ** 0` is 0",
                ));
            }
            (Ok(g), Err(e)) => {
                return Err(TestCaseError::fail(format!(
                    "{what}, {threads} threads: ndexpr gave {} {:?}, the reference failed: {e}",
                    g.dtype(),
                    g.shape()
                )))
            }
            (Err(e), Ok((w, _, _))) => {
                return Err(TestCaseError::fail(format!(
                    "{what}, {threads} threads: ndexpr failed: {e}; the reference gave {} {:?}",
                    w.dtype(),
                    w.shape()
                )))
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 1024 cases of each property take about 3 s in the dev profile on 2 cores (complex
        // dtypes are one variable in eight: fewer cases miss rare complex operations).
        cases: 1024,
        max_global_rejects: 4096,
        // Shrinking a failure over 70,000-element arrays can take minutes: a half-shrunk case
        // is reported after 30 s.
        max_shrink_time: 30_000,
        ..ProptestConfig::default()
    })]

    /// Random expressions over random dtypes, shapes and layouts.
    #[test]
    fn ndexpr_matches_reference(case in case_with(expression().boxed(), base_shape().boxed())) {
        check_case(&case)?;
    }

    /// Shallow expressions over sizes around the block boundaries, every layout.
    #[test]
    fn ndexpr_matches_reference_across_blocks(case in case_with(
        tree(2).boxed(),
        select(vec![vec![1usize], vec![1023], vec![1024], vec![1025], vec![3079], vec![70_000],
                    vec![2, 1025], vec![1025, 3]]).boxed(),
    )) {
        check_case(&case)?;
    }
}

// =============================================================================================
// Checks of the generators and of the reference over them (run now).

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Views have the planned shapes and layouts, and the reference copes with every generated
    /// expression (through hand-built ASTs and the simple rules): no panic, and a result whose
    /// shape is the broadcast of the used variables'.
    #[test]
    fn generated_cases_are_well_formed(case in case_with(expression().boxed(), base_shape().boxed())) {
        let backing = backings(&case);
        let views = views(&case, &backing);
        for (name, v) in &views {
            let spec = &case.vars[NAMES.iter().position(|n| n == name).unwrap()];
            prop_assert_eq!(v.shape(), spec.shape.clone());
            prop_assert!(!spec.scalar || spec.shape.is_empty());
            let strides = v.strides();
            let big = !spec.shape.is_empty() && spec.shape.iter().all(|&n| n > 1);
            if big && spec.layout == Layout::Broadcast {
                prop_assert_eq!(strides[0], 0);
            }
            if big && spec.layout == Layout::Reversed {
                prop_assert!(strides.iter().all(|&s| s < 0));
            }
        }
        let owned: Vec<(&str, RefArray)> = views.iter().map(|(n, v)| (*n, v.to_owned())).collect();
        let src = case.expr.render();
        prop_assert!(!src.is_empty());
        match reference_eval_ast(&case.expr.ast(), &owned, &test_rules) {
            Ok((r, _)) => {
                let shapes: Vec<Vec<usize>> = owned.iter().map(|(_, a)| a.shape()).collect();
                let refs: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
                let want = common::broadcast_shapes(&refs).unwrap();
                if !owned.is_empty() {
                    prop_assert_eq!(r.shape(), want, "{}", src);
                }
            }
            Err(e) => {
                // Errors must be NumPy-like refusals or explicit skips, never internal bugs.
                prop_assert!(!e.contains("reference bug"), "{}: {}", src, e);
            }
        }
    }
}

/// A Rust scalar variable is a NumPy scalar of its dtype: strong under NEP 50 (a float64
/// scalar makes a float32 array's result float64, unlike the literal `2.5`), and expressions
/// over scalars only give 0-d arrays.
#[test]
fn scalar_variables_are_strong_and_give_0d_results() {
    let a = RefArray::F32(arr(&[3], vec![1.0f32, -2.0, 0.5]));
    let k = RefArray::F64(arr(&[], vec![2.5]));
    let z = RefArray::C64(arr(&[], vec![Complex32::new(1.0, -2.0)]));
    let vars = [("a", a), ("k", k), ("z", z)];
    let views: Vec<(&str, RefView)> = vars.iter().map(|(n, x)| (*n, x.view())).collect();
    for (src, dtype, shape) in [
        ("a * k", DType::F64, vec![3]),
        ("a * 2.5", DType::F32, vec![3]),
        ("k * 2", DType::F64, vec![]),
        ("k * z + 1", DType::C128, vec![]),
        ("a * z", DType::C64, vec![3]),
    ] {
        let want = common::reference_eval(src, &vars).unwrap();
        assert_eq!(
            (want.dtype(), want.shape()),
            (dtype, shape.clone()),
            "{src}"
        );
        for threads in [1, 2] {
            let got = run_ndexpr_with(src, &views, &["k", "z"], threads, None).unwrap();
            compare(&got, &want, 0).unwrap_or_else(|e| panic!("{src}: {e}"));
        }
    }
}

#[test]
fn rendering_matches_the_ast_shape() {
    let g = G::Bin(
        BinaryOp::Pow,
        Box::new(G::Un(UnaryOp::Not, Box::new(G::Var(0)))),
        Box::new(G::Call(
            "where",
            vec![G::Var(1), G::Int(-5), G::Float(-0.5)],
        )),
    );
    assert_eq!(g.render(), "((not a) ** where(b, (-5), (-0.5)))");
    assert!(matches!(
        g.ast().kind,
        ExprKind::Binary {
            op: BinaryOp::Pow,
            ..
        }
    ));
    assert!(function("arctan2").is_some() && function("nope").is_none());
    let _ = Py::Int(0);
}

// =============================================================================================
// The reference's complex model against NumPy 2.4.6's own results (tests/data/kernels_numpy*.tsv,
// made by tests/data/gen_kernels.py): every complex row, bit for bit where the reference calls
// the operation exact.

mod complex_rows {
    use super::*;

    fn dtype(short: &str) -> DType {
        match short {
            "bool" => DType::Bool,
            "i8" => DType::I8,
            "i16" => DType::I16,
            "i32" => DType::I32,
            "i64" => DType::I64,
            "u8" => DType::U8,
            "u16" => DType::U16,
            "u32" => DType::U32,
            "u64" => DType::U64,
            "f16" => DType::F16,
            "f32" => DType::F32,
            "f64" => DType::F64,
            "c64" => DType::C64,
            "c128" => DType::C128,
            other => panic!("unknown dtype {other}"),
        }
    }

    /// One value of the table (`gen_kernels.py`'s `enc`) as a 1-element array.
    fn value(d: DType, s: &str) -> RefArray {
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        let sh = IxDyn(&[1]);
        let int = || s.parse::<i128>().unwrap();
        match d {
            DType::Bool => RefArray::Bool(ArrayD::from_elem(sh, s == "1")),
            DType::I8 => RefArray::I8(ArrayD::from_elem(sh, int() as i8)),
            DType::I16 => RefArray::I16(ArrayD::from_elem(sh, int() as i16)),
            DType::I32 => RefArray::I32(ArrayD::from_elem(sh, int() as i32)),
            DType::I64 => RefArray::I64(ArrayD::from_elem(sh, int() as i64)),
            DType::U8 => RefArray::U8(ArrayD::from_elem(sh, int() as u8)),
            DType::U16 => RefArray::U16(ArrayD::from_elem(sh, int() as u16)),
            DType::U32 => RefArray::U32(ArrayD::from_elem(sh, int() as u32)),
            DType::U64 => RefArray::U64(ArrayD::from_elem(sh, int() as u64)),
            DType::F16 => RefArray::F16(ArrayD::from_elem(sh, f16::from_bits(hex(s) as u16))),
            DType::F32 => RefArray::F32(ArrayD::from_elem(sh, f32::from_bits(hex(s) as u32))),
            DType::F64 => RefArray::F64(ArrayD::from_elem(sh, f64::from_bits(hex(s)))),
            DType::C64 | DType::C128 => {
                let (re, im) = s.split_once(',').unwrap();
                if d == DType::C64 {
                    let f = |p| f32::from_bits(hex(p) as u32);
                    RefArray::C64(ArrayD::from_elem(sh, Complex32::new(f(re), f(im))))
                } else {
                    let f = |p| f64::from_bits(hex(p));
                    RefArray::C128(ArrayD::from_elem(sh, Complex64::new(f(re), f(im))))
                }
            }
        }
    }

    /// The expression computing a table row's ufunc over variables `a` and `b`.
    fn expression(op: &str) -> Expr {
        let binary = |o| bin(o, var("a"), var("b"));
        match op {
            "add" => binary(BinaryOp::Add),
            "subtract" => binary(BinaryOp::Sub),
            "multiply" => binary(BinaryOp::Mul),
            "divide" => binary(BinaryOp::Div),
            "power" => binary(BinaryOp::Pow),
            "less" => binary(BinaryOp::Lt),
            "less_equal" => binary(BinaryOp::Le),
            "greater" => binary(BinaryOp::Gt),
            "greater_equal" => binary(BinaryOp::Ge),
            "equal" => binary(BinaryOp::Eq),
            "not_equal" => binary(BinaryOp::Ne),
            "negative" => un(UnaryOp::Neg, var("a")),
            "logical_not" => un(UnaryOp::Not, var("a")),
            "maximum" | "minimum" => call(op, vec![var("a"), var("b")]),
            f => call(f, vec![var("a")]),
        }
    }

    /// Checks every row with a complex operand or result; returns (rows, rows matched bit for
    /// bit).
    fn check_table(text: &str) -> (usize, usize) {
        let (mut rows, mut exact) = (0, 0);
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let (op, ty, out) = (f[0], dtype(f[1]), dtype(f[2]));
            if !ty.is_complex() && !out.is_complex() {
                continue;
            }
            let want = value(out, f[6]);
            let (got, exactness) = if op == "cast" {
                match value(ty, f[3]).cast(out) {
                    Ok(g) => (g, Exactness::Exact),
                    // NumPy leaves float-to-int casts of NaN and out-of-range values undefined.
                    Err(e) if e.starts_with(SKIP) => continue,
                    Err(e) => panic!("{line}: {e}"),
                }
            } else {
                let b = if f[4] == "-" { f[3] } else { f[4] };
                let vars = [("a", value(ty, f[3])), ("b", value(ty, b))];
                let rules = common::reference::numpy_rules;
                reference_eval_ast(&expression(op), &vars, &rules)
                    .unwrap_or_else(|e| panic!("{line}: {e}"))
            };
            rows += 1;
            if compare(&got, &want, 0).is_ok() {
                exact += 1;
            } else if std::env::var_os("SHOW_INEXACT").is_some() {
                eprintln!("inexact: {line}: {got:?}");
            }
            if let Err(e) = common::verdict(&got, &want, exactness) {
                panic!("{line} ({exactness:?}): {e}");
            }
        }
        (rows, exact)
    }

    #[test]
    fn complex_elements_match_numpy_rows() {
        let (rows, exact) = check_table(include_str!("data/kernels_numpy.tsv"));
        assert!(rows > 8000, "{rows} complex rows");
        assert_eq!(rows, exact);
    }

    #[test]
    fn complex_functions_are_close_to_numpy_rows() {
        let (rows, exact) = check_table(include_str!("data/kernels_numpy_approx.tsv"));
        assert!(rows > 600, "{rows} complex rows");
        // With glibc (NumPy calls the same C library functions) they are mostly identical.
        eprintln!("{exact} of {rows} approximate complex rows bit-identical");
    }
}

// =============================================================================================
// Known ndexpr bugs found by the differential tests: minimal reproductions, ignored until fixed
// (then remove the `#[ignore]` and the pattern in [`known_bug`]).

mod known_bugs {
    use super::*;

    fn c64(v: &[(f32, f32)]) -> RefArray {
        RefArray::C64(arr(
            &[v.len()],
            v.iter().map(|&(re, im)| Complex32::new(re, im)).collect(),
        ))
    }

    fn c128(v: &[(f64, f64)]) -> RefArray {
        RefArray::C128(arr(
            &[v.len()],
            v.iter().map(|&(re, im)| Complex64::new(re, im)).collect(),
        ))
    }

    /// Evaluates `src` with ndexpr and the reference over the same variables and compares as
    /// the differential tests do (complex functions within the reference's tolerances).
    fn agree(src: &str, vars: &[(&str, RefArray)]) {
        let views: Vec<(&str, RefView)> = vars.iter().map(|(n, a)| (*n, a.view())).collect();
        let (want, exactness, tolerance) = common::reference_eval_full(src, vars).unwrap();
        let got = common::run_ndexpr(src, &views, 1).unwrap_or_else(|e| panic!("{src}: {e}"));
        common::verdict_within(&got, &want, exactness, tolerance.as_ref())
            .unwrap_or_else(|e| panic!("{src}: {e}"));
    }

    /// As [`agree`], comparing special values too (the reference reproduces NumPy's C99 special
    /// values: it calls the same C library functions).
    fn agree_specials(src: &str, vars: &[(&str, RefArray)]) {
        let views: Vec<(&str, RefView)> = vars.iter().map(|(n, a)| (*n, a.view())).collect();
        let (want, exactness) = common::reference_eval_traced(src, vars).unwrap();
        let got = common::run_ndexpr(src, &views, 1).unwrap_or_else(|e| panic!("{src}: {e}"));
        common::verdict(&got, &want, exactness).unwrap_or_else(|e| panic!("{src}: {e}"));
    }

    /// NumPy 2 has complex `clip` loops (`np.clip(z, lo, hi)` is `Min(Max(z, lo), hi)` with a
    /// lexicographic order); ndexpr's type checker accepts complex clip but the VM has no kernel.
    #[test]
    fn complex_clip() {
        let z = c64(&[(1.0, 5.0), (-2.0, 0.0), (0.5, f32::NAN)]);
        let lo = c64(&[(0.0, 0.0)]);
        let hi = c64(&[(1.0, 1.0)]);
        // NumPy: [1+1j, 0+0j, 0.5+nanj].
        agree("clip(z, lo, hi)", &[("z", z), ("lo", lo), ("hi", hi)]);
    }

    /// `complex(re, im)` of a Python int beyond 64 bits: NumPy converts such an int to float64
    /// (`np.float64(7 << 100)`); ndexpr says "Python integer ... out of bounds for float64".
    #[test]
    #[ignore = "bug: complex() refuses a Python int beyond 64 bits for its float64 part"]
    fn complex_of_a_huge_python_int() {
        let a = RefArray::Bool(arr(&[2], vec![false, true]));
        // NumPy: [8.873554201597606e+30+0j, 8.873554201597606e+30+1j].
        agree("complex(7 << 100, a)", &[("a", a)]);
    }

    /// Python: `0 << 128` is 0 (so is `False << 128`); ndexpr: "integer constant too large: it
    /// does not fit in 128 bits".
    #[test]
    fn zero_shifted_past_128_bits() {
        let a = RefArray::I64(arr(&[2], vec![1i64, -5]));
        agree("a + (0 << 128)", &[("a", a.clone())]);
        agree("a + (False << 128)", &[("a", a)]);
    }

    /// NumPy raises "Integers to negative integer powers are not allowed." for
    /// `np.int64(0) ** np.minimum(-1, b ** 0)` (b: int8); ndexpr returns zeros: the check is
    /// lost once `b ** 0` folds to a constant. (`real(0) ** minimum(-1, b)` is refused as it
    /// should be.)
    #[test]
    fn negative_integer_power_after_folding() {
        let b = RefArray::I8(arr(&[3], vec![1i8, -1, 2]));
        let vars = [("b", b)];
        let views: Vec<(&str, RefView)> = vars.iter().map(|(n, a)| (*n, a.view())).collect();
        let src = "real(0) ** minimum(-1, (b ** 0))";
        assert!(common::reference_eval(src, &vars).is_err());
        let got = common::run_ndexpr(src, &views, 1);
        assert!(got.is_err(), "{src}: ndexpr gave {got:?}");
    }

    /// NumPy computes `7 ** b` before taking `np.imag` of it, so a negative `b` raises; ndexpr
    /// made the zeros of a real operand's imaginary part without computing the operand (found
    /// by `ndexpr_matches_reference`). Without a negative exponent both give zeros.
    #[test]
    fn negative_integer_power_under_imag() {
        for (values, raises) in [(vec![1i8, -1, 2], true), (vec![1i8, 0, 2], false)] {
            let vars = [("b", RefArray::I8(arr(&[3], values)))];
            let views: Vec<(&str, RefView)> = vars.iter().map(|(n, a)| (*n, a.view())).collect();
            let src = "sin(imag(7 ** real(b)))";
            assert_eq!(common::reference_eval(src, &vars).is_err(), raises);
            let got = common::run_ndexpr(src, &views, 1);
            assert_eq!(got.is_err(), raises, "{src}: ndexpr gave {got:?}");
            if !raises {
                agree(src, &vars);
            }
        }
    }

    /// npymath's `npy_cpow` returns 0+0j for a zero base and a positive real exponent before
    /// its `n == 1` shortcut, and multiplies `a*(a*a)` with unfused products for `n == 3`:
    /// NumPy gives `(-0-0j) ** 1 == 0+0j`, `(1-0j) ** 3 == 1-0j`, `(1+infj) ** 3 == -inf+nanj`;
    /// ndexpr gives -0-0j, 1+0j and nan+nanj.
    #[test]
    fn complex_integer_power_special_values() {
        let z = c128(&[(-0.0, -0.0), (0.0, -0.0), (1.0, -0.0), (1.0, f64::INFINITY)]);
        agree("z ** 1", &[("z", z.clone())]);
        agree("z ** 3", &[("z", z)]);
    }

    /// NumPy 2's `ndarray.__pow__` turns only a Python int 2 into `square`; `z ** 2.0` is the
    /// `power` loop (npy_cpow: `cmul`, unfused), which differs from `square` (NumPy's SIMD
    /// multiply, fused) in the last bit. ndexpr squares.
    #[test]
    fn complex_power_of_float_two() {
        agree("z ** 2.0", &[("z", fill(DType::C64, &[1024], 1))]);
    }

    /// Python divides complex literals by the denominator (`_Py_c_quot`); ndexpr folds them
    /// with NumPy's kernel (multiplying by a reciprocal): Python's
    /// `((3.0 + 2.0j) ** 2) ** (-1.0)` is (0.029585798816568046-0.07100591715976332j), ndexpr's
    /// real part 0.02958579881656805.
    #[test]
    fn complex_literal_division_follows_python() {
        agree("((3.0 + 2.0j) ** 2) ** (-1.0)", &[]);
    }

    /// C99 Annex G special values and branch cuts, as NumPy gets them from the C library:
    /// `exp(1e300+0j) = inf+0j` (ndexpr: inf+nanj), `sin(nan-0j) = nan-0j` (nan+nanj),
    /// `log1p(-1e300-0j)` has imaginary part -pi (+pi), `arccosh(0-0j) = 0-1.5707963j`
    /// (0+1.5707963j), `arctan(-0+2j)` has real part -pi/2 (+pi/2), `cosh(0+infj) = nan+0j`
    /// (nan+nanj).
    #[test]
    fn complex_function_special_values() {
        let z = |re, im| c128(&[(re, im)]);
        agree_specials("exp(z)", &[("z", z(1e300, 0.0))]);
        agree_specials("sin(z)", &[("z", z(f64::NAN, -0.0))]);
        agree_specials("log1p(z)", &[("z", z(-1e300, -0.0))]);
        agree_specials("arccosh(z)", &[("z", z(0.0, -0.0))]);
        agree_specials("arctan(z)", &[("z", z(-0.0, 2.0))]);
        agree_specials("cosh(z)", &[("z", z(0.0, f64::INFINITY))]);
    }

    /// Ordinary finite arguments, far from overflow: NumPy `tanh(73.5-23.95j) = 1+0j` and
    /// `tan(-4-51.5j) = -0-1j` in complex64, ndexpr gives NaN real/imaginary parts.
    #[test]
    fn complex_tan_tanh_overflow() {
        agree("tanh(z)", &[("z", c64(&[(73.50439, -23.952923)]))]);
        agree("tan(z)", &[("z", c64(&[(-4.0, -51.500008)]))]);
        agree("tanh(z)", &[("z", c128(&[(1e10, -7.0)]))]);
    }

    /// Inaccurate inverse functions on ordinary arguments (NumPy's values from glibc):
    /// complex64 `arcsin(-64.75438+74.55923j)`: NumPy -0.71510887+5.2857752j, ndexpr
    /// -0.71386266+5.286968j; complex128 `arcsin(-67.56958061830014+5j)` is off by ~2000 ulp;
    /// complex64 `arctan(1e-5+1e-5j)`: imaginary part 1.001358e-5, NumPy 1e-5; complex64
    /// `arcsinh(-1e10-11.478809j)`: NumPy -23.718998-1.1478809e-9j, ndexpr -inf+0j.
    #[test]
    fn complex_inverse_functions_accuracy() {
        agree("arcsin(z)", &[("z", c64(&[(-64.75438, 74.55923)]))]);
        agree("arccos(z)", &[("z", c64(&[(73.50439, -23.952923)]))]);
        agree("arcsin(z)", &[("z", c128(&[(-67.56958061830014, 5.0)]))]);
        agree("arctan(z)", &[("z", c64(&[(1e-5, 1e-5)]))]);
        agree("arcsinh(z)", &[("z", c64(&[(-1e10, -11.478809)]))]);
    }

    /// NumPy's `expm1(x+iy)` real part is `expm1(x) cos(y) - 2 sin(y/2)^2`; ndexpr loses it to
    /// cancellation when cos(y) is near 1: complex64 `expm1(0+1.001358e-5j)` has real part
    /// -5.0135895e-11 in NumPy, 0 in ndexpr.
    /// Cancellation near zero and near the unit circle: complex128 `log(1+1e-5j)` (z from the
    /// property test: |z|^2 - 1 is about 1e-10) has real part 4.99999999975e-11 in NumPy,
    /// 5.0000004e-11 in ndexpr; complex128 `arctanh` of small arguments loses ~600 ulp of |w|.
    #[test]
    fn complex_log_arctanh_accuracy() {
        agree("arctanh(1 / z)", &[("z", c128(&[(-2.25, 74.0)]))]);
        agree("log(z)", &[("z", c128(&[(1.0, 1e-5)]))]);
        agree("log(z)", &[("z", c128(&[(1.0, -0.07316120374480395)]))]);
    }

    #[test]
    fn complex_expm1_cancellation() {
        agree("expm1(z)", &[("z", c64(&[(0.0, 1.001358e-5)]))]);
        agree("expm1(z)", &[("z", c128(&[(1e-5, -81.68089184352942)]))]);
    }
}
