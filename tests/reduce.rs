//! Reductions (issue 7): result dtypes and values against NumPy's own table
//! (`tests/data/reductions.tsv`, from `gen_reductions.py`), every reduction × dtype × axis ×
//! layout × size around the block boundaries against an independent reference written here,
//! thread-count independence, float-sum accuracy against an exactly rounded sum, reductions
//! inside expressions, and errors.

use half::f16;
use ndarray::{s, Array1, Array2, ArrayD, ArrayViewD, Axis, IxDyn, ShapeBuilder};
use ndexpr::vm::{eval_program, RunOptions};
use ndexpr::{evaluate, Array, DType, ErrorKind, Expr, Vars};
use num_complex::{Complex32, Complex64};

// ---------------------------------------------------------------------------------------------
// Values of any result, as the reference sees them.

#[derive(Debug, Clone, Copy, PartialEq)]
enum V {
    B(bool),
    I(i128),
    F(f64),
    C(f64, f64),
}

fn values(a: &Array) -> Vec<V> {
    match a {
        Array::Bool(x) => x.iter().map(|&v| V::B(v)).collect(),
        Array::I8(x) => x.iter().map(|&v| V::I(v as i128)).collect(),
        Array::I16(x) => x.iter().map(|&v| V::I(v as i128)).collect(),
        Array::I32(x) => x.iter().map(|&v| V::I(v as i128)).collect(),
        Array::I64(x) => x.iter().map(|&v| V::I(v as i128)).collect(),
        Array::U8(x) => x.iter().map(|&v| V::I(v as i128)).collect(),
        Array::U16(x) => x.iter().map(|&v| V::I(v as i128)).collect(),
        Array::U32(x) => x.iter().map(|&v| V::I(v as i128)).collect(),
        Array::U64(x) => x.iter().map(|&v| V::I(v as i128)).collect(),
        Array::F16(x) => x.iter().map(|&v| V::F(v.to_f64())).collect(),
        Array::F32(x) => x.iter().map(|&v| V::F(v as f64)).collect(),
        Array::F64(x) => x.iter().map(|&v| V::F(v)).collect(),
        Array::C64(x) => x.iter().map(|v| V::C(v.re as f64, v.im as f64)).collect(),
        Array::C128(x) => x.iter().map(|v| V::C(v.re, v.im)).collect(),
    }
}

/// Base data of one dtype (the same as `gen_reductions.py`'s for the NumPy table).
fn typed(dtype: DType, xs: &[i64], shape: &[usize], fortran: bool) -> Array {
    fn shaped<T>(shape: &[usize], fortran: bool, v: Vec<T>) -> ArrayD<T> {
        if fortran {
            ArrayD::from_shape_vec(IxDyn(shape).f(), v)
        } else {
            ArrayD::from_shape_vec(IxDyn(shape), v)
        }
        .unwrap()
    }
    macro_rules! sh {
        ($v:expr) => {
            shaped(shape, fortran, $v)
        };
    }
    let fl = |b: i64| b as f64 * 0.37 + 0.1;
    match dtype {
        DType::Bool => Array::Bool(sh!(xs.iter().map(|&b| b > 0).collect())),
        DType::I8 => Array::I8(sh!(xs.iter().map(|&b| b as i8).collect())),
        DType::I16 => Array::I16(sh!(xs.iter().map(|&b| b as i16).collect())),
        DType::I32 => Array::I32(sh!(xs.iter().map(|&b| b as i32).collect())),
        DType::I64 => Array::I64(sh!(xs.to_vec())),
        DType::U8 => Array::U8(sh!(xs.iter().map(|&b| b.unsigned_abs() as u8).collect())),
        DType::U16 => Array::U16(sh!(xs.iter().map(|&b| b.unsigned_abs() as u16).collect())),
        DType::U32 => Array::U32(sh!(xs.iter().map(|&b| b.unsigned_abs() as u32).collect())),
        DType::U64 => Array::U64(sh!(xs.iter().map(|&b| b.unsigned_abs()).collect())),
        DType::F16 => Array::F16(sh!(xs.iter().map(|&b| f16::from_f64(fl(b))).collect())),
        DType::F32 => Array::F32(sh!(xs.iter().map(|&b| fl(b) as f32).collect())),
        DType::F64 => Array::F64(sh!(xs.iter().map(|&b| fl(b)).collect())),
        DType::C64 => Array::C64(sh!(xs
            .iter()
            .map(|&b| Complex32::new((b as f64 * 0.37) as f32, b.rem_euclid(3) as f32))
            .collect())),
        DType::C128 => Array::C128(sh!(xs
            .iter()
            .map(|&b| Complex64::new(b as f64 * 0.37, b.rem_euclid(3) as f64))
            .collect())),
    }
}

fn bind<'a>(vars: Vars<'a>, name: &str, a: &'a Array) -> Vars<'a> {
    match a {
        Array::Bool(x) => vars.with(name, x),
        Array::I8(x) => vars.with(name, x),
        Array::I16(x) => vars.with(name, x),
        Array::I32(x) => vars.with(name, x),
        Array::I64(x) => vars.with(name, x),
        Array::U8(x) => vars.with(name, x),
        Array::U16(x) => vars.with(name, x),
        Array::U32(x) => vars.with(name, x),
        Array::U64(x) => vars.with(name, x),
        Array::F16(x) => vars.with(name, x),
        Array::F32(x) => vars.with(name, x),
        Array::F64(x) => vars.with(name, x),
        Array::C64(x) => vars.with(name, x),
        Array::C128(x) => vars.with(name, x),
    }
}

// ---------------------------------------------------------------------------------------------
// NumPy's table.

fn parse_value(s: &str) -> V {
    if let Some((re, im)) = s.split_once(',') {
        return V::C(re.parse().unwrap(), im.parse().unwrap());
    }
    if s.contains('.') || s.contains("nan") || s.contains("inf") || s.contains('e') {
        return V::F(s.parse().unwrap());
    }
    V::I(s.parse().unwrap())
}

