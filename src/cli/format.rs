//! Printing a result the way NumPy prints it (`numpy.array2string`, which `print(array)` uses),
//! so that `ndexpr eval` output can be compared with NumPy's by eye or by `diff`.
//!
//! This follows NumPy 2.4's `arrayprint.py` with the default print options (line width 75,
//! threshold 1000, 3 edge items, precision 8, float mode `maxprec`, sign `-`): the formatter of
//! each dtype is chosen from the elements that will be shown, as `_get_format_function` does,
//! then `_formatArray`'s line wrapping and nesting is applied. Floats are written from their
//! shortest round-trip digits for their own type (Rust's formatting gives those for `f32` and
//! `f64`; `f16` searches for them), which is what NumPy's Dragon4 `unique` mode produces; digits
//! rounded at a precision are rounded from the exact binary value, as Dragon4 does.
//! A 0-d array prints as `array2string` prints it (`1.`), not as `str` of a NumPy scalar (`1.0`).

use half::f16;
use ndarray::{ArrayViewD, Axis};
use ndexpr::Array;
use num_complex::{Complex32, Complex64};

const LINE_WIDTH: usize = 75;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;
const PRECISION: usize = 8;

/// The array as `numpy.array2string(a)` shows it.
pub fn array2string(a: &Array) -> String {
    match a {
        Array::Bool(v) => render(v.view()),
        Array::I8(v) => render(v.view()),
        Array::I16(v) => render(v.view()),
        Array::I32(v) => render(v.view()),
        Array::I64(v) => render(v.view()),
        Array::U8(v) => render(v.view()),
        Array::U16(v) => render(v.view()),
        Array::U32(v) => render(v.view()),
        Array::U64(v) => render(v.view()),
        Array::F16(v) => render(v.view()),
        Array::F32(v) => render(v.view()),
        Array::F64(v) => render(v.view()),
        Array::C64(v) => render(v.view()),
        Array::C128(v) => render(v.view()),
    }
}

/// A shape as Python writes a tuple: `()`, `(3,)`, `(2, 3)`.
pub fn shape_tuple(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

type Formatter<T> = Box<dyn Fn(T) -> String>;

/// Element types that can be printed: each builds its formatter from the elements shown.
trait Show: Copy + 'static {
    fn formatter(shown: &[Self], zero_d: bool) -> Formatter<Self>;
}

fn render<T: Show>(a: ArrayViewD<'_, T>) -> String {
    if a.is_empty() {
        return "[]".into();
    }
    let summarise = a.len() > THRESHOLD;
    let mut shown = Vec::new();
    collect_shown(&a, summarise, &mut shown);
    let f = T::formatter(&shown, a.ndim() == 0);
    let summary = if summarise { "..." } else { "" };
    recurse(&a, &f, " ", LINE_WIDTH, summary)
}

/// The elements `_leading_trailing` keeps: along each axis longer than twice the edge items,
/// only the first and last few.
fn collect_shown<T: Copy>(a: &ArrayViewD<'_, T>, summarise: bool, out: &mut Vec<T>) {
    if a.ndim() == 0 {
        out.push(*a.first().expect("0-d arrays have one element"));
        return;
    }
    let n = a.shape()[0];
    let indices: Vec<usize> = if summarise && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS).chain(n - EDGE_ITEMS..n).collect()
    } else {
        (0..n).collect()
    };
    for i in indices {
        collect_shown(&a.index_axis(Axis(0), i), summarise, out);
    }
}

/// NumPy's `_extendLine` (the one-line-word case of `_extendLine_pretty`).
fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, prefix: &str) {
    let needs_wrap = line.len() + word.len() > width && line.len() > prefix.len();
    if needs_wrap {
        s.push_str(line.trim_end());
        s.push('\n');
        *line = prefix.to_string();
    }
    line.push_str(word);
}

