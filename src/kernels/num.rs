//! Per-type arithmetic with NumPy 2's semantics, written once per family (integers, floats,
//! complex) over small traits; the macros only list the primitive types of each family.

use super::math;
use num_complex::Complex;
use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

/// The 8 integer dtypes. Everything wraps; nothing traps.
pub trait Int: Copy + Eq + Ord + 'static {
    const ZERO: Self;
    const ONE: Self;
    const BITS: u32;
    fn is_neg(self) -> bool;
    fn wadd(self, b: Self) -> Self;
    fn wsub(self, b: Self) -> Self;
    fn wmul(self, b: Self) -> Self;
    fn wneg(self) -> Self;
    fn wabs(self) -> Self;
    /// Truncating division and remainder, wrapping (`MIN / -1 = MIN`, `MIN % -1 = 0`); b != 0.
    fn wdiv(self, b: Self) -> Self;
    fn wrem(self, b: Self) -> Self;
    fn and(self, b: Self) -> Self;
    fn or(self, b: Self) -> Self;
    fn xor(self, b: Self) -> Self;
    fn not(self) -> Self;
    /// The shift count as C's `(size_t)b` (negative counts become huge).
    fn as_count(self) -> u64;
    fn shl_raw(self, s: u32) -> Self;
    fn shr_raw(self, s: u32) -> Self;
    fn as_f64(self) -> f64;
    fn from_f64_c(x: f64) -> Self;

    /// `np.floor_divide`: floors; by zero gives 0; `MIN // -1` wraps to `MIN`.
    #[inline(always)]
    fn floor_div(self, b: Self) -> Self {
        if b == Self::ZERO {
            return Self::ZERO;
        }
        let q = self.wdiv(b);
        let r = self.wrem(b);
        if r != Self::ZERO && (r.is_neg() != b.is_neg()) {
            q.wsub(Self::ONE)
        } else {
            q
        }
    }

    /// `np.remainder`: the divisor's sign; by zero gives 0.
    #[inline(always)]
    fn py_rem(self, b: Self) -> Self {
        if b == Self::ZERO {
            return Self::ZERO;
        }
        let r = self.wrem(b);
        if r != Self::ZERO && (r.is_neg() != b.is_neg()) {
            r.wadd(b)
        } else {
            r
        }
    }

    /// `np.fmod`: the dividend's sign (C `%`); by zero gives 0.
    #[inline(always)]
    fn c_fmod(self, b: Self) -> Self {
        if b == Self::ZERO {
            Self::ZERO
        } else {
            self.wrem(b)
        }
    }

    /// `npy_lshift`: 0 when the count is negative or at least the bit width.
    #[inline(always)]
    fn lshift(self, b: Self) -> Self {
        let s = b.as_count();
        if s < Self::BITS as u64 {
            self.shl_raw(s as u32)
        } else {
            Self::ZERO
        }
    }

    /// `npy_rshift`: arithmetic for signed types; an out-of-range count gives 0 or -1.
    #[inline(always)]
    fn rshift(self, b: Self) -> Self {
        let s = b.as_count();
        if s < Self::BITS as u64 {
            self.shr_raw(s as u32)
        } else if self.is_neg() {
            Self::ZERO.not()
        } else {
            Self::ZERO
        }
    }

    /// `np.power` by squaring, wrapping. A negative exponent is an error in NumPy; the compiler
    /// and the VM check for it, and the kernel gives 0.
    #[inline(always)]
    fn ipow(self, e: Self) -> Self {
        if e.is_neg() {
            return Self::ZERO;
        }
        let mut base = self;
        let mut e = e.as_count();
        let mut out = Self::ONE;
        while e > 0 {
            if e & 1 == 1 {
                out = out.wmul(base);
            }
            base = base.wmul(base);
            e >>= 1;
        }
        out
    }

    /// `np.sign`: -1, 0 or 1.
    #[inline(always)]
    fn sign(self) -> Self {
        if self.is_neg() {
            Self::ZERO.not()
        } else if self == Self::ZERO {
            Self::ZERO
        } else {
            Self::ONE
        }
    }

    /// `np.reciprocal`: NumPy computes `1.0 / x` in double and converts back as C does, so
    /// `1/0` is the conversion of `inf` (`MIN` for int32/int64, 0 for the others).
    #[inline(always)]
    fn recip(self) -> Self {
        Self::from_f64_c(1.0 / self.as_f64())
    }
}