#[test]
fn dtypes_and_values_match_numpy_table() {
    const BASE: [i64; 13] = [3, -1, 2, 0, 5, 7, -4, 1, 9, 2, -6, 8, 1];
    let text = std::fs::read_to_string("tests/data/reductions.tsv").unwrap();
    let mut checked = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (func, dtype, axis, result, want) = (f[0], f[1], f[2], f[3], f[4]);
        let dtype = DType::from_name(dtype).unwrap();
        let a = if axis == "none" {
            typed(dtype, &BASE, &[13], false)
        } else {
            typed(dtype, &BASE[..12], &[3, 4], false)
        };
        let src = if axis == "none" {
            format!("{func}(a)")
        } else {
            format!("{func}(a, axis={axis})")
        };
        let r = evaluate(&src, &bind(Vars::new(), "a", &a)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.dtype().name(), result, "{src} over {dtype}");
        let got = values(&r);
        let want: Vec<V> = want.split(' ').map(parse_value).collect();
        assert_eq!(got.len(), want.len(), "{src} over {dtype}");
        for (g, w) in got.iter().zip(&want) {
            let same = match (g, w) {
                (V::B(b), V::I(i)) => *b as i128 == *i,
                // NumPy rounds float16 to float16 after every step along an outer axis (an
                // elementwise loop), where ndexpr accumulates in float32 and rounds once.
                (V::F(x), V::F(y)) if dtype == DType::F16 && axis == "0" => {
                    (x - y).abs() <= y.abs() * 2f64.powi(-9)
                }
                (V::F(x), V::F(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                // Complex products: NumPy's complex64 multiply loop may differ in the last bits.
                (V::C(a, b), V::C(c, d)) if func == "prod" => {
                    (a - c).abs() <= 1e-6 * c.abs().max(1.0)
                        && (b - d).abs() <= 1e-6 * d.abs().max(1.0)
                }
                (V::C(a, b), V::C(c, d)) => a == c && b == d,
                (g, w) => g == w,
            };
            assert!(same, "{src} over {dtype}: got {got:?}, NumPy {want:?}");
        }
        checked += 1;
    }
    assert!(checked > 300);
}

// ---------------------------------------------------------------------------------------------
// The reference: NumPy's rules written out over the logical elements, one lane at a time.

const KINDS: [&str; 9] = [
    "sum", "prod", "mean", "min", "max", "any", "all", "argmin", "argmax",
];

fn is_nan(v: V) -> bool {
    match v {
        V::F(x) => x.is_nan(),
        V::C(a, b) => a.is_nan() || b.is_nan(),
        _ => false,
    }
}

fn key(v: V) -> (f64, f64) {
    match v {
        V::B(b) => (b as u8 as f64, 0.0),
        V::I(i) => (i as f64, 0.0),
        V::F(x) => (x, 0.0),
        V::C(a, b) => (a, b),
    }
}

fn truth(v: V) -> bool {
    match v {
        V::B(b) => b,
        V::I(i) => i != 0,
        V::F(x) => x != 0.0,
        V::C(a, b) => a != 0.0 || b != 0.0,
    }
}

/// What the reference expects of one lane: an exact value, or a float within a tolerance.
#[derive(Debug)]
enum Want {
    Exact(V),
    Near(f64, f64, f64), // re, im, tolerance
    Error,
    Skip,
}

fn eps(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 2f64.powi(-11),
        DType::F32 | DType::C64 => 2f64.powi(-24),
        _ => 2f64.powi(-53),
    }
}

fn reference(kind: &str, dtype: DType, lane: &[V]) -> Want {
    let n = lane.len();
    let unsigned = matches!(dtype, DType::U8 | DType::U16 | DType::U32 | DType::U64);
    let wrap = |x: i128| {
        if unsigned {
            V::I(x as u64 as i128)
        } else {
            V::I(x as i64 as i128)
        }
    };
    let float = dtype.is_float() || dtype.is_complex();
    // Error bound of a pairwise sum of n terms, plus the final rounding to a float16 result.
    let sum_tol = |abs: f64, result: f64| {
        let e = eps(dtype).min(2f64.powi(-24)); // float16 is accumulated in float32
        (2.0 * (n.max(2) as f64).log2() + 20.0) * e * abs
            + if dtype == DType::F16 {
                result.abs() * 2f64.powi(-11)
            } else {
                0.0
            }
            + 1e-300
    };
    match kind {
        "sum" | "mean" if float => {
            // Neumaier's compensated sum: accurate to about one rounding of the total.
            fn neumaier(xs: impl Iterator<Item = f64>) -> f64 {
                let (mut s, mut c) = (0.0f64, 0.0f64);
                for x in xs {
                    let t = s + x;
                    c += if s.abs() >= x.abs() {
                        (s - t) + x
                    } else {
                        (x - t) + s
                    };
                    s = t;
                }
                s + c
            }
            let re = neumaier(lane.iter().map(|&v| key(v).0));
            let im = neumaier(lane.iter().map(|&v| key(v).1));
            let abs: f64 = lane.iter().map(|&v| key(v).0.abs() + key(v).1.abs()).sum();
            if kind == "mean" {
                let d = n as f64;
                return Want::Near(
                    re / d,
                    im / d,
                    sum_tol(abs, re) / d + re.abs() * 4.0 * eps(dtype),
                );
            }
            Want::Near(re, im, sum_tol(abs, re))
        }
        "sum" => Want::Exact(wrap(lane.iter().map(|&v| key(v).0 as i128).sum())),
        "mean" => {
            let s: i128 = lane.iter().map(|&v| key(v).0 as i128).sum();
            let m = s as f64 / n as f64;
            Want::Near(m, 0.0, m.abs() * 1e-14 + 1e-300)
        }
        "prod" if float => {
            let (mut re, mut im) = (1.0f64, 0.0f64);
            for &v in lane {
                let (a, b) = key(v);
                (re, im) = (re * a - im * b, re * b + im * a);
            }
            // Skip products whose partial products leave the dtype's range: where they
            // overflow or underflow depends on the order of the multiplications.
            let (lo, hi) = match dtype {
                DType::F16 => (-9.0, 11.0),
                DType::F32 | DType::C64 => (-85.0, 87.0),
                _ => (-700.0, 708.0),
            };
            let mut log = 0.0f64;
            for &v in lane {
                let (a, b) = key(v);
                let m = a.hypot(b);
                if m > 0.0 {
                    log += m.ln();
                    if log < lo || log > hi {
                        return Want::Skip;
                    }
                }
            }
            let max = match dtype {
                DType::F16 => 65504.0,
                DType::F32 | DType::C64 => f32::MAX as f64,
                _ => f64::MAX,
            };
            if re.abs().max(im.abs()) > max * 0.99 {
                return Want::Near(f64::INFINITY, 0.0, 0.0);
            }
            let tol = (re.abs() + im.abs()) * ((n as f64 + 4.0) * 4.0 * eps(dtype)) + 1e-300;
            Want::Near(re, im, tol)
        }
        "prod" => {
            let mut p: i128 = 1;
            for &v in lane {
                p = (p.wrapping_mul(key(v).0 as i128)) as u64 as i128;
            }
            Want::Exact(wrap(p))
        }
        "any" => Want::Exact(V::B(lane.iter().any(|&v| truth(v)))),
        "all" => Want::Exact(V::B(lane.iter().all(|&v| truth(v)))),
        _ if n == 0 => Want::Error,
        "min" | "max" | "argmin" | "argmax" => {
            let max = kind.ends_with("max");
            let mut best = 0;
            for i in 0..n {
                if is_nan(lane[i]) {
                    best = i;
                    break;
                }
                let (x, b) = (key(lane[i]), key(lane[best]));
                if (max && x > b) || (!max && x < b) {
                    best = i;
                }
            }
            if kind.starts_with("arg") {
                Want::Exact(V::I(best as i128))
            } else {
                Want::Exact(lane[best])
            }
        }
        _ => unreachable!(),
    }
}