/// NumPy's `_formatArray` recursion, with separator `' '`.
fn recurse<T: Copy>(
    a: &ArrayViewD<'_, T>,
    f: &Formatter<T>,
    hanging: &str,
    width: usize,
    summary: &str,
) -> String {
    if a.ndim() == 0 {
        return f(*a.first().expect("one element"));
    }
    let next_hanging = format!("{hanging} ");
    let next_width = width.saturating_sub(1);
    let n = a.shape()[0];
    let show_summary = !summary.is_empty() && 2 * EDGE_ITEMS < n;
    let (leading, trailing) = if show_summary {
        (EDGE_ITEMS, EDGE_ITEMS)
    } else {
        (0, n)
    };
    let item = |i: usize| {
        recurse(
            &a.index_axis(Axis(0), i),
            f,
            &next_hanging,
            next_width,
            summary,
        )
    };
    let mut s = String::new();
    if a.ndim() == 1 {
        let elem_width = width.saturating_sub(1);
        let mut line = hanging.to_string();
        for i in 0..leading {
            extend_line(&mut s, &mut line, &item(i), elem_width, hanging);
            line.push(' ');
        }
        if show_summary {
            extend_line(&mut s, &mut line, summary, elem_width, hanging);
            line.push(' ');
        }
        for i in (2..=trailing).rev() {
            extend_line(&mut s, &mut line, &item(n - i), elem_width, hanging);
            line.push(' ');
        }
        extend_line(&mut s, &mut line, &item(n - 1), elem_width, hanging);
        s.push_str(&line);
    } else {
        let line_sep = "\n".repeat(a.ndim() - 1);
        for i in 0..leading {
            s.push_str(hanging);
            s.push_str(&item(i));
            s.push_str(&line_sep);
        }
        if show_summary {
            s.push_str(hanging);
            s.push_str(summary);
            s.push_str(&line_sep);
        }
        for i in (2..=trailing).rev() {
            s.push_str(hanging);
            s.push_str(&item(n - i));
            s.push_str(&line_sep);
        }
        s.push_str(hanging);
        s.push_str(&item(n - 1));
    }
    format!("[{}]", &s[hanging.len()..])
}

impl Show for bool {
    fn formatter(_: &[bool], zero_d: bool) -> Formatter<bool> {
        let truestr = if zero_d { "True" } else { " True" };
        Box::new(move |x| if x { truestr } else { "False" }.to_string())
    }
}

macro_rules! show_int {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn formatter(shown: &[$t], _: bool) -> Formatter<$t> {
                let max = shown.iter().copied().max().unwrap_or_default();
                let min = shown.iter().copied().min().unwrap_or_default();
                let width = max.to_string().len().max(min.to_string().len());
                Box::new(move |x| format!("{x:>width$}"))
            }
        }
    )*};
}
show_int!(i8, i16, i32, i64, u8, u16, u32, u64);

/// A float of one of NumPy's float types, held exactly as an `f64`.
#[derive(Debug, Clone, Copy)]
struct Fl {
    x: f64,
    ty: FloatType,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FloatType {
    F16,
    F32,
    F64,
}

impl Fl {
    /// `v` rounded to this value's type (for comparisons NumPy does in the array's dtype).
    fn round(&self, v: f64) -> f64 {
        match self.ty {
            FloatType::F16 => f16::from_f64(v).to_f64(),
            FloatType::F32 => v as f32 as f64,
            FloatType::F64 => v,
        }
    }

    /// The shortest digits that read back as this value in its own type, and the decimal
    /// exponent of the first: `d.ddd × 10^exp` (of the magnitude; finite values only).
    fn shortest(&self) -> (String, i32) {
        let a = self.x.abs();
        // Rust gives the shortest length, but when two digit strings of that length both read
        // back (the value is halfway between them) it may pick either; Dragon4 picks the exact
        // value rounded half to even, so take that one whenever it reads back too.
        let closest = |shortest: String, reads_back: &dyn Fn(&str) -> bool| {
            let (digits, _) = split_exp(&shortest);
            let p = digits.len() - 1;
            let rounded = format!("{a:.p$e}");
            if reads_back(&rounded) {
                rounded
            } else {
                shortest
            }
        };
        let s = match self.ty {
            FloatType::F64 => closest(format!("{a:e}"), &|s| s.parse::<f64>() == Ok(a)),
            FloatType::F32 => closest(format!("{:e}", a as f32), &|s| {
                s.parse::<f32>() == Ok(a as f32)
            }),
            FloatType::F16 => {
                let h = f16::from_f64(a);
                (0..17)
                    .map(|p| format!("{a:.p$e}"))
                    .find(|s| s.parse::<f64>().map(f16::from_f64) == Ok(h))
                    .unwrap_or_else(|| format!("{a:e}"))
            }
        };
        split_exp(&s)
    }

    /// The magnitude rounded (exactly, ties to even) to `digits` digits after the point of
    /// scientific notation.
    fn sci_rounded(&self, digits: usize) -> (String, i32) {
        split_exp(&format!("{:.digits$e}", self.x.abs()))
    }