macro_rules! impl_int {
    ($($t:ty, $neg:expr, $conv:path;)*) => {$(
        impl Int for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const BITS: u32 = <$t>::BITS;
            #[inline(always)] fn is_neg(self) -> bool { let f: fn($t) -> bool = $neg; f(self) }
            #[inline(always)] fn wadd(self, b: Self) -> Self { self.wrapping_add(b) }
            #[inline(always)] fn wsub(self, b: Self) -> Self { self.wrapping_sub(b) }
            #[inline(always)] fn wmul(self, b: Self) -> Self { self.wrapping_mul(b) }
            #[inline(always)] fn wneg(self) -> Self { self.wrapping_neg() }
            #[inline(always)] fn wabs(self) -> Self { if self.is_neg() { self.wrapping_neg() } else { self } }
            #[inline(always)] fn wdiv(self, b: Self) -> Self { self.wrapping_div(b) }
            #[inline(always)] fn wrem(self, b: Self) -> Self { self.wrapping_rem(b) }
            #[inline(always)] fn and(self, b: Self) -> Self { self & b }
            #[inline(always)] fn or(self, b: Self) -> Self { self | b }
            #[inline(always)] fn xor(self, b: Self) -> Self { self ^ b }
            #[inline(always)] fn not(self) -> Self { !self }
            #[inline(always)] fn as_count(self) -> u64 { self as u64 }
            #[inline(always)] fn shl_raw(self, s: u32) -> Self { self << s }
            #[inline(always)] fn shr_raw(self, s: u32) -> Self { self >> s }
            #[inline(always)] fn as_f64(self) -> f64 { self as f64 }
            #[inline(always)] fn from_f64_c(x: f64) -> Self { $conv(x) }
        }
    )*};
}

impl_int! {
    i8, |x| x < 0, super::cast::f64_to_i8;
    i16, |x| x < 0, super::cast::f64_to_i16;
    i32, |x| x < 0, super::cast::f64_to_i32;
    i64, |x| x < 0, super::cast::f64_to_i64;
    u8, |_| false, super::cast::f64_to_u8;
    u16, |_| false, super::cast::f64_to_u16;
    u32, |_| false, super::cast::f64_to_u32;
    u64, |_| false, super::cast::f64_to_u64;
}