fn check(got: V, want: &Want, what: &str) {
    match (want, got) {
        (Want::Exact(w), g) => {
            let same = match (w, g) {
                (V::F(a), V::F(b)) => a == &b || (a.is_nan() && b.is_nan()),
                (V::C(a, b), V::C(c, d)) => {
                    (a == &c || (a.is_nan() && c.is_nan()))
                        && (b == &d || (b.is_nan() && d.is_nan()))
                }
                (w, g) => *w == g,
            };
            assert!(same, "{what}: got {g:?}, want {w:?}");
        }
        (Want::Near(re, im, tol), g) => {
            let (a, b) = key(g);
            if !(re.is_finite() && im.is_finite() && tol.is_finite()) {
                // Overflowed products and empty means: non-finite both.
                assert!(
                    !(a.is_finite() && b.is_finite()),
                    "{what}: got {g:?}, want {re} {im}"
                );
                return;
            }
            assert!(
                (a - re).abs() <= *tol && (b - im).abs() <= *tol,
                "{what}: got {g:?}, want {re} {im} ± {tol}"
            );
        }
        (Want::Error, g) => panic!("{what}: got {g:?}, want an error"),
        (Want::Skip, _) => {}
    }
}

/// The logical elements of `a` (any layout) and, for an axis, its lanes in C order of the kept
/// axes.
fn lanes(a: &Array, axis: Option<usize>) -> Vec<Vec<V>> {
    fn go<T: Copy>(x: &ArrayViewD<'_, T>, axis: Option<usize>, f: impl Fn(T) -> V) -> Vec<Vec<V>> {
        match axis {
            None => vec![x.iter().map(|&v| f(v)).collect()],
            Some(k) => x
                .lanes(Axis(k))
                .into_iter()
                .map(|l| l.iter().map(|&v| f(v)).collect())
                .collect(),
        }
    }
    match a {
        Array::Bool(x) => go(&x.view(), axis, V::B),
        Array::I8(x) => go(&x.view(), axis, |v| V::I(v as i128)),
        Array::I16(x) => go(&x.view(), axis, |v| V::I(v as i128)),
        Array::I32(x) => go(&x.view(), axis, |v| V::I(v as i128)),
        Array::I64(x) => go(&x.view(), axis, |v| V::I(v as i128)),
        Array::U8(x) => go(&x.view(), axis, |v| V::I(v as i128)),
        Array::U16(x) => go(&x.view(), axis, |v| V::I(v as i128)),
        Array::U32(x) => go(&x.view(), axis, |v| V::I(v as i128)),
        Array::U64(x) => go(&x.view(), axis, |v| V::I(v as i128)),
        Array::F16(x) => go(&x.view(), axis, |v| V::F(v.to_f64())),
        Array::F32(x) => go(&x.view(), axis, |v| V::F(v as f64)),
        Array::F64(x) => go(&x.view(), axis, V::F),
        Array::C64(x) => go(&x.view(), axis, |v| V::C(v.re as f64, v.im as f64)),
        Array::C128(x) => go(&x.view(), axis, |v| V::C(v.re, v.im)),
    }
}

/// Applies a layout to an owned array: returns the array to bind (an owned array whose view is
/// the layout is not possible for slices, so strided and reversed views are made by binding a
/// view of a bigger array; here they are materialised by the `view` closure at bind time).
#[derive(Clone, Copy, Debug)]
enum Layout {
    C,
    F,
    Strided,
    Reversed,
    Broadcast,
}

fn lcg(n: usize, seed: u64) -> Vec<i64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 61) as i64 - 30
        })
        .collect()
}

