//! Accuracy of the vectorised float functions (`src/kernels/math`), through the kernels the VM
//! runs (`kernels::lookup_for`, so the drivers' exact second pass is exercised too), at the
//! baseline level (plain multiplies and adds) and at the best level this CPU has, which uses
//! fused multiply-adds and so rounds differently.
//!
//! Reference: float32, Rust's `std` (glibc) in float64, which is far more precise than a
//! float32 ulp, and the error is measured against that unrounded value; float64, `std` itself
//! (glibc: under 1 ulp for most of these, 2 for a few), so the bound is 3 ulp from `std`
//! (`asinh`/`acosh`/`atanh`: glibc's, called directly, as Rust's own are inaccurate). NaN-ness,
//! infinities and zeros (with their sign) must match the reference exactly.
//!
//! `cargo test --test ulp -- --nocapture` prints the README's table.

use ndexpr::bytecode::Op;
use ndexpr::kernels::{lookup, lookup_for, Isa, KernelFn};
use ndexpr::DType;

// Rust's `f64::asinh`/`acosh`/`atanh` are its own short formulas (inaccurate near 1, overflowing
// for huge arguments), not libm's: the reference calls glibc's, as NumPy does.
extern "C" {
    fn asinh(x: f64) -> f64;
    fn acosh(x: f64) -> f64;
    fn atanh(x: f64) -> f64;
}

fn libm_asinh(x: f64) -> f64 {
    // SAFETY: a pure libm function.
    unsafe { asinh(x) }
}
fn libm_acosh(x: f64) -> f64 {
    // SAFETY: a pure libm function.
    unsafe { acosh(x) }
}
fn libm_atanh(x: f64) -> f64 {
    // SAFETY: a pure libm function.
    unsafe { atanh(x) }
}

/// A deterministic xorshift generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in the bit pattern between `lo` and `hi` (same sign, or one of them zero).
    fn bits_between(&mut self, lo: f64, hi: f64) -> f64 {
        let neg = lo < 0.0 || hi < 0.0;
        let (a, b) = (lo.abs().to_bits(), hi.abs().to_bits());
        let (a, b) = (a.min(b), a.max(b));
        let v = f64::from_bits(a + self.next() % (b - a + 1));
        if neg {
            -v
        } else {
            v
        }
    }
}

/// Draws one pair of operands.
type Pairs = fn(&mut Rng) -> (f64, f64);

/// sin, cos and tan: tiny arguments, the Cody-Waite range, and beyond it (the exact pass).
const TRIG_RANGES: &[(f64, f64)] = &[
    (1e-300, 1e-8),
    (-1e-300, -1e-8),
    (1e-8, 10.0),
    (-1e-8, -10.0),
    (10.0, 1.6e6),
    (-10.0, -1.6e6),
    (1.6e6, 1e308),
];

/// One function: its op, arity, `std` reference and the ranges its random points come from.
struct Case {
    op: Op,
    name: &'static str,
    reference: fn(f64, f64) -> f64,
    /// Ranges of the first operand (bit-uniform); for binary functions, see `pairs`.
    ranges: &'static [(f64, f64)],
    /// Extra special arguments of this function.
    special: &'static [f64],
    /// For binary functions, how to draw the pairs.
    pairs: Option<Pairs>,
    ranges_text: &'static str,
}

const SPECIAL: &[f64] = &[
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    1.0,
    -1.0,
    0.5,
    -0.5,
    2.0,
    -2.0,
    f64::MIN_POSITIVE,
    -f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    f64::from_bits(0x000f_ffff_ffff_ffff), // the largest subnormal
    f64::MAX,
    -f64::MAX,
    f32::MIN_POSITIVE as f64,
    1.401298464324817e-45,
    f32::MAX as f64,
    1e-300,
    7.5e-9,
    1e-8,
    5.6e-17,
    20.0,
    22.0,
    710.0,
    709.782712893384,
    709.7827128933841,
    710.4758600739439,
    -745.1332191019411,
    -745.1332191019412,
    -708.3964185322641,
    88.72283905206835,
    89.41598629223294,
    -103.97207708399179,
    -87.3365447505531,
    1024.0,
    -1074.0,
    -1075.0,
    128.0,
    -149.0,
    std::f64::consts::PI,
    std::f64::consts::FRAC_PI_2,
    std::f64::consts::FRAC_PI_4,
    1.6e6,
    1e22,
    268435456.0,
    0.4375,
    0.6875,
];