/// float32 and float64.
pub trait Float:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Rem<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;
    const NAN: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn is_nan(self) -> bool;
    fn is_finite(self) -> bool;
    fn is_infinite(self) -> bool;
    fn signbit(self) -> bool;
    fn abs(self) -> Self;
    fn copysign(self, s: Self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn trunc(self) -> Self;
    fn rint(self) -> Self;
    fn sqrt(self) -> Self;
    fn cbrt<const F: bool>(self) -> Self;
    fn exp<const F: bool>(self) -> Self;
    fn exp2<const F: bool>(self) -> Self;
    fn expm1<const F: bool>(self) -> Self;
    fn ln<const F: bool>(self) -> Self;
    fn log2<const F: bool>(self) -> Self;
    fn log10<const F: bool>(self) -> Self;
    fn ln1p<const F: bool>(self) -> Self;
    fn sin<const F: bool>(self) -> Self;
    fn cos<const F: bool>(self) -> Self;
    fn tan<const F: bool>(self) -> Self;
    fn asin<const F: bool>(self) -> Self;
    fn acos<const F: bool>(self) -> Self;
    fn atan<const F: bool>(self) -> Self;
    fn sinh<const F: bool>(self) -> Self;
    fn cosh<const F: bool>(self) -> Self;
    fn tanh<const F: bool>(self) -> Self;
    fn asinh<const F: bool>(self) -> Self;
    fn acosh<const F: bool>(self) -> Self;
    fn atanh<const F: bool>(self) -> Self;
    fn atan2<const F: bool>(self, x: Self) -> Self;
    /// libm's `hypot` (complex `sign` uses it, as NumPy's `npy_hypot`).
    fn hypot(self, b: Self) -> Self;
    /// The vectorisable `hypot` of [`super::math`] (the `hypot` kernel).
    fn hypot_fast<const F: bool>(self, b: Self) -> Self;
    /// `x ** y` by [`super::math::pow`]: any value where [`Float::pow_special`] holds.
    fn powf<const F: bool>(self, b: Self) -> Self;
    /// Whether `powf` needs [`Float::powf_exact`] (a zero, infinite or NaN operand).
    fn pow_special(self, b: Self) -> bool;
    /// `Some(k)` when `self`, as an exponent, is an integer [`math::powi`] takes.
    fn small_int_exponent(self) -> Option<i32>;
    /// `self ** ±e` for an exponent [`Float::small_int_exponent`] accepted, and whether the lane
    /// needs `powf_exact`: [`math::powi`]'s double-doubles for float64, plain float64 products
    /// for float32 ([`math::single::powi`]).
    fn powi_dd<const F: bool, const NB: u32, const NEG: bool>(self, e: u32) -> (Self, bool);
    /// C99 `pow` (libm through `std`, in float64 for float32).
    fn powf_exact(self, b: Self) -> Self;
    /// `self ** 3` as the `power` kernel computes it (the fast road, or C99 `pow` for the
    /// lanes it flags) at a level with (`F`) or without fused multiply-add: the fused chain's
    /// `cube` for lanes its vectors cannot take.
    #[inline(always)]
    fn cube<const F: bool>(self) -> Self {
        let (v, bad) = self.powi_dd::<F, 2, false>(3);
        if bad {
            self.powf_exact(Self::from_f64(3.0))
        } else {
            v
        }
    }
    /// Whether `sin`/`cos`/`tan` need their `_exact` forms (`|x|` beyond the fast reduction).
    fn trig_huge(self) -> bool;
    fn sin_exact(self) -> Self;
    fn cos_exact(self) -> Self;
    fn tan_exact(self) -> Self;
    fn fma(self, b: Self, c: Self) -> Self;
    fn nextafter(self, to: Self) -> Self;

    /// NumPy's `npy_divmod`: (floor quotient, remainder with the divisor's sign).
    #[inline(always)]
    fn divmod(self, b: Self) -> (Self, Self) {
        let a = self;
        let m = a % b;
        if b == Self::ZERO {
            return (a / b, m);
        }
        let mut div = (a - m) / b;
        let mut m = m;
        if m != Self::ZERO {
            if (b < Self::ZERO) != (m < Self::ZERO) {
                m = m + b;
                div = div - Self::ONE;
            }
        } else {
            m = Self::ZERO.copysign(b);
        }
        let q = if div != Self::ZERO {
            let f = div.floor();
            if div - f > Self::HALF {
                f + Self::ONE
            } else {
                f
            }
        } else {
            Self::ZERO.copysign(a / b)
        };
        (q, m)
    }

    /// `np.floor_divide` (`npy_floor_divide`).
    #[inline(always)]
    fn floor_div(self, b: Self) -> Self {
        if b == Self::ZERO {
            self / b
        } else {
            self.divmod(b).0
        }
    }

    /// `np.remainder` (`npy_remainder`).
    #[inline(always)]
    fn py_rem(self, b: Self) -> Self {
        if b == Self::ZERO {
            self % b
        } else {
            self.divmod(b).1
        }
    }

    /// `np.sign`: NaN stays NaN, ±0 gives +0.
    #[inline(always)]
    fn sign(self) -> Self {
        if self > Self::ZERO {
            Self::ONE
        } else if self < Self::ZERO {
            -Self::ONE
        } else if self == Self::ZERO {
            Self::ZERO
        } else {
            self
        }
    }
}

