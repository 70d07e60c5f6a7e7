//! `astype` conversions (unsafe casting) between the 14 dtypes, as NumPy 2 does them on x86-64.
//!
//! Float → integer for NaN, ±inf and out-of-range values is undefined in C; NumPy's results
//! are those of the x86-64 conversion instructions its loops compile to, reproduced here:
//! `cvtt*2si` gives the "integer indefinite" (`MIN`) when the truncated value does not fit;
//! int8/int16/uint8/uint16 convert through int32 and keep the low bits; uint64 converts values
//! `>= 2^63` as `(x - 2^63) ^ 2^63`. uint32 differs between NumPy's loops: from float16 it goes
//! through int64 (low 32 bits); from float32/float64/complex NumPy's vectorised loop converts
//! values `>= 2^31` as `(x - 2^31) ^ 2^31` through int32 (what arrays of more than a few
//! elements get; NumPy's scalar tail loop differs for values outside `(-2^31, 2^32)`).
//! Table-tested against NumPy 2.4 in `tests/kernels.rs`.

use super::drive::Map1;
use half::f16;
use num_complex::{Complex32, Complex64};
use std::marker::PhantomData;

const TWO31: f64 = 2147483648.0;
const TWO63: f64 = 9223372036854775808.0;

/// `cvttsd2si` to 32 bits.
#[inline(always)]
fn cvt32(x: f64) -> i32 {
    if x > -2147483649.0 && x < TWO31 {
        x as i32
    } else {
        i32::MIN
    }
}

/// `cvttsd2si` to 64 bits.
#[inline(always)]
fn cvt64(x: f64) -> i64 {
    if (-TWO63..TWO63).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

#[inline(always)]
pub fn f64_to_i8(x: f64) -> i8 {
    cvt32(x) as i8
}
#[inline(always)]
pub fn f64_to_i16(x: f64) -> i16 {
    cvt32(x) as i16
}
#[inline(always)]
pub fn f64_to_i32(x: f64) -> i32 {
    cvt32(x)
}
#[inline(always)]
pub fn f64_to_i64(x: f64) -> i64 {
    cvt64(x)
}
#[inline(always)]
pub fn f64_to_u8(x: f64) -> u8 {
    cvt32(x) as u8
}
#[inline(always)]
pub fn f64_to_u16(x: f64) -> u16 {
    cvt32(x) as u16
}
/// float32/float64/complex → uint32 (NumPy's vectorised loop).
#[inline(always)]
pub fn f64_to_u32(x: f64) -> u32 {
    if x >= TWO31 {
        (cvt32(x - TWO31) as u32) ^ 0x8000_0000
    } else {
        cvt32(x) as u32
    }
}
/// float16 → uint32 (through int64).
#[inline(always)]
fn half_to_u32(x: f64) -> u32 {
    cvt64(x) as u32
}
#[inline(always)]
pub fn f64_to_u64(x: f64) -> u64 {
    if x >= TWO63 {
        (cvt64(x - TWO63) as u64) ^ (1 << 63)
    } else {
        cvt64(x) as u64
    }
}

/// A cast's destination: how it is made from each kind of source value.
pub trait CastTarget: Copy + 'static {
    fn from_bool(b: bool) -> Self;
    fn from_i64(x: i64) -> Self;
    fn from_u64(x: u64) -> Self;
    /// From a float32/float64 value (exactly widened to f64).
    fn from_float(x: f64) -> Self;
    /// From a float16 value (exactly widened to f64).
    fn from_half(x: f64) -> Self {
        Self::from_float(x)
    }
    /// From a complex value (parts exactly widened to f64).
    fn from_complex(re: f64, im: f64) -> Self;
}

macro_rules! target_int {
    ($($t:ty, $f:path, $h:path;)*) => {$(
        impl CastTarget for $t {
            #[inline(always)] fn from_bool(b: bool) -> Self { b as $t }
            #[inline(always)] fn from_i64(x: i64) -> Self { x as $t }
            #[inline(always)] fn from_u64(x: u64) -> Self { x as $t }
            #[inline(always)] fn from_float(x: f64) -> Self { $f(x) }
            #[inline(always)] fn from_half(x: f64) -> Self { $h(x) }
            #[inline(always)] fn from_complex(re: f64, _im: f64) -> Self { $f(re) }
        }
    )*};
}