/// Evaluates every reduction of `a` (shape `shape`, in `layout`) and checks it against the
/// reference.
fn check_all(dtype: DType, shape: &[usize], layout: Layout, seed: u64) {
    macro_rules! with_view {
        ($arr:expr, |$v:ident| $body:expr) => {
            match $arr {
                Array::Bool(x) => {
                    let $v = x.view();
                    $body
                }
                Array::I8(x) => {
                    let $v = x.view();
                    $body
                }
                Array::I16(x) => {
                    let $v = x.view();
                    $body
                }
                Array::I32(x) => {
                    let $v = x.view();
                    $body
                }
                Array::I64(x) => {
                    let $v = x.view();
                    $body
                }
                Array::U8(x) => {
                    let $v = x.view();
                    $body
                }
                Array::U16(x) => {
                    let $v = x.view();
                    $body
                }
                Array::U32(x) => {
                    let $v = x.view();
                    $body
                }
                Array::U64(x) => {
                    let $v = x.view();
                    $body
                }
                Array::F16(x) => {
                    let $v = x.view();
                    $body
                }
                Array::F32(x) => {
                    let $v = x.view();
                    $body
                }
                Array::F64(x) => {
                    let $v = x.view();
                    $body
                }
                Array::C64(x) => {
                    let $v = x.view();
                    $body
                }
                Array::C128(x) => {
                    let $v = x.view();
                    $body
                }
            }
        };
    }
    let nd = shape.len();
    // The storage, and a function of it giving the view to reduce.
    let (store_shape, fortran) = match layout {
        Layout::C | Layout::Reversed => (shape.to_vec(), false),
        Layout::F => (shape.to_vec(), true),
        Layout::Strided => {
            let mut s = shape.to_vec();
            if let Some(l) = s.last_mut() {
                *l *= 2;
            }
            (s, false)
        }
        Layout::Broadcast => {
            let mut s = shape.to_vec();
            if !s.is_empty() {
                s[0] = 1.min(s[0]);
            }
            (s, false)
        }
    };
    let store = typed(
        dtype,
        &lcg(store_shape.iter().product(), seed),
        &store_shape,
        fortran,
    );
    // The stored array viewed as the layout says (broadcasting is left to each use).
    macro_rules! laid_out {
        ($v:ident) => {{
            let mut v = $v;
            match layout {
                Layout::Strided if nd > 0 => {
                    v.slice_axis_inplace(Axis(nd - 1), ndarray::Slice::new(0, None, 2))
                }
                Layout::Reversed => {
                    for k in 0..nd {
                        v.invert_axis(Axis(k));
                    }
                }
                _ => {}
            }
            v
        }};
    }
    macro_rules! view_of {
        ($v:ident) => {{
            let v = laid_out!($v);
            match layout {
                Layout::Broadcast => v.broadcast(IxDyn(shape)).unwrap().to_owned().into_dyn(),
                _ => v.to_owned(),
            }
        }};
    }
    // The logical array (owned, C order) for the reference; the view itself for ndexpr.
    let logical: Array = with_view!(&store, |v| {
        let o = view_of!(v);
        ndexpr::vm::VmElement::wrap_owned(o)
    });
    assert_eq!(logical.shape(), shape);
    let mut axes: Vec<Option<i64>> = vec![None];
    for k in 0..nd as i64 {
        axes.push(Some(k));
        axes.push(Some(k - nd as i64));
    }
    for kind in KINDS {
        for &axis in &axes {
            if axis.is_some() && kind.starts_with("arg") {
                continue;
            }
            let src = match axis {
                None => format!("{kind}(a)"),
                Some(k) => format!("{kind}(a, axis={k})"),
            };
            let k = axis.map(|k| if k < 0 { k + nd as i64 } else { k } as usize);
            let lanes = lanes(&logical, k);
            let result = with_view!(&store, |v| {
                let v = laid_out!(v);
                if let Layout::Broadcast = layout {
                    let b = v.broadcast(IxDyn(shape)).unwrap();
                    evaluate(&src, &Vars::new().with("a", b))
                } else {
                    evaluate(&src, &Vars::new().with("a", v))
                }
            });
            let what = format!("{src} over {dtype} {shape:?} {layout:?}");
            let out_len: usize = lanes.len();
            let wants: Vec<Want> = lanes.iter().map(|l| reference(kind, dtype, l)).collect();
            if out_len > 0 && wants.iter().any(|w| matches!(w, Want::Error)) {
                let e = result.expect_err(&what);
                assert_eq!(e.kind(), ErrorKind::Value, "{what}");
                assert!(
                    e.message().contains("zero-size array")
                        || e.message().contains("empty sequence"),
                    "{what}: {e}"
                );
                continue;
            }
            let r = result.unwrap_or_else(|e| panic!("{what}: {e}"));
            let mut want_shape = shape.to_vec();
            if let Some(k) = k {
                want_shape.remove(k);
            } else {
                want_shape.clear();
            }
            assert_eq!(r.shape(), want_shape.as_slice(), "{what}");
            let got = values(&r);
            assert_eq!(got.len(), wants.len(), "{what}");
            for (g, w) in got.iter().zip(&wants) {
                check(*g, w, &what);
            }
        }
    }
}

const DTYPES: [DType; 10] = [
    DType::Bool,
    DType::I8,
    DType::I32,
    DType::U16,
    DType::I64,
    DType::U64,
    DType::F16,
    DType::F32,
    DType::F64,
    DType::C128,
];

const LAYOUTS: [Layout; 5] = [
    Layout::C,
    Layout::F,
    Layout::Strided,
    Layout::Reversed,
    Layout::Broadcast,
];

#[test]
fn every_reduction_dtype_and_size_1d() {
    for (i, &dtype) in DTYPES.iter().enumerate() {
        for n in [0, 1, 7, 511, 512, 513, 3 * 512 + 7] {
            for layout in [Layout::C, Layout::Strided, Layout::Reversed] {
                check_all(dtype, &[n], layout, i as u64 * 31 + n as u64);
            }
        }
    }
}

#[test]
fn every_reduction_axis_and_layout_2d() {
    let shapes: [&[usize]; 9] = [
        &[3, 513],
        &[513, 3],
        &[0, 4],
        &[4, 0],
        &[1, 7],
        &[7, 1],
        &[70, 40],
        &[2, 1030],
        &[130, 200],
    ];
    for (i, &dtype) in DTYPES.iter().enumerate() {
        for shape in shapes {
            for layout in LAYOUTS {
                check_all(dtype, shape, layout, i as u64 * 7 + shape[0] as u64);
            }
        }
    }
}

#[test]
fn every_reduction_axis_3d() {
    for &dtype in &[DType::I32, DType::F64, DType::F32, DType::C128] {
        // [3, 20, 400]: axis 0 over C order walks rows of 8000 kept elements, axis 1 groups of
        // 20 rows of 400, axis 2 (F order) rows of 3·20.
        for shape in [
            &[4usize, 5, 130][..],
            &[6, 1, 9],
            &[3, 200, 2],
            &[3, 20, 400],
        ] {
            for layout in LAYOUTS {
                check_all(dtype, shape, layout, 5);
            }
        }
    }
}

#[test]
fn zero_d_and_scalar_arguments() {
    let a = ndarray::arr0(2.5f64).into_dyn();
    let r = evaluate("sum(a)", &Vars::new().with("a", &a)).unwrap();
    assert_eq!(values(&r), vec![V::F(2.5)]);
    let r = evaluate("sum(a, axis=0)", &Vars::new().with("a", &a)).unwrap_err();
    assert!(r
        .message()
        .contains("axis 0 is out of bounds for array of dimension 0"));
    let r = evaluate("mean(k) + sum(3)", &Vars::new().with("k", 4i32)).unwrap();
    assert_eq!(r.dtype(), DType::F64);
    assert_eq!(values(&r), vec![V::F(7.0)]);
}

// ---------------------------------------------------------------------------------------------
// NaN, wrapping, float16.

#[test]
fn nan_propagates_and_argmax_finds_the_first_nan() {
    let mut a = Array1::from_iter((0..2000).map(|i| i as f64));
    a[1500] = f64::NAN;
    a[1700] = f64::NAN;
    let vars = Vars::new().with("a", &a);
    for (src, want) in [
        ("min(a)", None),
        ("max(a)", None),
        ("argmax(a)", Some(1500)),
        ("argmin(a)", Some(1500)),
    ] {
        let r = evaluate(src, &vars).unwrap();
        match want {
            None => assert!(matches!(values(&r)[0], V::F(x) if x.is_nan()), "{src}"),
            Some(i) => assert_eq!(values(&r)[0], V::I(i), "{src}"),
        }
    }
    let r = evaluate(
        "max(a, axis=0)",
        &Vars::new().with("a", a.view().into_shape_with_order((40, 50)).unwrap()),
    )
    .unwrap();
    let v = values(&r);
    assert!(v
        .iter()
        .enumerate()
        .all(|(j, x)| matches!(x, V::F(x) if x.is_nan()) == (j == 0)));
    // any/all test NaN as true.
    let r = evaluate("all(a)", &Vars::new().with("a", a.slice(s![1..]))).unwrap();
    assert_eq!(values(&r), vec![V::B(true)]);
}