/// `$fast` is the module of the exponential and logarithm families, sin/cos/tan, the arc tangent
/// and small integral powers for this type, taking and returning `$t`: float64's own
/// ([`math`]), and for float32 [`math::native`], which computes in float32 at the levels with
/// fused multiply-add and otherwise rounds float64 code that stops at float32's precision
/// ([`math::single`]).
macro_rules! impl_float {
    ($($t:ident, $bits:ty, $fast:path;)*) => {$(
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const HALF: Self = 0.5;
            const NAN: Self = $t::NAN;
            #[inline(always)] fn from_f64(x: f64) -> Self { x as $t }
            #[inline(always)] fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)] fn is_nan(self) -> bool { self.is_nan() }
            #[inline(always)] fn is_finite(self) -> bool { self.is_finite() }
            #[inline(always)] fn is_infinite(self) -> bool { self.is_infinite() }
            #[inline(always)] fn signbit(self) -> bool { self.is_sign_negative() }
            #[inline(always)] fn abs(self) -> Self { self.abs() }
            #[inline(always)] fn copysign(self, s: Self) -> Self { self.copysign(s) }
            #[inline(always)] fn floor(self) -> Self { self.floor() }
            #[inline(always)] fn ceil(self) -> Self { self.ceil() }
            #[inline(always)] fn trunc(self) -> Self { self.trunc() }
            #[inline(always)] fn rint(self) -> Self { self.round_ties_even() }
            #[inline(always)] fn sqrt(self) -> Self { self.sqrt() }
            #[inline(always)] fn cbrt<const F: bool>(self) -> Self { math::cbrt::<F>(self as f64) as $t }
            #[inline(always)] fn exp<const F: bool>(self) -> Self { { use $fast as m; m::exp::<F>(self) } }
            #[inline(always)] fn exp2<const F: bool>(self) -> Self { math::exp2::<F>(self as f64) as $t }
            #[inline(always)] fn expm1<const F: bool>(self) -> Self { { use $fast as m; m::expm1::<F>(self) } }
            #[inline(always)] fn ln<const F: bool>(self) -> Self { { use $fast as m; m::log::<F>(self) } }
            #[inline(always)] fn log2<const F: bool>(self) -> Self { { use $fast as m; m::log2::<F>(self) } }
            #[inline(always)] fn log10<const F: bool>(self) -> Self { { use $fast as m; m::log10::<F>(self) } }
            #[inline(always)] fn ln1p<const F: bool>(self) -> Self { { use $fast as m; m::log1p::<F>(self) } }
            #[inline(always)] fn sin<const F: bool>(self) -> Self { { use $fast as m; m::sin::<F>(self) } }
            #[inline(always)] fn cos<const F: bool>(self) -> Self { { use $fast as m; m::cos::<F>(self) } }
            #[inline(always)] fn tan<const F: bool>(self) -> Self { { use $fast as m; m::tan::<F>(self) } }
            #[inline(always)] fn asin<const F: bool>(self) -> Self { math::asin::<F>(self as f64) as $t }
            #[inline(always)] fn acos<const F: bool>(self) -> Self { math::acos::<F>(self as f64) as $t }
            #[inline(always)] fn atan<const F: bool>(self) -> Self { { use $fast as m; m::atan::<F>(self) } }
            #[inline(always)] fn sinh<const F: bool>(self) -> Self { { use $fast as m; m::sinh::<F>(self) } }
            #[inline(always)] fn cosh<const F: bool>(self) -> Self { { use $fast as m; m::cosh::<F>(self) } }
            #[inline(always)] fn tanh<const F: bool>(self) -> Self { { use $fast as m; m::tanh::<F>(self) } }
            #[inline(always)] fn asinh<const F: bool>(self) -> Self { math::asinh::<F>(self as f64) as $t }
            #[inline(always)] fn acosh<const F: bool>(self) -> Self { math::acosh::<F>(self as f64) as $t }
            #[inline(always)] fn atanh<const F: bool>(self) -> Self { math::atanh::<F>(self as f64) as $t }
            #[inline(always)] fn atan2<const F: bool>(self, x: Self) -> Self { { use $fast as m; m::atan2::<F>(self, x) } }
            #[inline(always)] fn hypot(self, b: Self) -> Self { self.hypot(b) }
            #[inline(always)] fn hypot_fast<const F: bool>(self, b: Self) -> Self { math::hypot::<F>(self as f64, b as f64) as $t }
            #[inline(always)] fn trig_huge(self) -> bool { (self as f64).abs() > math::TRIG_MAX }
            #[inline(always)] fn sin_exact(self) -> Self { (self as f64).sin() as $t }
            #[inline(always)] fn cos_exact(self) -> Self { (self as f64).cos() as $t }
            #[inline(always)] fn tan_exact(self) -> Self { (self as f64).tan() as $t }
            #[inline(always)] fn pow_special(self, b: Self) -> bool { math::pow_special(self as f64, b as f64) }
            #[inline(always)] fn powf_exact(self, b: Self) -> Self { (self as f64).powf(b as f64) as $t }
            #[inline(always)] fn powf<const F: bool>(self, b: Self) -> Self { math::pow::<F>(self as f64, b as f64) as $t }
            #[inline(always)] fn small_int_exponent(self) -> Option<i32> { math::small_int_exponent(self as f64) }
            #[inline(always)] fn powi_dd<const F: bool, const NB: u32, const NEG: bool>(self, e: u32) -> (Self, bool) { use $fast as m; m::powi::<F, NB, NEG>(self, e) }
            #[inline(always)] fn fma(self, b: Self, c: Self) -> Self { self.mul_add(b, c) }
            /// C's `nextafter`.
            #[inline(always)]
            fn nextafter(self, to: Self) -> Self {
                if self.is_nan() || to.is_nan() {
                    return self + to;
                }
                if self == to {
                    return to;
                }
                if self == 0.0 {
                    return <$t>::from_bits(1).copysign(to);
                }
                let bits = self.to_bits();
                let up = (self < to) == (self > 0.0);
                <$t>::from_bits(if up { bits + 1 } else { bits - 1 as $bits })
            }
        }
    )*};
}