    /// The magnitude rounded to `digits` digits after the decimal point: (integer, fraction).
    fn pos_rounded(&self, digits: usize) -> (String, String) {
        let s = format!("{:.digits$}", self.x.abs());
        match s.split_once('.') {
            Some((i, f)) => (i.to_string(), f.to_string()),
            None => (s, String::new()),
        }
    }

    fn sign(&self, plus: bool) -> &'static str {
        if self.x.is_sign_negative() {
            "-"
        } else if plus {
            "+"
        } else {
            ""
        }
    }
}

/// `"1.2345e-5"` → (`"12345"`, -5).
fn split_exp(s: &str) -> (String, i32) {
    let (m, e) = s.split_once('e').expect("scientific notation");
    (m.replace('.', ""), e.parse().expect("exponent"))
}

/// Digits `d.ddd × 10^exp` as (integer part, fraction part).
fn positional_parts(digits: &str, exp: i32) -> (String, String) {
    if digits.bytes().all(|b| b == b'0') {
        return ("0".into(), String::new());
    }
    if exp >= 0 {
        let e = exp as usize + 1;
        if digits.len() > e {
            (digits[..e].to_string(), digits[e..].to_string())
        } else {
            (format!("{digits:0<e$}"), String::new())
        }
    } else {
        (
            "0".into(),
            format!("{}{digits}", "0".repeat((-exp - 1) as usize)),
        )
    }
}

/// NumPy's `dragon4_positional(x, unique=True, fractional=True, ...)`.
fn positional(
    v: Fl,
    precision: usize,
    min_digits: usize,
    trim_zeros: bool,
    plus: bool,
    pad_left: usize,
    pad_right: usize,
) -> String {
    let (d, e) = v.shortest();
    let (mut int, mut frac) = positional_parts(&d, e);
    if frac.len() > precision {
        (int, frac) = v.pos_rounded(precision);
    } else if frac.len() < min_digits {
        (int, frac) = v.pos_rounded(min_digits);
    }
    if trim_zeros {
        frac.truncate(frac.trim_end_matches('0').len());
    } else if frac.len() < precision {
        frac = format!("{frac:0<precision$}");
    }
    let left = format!("{}{int}", v.sign(plus));
    format!("{left:>pad_left$}.{frac:<pad_right$}")
}

/// NumPy's `dragon4_scientific(x, unique=True, ...)`.
fn scientific(
    v: Fl,
    precision: usize,
    min_digits: usize,
    trim_zeros: bool,
    plus: bool,
    pad_left: usize,
    exp_digits: usize,
) -> String {
    let (mut d, mut e) = v.shortest();
    if d.len() - 1 > precision {
        (d, e) = v.sci_rounded(precision);
    } else if d.len() - 1 < min_digits {
        (d, e) = v.sci_rounded(min_digits);
    }
    let mut frac = d[1..].to_string();
    if trim_zeros {
        frac.truncate(frac.trim_end_matches('0').len());
    } else if frac.len() < precision {
        frac = format!("{frac:0<precision$}");
    }
    let left = format!("{}{}", v.sign(plus), &d[..1]);
    let exp_sign = if e < 0 { '-' } else { '+' };
    let exp_digits = exp_digits.max(1);
    format!(
        "{left:>pad_left$}.{frac}e{exp_sign}{:0>exp_digits$}",
        e.unsigned_abs()
    )
}

/// NumPy's `FloatingFormat` with the default options (`sign='+'` for imaginary parts).
struct FloatFormat {
    exp_format: bool,
    pad_left: usize,
    pad_right: usize,
    precision: usize,
    min_digits: usize,
    trim_zeros: bool,
    exp_size: usize,
    plus: bool,
}