/// Points of one unary case: specials (with neighbours), then bit-uniform draws.
fn unary_points(c: &Case, n: usize, rng: &mut Rng) -> Vec<f64> {
    let mut v = Vec::with_capacity(n + 4096);
    for &s in SPECIAL.iter().chain(c.special) {
        for x in [s, -s] {
            v.push(x);
            if x.is_finite() {
                let b = x.to_bits();
                for d in 1..4u64 {
                    v.push(f64::from_bits(b.wrapping_add(d)));
                    v.push(f64::from_bits(b.wrapping_sub(d)));
                }
            }
        }
    }
    if matches!(c.op, Op::Sin | Op::Cos | Op::Tan) {
        // Multiples of pi/2 (the doubles nearest to them, and neighbours).
        for k in (1..20000i64).chain((0..2000).map(|i| 1_000_000 + i * 7)) {
            let x = k as f64 * std::f64::consts::FRAC_PI_2;
            for d in -2..=2i64 {
                let y = f64::from_bits((x.to_bits() as i64 + d) as u64);
                v.push(y);
                v.push(-y);
            }
        }
        // Huge arguments (the exact pass).
        for _ in 0..20000 {
            v.push(rng.bits_between(1.6e6, 1e308));
        }
    }
    let per = (n - v.len().min(n)) / c.ranges.len() + 1;
    for &(lo, hi) in c.ranges {
        for _ in 0..per {
            v.push(rng.bits_between(lo, hi));
        }
    }
    v
}

fn binary_points(c: &Case, n: usize, rng: &mut Rng) -> (Vec<f64>, Vec<f64>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let grid = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        3.0,
        -3.0,
        2.5,
        -2.5,
        5e-324,
        -5e-324,
        f64::MAX,
        -f64::MAX,
        1e300,
        1e-300,
        9007199254740993.0,
        -9007199254740991.0,
        4503599627370497.0,
        1.0 + f64::EPSILON,
        1.0 - f64::EPSILON / 2.0,
        1024.0,
        -1075.0,
    ];
    for &x in &grid {
        for &y in &grid {
            a.push(x);
            b.push(y);
        }
    }
    let draw = c.pairs.unwrap();
    while a.len() < n {
        let (x, y) = draw(rng);
        a.push(x);
        b.push(y);
    }
    (a, b)
}

fn sign_or_zero(rng: &mut Rng) -> f64 {
    if rng.next() & 1 == 0 {
        1.0
    } else {
        -1.0
    }
}

fn pairs_atan2(rng: &mut Rng) -> (f64, f64) {
    match rng.next() % 4 {
        // Ratios around tan(pi/8) = 0.41421356..., where float64's reduction switches.
        3 => {
            let x = sign_or_zero(rng) * rng.bits_between(1e-300, 1e300);
            let t = 0.41421356237309503 * (1.0 + (rng.unit() - 0.5) * 1e-4);
            let y = sign_or_zero(rng) * (x * t).abs();
            if rng.next() & 1 == 0 {
                (y, x)
            } else {
                (x, y)
            }
        }
        0 => (
            sign_or_zero(rng) * rng.bits_between(1e-300, 1e300),
            sign_or_zero(rng) * rng.bits_between(1e-300, 1e300),
        ),
        1 => (
            sign_or_zero(rng) * rng.bits_between(0.1, 10.0),
            sign_or_zero(rng) * rng.bits_between(0.1, 10.0),
        ),
        _ => {
            let x = sign_or_zero(rng) * rng.bits_between(5e-324, 1.7e308);
            (x * (0.5 + rng.unit()), sign_or_zero(rng) * x)
        }
    }
}

fn pairs_power(rng: &mut Rng) -> (f64, f64) {
    match rng.next() % 4 {
        // Results spread over the whole range: x = exp(t/y).
        0 | 1 => {
            let y = sign_or_zero(rng) * rng.bits_between(1e-3, 1e4);
            let t = (rng.unit() * 2.0 - 1.0) * 760.0;
            ((t / y).exp(), y)
        }
        // Negative bases with integral exponents.
        2 => {
            let y = (rng.next() % 200) as f64 - 100.0;
            (-rng.bits_between(0.1, 10.0), y)
        }
        _ => (
            rng.bits_between(5e-324, 1.7e308),
            sign_or_zero(rng) * rng.bits_between(1e-20, 1e3),
        ),
    }
}

fn pairs_hypot(rng: &mut Rng) -> (f64, f64) {
    if rng.next() & 1 == 0 {
        (
            sign_or_zero(rng) * rng.bits_between(5e-324, 1.7e308),
            sign_or_zero(rng) * rng.bits_between(5e-324, 1.7e308),
        )
    } else {
        let x = rng.bits_between(1e-310, 1e307);
        (x, sign_or_zero(rng) * x * rng.unit() * 3.0)
    }
}