impl_float! {
    f32, u32, math::native;
    f64, u64, math;
}

/// complex64 and complex128, over their float parts.
pub trait Cplx: Copy + 'static {
    type R: Float;
    fn re(self) -> Self::R;
    fn im(self) -> Self::R;
    fn new(re: Self::R, im: Self::R) -> Self;
}

impl<R: Float> Cplx for Complex<R> {
    type R = R;
    #[inline(always)]
    fn re(self) -> R {
        self.re
    }
    #[inline(always)]
    fn im(self) -> R {
        self.im
    }
    #[inline(always)]
    fn new(re: R, im: R) -> Self {
        Complex { re, im }
    }
}

/// NumPy's complex multiply: `(ac - bd, ad + bc)`, no special cases, with the fused
/// multiply-adds of NumPy's SIMD loop (`npyv_muladdsub`): `re = fma(a, c, -(b*d))`,
/// `im = fma(a, d, b*c)`.
#[inline(always)]
pub fn cmul<C: Cplx>(a: C, b: C) -> C {
    let (ar, ai, br, bi) = (a.re(), a.im(), b.re(), b.im());
    C::new(ar.fma(br, -(ai * bi)), ar.fma(bi, ai * br))
}

/// NumPy's complex `absolute` (its SIMD loop, not libm's `hypot`): inf if a part is infinite,
/// else NaN if a part is NaN, else `larger * sqrt(fma(ratio, ratio, 1))`.
#[inline(always)]
pub fn cabs<C: Cplx>(z: C) -> C::R {
    let (r, i) = (z.re().abs(), z.im().abs());
    let zero = C::R::ZERO;
    if r.is_infinite() || i.is_infinite() {
        return C::R::ONE / zero;
    }
    if r.is_nan() || i.is_nan() {
        return C::R::NAN;
    }
    let (larger, smaller) = if r > i { (r, i) } else { (i, r) };
    if larger == zero {
        return zero;
    }
    let ratio = smaller / larger;
    ratio.fma(ratio, C::R::ONE).sqrt() * larger
}

/// NumPy's complex divide (Smith's algorithm, as `@TYPE@_divide` in `loops.c.src`).
#[inline(always)]
pub fn cdiv<C: Cplx>(a: C, b: C) -> C {
    let (ar, ai, br, bi) = (a.re(), a.im(), b.re(), b.im());
    let (br_abs, bi_abs) = (br.abs(), bi.abs());
    let zero = C::R::ZERO;
    if br_abs >= bi_abs {
        if br_abs == zero && bi_abs == zero {
            C::new(ar / br_abs, ai / br_abs)
        } else {
            let rat = bi / br;
            let scl = C::R::ONE / (br + bi * rat);
            C::new((ar + ai * rat) * scl, (ai - ar * rat) * scl)
        }
    } else {
        let rat = br / bi;
        let scl = C::R::ONE / (bi + br * rat);
        C::new((ar * rat + ai) * scl, (ai * rat - ar) * scl)
    }
}

/// NumPy's complex reciprocal (`nc_reciprocal`-style, as the `reciprocal` loop).
#[inline(always)]
pub fn crecip<C: Cplx>(z: C) -> C {
    let (r, i) = (z.re(), z.im());
    let one = C::R::ONE;
    if i.abs() <= r.abs() {
        let q = i / r;
        let d = r + i * q;
        C::new(one / d, -q / d)
    } else {
        let q = r / i;
        let d = r * q + i;
        C::new(q / d, -one / d)
    }
}

/// NumPy 2's complex `sign`: `z / |z|`, 0 for 0, with its special cases for inf and nan.
#[inline(always)]
pub fn csign<C: Cplx>(z: C) -> C {
    let (r, i) = (z.re(), z.im());
    let (zero, one) = (C::R::ZERO, C::R::ONE);
    let a = r.hypot(i);
    if a.is_nan() {
        C::new(C::R::NAN, C::R::NAN)
    } else if a.is_infinite() {
        if r.is_infinite() {
            if i.is_infinite() {
                C::new(C::R::NAN, C::R::NAN)
            } else {
                C::new(if r > zero { one } else { -one }, zero)
            }
        } else {
            C::new(zero, if i > zero { one } else { -one })
        }
    } else if a == zero {
        C::new(zero, zero)
    } else {
        C::new(r / a, i / a)
    }
}