#[test]
fn integer_sums_wrap_as_int64() {
    let a = Array1::from(vec![i64::MAX, 1, 1]);
    let r = evaluate("sum(a)", &Vars::new().with("a", &a)).unwrap();
    assert_eq!(values(&r), vec![V::I((i64::MIN + 1) as i128)]);
    let u = Array1::from(vec![200u8; 1000]);
    let r = evaluate("sum(u)", &Vars::new().with("u", &u)).unwrap();
    assert_eq!((r.dtype(), values(&r)), (DType::U64, vec![V::I(200_000)]));
    let r = evaluate("sum(u + u)", &Vars::new().with("u", &u)).unwrap();
    // u + u wraps in uint8 first (144 each), as NumPy's `(u + u).sum()`.
    assert_eq!(values(&r), vec![V::I(144_000)]);
}

// ---------------------------------------------------------------------------------------------
// Accuracy and determinism.

/// NumPy's pairwise summation, written again from its C source, for bit-exact comparisons.
fn numpy_pairwise(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 8 {
        let mut r = 0.0;
        for &v in x {
            r += v;
        }
        r
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&x[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += x[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += x[i];
            i += 1;
        }
        res
    } else {
        let n2 = n / 2 - (n / 2) % 8;
        numpy_pairwise(&x[..n2]) + numpy_pairwise(&x[n2..])
    }
}

fn wide_range(n: usize, seed: u64) -> Vec<f64> {
    // Values m·2^e with 53-bit m and e in [-70, -36]: all exact multiples of 2^-70, so their
    // sum is exact in i128 fixed point.
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s
    };
    (0..n)
        .map(|_| {
            let m = (next() >> 11) as f64;
            let e = -70 + (next() % 35) as i32;
            let sign = if next() & 1 == 0 { 1.0 } else { -1.0 };
            sign * m * 2f64.powi(e)
        })
        .collect()
}

fn exact_sum(x: &[f64]) -> f64 {
    let fixed: i128 = x.iter().map(|&v| (v * 2f64.powi(70)) as i128).sum();
    fixed as f64 * 2f64.powi(-70)
}

#[test]
fn float_sum_is_numpy_pairwise_within_a_block() {
    for n in [1, 7, 8, 9, 127, 128, 129, 300, 512] {
        let x = Array1::from(wide_range(n, n as u64));
        let r = evaluate("sum(x)", &Vars::new().with("x", &x)).unwrap();
        assert_eq!(
            values(&r),
            vec![V::F(0.0 + numpy_pairwise(x.as_slice().unwrap()))],
            "n={n}"
        );
    }
    let m = Array2::from_shape_vec((5, 300), wide_range(1500, 9)).unwrap();
    let r = evaluate("sum(m, axis=-1)", &Vars::new().with("m", &m)).unwrap();
    let want: Vec<V> = m
        .rows()
        .into_iter()
        .map(|r| V::F(0.0 + numpy_pairwise(r.as_slice().unwrap())))
        .collect();
    assert_eq!(values(&r), want);
}

/// `sum` of a block of `block` values run with that block size (one unit: NumPy's order).
fn sum_in_one_block(src: &str, vars: &Vars, block: usize) -> Array {
    let expr = Expr::compile(src, &vars.signature()).unwrap();
    let opts = RunOptions {
        block: Some(block),
        threads: Some(1),
        ..RunOptions::default()
    };
    eval_program(expr.program(), vars, &opts).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn float_sum_is_numpy_pairwise_for_every_leaf_count() {
    // Runs of 128 * 2^k values are summed in one loop with the leaves added afterwards; the
    // other lengths by NumPy's recursion: both must be NumPy's order.
    for n in [128, 136, 256, 384, 512, 640, 1024, 2048, 2056, 4096, 8192] {
        let x = Array1::from(wide_range(n, 1000 + n as u64));
        let want = vec![V::F(0.0 + numpy_pairwise(x.as_slice().unwrap()))];
        let got = sum_in_one_block("sum(x)", &Vars::new().with("x", &x), n);
        assert_eq!(values(&got), want, "n={n}");
    }
}

#[test]
fn sums_of_products_are_numpy_pairwise_of_the_rounded_products() {
    // `sum(a*b)` folds the multiply's operands without writing the products: each product is
    // still rounded on its own (no fused multiply-add), and summed in NumPy's order.
    let sizes = [
        1, 7, 8, 9, 127, 128, 129, 300, 511, 512, 513, 1000, 2053, 100_003,
    ];
    for (i, &n) in sizes.iter().enumerate() {
        let x = Array1::from(wide_range(n, 2 * i as u64 + 500)).mapv(|v| v * 1e10);
        let y = Array1::from(wide_range(n, 2 * i as u64 + 501)).mapv(|v| v * 3e10);
        let p: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
        let d: Vec<f64> = x.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).collect();
        let xs: Vec<f64> = x.iter().map(|a| a * 2.5).collect();
        let vars = Vars::new().with("x", &x).with("y", &y);
        let pairwise_in_block = |v: &[f64], src: &str| {
            let got = sum_in_one_block(src, &vars, n);
            assert_eq!(
                values(&got),
                vec![V::F(0.0 + numpy_pairwise(v))],
                "{src} n={n}"
            );
        };
        pairwise_in_block(&p, "sum(x*y)");
        pairwise_in_block(&d, "sum((x-y)**2)");
        pairwise_in_block(&xs, "sum(x*2.5)");
        pairwise_in_block(&xs, "sum(2.5*x)");
        // Over several blocks and threads: the same as summing the products themselves.
        let pa = Array1::from(p.clone());
        let whole = evaluate("sum(p)", &Vars::new().with("p", &pa)).unwrap();
        assert_eq!(
            values(&evaluate("sum(x*y)", &vars).unwrap()),
            values(&whole),
            "n={n}"
        );
        let m = evaluate("mean(x*y)", &vars).unwrap();
        let V::F(total) = values(&whole)[0] else {
            panic!()
        };
        assert_eq!(values(&m), vec![V::F(total / n as f64)], "mean n={n}");
    }
    // float32: products rounded to float32, summed in float32.
    let x = Array1::from(wide_range(700, 7)).mapv(|v| (v * 1e12) as f32);
    let y = Array1::from(wide_range(700, 8)).mapv(|v| (v * 1e11) as f32);
    let p: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let pa = Array1::from(p);
    let vars = Vars::new().with("x", &x).with("y", &y);
    assert_eq!(
        values(&evaluate("sum(x*y)", &vars).unwrap()),
        values(&evaluate("sum(p)", &Vars::new().with("p", &pa)).unwrap())
    );
    // Special values: -0.0 products sum to 0.0 (NumPy adds the identity), NaN and inf pass.
    let z = Array1::from(vec![-0.0f64; 40]);
    let one = Array1::from(vec![1.0f64; 40]);
    let got = evaluate("sum(z*o)", &Vars::new().with("z", &z).with("o", &one)).unwrap();
    assert_eq!(values(&got), vec![V::F(0.0)]);
    let V::F(v) = values(&got)[0] else { panic!() };
    assert!(v.is_sign_positive());
    let mut w = vec![1.0f64; 600];
    w[3] = f64::INFINITY;
    let w = Array1::from(w);
    let got = evaluate(
        "sum(w*o)",
        &Vars::new()
            .with("w", &w)
            .with("o", &Array1::from(vec![0.0f64; 600])),
    )
    .unwrap();
    let V::F(v) = values(&got)[0] else { panic!() };
    assert!(v.is_nan(), "inf * 0 is NaN");
}