impl FloatFormat {
    fn new(data: &[Fl], plus: bool) -> FloatFormat {
        let finite: Vec<Fl> = data.iter().copied().filter(|v| v.x.is_finite()).collect();
        let mut f = FloatFormat {
            exp_format: false,
            pad_left: 0,
            pad_right: 0,
            precision: PRECISION,
            min_digits: 0,
            trim_zeros: true,
            exp_size: 2,
            plus,
        };
        let nonzero: Vec<f64> = finite
            .iter()
            .map(|v| v.x.abs())
            .filter(|&x| x != 0.0)
            .collect();
        if let Some(v) = finite.first() {
            if !nonzero.is_empty() {
                let max = nonzero.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let min = nonzero.iter().copied().fold(f64::INFINITY, f64::min);
                // 10**min(8, finfo(dtype).precision), compared in the array's dtype.
                let cutoff = match v.ty {
                    FloatType::F16 => 1e3,
                    FloatType::F32 => 1e6,
                    FloatType::F64 => 1e8,
                };
                f.exp_format = max >= cutoff || min < v.round(1e-4) || v.round(max / min) > 1000.0;
            }
        }
        if finite.is_empty() {
            // pad_left = pad_right = 0, as NumPy.
        } else if f.exp_format {
            let strs: Vec<String> = finite
                .iter()
                .map(|&v| scientific(v, PRECISION, 0, true, plus, 0, 2))
                .collect();
            let mut int_len = 0;
            let mut frac_len = 0;
            let mut exp_len = 0;
            for s in &strs {
                let (mantissa, exp) = s.split_once('e').expect("an exponent");
                let (int, frac) = mantissa.split_once('.').expect("a point");
                int_len = int_len.max(int.len());
                frac_len = frac_len.max(frac.len());
                exp_len = exp_len.max(exp.len());
            }
            f.exp_size = exp_len - 1;
            f.trim_zeros = false;
            f.precision = frac_len;
            f.min_digits = frac_len;
            f.pad_left = int_len;
            f.pad_right = f.exp_size + 2 + f.precision;
        } else {
            for &v in &finite {
                let s = positional(v, PRECISION, 0, true, plus, 0, 0);
                let (int, frac) = s.split_once('.').expect("a point");
                f.pad_left = f.pad_left.max(int.len());
                f.pad_right = f.pad_right.max(frac.len());
            }
        }
        if finite.len() != data.len() {
            let neginf = plus || data.iter().any(|v| v.x == f64::NEG_INFINITY);
            let offset = f.pad_right as isize + 1;
            let need = (3 + neginf as isize - offset).max(3 - offset);
            f.pad_left = f.pad_left.max(need.max(0) as usize);
        }
        f
    }

    fn format(&self, v: Fl) -> String {
        if !v.x.is_finite() {
            let ret = if v.x.is_nan() {
                format!("{}nan", if self.plus { "+" } else { "" })
            } else {
                let sign = if v.x < 0.0 {
                    "-"
                } else if self.plus {
                    "+"
                } else {
                    ""
                };
                format!("{sign}inf")
            };
            let width = self.pad_left + self.pad_right + 1;
            return format!("{ret:>width$}");
        }
        if self.exp_format {
            scientific(
                v,
                self.precision,
                self.min_digits,
                self.trim_zeros,
                self.plus,
                self.pad_left,
                self.exp_size,
            )
        } else {
            positional(
                v,
                self.precision,
                self.min_digits,
                self.trim_zeros,
                self.plus,
                self.pad_left,
                self.pad_right,
            )
        }
    }
}

macro_rules! show_float {
    ($t:ty, $ty:ident, $to_f64:expr) => {
        impl Show for $t {
            fn formatter(shown: &[$t], _: bool) -> Formatter<$t> {
                let fl = |x: $t| Fl {
                    x: $to_f64(x),
                    ty: FloatType::$ty,
                };
                let vals: Vec<Fl> = shown.iter().map(|&x| fl(x)).collect();
                let f = FloatFormat::new(&vals, false);
                Box::new(move |x| f.format(fl(x)))
            }
        }
    };
}
show_float!(f16, F16, |x: f16| x.to_f64());
show_float!(f32, F32, |x: f32| x as f64);
show_float!(f64, F64, |x: f64| x);