/// NumPy's complex power (`nc_pow`): `0 ** b` is 0 when `b.re > 0` (else NaN), exact
/// repeated multiplication for small integer real exponents, otherwise `exp(b * log(a))`.
#[inline(always)]
pub fn cpow<R: Float>(a: Complex<R>, b: Complex<R>) -> Complex<R>
where
    Complex<R>: CMath,
{
    let (zero, one) = (R::ZERO, R::ONE);
    if b.re == zero && b.im == zero {
        return Complex::new(one, zero);
    }
    if a.re == zero && a.im == zero {
        return if b.re > zero {
            Complex::new(zero, zero)
        } else {
            Complex::new(R::NAN, R::NAN)
        };
    }
    if b.im == zero && b.re == b.re.floor() && b.re.abs() < R::from_f64(100.0) {
        let n = b.re.to_f64() as i64;
        // npy_cpow's products are plain C (not NumPy's fused SIMD multiply), and it unrolls
        // 1, 2 and 3 ("handle inf better"), which fixes the signs of zeros and infinities.
        let mul = |a: Complex<R>, b: Complex<R>| {
            Complex::new(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re)
        };
        match n {
            1 => return a,
            2 => return mul(a, a),
            3 => return mul(a, mul(a, a)),
            _ => {}
        }
        let m = n.abs();
        let mut mask = 1i64;
        let mut aa = Complex::new(one, zero);
        let mut p = a;
        loop {
            if m & mask != 0 {
                aa = mul(aa, p);
            }
            mask <<= 1;
            if m < mask {
                break;
            }
            p = mul(p, p);
        }
        return if n < 0 {
            cdiv(Complex::new(one, zero), aa)
        } else {
            aa
        };
    }
    a.powc(b)
}

/// Comparisons and the other operations every non-half dtype has (bool, ints, floats, complex),
/// with NumPy's NaN rules (complex order is lexicographic, as NumPy's `CLT`/`CLE`/...: the
/// real parts decide only when neither imaginary part is NaN).
pub trait Order: Copy + 'static {
    fn lt(self, b: Self) -> bool;
    fn le(self, b: Self) -> bool;
    fn eq(self, b: Self) -> bool;
    fn any_nan(self) -> bool;
    fn all_finite(self) -> bool;
    fn any_inf(self) -> bool;
    fn truthy(self) -> bool;
    #[inline(always)]
    fn gt(self, b: Self) -> bool {
        b.lt(self)
    }
    #[inline(always)]
    fn ge(self, b: Self) -> bool {
        b.le(self)
    }
    #[inline(always)]
    fn ne(self, b: Self) -> bool {
        !self.eq(b)
    }
    /// `np.maximum`: a NaN in `a` wins, then a NaN in `b`; ties (±0) give `b`.
    fn maximum(self, b: Self) -> Self;
    fn minimum(self, b: Self) -> Self;
}

macro_rules! impl_order_real {
    ($($t:ty, $nan:expr, $fin:expr, $inf:expr, $zero:expr;)*) => {$(
        impl Order for $t {
            #[inline(always)] fn lt(self, b: Self) -> bool { self < b }
            #[inline(always)] fn le(self, b: Self) -> bool { self <= b }
            #[allow(clippy::float_cmp)]
            #[inline(always)] fn eq(self, b: Self) -> bool { self == b }
            #[inline(always)] fn any_nan(self) -> bool { let f: fn($t) -> bool = $nan; f(self) }
            #[inline(always)] fn all_finite(self) -> bool { let f: fn($t) -> bool = $fin; f(self) }
            #[inline(always)] fn any_inf(self) -> bool { let f: fn($t) -> bool = $inf; f(self) }
            #[inline(always)] fn truthy(self) -> bool { self != $zero }
            #[inline(always)]
            fn maximum(self, b: Self) -> Self {
                if self.any_nan() || self > b { self } else { b }
            }
            #[inline(always)]
            fn minimum(self, b: Self) -> Self {
                if self.any_nan() || self < b { self } else { b }
            }
        }
    )*};
}