#[test]
fn sums_of_products_over_views_axes_and_broadcasts() {
    // The factors of the folded multiply come from every operand kind: strided and reversed
    // views (gathered), a broadcast column (one value per row), a scalar variable, registers.
    let m = Array2::from_shape_vec((6, 500), wide_range(3000, 31)).unwrap();
    let col = Array2::from_shape_vec((6, 1), wide_range(6, 32)).unwrap();
    let row = Array1::from(wide_range(500, 33));
    let rev = Array1::from(wide_range(1000, 34));
    let vars = Vars::new()
        .with("m", &m)
        .with("c", &col)
        .with("r", &row)
        .with("v", rev.slice(s![..;-2]))
        .with("k", 1.75f64);
    let reference = |f: &dyn Fn(usize, usize) -> f64| -> Vec<Vec<f64>> {
        (0..6)
            .map(|i| (0..500).map(|j| f(i, j)).collect())
            .collect()
    };
    let cases: Vec<(&str, Vec<Vec<f64>>)> = vec![
        ("m*c", reference(&|i, j| m[[i, j]] * col[[i, 0]])),
        ("c*m", reference(&|i, j| col[[i, 0]] * m[[i, j]])),
        ("m*r", reference(&|i, j| m[[i, j]] * row[j])),
        ("m*v", reference(&|i, j| m[[i, j]] * rev[999 - 2 * j])),
        ("m*k", reference(&|i, j| m[[i, j]] * 1.75)),
        (
            "(m+r)*(m-c)",
            reference(&|i, j| (m[[i, j]] + row[j]) * (m[[i, j]] - col[[i, 0]])),
        ),
    ];
    for (e, want) in cases {
        // Along the rows (one block each): one run per output element, NumPy's pairwise sum.
        let got = evaluate(&format!("sum({e}, axis=1)"), &vars).unwrap();
        let expect: Vec<V> = want.iter().map(|r| V::F(0.0 + numpy_pairwise(r))).collect();
        assert_eq!(values(&got), expect, "sum({e}, axis=1)");
        // All of it (blocks partitioned as the plan merges the operands' axes): within the
        // pairwise bound of a compensated sum of the products.
        let (mut sum, mut comp, mut abs) = (0.0f64, 0.0f64, 0.0f64);
        for &p in want.iter().flatten() {
            let t = sum + p;
            comp += if sum.abs() >= p.abs() {
                (sum - t) + p
            } else {
                (p - t) + sum
            };
            sum = t;
            abs += p.abs();
        }
        let V::F(got) = values(&evaluate(&format!("sum({e})"), &vars).unwrap())[0] else {
            panic!()
        };
        let bound = 16.0 * f64::EPSILON * abs;
        assert!(
            (got - (sum + comp)).abs() <= bound,
            "sum({e}): {got} vs {}",
            sum + comp
        );
    }
}

#[test]
fn float_sum_error_is_within_pairwise_bounds() {
    let n = 1_000_000;
    let x = Array1::from(wide_range(n, 42));
    let exact = exact_sum(x.as_slice().unwrap());
    let abs: f64 = x.iter().map(|v| v.abs()).sum();
    let r = evaluate("sum(x)", &Vars::new().with("x", &x)).unwrap();
    let V::F(got) = values(&r)[0] else { panic!() };
    let err = (got - exact).abs();
    // Pairwise: at most ~(16 + log2 n)·ε·Σ|x| (16 sequential adds per leaf accumulator).
    let bound = (16.0 + (n as f64).log2()) * f64::EPSILON / 2.0 * abs;
    assert!(err <= bound, "error {err:e} above {bound:e}");
    // And in practice much closer (random signs): compare with a sequential sum's error.
    let seq: f64 = x.iter().sum();
    assert!(
        err <= (seq - exact).abs().max(abs * 1e-15),
        "pairwise {err:e} vs sequential {:e}",
        (seq - exact).abs()
    );
    // mean, too.
    let r = evaluate("mean(x)", &Vars::new().with("x", &x)).unwrap();
    let V::F(m) = values(&r)[0] else { panic!() };
    assert!((m - exact / n as f64).abs() <= bound / n as f64 + (exact / n as f64).abs() * 1e-15);
}

