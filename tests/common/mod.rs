//! Shared test support: the independent reference evaluator, dtype-tagged views, the one adapter
//! to ndexpr's evaluation API, and result comparison (bits, or ULP for libm-quality functions).
#![allow(dead_code)]

pub mod reference;

#[allow(unused_imports)]
pub use reference::{
    broadcast_shapes, reference_eval, reference_eval_ast, reference_eval_full,
    reference_eval_traced, Exactness, RefArray, Rules, SKIP,
};

use half::f16;
use ndarray::{ArrayViewD, Dimension};
use ndexpr::types::DType;
use num_complex::{Complex32, Complex64};

/// NumPy's float `x**3`: C's `pow` (for float32 in float64, where the cube of a float32 is one
/// rounding from exact, then rounded to float32).
pub trait Cube {
    fn cube(self) -> Self;
}

impl Cube for f64 {
    fn cube(self) -> f64 {
        self.powf(3.0)
    }
}

impl Cube for f32 {
    fn cube(self) -> f32 {
        (self as f64).powf(3.0) as f32
    }
}

/// A dtype-tagged view: what the differential tests hand to ndexpr (any strides, including
/// negative and zero ones).
#[derive(Debug, Clone)]
pub enum RefView<'a> {
    Bool(ArrayViewD<'a, bool>),
    I8(ArrayViewD<'a, i8>),
    I16(ArrayViewD<'a, i16>),
    I32(ArrayViewD<'a, i32>),
    I64(ArrayViewD<'a, i64>),
    U8(ArrayViewD<'a, u8>),
    U16(ArrayViewD<'a, u16>),
    U32(ArrayViewD<'a, u32>),
    U64(ArrayViewD<'a, u64>),
    F16(ArrayViewD<'a, f16>),
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
    C64(ArrayViewD<'a, Complex32>),
    C128(ArrayViewD<'a, Complex64>),
}

/// Runs `$body` with `$v` bound to the view inside any [`RefView`] variant, re-wrapping nothing.
#[macro_export]
macro_rules! with_view {
    ($view:expr, $v:ident => $body:expr) => {
        match $view {
            $crate::common::RefView::Bool($v) => $body,
            $crate::common::RefView::I8($v) => $body,
            $crate::common::RefView::I16($v) => $body,
            $crate::common::RefView::I32($v) => $body,
            $crate::common::RefView::I64($v) => $body,
            $crate::common::RefView::U8($v) => $body,
            $crate::common::RefView::U16($v) => $body,
            $crate::common::RefView::U32($v) => $body,
            $crate::common::RefView::U64($v) => $body,
            $crate::common::RefView::F16($v) => $body,
            $crate::common::RefView::F32($v) => $body,
            $crate::common::RefView::F64($v) => $body,
            $crate::common::RefView::C64($v) => $body,
            $crate::common::RefView::C128($v) => $body,
        }
    };
}

impl RefView<'_> {
    /// An owned copy in standard layout, with the same logical elements.
    pub fn to_owned(&self) -> RefArray {
        match self {
            RefView::Bool(v) => RefArray::Bool(v.to_owned()),
            RefView::I8(v) => RefArray::I8(v.to_owned()),
            RefView::I16(v) => RefArray::I16(v.to_owned()),
            RefView::I32(v) => RefArray::I32(v.to_owned()),
            RefView::I64(v) => RefArray::I64(v.to_owned()),
            RefView::U8(v) => RefArray::U8(v.to_owned()),
            RefView::U16(v) => RefArray::U16(v.to_owned()),
            RefView::U32(v) => RefArray::U32(v.to_owned()),
            RefView::U64(v) => RefArray::U64(v.to_owned()),
            RefView::F16(v) => RefArray::F16(v.to_owned()),
            RefView::F32(v) => RefArray::F32(v.to_owned()),
            RefView::F64(v) => RefArray::F64(v.to_owned()),
            RefView::C64(v) => RefArray::C64(v.to_owned()),
            RefView::C128(v) => RefArray::C128(v.to_owned()),
        }
    }

    pub fn shape(&self) -> Vec<usize> {
        match self {
            RefView::Bool(v) => v.shape().to_vec(),
            RefView::I8(v) => v.shape().to_vec(),
            RefView::I16(v) => v.shape().to_vec(),
            RefView::I32(v) => v.shape().to_vec(),
            RefView::I64(v) => v.shape().to_vec(),
            RefView::U8(v) => v.shape().to_vec(),
            RefView::U16(v) => v.shape().to_vec(),
            RefView::U32(v) => v.shape().to_vec(),
            RefView::U64(v) => v.shape().to_vec(),
            RefView::F16(v) => v.shape().to_vec(),
            RefView::F32(v) => v.shape().to_vec(),
            RefView::F64(v) => v.shape().to_vec(),
            RefView::C64(v) => v.shape().to_vec(),
            RefView::C128(v) => v.shape().to_vec(),
        }
    }

    pub fn strides(&self) -> Vec<isize> {
        match self {
            RefView::Bool(v) => v.strides().to_vec(),
            RefView::I8(v) => v.strides().to_vec(),
            RefView::I16(v) => v.strides().to_vec(),
            RefView::I32(v) => v.strides().to_vec(),
            RefView::I64(v) => v.strides().to_vec(),
            RefView::U8(v) => v.strides().to_vec(),
            RefView::U16(v) => v.strides().to_vec(),
            RefView::U32(v) => v.strides().to_vec(),
            RefView::U64(v) => v.strides().to_vec(),
            RefView::F16(v) => v.strides().to_vec(),
            RefView::F32(v) => v.strides().to_vec(),
            RefView::F64(v) => v.strides().to_vec(),
            RefView::C64(v) => v.strides().to_vec(),
            RefView::C128(v) => v.strides().to_vec(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            RefView::Bool(_) => DType::Bool,
            RefView::I8(_) => DType::I8,
            RefView::I16(_) => DType::I16,
            RefView::I32(_) => DType::I32,
            RefView::I64(_) => DType::I64,
            RefView::U8(_) => DType::U8,
            RefView::U16(_) => DType::U16,
            RefView::U32(_) => DType::U32,
            RefView::U64(_) => DType::U64,
            RefView::F16(_) => DType::F16,
            RefView::F32(_) => DType::F32,
            RefView::F64(_) => DType::F64,
            RefView::C64(_) => DType::C64,
            RefView::C128(_) => DType::C128,
        }
    }
}

impl RefArray {
    /// A view of the whole array.
    pub fn view(&self) -> RefView<'_> {
        match self {
            RefArray::Bool(a) => RefView::Bool(a.view()),
            RefArray::I8(a) => RefView::I8(a.view()),
            RefArray::I16(a) => RefView::I16(a.view()),
            RefArray::I32(a) => RefView::I32(a.view()),
            RefArray::I64(a) => RefView::I64(a.view()),
            RefArray::U8(a) => RefView::U8(a.view()),
            RefArray::U16(a) => RefView::U16(a.view()),
            RefArray::U32(a) => RefView::U32(a.view()),
            RefArray::U64(a) => RefView::U64(a.view()),
            RefArray::F16(a) => RefView::F16(a.view()),
            RefArray::F32(a) => RefView::F32(a.view()),
            RefArray::F64(a) => RefView::F64(a.view()),
            RefArray::C64(a) => RefView::C64(a.view()),
            RefArray::C128(a) => RefView::C128(a.view()),
        }
    }
}

/// THE adapter to ndexpr's evaluation API: evaluates `src` over the views with `threads` worker
/// threads and returns the result as a [`RefArray`], or the error's text.
///
/// One thread goes through the public `ndexpr::evaluate` (compile cache, default options).
/// More threads go through `eval_program` with the parallel threshold at 0: the test arrays
/// are far below the threshold real calls use, and the point is to run the threaded path.
///
/// Only variables the expression mentions are passed; views may have any strides (negative,
/// zero) and 0-d views are 0-d arrays.
pub fn run_ndexpr(src: &str, vars: &[(&str, RefView)], threads: usize) -> Result<RefArray, String> {
    run_ndexpr_with(src, vars, &[], threads, None)
}

/// As [`run_ndexpr`], with the 0-d views named in `scalars` passed as Rust scalars
/// (`Vars::with("k", 2.5f64)`: a `Var::Scalar`, loaded once, never expanded) instead of 0-d
/// arrays, and with the kernels of one instruction-set level (`None`: the active one; a level
/// always goes through `eval_program`, with threads from any size on). NumPy treats scalars and
/// 0-d arrays alike: a strong operand of its dtype, and a 0-d result when every operand is 0-d.
pub fn run_ndexpr_with(
    src: &str,
    vars: &[(&str, RefView)],
    scalars: &[&str],
    threads: usize,
    level: Option<ndexpr::kernels::Isa>,
) -> Result<RefArray, String> {
    let mut env = ndexpr::Vars::new();
    for (name, view) in vars {
        env = if scalars.contains(name) {
            assert!(view.shape().is_empty(), "scalar `{name}` must be 0-d");
            crate::with_view!(view, v => env.with(name, *v.iter().next().expect("one element")))
        } else {
            crate::with_view!(view, v => env.with(name, v.clone()))
        };
        assert_eq!(env.get(name).unwrap().is_scalar(), scalars.contains(name));
    }
    let out = if threads == 1 && level.is_none() {
        // The thread count is process-wide and tests run in parallel: hold a lock so that the
        // evaluation really runs on one thread.
        static THREADS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        ndexpr::vm::set_num_threads(1);
        ndexpr::evaluate(src, &env)
    } else {
        let lookup = match level {
            Some(l) => ndexpr::kernels::lookup_for(l).ok_or("level not supported")?,
            None => ndexpr::kernels::lookup,
        };
        let opts = ndexpr::vm::RunOptions {
            lookup,
            threads: Some(threads),
            parallel_work: 0,
            ..Default::default()
        };
        ndexpr::Expr::compile(src, &env.signature())
            .and_then(|e| ndexpr::vm::eval_program(e.program(), &env, &opts))
    }
    .map_err(|e| e.to_string())?;
    Ok(match out {
        ndexpr::Array::Bool(a) => RefArray::Bool(a),
        ndexpr::Array::I8(a) => RefArray::I8(a),
        ndexpr::Array::I16(a) => RefArray::I16(a),
        ndexpr::Array::I32(a) => RefArray::I32(a),
        ndexpr::Array::I64(a) => RefArray::I64(a),
        ndexpr::Array::U8(a) => RefArray::U8(a),
        ndexpr::Array::U16(a) => RefArray::U16(a),
        ndexpr::Array::U32(a) => RefArray::U32(a),
        ndexpr::Array::U64(a) => RefArray::U64(a),
        ndexpr::Array::F16(a) => RefArray::F16(a),
        ndexpr::Array::F32(a) => RefArray::F32(a),
        ndexpr::Array::F64(a) => RefArray::F64(a),
        ndexpr::Array::C64(a) => RefArray::C64(a),
        ndexpr::Array::C128(a) => RefArray::C128(a),
    })
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/// Distance in units in the last place between two floats of one format, given as their bit
/// patterns widened to u64 with `bits` significant bits (16, 32 or 64). Signed zeros are 0 apart;
/// NaNs are handled by the caller.
pub fn ulp_diff_bits(x: u64, y: u64, bits: u32) -> u64 {
    let sign = 1u64 << (bits - 1);
    // Map the sign-magnitude pattern onto a monotonic integer line.
    let ordered = |b: u64| -> i128 {
        if b & sign != 0 {
            -((b & !sign) as i128)
        } else {
            b as i128
        }
    };
    (ordered(x) - ordered(y)).unsigned_abs() as u64
}

/// Distance in ULP between two f64 values (0 for equal values or two NaNs; `u64::MAX` for a
/// NaN against a number).
pub fn ulp_diff(x: f64, y: f64) -> u64 {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => 0,
        (false, false) => ulp_diff_bits(x.to_bits(), y.to_bits(), 64),
        _ => u64::MAX,
    }
}

pub fn ulp_diff_f32(x: f32, y: f32) -> u64 {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => 0,
        (false, false) => ulp_diff_bits(x.to_bits() as u64, y.to_bits() as u64, 32),
        _ => u64::MAX,
    }
}

pub fn ulp_diff_f16(x: f16, y: f16) -> u64 {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => 0,
        (false, false) => ulp_diff_bits(x.to_bits() as u64, y.to_bits() as u64, 16),
        _ => u64::MAX,
    }
}

/// The array with every float -0.0 made +0.0 (for [`Exactness::ZeroSign`] comparisons).
pub fn unsign_zeros(a: &RefArray) -> RefArray {
    match a {
        RefArray::F16(x) => RefArray::F16(x.mapv(|v| if v == f16::ZERO { f16::ZERO } else { v })),
        RefArray::F32(x) => RefArray::F32(x.mapv(|v| if v == 0.0 { 0.0 } else { v })),
        RefArray::F64(x) => RefArray::F64(x.mapv(|v| if v == 0.0 { 0.0 } else { v })),
        other => other.clone(),
    }
}

/// Compares ndexpr's result with the reference's: same dtype, same shape, and every element
/// bit-identical (any NaN equals any NaN), or within `max_ulps` for float elements when
/// `max_ulps > 0`. The error names the first differing element.
pub fn compare(got: &RefArray, want: &RefArray, max_ulps: u64) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype: got {}, want {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!(
            "shape: got {:?}, want {:?}",
            got.shape(),
            want.shape()
        ));
    }
    fn first_bad<T: std::fmt::Debug + Copy>(
        g: &ndarray::ArrayD<T>,
        w: &ndarray::ArrayD<T>,
        same: impl Fn(T, T) -> bool,
    ) -> Result<(), String> {
        for ((i, &x), &y) in g.indexed_iter().zip(w.iter()) {
            if !same(x, y) {
                return Err(format!("element {:?}: got {x:?}, want {y:?}", i.slice()));
            }
        }
        Ok(())
    }
    let tol = max_ulps;
    match (got, want) {
        (RefArray::Bool(g), RefArray::Bool(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::I8(g), RefArray::I8(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::I16(g), RefArray::I16(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::I32(g), RefArray::I32(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::I64(g), RefArray::I64(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::U8(g), RefArray::U8(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::U16(g), RefArray::U16(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::U32(g), RefArray::U32(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::U64(g), RefArray::U64(w)) => first_bad(g, w, |x, y| x == y),
        (RefArray::F16(g), RefArray::F16(w)) => first_bad(g, w, |x, y| {
            x.to_bits() == y.to_bits()
                || (x.is_nan() && y.is_nan())
                || (tol > 0 && ulp_diff_f16(x, y) <= tol)
        }),
        (RefArray::F32(g), RefArray::F32(w)) => first_bad(g, w, |x, y| {
            x.to_bits() == y.to_bits()
                || (x.is_nan() && y.is_nan())
                || (tol > 0 && ulp_diff_f32(x, y) <= tol)
        }),
        (RefArray::F64(g), RefArray::F64(w)) => first_bad(g, w, |x, y| {
            x.to_bits() == y.to_bits()
                || (x.is_nan() && y.is_nan())
                || (tol > 0 && ulp_diff(x, y) <= tol)
        }),
        // A complex part may also be off by `tol` ULP of the larger part's magnitude: complex
        // functions are accurate relative to |z|, not per part (a part that cancels to nearly 0
        // carries the absolute error of the other).
        (RefArray::C64(g), RefArray::C64(w)) => first_bad(g, w, |x, y| {
            let scale = y.re.abs().max(y.im.abs()) as f64 * f32::EPSILON as f64;
            [(x.re, y.re), (x.im, y.im)].iter().all(|&(p, q)| {
                p.to_bits() == q.to_bits()
                    || (p.is_nan() && q.is_nan())
                    || (tol > 0 && ulp_diff_f32(p, q) <= tol)
                    || (tol > 0 && ((p - q) as f64).abs() <= tol as f64 * scale)
            })
        }),
        (RefArray::C128(g), RefArray::C128(w)) => first_bad(g, w, |x, y| {
            let scale = y.re.abs().max(y.im.abs()) * f64::EPSILON;
            [(x.re, y.re), (x.im, y.im)].iter().all(|&(p, q)| {
                p.to_bits() == q.to_bits()
                    || (p.is_nan() && q.is_nan())
                    || (tol > 0 && ulp_diff(p, q) <= tol)
                    || (tol > 0 && (p - q).abs() <= tol as f64 * scale)
            })
        }),
        _ => unreachable!("dtypes checked above"),
    }
}

/// The ULP tolerance for results whose last operation is approximate ([`Exactness::Approx`]).
pub const APPROX_ULPS: u64 = 4;

/// Compares ndexpr's result with the reference's as the reference's [`Exactness`] allows: bits;
/// bits with the zeros' signs ignored; [`APPROX_ULPS`]; or dtype and shape only.
pub fn verdict(got: &RefArray, want: &RefArray, exactness: Exactness) -> Result<(), String> {
    match exactness {
        Exactness::Exact => compare(got, want, 0),
        Exactness::ZeroSign => compare(&unsign_zeros(got), &unsign_zeros(want), 0),
        Exactness::Approx => compare(got, want, APPROX_ULPS),
        Exactness::Tainted => compare_meta(got, want),
    }
}

/// As [`verdict`], with per-element absolute tolerances for a complex approximate result (from
/// [`reference_eval_full`]): each part within its element's tolerance, NaN against NaN;
/// elements with an infinite tolerance are not compared.
pub fn verdict_within(
    got: &RefArray,
    want: &RefArray,
    exactness: Exactness,
    tolerance: Option<&ndarray::ArrayD<f64>>,
) -> Result<(), String> {
    let Some(tol) = tolerance.filter(|_| exactness == Exactness::Approx) else {
        return verdict(got, want, exactness);
    };
    compare_meta(got, want)?;
    fn check<T: Copy + Into<f64> + std::fmt::Debug>(
        g: &ndarray::ArrayD<num_complex::Complex<T>>,
        w: &ndarray::ArrayD<num_complex::Complex<T>>,
        tol: &ndarray::ArrayD<f64>,
    ) -> Result<(), String> {
        for (((i, x), y), &t) in g.indexed_iter().zip(w.iter()).zip(tol.iter()) {
            let near = |p: T, q: T| {
                let (p, q): (f64, f64) = (p.into(), q.into());
                p == q || (p.is_nan() && q.is_nan()) || (p - q).abs() <= t
            };
            if t.is_finite() && !(near(x.re, y.re) && near(x.im, y.im)) {
                return Err(format!(
                    "element {:?}: got {x:?}, want {y:?} (tolerance {t:e})",
                    i.slice()
                ));
            }
        }
        Ok(())
    }
    match (got, want) {
        (RefArray::C64(g), RefArray::C64(w)) => check(g, w, tol),
        (RefArray::C128(g), RefArray::C128(w)) => check(g, w, tol),
        _ => verdict(got, want, exactness),
    }
}

/// Dtype and shape only: for values that went through approximate functions and then further
/// operations, where no element-wise bound holds.
pub fn compare_meta(got: &RefArray, want: &RefArray) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!(
            "got {} {:?}, want {} {:?}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        ));
    }
    Ok(())
}