target_int! {
    i8, f64_to_i8, f64_to_i8;
    i16, f64_to_i16, f64_to_i16;
    i32, f64_to_i32, f64_to_i32;
    i64, f64_to_i64, f64_to_i64;
    u8, f64_to_u8, f64_to_u8;
    u16, f64_to_u16, f64_to_u16;
    u32, f64_to_u32, half_to_u32;
    u64, f64_to_u64, f64_to_u64;
}

impl CastTarget for bool {
    #[inline(always)]
    fn from_bool(b: bool) -> Self {
        b
    }
    #[inline(always)]
    fn from_i64(x: i64) -> Self {
        x != 0
    }
    #[inline(always)]
    fn from_u64(x: u64) -> Self {
        x != 0
    }
    #[inline(always)]
    fn from_float(x: f64) -> Self {
        x != 0.0
    }
    #[inline(always)]
    fn from_complex(re: f64, im: f64) -> Self {
        re != 0.0 || im != 0.0
    }
}

macro_rules! target_float {
    ($($t:ty, $from_f64:expr;)*) => {$(
        impl CastTarget for $t {
            #[inline(always)] fn from_bool(b: bool) -> Self { Self::from_float(b as u8 as f64) }
            // i64 → f64 can round, and f64 → f32/f16 again: the second rounding never changes
            // the result (any integer that f64 rounds lies far from an f32/f16 midpoint or
            // overflows f16), so this is the correctly rounded single conversion.
            #[inline(always)] fn from_i64(x: i64) -> Self { let f: fn(i64) -> $t = |x| Self::from_float(x as f64); f(x) }
            #[inline(always)] fn from_u64(x: u64) -> Self { let f: fn(u64) -> $t = |x| Self::from_float(x as f64); f(x) }
            #[inline(always)] fn from_float(x: f64) -> Self { let f: fn(f64) -> $t = $from_f64; f(x) }
            #[inline(always)] fn from_complex(re: f64, _im: f64) -> Self { Self::from_float(re) }
        }
    )*};
}

/// f64 → float16, correctly rounded (half to even) straight from f64, as NumPy's
/// `npy_double_to_half`. (`half::f16::from_f64` may round through f32 when the CPU has F16C,
/// which double-rounds.) NaN keeps its sign and top payload bits, as NumPy.
pub fn f64_to_f16(x: f64) -> f16 {
    let b = x.to_bits();
    let sign = ((b >> 48) & 0x8000) as u16;
    let exp = ((b >> 52) & 0x7ff) as i32;
    let man = b & ((1 << 52) - 1);
    if exp == 0x7ff {
        if man == 0 {
            return f16::from_bits(sign | 0x7c00);
        }
        let r = (0x7c00 + (man >> 42)) as u16;
        return f16::from_bits(sign | if r == 0x7c00 { 0x7c01 } else { r });
    }
    let e = exp - 1023;
    if e > 15 {
        return f16::from_bits(sign | 0x7c00);
    }
    if e < -25 {
        // Below half the smallest subnormal (2^-25): rounds to zero (f64 subnormals included).
        return f16::from_bits(sign);
    }
    let sig = man | (1 << 52);
    // The value is sig * 2^(e-52); keep the bits down to the half quantum 2^(max(e,-14)-10).
    let shift = (42 + (e.max(-14) - e)) as u32;
    let mut q = sig >> shift;
    let rem = sig & ((1u64 << shift) - 1);
    let halfway = 1u64 << (shift - 1);
    if rem > halfway || (rem == halfway && q & 1 == 1) {
        q += 1;
    }
    // For normal results q includes the implicit bit, so a carry moves into the exponent (and
    // 0x7c00, infinity, on overflow).
    let bits = if e >= -14 {
        (((e + 14) as u64) << 10) + q
    } else {
        q
    };
    f16::from_bits(sign | bits as u16)
}

target_float! {
    f16, f64_to_f16;
    f32, |x| x as f32;
    f64, |x| x;
}

macro_rules! target_complex {
    ($($t:ty, $r:ty;)*) => {$(
        impl CastTarget for $t {
            #[inline(always)] fn from_bool(b: bool) -> Self { <$t>::new(<$r>::from_bool(b), 0.0) }
            #[inline(always)] fn from_i64(x: i64) -> Self { <$t>::new(<$r>::from_i64(x), 0.0) }
            #[inline(always)] fn from_u64(x: u64) -> Self { <$t>::new(<$r>::from_u64(x), 0.0) }
            #[inline(always)] fn from_float(x: f64) -> Self { <$t>::new(<$r>::from_float(x), 0.0) }
            #[inline(always)] fn from_complex(re: f64, im: f64) -> Self { <$t>::new(<$r>::from_float(re), <$r>::from_float(im)) }
        }
    )*};
}