const CASES: &[Case] = &[
    Case {
        op: Op::Exp,
        name: "exp",
        reference: |x, _| x.exp(),
        ranges: &[(1e-300, 1.0), (-1e-300, -1.0), (1.0, 760.0), (-1.0, -760.0)],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1], ±[1, 760]",
    },
    Case {
        op: Op::Exp2,
        name: "exp2",
        reference: |x, _| x.exp2(),
        ranges: &[
            (1e-300, 1.0),
            (-1e-300, -1.0),
            (1.0, 1100.0),
            (-1.0, -1100.0),
        ],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1], ±[1, 1100]",
    },
    Case {
        op: Op::Expm1,
        name: "expm1",
        reference: |x, _| x.exp_m1(),
        ranges: &[
            (1e-300, 1e-5),
            (-1e-300, -1e-5),
            (1e-5, 1.0),
            (-1e-5, -1.0),
            (1.0, 760.0),
            (-1.0, -760.0),
        ],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1e-5], ±[1e-5, 1], ±[1, 760]",
    },
    Case {
        op: Op::Log,
        name: "log",
        reference: |x, _| x.ln(),
        ranges: &[(5e-324, f64::MAX), (0.5, 2.0), (-5e-324, -f64::MAX)],
        special: &[],
        pairs: None,
        ranges_text: "(0, max], [0.5, 2], negatives",
    },
    Case {
        op: Op::Log2,
        name: "log2",
        reference: |x, _| x.log2(),
        ranges: &[(5e-324, f64::MAX), (0.5, 2.0), (-5e-324, -f64::MAX)],
        special: &[],
        pairs: None,
        ranges_text: "(0, max], [0.5, 2], negatives",
    },
    Case {
        op: Op::Log10,
        name: "log10",
        reference: |x, _| x.log10(),
        ranges: &[(5e-324, f64::MAX), (0.5, 2.0), (-5e-324, -f64::MAX)],
        special: &[],
        pairs: None,
        ranges_text: "(0, max], [0.5, 2], negatives",
    },
    Case {
        op: Op::Log1p,
        name: "log1p",
        reference: |x, _| x.ln_1p(),
        ranges: &[
            (5e-324, f64::MAX),
            (1e-20, 2.0),
            (-5e-324, -1.0),
            (-0.25, -1.0),
            (-1.0, -1e10),
        ],
        special: &[],
        pairs: None,
        ranges_text: "(0, max], [1e-20, 2], [-1, 0), < -1",
    },
    Case {
        op: Op::Sin,
        name: "sin",
        reference: |x, _| x.sin(),
        ranges: TRIG_RANGES,
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 10], ±[10, 1.6e6], [1.6e6, 1e308], k·π/2 ± 2 ulp",
    },
    Case {
        op: Op::Cos,
        name: "cos",
        reference: |x, _| x.cos(),
        ranges: TRIG_RANGES,
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 10], ±[10, 1.6e6], [1.6e6, 1e308], k·π/2 ± 2 ulp",
    },
    Case {
        op: Op::Tan,
        name: "tan",
        reference: |x, _| x.tan(),
        ranges: TRIG_RANGES,
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 10], ±[10, 1.6e6], [1.6e6, 1e308], k·π/2 ± 2 ulp",
    },
    Case {
        op: Op::Arcsin,
        name: "arcsin",
        reference: |x, _| x.asin(),
        ranges: &[
            (1e-300, 1.0),
            (-1e-300, -1.0),
            (0.9, 1.0),
            (-0.9, -1.0),
            (1.0, 1e10),
        ],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1], ±[0.9, 1], > 1",
    },
    Case {
        op: Op::Arccos,
        name: "arccos",
        reference: |x, _| x.acos(),
        ranges: &[
            (1e-300, 1.0),
            (-1e-300, -1.0),
            (0.9, 1.0),
            (-0.9, -1.0),
            (1.0, 1e10),
        ],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1], ±[0.9, 1], > 1",
    },
    Case {
        op: Op::Arctan,
        name: "arctan",
        reference: |x, _| x.atan(),
        ranges: &[
            (5e-324, f64::MAX),
            (-5e-324, -f64::MAX),
            (0.3, 3.0),
            (-0.3, -3.0),
        ],
        special: &[],
        pairs: None,
        ranges_text: "±(0, max], ±[0.3, 3]",
    },
    Case {
        op: Op::Sinh,
        name: "sinh",
        reference: |x, _| x.sinh(),
        ranges: &[(1e-300, 1.0), (-1e-300, -1.0), (1.0, 720.0), (-1.0, -720.0)],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1], ±[1, 720]",
    },
    Case {
        op: Op::Cosh,
        name: "cosh",
        reference: |x, _| x.cosh(),
        ranges: &[(1e-300, 1.0), (-1e-300, -1.0), (1.0, 720.0), (-1.0, -720.0)],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1], ±[1, 720]",
    },
    Case {
        op: Op::Tanh,
        name: "tanh",
        reference: |x, _| x.tanh(),
        ranges: &[(1e-300, 1.0), (-1e-300, -1.0), (1.0, 25.0), (-1.0, -25.0)],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1], ±[1, 25]",
    },
    Case {
        op: Op::Arcsinh,
        name: "arcsinh",
        reference: |x, _| libm_asinh(x),
        ranges: &[
            (5e-324, f64::MAX),
            (-5e-324, -f64::MAX),
            (0.5, 4.0),
            (-0.5, -4.0),
        ],
        special: &[],
        pairs: None,
        ranges_text: "±(0, max], ±[0.5, 4]",
    },
    Case {
        op: Op::Arccosh,
        name: "arccosh",
        reference: |x, _| libm_acosh(x),
        ranges: &[(1.0, f64::MAX), (1.0, 1.1), (0.0, 1.0), (-5e-324, -10.0)],
        special: &[],
        pairs: None,
        ranges_text: "[1, max], [1, 1.1], [0, 1), negatives",
    },
    Case {
        op: Op::Arctanh,
        name: "arctanh",
        reference: |x, _| libm_atanh(x),
        ranges: &[
            (1e-300, 1.0),
            (-1e-300, -1.0),
            (0.9, 1.0),
            (-0.9, -1.0),
            (1.0, 2.0),
        ],
        special: &[],
        pairs: None,
        ranges_text: "±[1e-300, 1], ±[0.9, 1], (1, 2]",
    },
    Case {
        op: Op::Cbrt,
        name: "cbrt",
        reference: |x, _| x.cbrt(),
        ranges: &[(5e-324, f64::MAX), (-5e-324, -f64::MAX), (0.1, 10.0)],
        special: &[],
        pairs: None,
        ranges_text: "±(0, max], [0.1, 10]",
    },
    Case {
        op: Op::Arctan2,
        name: "arctan2",
        reference: |y, x| y.atan2(x),
        ranges: &[],
        special: &[],
        pairs: Some(pairs_atan2),
        ranges_text:
            "±[1e-300, 1e300]², ±[0.1, 10]², close magnitudes, ratios ≈ tan(π/8); specials²",
    },
    Case {
        op: Op::Power,
        name: "power",
        reference: |x, y| x.powf(y),
        ranges: &[],
        special: &[],
        pairs: Some(pairs_power),
        ranges_text:
            "x = exp(t/y) for t in [-760, 760], abs(y) in [1e-3, 1e4]; x < 0 with integral y; \
                      x in (0, max], abs(y) in [1e-20, 1e3]; specials²",
    },
    Case {
        op: Op::Hypot,
        name: "hypot",
        reference: |x, y| x.hypot(y),
        ranges: &[],
        special: &[],
        pairs: Some(pairs_hypot),
        ranges_text: "±(0, max]², close magnitudes; specials²",
    },
];