macro_rules! show_complex {
    ($t:ty, $ty:ident) => {
        impl Show for $t {
            fn formatter(shown: &[$t], _: bool) -> Formatter<$t> {
                let fl = |x| Fl {
                    x: x as f64,
                    ty: FloatType::$ty,
                };
                let re: Vec<Fl> = shown.iter().map(|z| fl(z.re)).collect();
                let im: Vec<Fl> = shown.iter().map(|z| fl(z.im)).collect();
                let (re, im) = (FloatFormat::new(&re, false), FloatFormat::new(&im, true));
                Box::new(move |z| {
                    let r = re.format(fl(z.re));
                    let i = im.format(fl(z.im));
                    let sp = i.trim_end().len();
                    format!("{r}{}j{}", &i[..sp], &i[sp..])
                })
            }
        }
    };
}
show_complex!(Complex32, F32);
show_complex!(Complex64, F64);

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ArrayD, IxDyn};

    fn f64s(v: &[f64]) -> String {
        array2string(&Array::F64(
            ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap(),
        ))
    }

    // Expected strings are NumPy 2.4.6's `print(np.array(...))`.
    #[test]
    fn floats_like_numpy() {
        assert_eq!(f64s(&[1.0, 2.5, -3.0]), "[ 1.   2.5 -3. ]");
        assert_eq!(f64s(&[1e-5, 1.5]), "[1.0e-05 1.5e+00]");
        assert_eq!(f64s(&[0.1 + 0.2, 1.0 / 3.0]), "[0.3        0.33333333]");
        assert_eq!(
            f64s(&[f64::NAN, 1.0, f64::NEG_INFINITY]),
            "[ nan   1. -inf]"
        );
        assert_eq!(f64s(&[1e-5, 1e100]), "[1.e-005 1.e+100]");
        assert_eq!(f64s(&[0.0, -0.0]), "[ 0. -0.]");
        assert_eq!(
            array2string(&Array::F32(array![0.1f32, 1e6].into_dyn())),
            "[1.e-01 1.e+06]"
        );
        assert_eq!(
            array2string(&Array::F16(
                array![f16::from_f64(0.1), f16::from_f64(2.0)].into_dyn()
            )),
            "[0.1 2. ]"
        );
        // Halfway between two shortest candidates: Dragon4 rounds half to even.
        assert_eq!(
            array2string(&Array::F32(array![1_289_782.0f32 + 0.25].into_dyn())),
            "[1.2897822e+06]"
        );
    }

    #[test]
    fn other_dtypes_like_numpy() {
        assert_eq!(
            array2string(&Array::Bool(array![true, false].into_dyn())),
            "[ True False]"
        );
        assert_eq!(
            array2string(&Array::I64(array![[1i64, -20], [300, 4]].into_dyn())),
            "[[  1 -20]\n [300   4]]"
        );
        assert_eq!(
            array2string(&Array::C128(
                array![Complex64::new(1.0, 2.0), Complex64::new(3.0, -4.5)].into_dyn()
            )),
            "[1.+2.j  3.-4.5j]"
        );
        assert_eq!(
            array2string(&Array::F64(ArrayD::from_elem(IxDyn(&[]), 1.0))),
            "1."
        );
        assert_eq!(
            array2string(&Array::F64(ArrayD::zeros(IxDyn(&[0, 3])))),
            "[]"
        );
    }

    #[test]
    fn wraps_and_summarises_like_numpy() {
        let a = Array::I64(ndarray::Array1::from_iter(0..2000i64).into_dyn());
        assert_eq!(array2string(&a), "[   0    1    2 ... 1997 1998 1999]");
        let a = Array::I64(ndarray::Array1::from_iter(0..30i64).into_dyn());
        assert_eq!(
            array2string(&a),
            "[ 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21 22 23\n 24 25 26 27 28 29]"
        );
        // np.arange(24.).reshape(2, 3, 4) / 7
        let a = ndarray::Array::from_iter((0..24).map(|i| i as f64 / 7.0))
            .into_shape_with_order(IxDyn(&[2, 3, 4]))
            .unwrap();
        assert_eq!(
            array2string(&Array::F64(a)),
            "[[[0.         0.14285714 0.28571429 0.42857143]\n  [0.57142857 0.71428571 0.85714286 1.        ]\n  [1.14285714 1.28571429 1.42857143 1.57142857]]\n\n [[1.71428571 1.85714286 2.         2.14285714]\n  [2.28571429 2.42857143 2.57142857 2.71428571]\n  [2.85714286 3.         3.14285714 3.28571429]]]"
        );
        // np.arange(3000.).reshape(30, 100): summarised rows and columns, exponent format.
        let a = ndarray::Array::from_iter((0..3000).map(|i| i as f64))
            .into_shape_with_order(IxDyn(&[30, 100]))
            .unwrap();
        assert_eq!(
            array2string(&Array::F64(a)),
            "[[0.000e+00 1.000e+00 2.000e+00 ... 9.700e+01 9.800e+01 9.900e+01]\n [1.000e+02 1.010e+02 1.020e+02 ... 1.970e+02 1.980e+02 1.990e+02]\n [2.000e+02 2.010e+02 2.020e+02 ... 2.970e+02 2.980e+02 2.990e+02]\n ...\n [2.700e+03 2.701e+03 2.702e+03 ... 2.797e+03 2.798e+03 2.799e+03]\n [2.800e+03 2.801e+03 2.802e+03 ... 2.897e+03 2.898e+03 2.899e+03]\n [2.900e+03 2.901e+03 2.902e+03 ... 2.997e+03 2.998e+03 2.999e+03]]"
        );
    }
}