/// Reductions over an outer axis (`axis=0` of C order, the last axis of Fortran order) add
/// whole rows into accumulators, one row after another within chunks of consecutive rows whose
/// sums are then added pairwise. Whatever the chunks, every summation tree of R terms built
/// that way has a height of at most R - 1, so the error of each result is at most
/// γ(R-1)·Σ|x| (γ(k) = k·u / (1 - k·u), u = 2^-53): checked against the exact sum of each
/// lane, for every thread count, which must all give the same bits.
#[test]
fn outer_axis_sums_are_within_the_sequential_bound() {
    let u = 2f64.powi(-53);
    let cases: [(&[usize], usize, bool); 7] = [
        (&[4, 70000], 0, false),
        (&[1000, 600], 0, false),
        (&[64, 20000], 0, false),
        (&[600, 1000], 1, true),
        (&[5, 300, 700], 1, false),
        (&[300, 5, 700], 0, false),
        (&[2, 3000], 0, false),
    ];
    for (i, &(shape, axis, fortran)) in cases.iter().enumerate() {
        let n: usize = shape.iter().product();
        let x = ArrayD::from_shape_vec(IxDyn(shape).set_f(fortran), wide_range(n, 70 + i as u64))
            .unwrap();
        let vars = Vars::new().with("x", &x);
        let expr = Expr::compile(&format!("sum(x, axis={axis})"), &vars.signature()).unwrap();
        let run = |t| {
            let opts = RunOptions {
                threads: Some(t),
                parallel_work: 0,
                ..RunOptions::default()
            };
            eval_program(expr.program(), &vars, &opts).unwrap()
        };
        let got = values(&run(1));
        let r = shape[axis];
        let gamma = (r - 1) as f64 * u / (1.0 - (r - 1) as f64 * u);
        let lanes: Vec<Vec<f64>> = x
            .lanes(Axis(axis))
            .into_iter()
            .map(|l| l.to_vec())
            .collect();
        assert_eq!(got.len(), lanes.len());
        for (k, (g, lane)) in got.iter().zip(&lanes).enumerate() {
            let V::F(g) = *g else { panic!() };
            let exact = exact_sum(lane);
            let abs: f64 = lane.iter().map(|v| v.abs()).sum();
            assert!(
                (g - exact).abs() <= gamma * abs,
                "{shape:?} axis {axis} lane {k}: {g:e} vs exact {exact:e}, bound {:e}",
                gamma * abs
            );
        }
        for t in [2, 4] {
            let other = values(&run(t));
            let same = got.iter().zip(&other).all(|(a, b)| match (a, b) {
                (V::F(a), V::F(b)) => a.to_bits() == b.to_bits(),
                _ => false,
            });
            assert!(same, "{shape:?} axis {axis}: {t} threads differ from 1");
        }
    }
}