/// The ulp of `r` at float64 (`f32 = false`) or float32 precision (subnormals included).
fn ulp(r: f64, f32: bool) -> f64 {
    let (mant, emin) = if f32 { (23, -126) } else { (52, -1022) };
    // The binary exponent of |r|, from its bits (subnormals: below -1022, as needed).
    let e = if r == 0.0 {
        emin
    } else {
        let b = r.abs().to_bits();
        let raw = (b >> 52) as i32;
        if raw == 0 {
            -1011 - (b.leading_zeros() as i32)
        } else {
            raw - 1023
        }
        .max(emin)
    };
    let p = e - mant; // >= -1074
    if p >= -1022 {
        f64::from_bits(((p + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (p + 1074))
    }
}

/// The error of `got` against the reference value `r` in ulps, or `None` if they disagree on
/// NaN, infinity or a zero's sign.
fn error(got: f64, r: f64, f32: bool) -> Option<f64> {
    let rounded = if f32 { r as f32 as f64 } else { r };
    if rounded.is_nan() || got.is_nan() {
        return (rounded.is_nan() && got.is_nan()).then_some(0.0);
    }
    if rounded.is_infinite() || got.is_infinite() || rounded == 0.0 || got == 0.0 {
        if got.to_bits() == rounded.to_bits() {
            return Some(0.0);
        }
        if got.is_infinite()
            || rounded.is_infinite()
            || got.is_sign_negative() != r.is_sign_negative()
        {
            return None;
        }
        // A zero against a tiny nonzero value: an ordinary error in ulps of the subnormals.
        if (got == 0.0) != (rounded == 0.0) && got != 0.0 {
            return None; // the reference rounds to zero, we did not
        }
    }
    // (An overflowing difference is an infinite error: a failure, rightly.)
    Some((got - r).abs() / ulp(r, f32))
}

fn run1(k: KernelFn, dt: DType, x: &[f64]) -> Vec<f64> {
    if dt == DType::F32 {
        let a: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut d = vec![0f32; a.len()];
        // SAFETY: a and d hold a.len() float32 elements.
        unsafe {
            k(
                a.len(),
                d.as_mut_ptr() as *mut u8,
                &[a.as_ptr() as *const u8; 3],
            )
        };
        d.iter().map(|&v| v as f64).collect()
    } else {
        let mut d = vec![0f64; x.len()];
        // SAFETY: x and d hold x.len() float64 elements.
        unsafe {
            k(
                x.len(),
                d.as_mut_ptr() as *mut u8,
                &[x.as_ptr() as *const u8; 3],
            )
        };
        d
    }
}

fn run2(k: KernelFn, dt: DType, x: &[f64], y: &[f64]) -> Vec<f64> {
    if dt == DType::F32 {
        let a: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let b: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        let mut d = vec![0f32; a.len()];
        let p = [
            a.as_ptr() as *const u8,
            b.as_ptr() as *const u8,
            a.as_ptr() as *const u8,
        ];
        // SAFETY: a, b and d hold a.len() float32 elements.
        unsafe { k(a.len(), d.as_mut_ptr() as *mut u8, &p) };
        d.iter().map(|&v| v as f64).collect()
    } else {
        let mut d = vec![0f64; x.len()];
        let p = [
            x.as_ptr() as *const u8,
            y.as_ptr() as *const u8,
            x.as_ptr() as *const u8,
        ];
        // SAFETY: x, y and d hold x.len() float64 elements.
        unsafe { k(x.len(), d.as_mut_ptr() as *mut u8, &p) };
        d
    }
}

const POINTS: usize = 1_000_000;
const BLOCK: usize = 4096;

/// One row of the table: (max ulp, where, points, failures).
fn measure(c: &Case, dt: DType, level: Isa) -> (f64, String, usize, Vec<String>) {
    let f32 = dt == DType::F32;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c.name.len() as u64 * 7919) ^ f32 as u64);
    let k = lookup_for(level).unwrap()(c.op, dt, dt, 0).unwrap();
    let (xs, ys) = if c.pairs.is_some() {
        binary_points(c, POINTS, &mut rng)
    } else {
        let x = unary_points(c, POINTS, &mut rng);
        let n = x.len();
        (x, vec![0.0; n])
    };
    // float32 operands are the float64 ones rounded; the reference sees the rounded values.
    let round = |v: f64| if f32 { v as f32 as f64 } else { v };
    let (mut worst, mut fails, mut at) = (0f64, Vec::new(), String::new());
    for start in (0..xs.len()).step_by(BLOCK) {
        let end = (start + BLOCK).min(xs.len());
        let (x, y) = (&xs[start..end], &ys[start..end]);
        let got = if c.pairs.is_some() {
            run2(k, dt, x, y)
        } else {
            run1(k, dt, x)
        };
        for i in 0..x.len() {
            let (a, b) = (round(x[i]), round(y[i]));
            let r = (c.reference)(a, b);
            let e = error(got[i], r, f32);
            if e.unwrap_or(f64::INFINITY) > worst {
                at = if c.pairs.is_some() {
                    format!("{a:e}, {b:e}")
                } else {
                    format!("{a:e}")
                };
            }
            match e {
                Some(e) if e <= if f32 { 2.0 } else { 3.0 } => worst = worst.max(e),
                e => {
                    worst = worst.max(e.unwrap_or(f64::INFINITY));
                    if fails.len() < 20 {
                        fails.push(format!(
                            "{}.{} at {} ({a:e}, {b:e}) [{:#x}]: got {:e}, reference {:e} ({:?} ulp)",
                            c.name,
                            dt.short_name(),
                            level.name(),
                            a.to_bits(),
                            got[i],
                            r,
                            e
                        ));
                    }
                }
            }
        }
    }
    (worst, at, xs.len(), fails)
}