impl_order_real! {
    bool, |_| false, |_| true, |_| false, false;
    i8, |_| false, |_| true, |_| false, 0;
    i16, |_| false, |_| true, |_| false, 0;
    i32, |_| false, |_| true, |_| false, 0;
    i64, |_| false, |_| true, |_| false, 0;
    u8, |_| false, |_| true, |_| false, 0;
    u16, |_| false, |_| true, |_| false, 0;
    u32, |_| false, |_| true, |_| false, 0;
    u64, |_| false, |_| true, |_| false, 0;
    f32, |x| x.is_nan(), |x| x.is_finite(), |x| x.is_infinite(), 0.0;
    f64, |x| x.is_nan(), |x| x.is_finite(), |x| x.is_infinite(), 0.0;
}

impl<R: Float> Order for Complex<R> {
    #[inline(always)]
    fn lt(self, b: Self) -> bool {
        (self.re < b.re && !self.im.is_nan() && !b.im.is_nan())
            || (self.re == b.re && self.im < b.im)
    }
    #[inline(always)]
    fn le(self, b: Self) -> bool {
        (self.re < b.re && !self.im.is_nan() && !b.im.is_nan())
            || (self.re == b.re && self.im <= b.im)
    }
    #[inline(always)]
    fn gt(self, b: Self) -> bool {
        (self.re > b.re && !self.im.is_nan() && !b.im.is_nan())
            || (self.re == b.re && self.im > b.im)
    }
    #[inline(always)]
    fn ge(self, b: Self) -> bool {
        (self.re > b.re && !self.im.is_nan() && !b.im.is_nan())
            || (self.re == b.re && self.im >= b.im)
    }
    #[inline(always)]
    fn eq(self, b: Self) -> bool {
        self.re == b.re && self.im == b.im
    }
    #[inline(always)]
    fn any_nan(self) -> bool {
        self.re.is_nan() || self.im.is_nan()
    }
    #[inline(always)]
    fn all_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
    #[inline(always)]
    fn any_inf(self) -> bool {
        self.re.is_infinite() || self.im.is_infinite()
    }
    #[inline(always)]
    fn truthy(self) -> bool {
        self.re != R::ZERO || self.im != R::ZERO
    }
    /// NumPy's complex `maximum`: `a` if it has a NaN part or `a >= b` (`CGE`), else `b`.
    #[inline(always)]
    fn maximum(self, b: Self) -> Self {
        if self.any_nan() || self.ge(b) {
            self
        } else {
            b
        }
    }
    #[inline(always)]
    fn minimum(self, b: Self) -> Self {
        if self.any_nan() || self.le(b) {
            self
        } else {
            b
        }
    }
}