#[test]
fn results_are_identical_for_every_thread_count() {
    let a = Array1::from(wide_range(700_001, 3));
    let b = Array1::from(wide_range(700_001, 4));
    let m = Array2::from_shape_vec((700, 1000), wide_range(700_000, 5)).unwrap();
    let mt = m.t();
    let mi = Array2::from_shape_vec((700, 1000), lcg(700_000, 6)).unwrap();
    // Wide rows: an outer-axis reduction in one chunk, split over the columns.
    let w = Array2::from_shape_vec((10, 70_000), wide_range(700_000, 7)).unwrap();
    let vars = Vars::new()
        .with("w", &w)
        .with("a", &a)
        .with("b", &b)
        .with("m", &m)
        .with("mt", mt)
        .with("mi", &mi);
    for src in [
        "sum(a*b)",
        "mean(a)",
        "prod(a*0 + 1.0000001)",
        "min(a)",
        "argmax(a)",
        "argmin(mt)",
        "any(a > 0.5)",
        "a - mean(a)",
        "sum(a - mean(a))",
        "sum(m, axis=0)",
        "sum(m, axis=1)",
        "mean(mt, axis=0)",
        "max(mt, axis=-1)",
        "sum(mi, axis=0)",
        "mean(w, axis=0)",
        "min(w*2, axis=0)",
        "prod(w*0 + 1.0000001, axis=0)",
        "max(w - 1, axis=-2)",
    ] {
        let expr = Expr::compile(src, &vars.signature()).unwrap();
        let run = |t| {
            let opts = RunOptions {
                threads: Some(t),
                parallel_work: 0,
                ..RunOptions::default()
            };
            eval_program(expr.program(), &vars, &opts).unwrap_or_else(|e| panic!("{src}: {e}"))
        };
        let one = run(1);
        for t in [2, 4] {
            let r = run(t);
            let same = values(&one)
                .iter()
                .zip(values(&r))
                .all(|(x, y)| match (x, y) {
                    (V::F(x), V::F(y)) => x.to_bits() == y.to_bits(),
                    (x, y) => *x == y,
                });
            assert!(
                same && one.shape() == r.shape(),
                "{src}: {t} threads differ from 1"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reductions inside expressions.

#[test]
fn full_reductions_inside_expressions() {
    let a = Array1::from(wide_range(5000, 11));
    let b = Array2::from_shape_vec((3, 4), (0..12).map(|i| i as f64).collect()).unwrap();
    let c = Array1::from(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
    let vars = Vars::new().with("a", &a).with("b", &b).with("c", &c);
    let f64s = |src: &str| {
        let r = evaluate(src, &vars).unwrap_or_else(|e| panic!("{src}: {e}"));
        (r.shape().to_vec(), r.into_f64().unwrap())
    };
    let mean = exact_sum(a.as_slice().unwrap()) / a.len() as f64;
    let (shape, r) = f64s("a - mean(a)");
    assert_eq!(shape, vec![5000]);
    for (x, y) in r.iter().zip(&a) {
        assert!((x - (y - mean)).abs() <= 1e-12 * mean.abs().max(y.abs()));
    }
    let (min, max) = c
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let (_, r) = f64s("(c - min(c)) / (max(c) - min(c))");
    assert_eq!(r, c.mapv(|x| (x - min) / (max - min)).into_dyn());
    let (_, r) = f64s("c / sum(c)");
    assert_eq!(r, c.mapv(|x| x / 127.0).into_dyn());
    // Nested: sum(c - mean(c)), 0 up to rounding.
    let (shape, r) = f64s("sum(c - mean(c))");
    assert_eq!(shape, Vec::<usize>::new());
    assert!(r[[]].abs() < 1e-13);
    let (shape, r) = f64s("sum(c) + 1");
    assert_eq!((shape, r[[]]), (vec![], 128.0));
    // The reduction broadcasts its own variables only: c (7,) never meets b (3, 4).
    let (shape, r) = f64s("b - mean(c)");
    assert_eq!(shape, vec![3, 4]);
    assert_eq!(r, b.mapv(|x| x - 127.0 / 7.0).into_dyn());
    // Axis reduction at the root with a nested full one.
    let (shape, r) = f64s("sum(b - mean(b), axis=0)");
    assert_eq!(shape, vec![4]);
    assert_eq!(r, ndarray::arr1(&[-4.5, -1.5, 1.5, 4.5]).into_dyn());
    // A full reduction's result is a strong 0-d value of its dtype: float32 - mean(float64)
    // is float64 (as NumPy with an np.float64), int8 + sum(int8) is int64.
    let f = Array1::from(vec![1.0f32, 2.0]);
    let i = Array1::from(vec![1i8, 2]);
    let v = Vars::new().with("f", &f).with("i", &i).with("a", &a);
    assert_eq!(evaluate("f - mean(a)", &v).unwrap().dtype(), DType::F64);
    assert_eq!(evaluate("i + sum(i)", &v).unwrap().dtype(), DType::I64);
    assert_eq!(evaluate("f - mean(f)", &v).unwrap().dtype(), DType::F32);
}

#[test]
fn powers_of_reductions_are_numpy_scalar_powers() {
    // NumPy 2.4.6: ndarray.__pow__ takes fast_scalar_power (np.sqrt for `** 0.5`, np.square
    // for `** 2`), a NumPy scalar's `**` is np.power. Values from C99 pow (F.9.4.4): pow(-inf,
    // 0.5) = +inf, pow(-0, 0.5) = +0; np.sqrt gives NaN and -0.
    let a = Array1::from(vec![f64::NEG_INFINITY, 3.0]);
    let z = Array1::from(vec![-0.0f64]);
    let t = Array1::from(vec![true, false]);
    let v = Vars::new().with("a", &a).with("z", &z).with("t", &t);
    let one = |src: &str| evaluate(src, &v).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert_eq!(one("min(a) ** 0.5").into_f64().unwrap()[[]], f64::INFINITY);
    assert!(one("a ** 0.5").into_f64().unwrap()[[0]].is_nan());
    let r = one("min(z) ** 0.5").into_f64().unwrap()[[]];
    assert_eq!(r.to_bits(), 0.0f64.to_bits());
    let r = one("z ** 0.5").into_f64().unwrap()[[0]];
    assert_eq!(r.to_bits(), (-0.0f64).to_bits());
    // bool: the array squares to int8, the scalar powers to int64 (as does `** 3`).
    assert_eq!(one("t ** 2").dtype(), DType::I8);
    assert_eq!(one("t ** 3").dtype(), DType::I64);
    assert_eq!(one("any(t) ** 2").dtype(), DType::I64);
    assert_eq!(one("(any(t) & all(t)) ** 2").dtype(), DType::I64);
    assert_eq!(one("(t & any(t)) ** 2").dtype(), DType::I8);
}

#[test]
fn shared_reductions_run_once() {
    let sig = ndexpr::Signature::new().array("a", DType::F64);
    let d = Expr::compile("(a - min(a)) / (max(a) - min(a))", &sig)
        .unwrap()
        .disassemble();
    assert_eq!(d.matches("ret min.f64").count(), 1, "{d}");
    assert_eq!(d.matches("ret max.f64").count(), 1, "{d}");
    let d = Expr::compile("sum(a - mean(a), axis=-1)", &sig)
        .unwrap()
        .disassemble();
    assert!(
        d.contains("ret mean.f64 r0") && d.contains("ret sum.f64 r0, axis=-1"),
        "{d}"
    );
    let d = Expr::compile("mean(i8)", &ndexpr::Signature::new().array("i8", DType::I8))
        .unwrap()
        .disassemble();
    assert_eq!(d, "r0 = cast.i8.f64 i8\nret mean.f64 r0\n");
}

// ---------------------------------------------------------------------------------------------
// The Rust API: 0-d results, eval_into.

#[test]
fn eval_into_a_reduced_output() {
    let m = Array2::from_shape_fn((30, 700), |(i, j)| (i * 700 + j) as f64);
    let vars = Vars::new().with("m", &m);
    let e = Expr::compile("sum(m, axis=0)", &vars.signature()).unwrap();
    let mut out = Array1::<f64>::zeros(700);
    e.eval_into(&vars, &mut out).unwrap();
    assert_eq!(out, m.sum_axis(Axis(0)));
    // Strided output.
    let mut wide = Array1::<f64>::zeros(1400);
    e.eval_into(&vars, wide.slice_mut(s![..;2])).unwrap();
    assert_eq!(wide.slice(s![..;2]), m.sum_axis(Axis(0)));
    let mut bad = Array1::<f64>::zeros(30);
    let err = e.eval_into(&vars, &mut bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape);
    let e = Expr::compile("sum(m)", &vars.signature()).unwrap();
    let mut out0 = ndarray::arr0(0.0f64);
    e.eval_into(&vars, &mut out0).unwrap();
    assert_eq!(out0[[]], m.sum());
    // Reducing into one of the inputs goes through a temporary.
    let mut x = Array1::from_iter((0..1000).map(|i| i as f64));
    let e = Expr::compile("x - mean(x)", &Vars::new().with("x", &x).signature()).unwrap();
    e.eval_in_place("x", &Vars::new(), &mut x).unwrap();
    assert_eq!(x[0], -499.5);
}

// ---------------------------------------------------------------------------------------------
// Errors, with carets.

#[test]
fn errors_point_at_their_cause() {
    let m = Array2::<f64>::zeros((3, 4));
    let e0 = Array1::<f64>::zeros(0);
    let vars = Vars::new().with("m", &m).with("e", &e0);
    let err = |src: &str| evaluate(src, &vars).expect_err(src);
    let caret = |src: &'static str| {
        let e = err(src);
        let span = e.span().unwrap_or_else(|| panic!("{src}: no span: {e}"));
        (
            e.message().to_string(),
            src[span.start..span.end].to_string(),
            e.to_string(),
        )
    };
    let (msg, at, text) = caret("sum(m, axis=2)");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("axis 2 is out of bounds for array of dimension 2", "2")
    );
    assert!(
        text.contains("sum(m, axis=2)\n") && text.contains("^"),
        "{text}"
    );
    let (msg, at, _) = caret("mean(m, -3)");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("axis -3 is out of bounds for array of dimension 2", "-3")
    );
    let (msg, at, _) = caret("m + sum(m, axis=0)");
    assert!(msg.contains("must be the whole expression"));
    assert_eq!(at, "sum(m, axis=0)");
    let (msg, at, _) = caret("sum(m, axis=m)");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("the axis of a reduction must be an integer literal", "m")
    );
    let (msg, _, _) = caret("sum(m, 0, axis=1)");
    assert!(msg.contains("an expression and an optional axis"), "{msg}");
    let (msg, _, _) = caret("argmin(m, 0)");
    assert!(msg.contains("no axis"), "{msg}");
    let e = err("min(e)");
    assert_eq!(e.kind(), ErrorKind::Value);
    assert_eq!(
        e.message(),
        "zero-size array to reduction operation minimum which has no identity"
    );
    assert_eq!(
        err("argmax(e)").message(),
        "attempt to get argmax of an empty sequence"
    );
    // Empty with an identity.
    let r = evaluate("sum(e) + prod(e) + any(e) + all(e)", &vars).unwrap();
    assert_eq!(values(&r), vec![V::F(2.0)]);
    let r = evaluate("mean(e)", &vars).unwrap();
    assert!(matches!(values(&r)[0], V::F(x) if x.is_nan()));
}