/// Every function, float32 and float64, ≥ 10^6 points each, without and with fused
/// multiply-add; prints the README's table.
#[test]
fn max_ulp_table() {
    let best = Isa::detect();
    let levels = if best == Isa::Baseline {
        vec![best]
    } else {
        vec![Isa::Baseline, best]
    };
    let jobs: Vec<(&Case, DType, Isa)> = CASES
        .iter()
        .flat_map(|c| [(c, DType::F64), (c, DType::F32)])
        .flat_map(|(c, dt)| levels.iter().map(move |&l| (c, dt, l)))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if j >= jobs.len() {
                    break;
                }
                let (c, dt, level) = jobs[j];
                let r = measure(c, dt, level);
                results.lock().unwrap()[j] = Some(r);
            });
        }
    });
    let results = results.into_inner().unwrap();
    // One row per function and dtype: the baseline's worst, then the FMA level's.
    let names: Vec<&str> = levels.iter().map(|l| l.name()).collect();
    println!(
        "| function | dtype | max ULP measured ({}) | points | ranges | worst at |",
        names.join(" / ")
    );
    println!("|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    let rows: Vec<_> = jobs.iter().zip(results).collect();
    for row in rows.chunks(levels.len()) {
        let (c, dt, _) = row[0].0;
        let worst: Vec<String> = row
            .iter()
            .map(|(_, r)| format!("{:.2}", r.as_ref().unwrap().0))
            .collect();
        let (_, at, n, _) = row
            .iter()
            .map(|(_, r)| r.as_ref().unwrap())
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap();
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            c.name,
            dt.name(),
            worst.join(" / "),
            n,
            c.ranges_text,
            at
        );
        for (_, r) in row {
            let (_, _, n, fails) = r.as_ref().unwrap();
            assert!(*n >= POINTS);
            failures.extend(fails.iter().cloned());
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures (first 20 per function):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- The drivers' exact second pass (FIXUP) ----

/// Mixed operands: ordinary values, and every `stride`-th lane one the fast path hands to the
/// exact pass.
fn mixed(n: usize, stride: usize, huge: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if stride > 0 && i % stride == stride - 1 {
                huge * (1.0 + i as f64)
            } else {
                (i as f64 * 0.37).sin() * 3.0
            }
        })
        .collect()
}