target_complex! {
    Complex32, f32;
    Complex64, f64;
}

/// A cast's source: hands its value to the destination's matching constructor.
pub trait CastSource: Copy + 'static {
    fn cast<U: CastTarget>(self) -> U;
}

macro_rules! source {
    ($($t:ty => |$x:ident| $e:expr;)*) => {$(
        impl CastSource for $t {
            #[inline(always)]
            fn cast<U: CastTarget>(self) -> U { let $x = self; $e }
        }
    )*};
}

source! {
    bool => |x| U::from_bool(x);
    i8 => |x| U::from_i64(x as i64);
    i16 => |x| U::from_i64(x as i64);
    i32 => |x| U::from_i64(x as i64);
    i64 => |x| U::from_i64(x);
    u8 => |x| U::from_u64(x as u64);
    u16 => |x| U::from_u64(x as u64);
    u32 => |x| U::from_u64(x as u64);
    u64 => |x| U::from_u64(x);
    f16 => |x| U::from_half(x.to_f64());
    f32 => |x| U::from_float(x as f64);
    f64 => |x| U::from_float(x);
    Complex32 => |x| U::from_complex(x.re as f64, x.im as f64);
    Complex64 => |x| U::from_complex(x.re, x.im);
}

/// The cast kernel's operation: to `U`.
pub struct CastTo<U>(PhantomData<U>);

impl<T: CastSource, U: CastTarget> Map1<T> for CastTo<U> {
    type Out = U;
    #[inline(always)]
    fn apply(a: T) -> U {
        a.cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every finite float16 `h` and the midpoint `m` to the next one: `m` rounds to the even of
    /// the two, `m ± tiny` to the nearer; the values themselves convert exactly.
    #[test]
    fn f64_to_f16_rounds_once_to_nearest_even() {
        for bits in 0u16..0x7bff {
            for sign in [0u16, 0x8000] {
                let h = f16::from_bits(bits | sign);
                let x = h.to_f64();
                assert_eq!(f64_to_f16(x).to_bits(), h.to_bits());
                let next = f16::from_bits((bits + 1) | sign).to_f64();
                let m = (x + next) / 2.0;
                let even = if bits & 1 == 0 { bits } else { bits + 1 };
                assert_eq!(f64_to_f16(m).to_bits(), even | sign, "midpoint above {x}");
                let tiny = (next - x).abs() * 2f64.powi(-30);
                let (lo, hi) = if sign == 0 {
                    (m - tiny, m + tiny)
                } else {
                    (m + tiny, m - tiny)
                };
                assert_eq!(f64_to_f16(lo).to_bits(), bits | sign);
                assert_eq!(f64_to_f16(hi).to_bits(), (bits + 1) | sign);
            }
        }
        assert_eq!(f64_to_f16(65504.0).to_bits(), 0x7bff);
        assert_eq!(f64_to_f16(65519.99).to_bits(), 0x7bff);
        assert_eq!(f64_to_f16(65520.0).to_bits(), 0x7c00);
        assert_eq!(f64_to_f16(-65520.0).to_bits(), 0xfc00);
        assert!(f64_to_f16(f64::NAN).is_nan());
        assert_eq!(f64_to_f16(1e300).to_bits(), 0x7c00);
        assert_eq!(f64_to_f16(-1e-300).to_bits(), 0x8000);
        assert_eq!(f64_to_f16(f64::from_bits(1)).to_bits(), 0);
    }

    #[test]
    fn float_to_int_special_values() {
        assert_eq!(f64_to_i8(300.0), 44);
        assert_eq!(f64_to_i16(f64::NAN), 0);
        assert_eq!(f64_to_i32(-2147483648.9), i32::MIN);
        assert_eq!(f64_to_i32(2147483647.9), i32::MAX);
        assert_eq!(f64_to_i64(f64::INFINITY), i64::MIN);
        assert_eq!(f64_to_u32(4294967295.0), u32::MAX);
        assert_eq!(f64_to_u32(-1.0), u32::MAX);
        assert_eq!(f64_to_u32(f64::NAN), 1 << 31);
        assert_eq!(half_to_u32(f64::NAN), 0);
        assert_eq!(f64_to_u64(18446744073709549568.0), 18446744073709549568);
        assert_eq!(f64_to_u64(f64::NAN), 1 << 63);
    }
}