/// Complex transcendental functions, computed as NumPy computes them on Linux: its `npy_c*`
/// functions call the C library's C99 `<complex.h>` functions (glibc's `csin`, `cpow`, ...),
/// whose special values and branch cuts follow C99 Annex G; `exp2`, `log2`, `log10`, `expm1` and
/// `log1p` are NumPy's own formulas (`funcs.inc.src`: `nc_exp2`, ...).
pub trait CMath: Cplx {
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    fn exp2(self) -> Self;
    fn ln(self) -> Self;
    fn log2(self) -> Self;
    fn log10(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn tanh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    /// C's `cpow` (NumPy's `npy_cpow` handles small integer exponents first: see [`cpow`]).
    fn powc(self, b: Self) -> Self;
    /// `nc_expm1`: `(expm1(x) cos(y) - 2 sin(y/2)^2, exp(x) sin(y))`.
    fn expm1(self) -> Self;
    /// `nc_log1p` as in NumPy 2.4: `(log(hypot(x + 1, y)), atan2(y, x + 1))`.
    fn ln1p(self) -> Self;
}

/// The C library's complex functions. `Complex<f64>`/`Complex<f32>` are `#[repr(C)]` pairs,
/// which the C ABIs (x86-64 SysV, AArch64) pass and return exactly as `double _Complex` /
/// `float _Complex`.
mod clib {
    use num_complex::{Complex32, Complex64};
    extern "C" {
        pub fn csqrt(z: Complex64) -> Complex64;
        pub fn cexp(z: Complex64) -> Complex64;
        pub fn clog(z: Complex64) -> Complex64;
        pub fn csin(z: Complex64) -> Complex64;
        pub fn ccos(z: Complex64) -> Complex64;
        pub fn ctan(z: Complex64) -> Complex64;
        pub fn casin(z: Complex64) -> Complex64;
        pub fn cacos(z: Complex64) -> Complex64;
        pub fn catan(z: Complex64) -> Complex64;
        pub fn csinh(z: Complex64) -> Complex64;
        pub fn ccosh(z: Complex64) -> Complex64;
        pub fn ctanh(z: Complex64) -> Complex64;
        pub fn casinh(z: Complex64) -> Complex64;
        pub fn cacosh(z: Complex64) -> Complex64;
        pub fn catanh(z: Complex64) -> Complex64;
        pub fn cpow(a: Complex64, b: Complex64) -> Complex64;
        pub fn csqrtf(z: Complex32) -> Complex32;
        pub fn cexpf(z: Complex32) -> Complex32;
        pub fn clogf(z: Complex32) -> Complex32;
        pub fn csinf(z: Complex32) -> Complex32;
        pub fn ccosf(z: Complex32) -> Complex32;
        pub fn ctanf(z: Complex32) -> Complex32;
        pub fn casinf(z: Complex32) -> Complex32;
        pub fn cacosf(z: Complex32) -> Complex32;
        pub fn catanf(z: Complex32) -> Complex32;
        pub fn csinhf(z: Complex32) -> Complex32;
        pub fn ccoshf(z: Complex32) -> Complex32;
        pub fn ctanhf(z: Complex32) -> Complex32;
        pub fn casinhf(z: Complex32) -> Complex32;
        pub fn cacoshf(z: Complex32) -> Complex32;
        pub fn catanhf(z: Complex32) -> Complex32;
        pub fn cpowf(a: Complex32, b: Complex32) -> Complex32;
    }
}

macro_rules! impl_cmath {
    ($t:ty, $r:ty, $loge2:expr, $log2e:expr, $log10e:expr;
     $($name:ident => $c:ident),*; pow => $cpow:ident) => {
        impl CMath for $t {
            $(
                #[inline(always)]
                fn $name(self) -> Self {
                    // SAFETY: a pure C99 math function of one complex value (no pointers, no
                    // state but the floating-point flags); the ABI match is explained on `clib`.
                    unsafe { clib::$c(self) }
                }
            )*
            #[inline(always)]
            fn powc(self, b: Self) -> Self {
                // SAFETY: as above.
                unsafe { clib::$cpow(self, b) }
            }
            #[inline(always)]
            fn exp2(self) -> Self {
                CMath::exp(<$t>::new(self.re * $loge2, self.im * $loge2))
            }
            #[inline(always)]
            fn log2(self) -> Self {
                let l = CMath::ln(self);
                <$t>::new(l.re * $log2e, l.im * $log2e)
            }
            #[inline(always)]
            fn log10(self) -> Self {
                let l = CMath::ln(self);
                <$t>::new(l.re * $log10e, l.im * $log10e)
            }
            #[inline(always)]
            fn expm1(self) -> Self {
                let (x, y) = (self.re, self.im);
                // libm's sin and cos (the vector ones leave |y| > 1.6e6 to an exact pass, which
                // this scalar function does not have).
                let a = Float::sin_exact(y / 2.0);
                <$t>::new(
                    Float::expm1::<false>(x) * Float::cos_exact(y) - 2.0 * a * a,
                    Float::exp::<false>(x) * Float::sin_exact(y),
                )
            }
            #[inline(always)]
            fn ln1p(self) -> Self {
                let xp1 = self.re + 1.0;
                <$t>::new(Float::ln::<false>(Float::hypot(xp1, self.im)), Float::atan2::<false>(self.im, xp1))
            }
        }
    };
}

impl_cmath!(num_complex::Complex64, f64, std::f64::consts::LN_2, std::f64::consts::LOG2_E,
    std::f64::consts::LOG10_E;
    sqrt => csqrt, exp => cexp, ln => clog, sin => csin, cos => ccos, tan => ctan,
    asin => casin, acos => cacos, atan => catan, sinh => csinh, cosh => ccosh, tanh => ctanh,
    asinh => casinh, acosh => cacosh, atanh => catanh; pow => cpow);
impl_cmath!(num_complex::Complex32, f32, std::f32::consts::LN_2, std::f32::consts::LOG2_E,
    std::f32::consts::LOG10_E;
    sqrt => csqrtf, exp => cexpf, ln => clogf, sin => csinf, cos => ccosf, tan => ctanf,
    asin => casinf, acos => cacosf, atan => catanf, sinh => csinhf, cosh => ccoshf,
    tanh => ctanhf, asinh => casinhf, acosh => cacoshf, atanh => catanhf; pow => cpowf);