#[test]
fn fixup_unary_sizes_in_place_and_mixed_lanes() {
    for op in [Op::Sin, Op::Cos, Op::Tan] {
        let f: fn(f64) -> f64 = match op {
            Op::Sin => f64::sin,
            Op::Cos => f64::cos,
            _ => f64::tan,
        };
        let k = lookup(op, DType::F64, DType::F64, 0).unwrap();
        let kf = lookup(op, DType::F32, DType::F32, 0).unwrap();
        let ks = lookup(op, DType::F64, DType::F64, 1).unwrap();
        for n in [0usize, 1, 63, 64, 65, 255, 256, 257, 1000] {
            for stride in [0usize, 1, 2, 7, 64] {
                let x = mixed(n, stride, 1e300);
                let out = run1(k, DType::F64, &x);
                // In place: dst == src.
                let mut inplace = x.clone();
                // SAFETY: dst is exactly the operand, n elements.
                unsafe {
                    k(
                        n,
                        inplace.as_mut_ptr() as *mut u8,
                        &[inplace.as_ptr() as *const u8; 3],
                    )
                };
                assert_eq!(
                    out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    inplace.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{op:?} n {n} stride {stride} in place"
                );
                for i in 0..n {
                    let one = run1(k, DType::F64, &x[i..i + 1])[0];
                    assert_eq!(one.to_bits(), out[i].to_bits(), "{op:?} n {n} lane {i}");
                    if x[i].abs() > 1.6e6 {
                        // The exact pass: std's result, bit for bit.
                        assert_eq!(out[i].to_bits(), f(x[i]).to_bits(), "{op:?} lane {i}");
                    } else {
                        assert!(error(out[i], f(x[i]), false).unwrap() <= 3.0);
                    }
                    // A broadcast scalar operand takes the same path.
                    let mut d = [0f64; 3];
                    // SAFETY: the scalar operand is one element, dst three.
                    unsafe {
                        ks(
                            3,
                            d.as_mut_ptr() as *mut u8,
                            &[x[i..].as_ptr() as *const u8; 3],
                        )
                    };
                    assert!(d.iter().all(|v| v.to_bits() == out[i].to_bits()));
                }
                // float32: huge float32 values go to the exact pass too (std's result rounded;
                // the others are the native float32 code's at the FMA levels, within its bound).
                let x32 = mixed(n, stride, 1e30);
                let out32 = run1(kf, DType::F32, &x32);
                for i in 0..n {
                    let a = x32[i] as f32 as f64;
                    if a.abs() > 1.6e6 {
                        assert_eq!(out32[i] as f32, f(a) as f32, "{op:?} f32 lane {i} ({a})");
                    } else {
                        let e = error(out32[i], f(a), true);
                        assert!(e.unwrap() <= 2.0, "{op:?} f32 lane {i} ({a}): {e:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn fixup_power_sizes_in_place_scalars_and_mixed_lanes() {
    let k = lookup(Op::Power, DType::F64, DType::F64, 0).unwrap();
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1.0,
        -1.0,
    ];
    for n in [0usize, 1, 63, 64, 65, 255, 256, 257, 1000] {
        for stride in [0usize, 1, 3, 64] {
            let x: Vec<f64> = (0..n)
                .map(|i| {
                    if stride > 0 && i % stride == 0 {
                        specials[i % specials.len()]
                    } else {
                        0.5 + (i as f64 * 0.1).sin().abs() * 2.0
                    }
                })
                .collect();
            let y: Vec<f64> = (0..n)
                .map(|i| {
                    if stride > 0 && i % (stride + 1) == 1 {
                        specials[(i / 3) % specials.len()]
                    } else {
                        (i as f64 * 0.77).cos() * 5.0
                    }
                })
                .collect();
            let out = run2(k, DType::F64, &x, &y);
            for i in 0..n {
                let r = x[i].powf(y[i]);
                assert!(
                    error(out[i], r, false).is_some_and(|e| e <= 3.0),
                    "power({}, {}) = {} vs {r}",
                    x[i],
                    y[i],
                    out[i]
                );
            }
            // In place on either operand.
            for target in 0..2 {
                let (mut a, mut b) = (x.clone(), y.clone());
                let p = [
                    a.as_ptr() as *const u8,
                    b.as_ptr() as *const u8,
                    a.as_ptr() as *const u8,
                ];
                let dst = if target == 0 {
                    a.as_mut_ptr()
                } else {
                    b.as_mut_ptr()
                };
                // SAFETY: dst is exactly one of the operands, n elements each.
                unsafe { k(n, dst as *mut u8, &p) };
                let got = if target == 0 { &a } else { &b };
                assert!(
                    got.iter()
                        .zip(&out)
                        .all(|(g, o)| g.to_bits() == o.to_bits()),
                    "power in place on operand {target}, n {n}"
                );
            }
            // Broadcast scalars, a special one among them.
            for (mask, s) in [(1u8, 0.0), (1, 2.0), (2, f64::NAN), (2, 3.0), (2, 0.0)] {
                let ks = lookup(Op::Power, DType::F64, DType::F64, mask).unwrap();
                let (xa, ya): (Vec<f64>, Vec<f64>) = if mask == 1 {
                    (vec![s; n.max(1)], y.clone())
                } else {
                    (x.clone(), vec![s; n.max(1)])
                };
                let mut d = vec![0f64; n];
                let p = [
                    xa.as_ptr() as *const u8,
                    ya.as_ptr() as *const u8,
                    xa.as_ptr() as *const u8,
                ];
                // SAFETY: operands hold n elements (or one, broadcast), dst n.
                unsafe { ks(n, d.as_mut_ptr() as *mut u8, &p) };
                let full = run2(
                    k,
                    DType::F64,
                    &xa[..n.min(xa.len())],
                    &ya[..n.min(ya.len())],
                );
                for i in 0..n {
                    let (a, b) = (
                        xa[if mask == 1 { 0 } else { i }],
                        ya[if mask == 2 { 0 } else { i }],
                    );
                    if mask == 2 && s.fract() == 0.0 {
                        // An integral broadcast exponent takes the double-double path
                        // (`integer_exponents_match_pow` measures it).
                        assert!(
                            error(d[i], a.powf(b), false).is_some_and(|e| e <= 1.0),
                            "power mask {mask} ({a}, {b}) = {}",
                            d[i]
                        );
                        continue;
                    }
                    assert!(
                        d[i].to_bits() == full[i].to_bits() || (d[i].is_nan() && full[i].is_nan()),
                        "power mask {mask} ({a}, {b})"
                    );
                }
            }
        }
    }
}

/// `x ** k` with a broadcast integral exponent (the double-double path for |k| <= 15, the
/// general one beyond): every k in -17..=17 over 10^6 points uniform in the bit pattern plus
/// the special values, against glibc's `pow` (itself up to 0.52 ULP off: at 5.632387791105193e-8
/// ** -15 ndexpr is 0.49982 ULP from the exact value, glibc 0.50018, checked with Python's
/// fractions), float64 and float32 (the reference rounded once from float64). Special values
/// must match exactly.
#[test]
fn integer_exponents_match_pow() {
    let mut rng = Rng(0x005E_ED0F_1A7E);
    let mut x: Vec<f64> = (0..POINTS)
        .map(|_| f64::from_bits(rng.next()))
        .filter(|v| !v.is_nan())
        .collect();
    // Values near 1 (where most powers are finite) and the special ones.
    x.extend((0..POINTS / 4).map(|_| rng.bits_between(0.0, 4.0) * sign_or_zero(&mut rng)));
    x.extend([
        0.0,
        -0.0,
        1.0,
        -1.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        1e-100,
        1e100,
        2f64.powi(-64),
        -2f64.powi(199),
    ]);
    // Squares and cubes at the edges of the double-double range, [2^-960, 2^995], where the
    // flag sending a lane to libm looks at the result only.
    for edge in [-960.0 / 3.0, 995.0 / 3.0, -480.0, 497.5f64] {
        let c = 2f64.powf(edge).to_bits();
        for u in 0..7 {
            let v = f64::from_bits(c - 3 + u);
            x.extend([v, -v]);
        }
    }
    let mut report = Vec::new();
    for dt in [DType::F64, DType::F32] {
        let f32 = dt == DType::F32;
        let k = lookup(Op::Power, dt, dt, 2).unwrap();
        let (mut worst, mut at) = (0f64, String::new());
        for e in -17i32..=17 {
            let y = vec![e as f64; 1];
            for chunk in x.chunks(BLOCK) {
                let xs: Vec<f64> = chunk
                    .iter()
                    .map(|&v| if f32 { v as f32 as f64 } else { v })
                    .collect();
                let mut ys = y.clone();
                ys.resize(xs.len(), e as f64);
                // run2 reads only the first element of the broadcast operand.
                let got = run2(k, dt, &xs, &ys);
                for (i, &a) in xs.iter().enumerate() {
                    let r = a.powf(e as f64);
                    let err = error(got[i], r, f32);
                    assert!(
                        err.is_some_and(|v| v <= 1.0),
                        "{}: {a:e} ** {e} = {:e}, pow gives {r:e} ({err:?} ulp)",
                        dt.short_name(),
                        got[i]
                    );
                    if e.abs() <= 15 && err.unwrap() > worst {
                        worst = err.unwrap();
                        at = format!("{a:e} ** {e}");
                    }
                }
            }
        }
        report.push(format!("{} max {worst:.3} ulp at {at}", dt.short_name()));
    }
    println!("x ** k, |k| <= 15: {}", report.join(", "));
}

// ---- Every float32 ----

/// Every float32 argument (all 2^32 bit patterns) of the unary functions named in
/// `NDEXPR_EXHAUSTIVE` (comma-separated, e.g. `exp,sin`; `all` for every one), at the level
/// `NDEXPR_ISA` picks (default: the best this CPU has), against the same reference and bound
/// as `max_ulp_table`; prints each function's worst error and where. Minutes per function:
///
/// `NDEXPR_EXHAUSTIVE=sin,cos cargo test --release --test ulp -- --ignored --nocapture every_float32`
#[test]
#[ignore]
fn every_float32() {
    let wanted = std::env::var("NDEXPR_EXHAUSTIVE").unwrap_or_default();
    let level = ndexpr::kernels::isa::active();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    for c in CASES.iter().filter(|c| {
        c.pairs.is_none() && (wanted == "all" || wanted.split(',').any(|w| w.trim() == c.name))
    }) {
        let k = lookup_for(level).unwrap()(c.op, DType::F32, DType::F32, 0).unwrap();
        const CHUNK: u64 = 1 << 16;
        let next = std::sync::atomic::AtomicU64::new(0);
        // (worst error, its argument, number of failures, first failures).
        let result = std::sync::Mutex::new((0f64, 0f32, 0u64, Vec::<String>::new()));
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut a = vec![0f32; CHUNK as usize];
                    let mut d = vec![0f32; CHUNK as usize];
                    loop {
                        let start = next.fetch_add(CHUNK, std::sync::atomic::Ordering::Relaxed);
                        if start >= 1 << 32 {
                            break;
                        }
                        for (i, v) in a.iter_mut().enumerate() {
                            *v = f32::from_bits((start + i as u64) as u32);
                        }
                        // SAFETY: a and d hold CHUNK float32 elements.
                        unsafe {
                            k(
                                a.len(),
                                d.as_mut_ptr() as *mut u8,
                                &[a.as_ptr() as *const u8; 3],
                            )
                        };
                        let (mut worst, mut at, mut nfail, mut fails) = (0f64, 0f32, 0u64, vec![]);
                        for (&x, &got) in a.iter().zip(&d) {
                            let r = (c.reference)(x as f64, 0.0);
                            let e = error(got as f64, r, true).unwrap_or(f64::INFINITY);
                            if e > worst {
                                (worst, at) = (e, x);
                            }
                            if e > 2.0 {
                                nfail += 1;
                                if fails.len() < 10 {
                                    fails.push(format!(
                                        "{}({x:e} = {:#x}): got {got:e}, reference {r:e} ({e} ulp)",
                                        c.name,
                                        x.to_bits()
                                    ));
                                }
                            }
                        }
                        let mut res = result.lock().unwrap();
                        if worst > res.0 {
                            (res.0, res.1) = (worst, at);
                        }
                        res.2 += nfail;
                        if res.3.len() < 20 {
                            res.3.extend(fails);
                        }
                    }
                });
            }
        });
        let (worst, at, nfail, fails) = result.into_inner().unwrap();
        println!(
            "{} float32 at {}: max {worst:.3} ulp at {at:e} ({:#x}); {nfail} above 2",
            c.name,
            level.name(),
            at.to_bits()
        );
        for f in &fails {
            println!("  {f}");
        }
        assert_eq!(
            nfail, 0,
            "{} float32: {nfail} arguments above 2 ulp",
            c.name
        );
    }
}
