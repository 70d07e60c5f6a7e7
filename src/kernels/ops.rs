//! The operations, as zero-sized types per family: `all` (every non-half dtype), `bits` (bool
//! and integers), `int`, `flt` (float32/float64) and `cpx` (complex64/complex128). Each body is
//! written once, generic over its family's trait.

use super::drive::{Map1, Map2, Map3};
use super::num::{Cplx, Float, Int, Order};

// A body may name `F`, whether the kernel level has fused multiply-add (see `math::dd`): the
// macros define it as a constant inside `apply` (false) and `apply_fma` (true), so one body
// serves both.
macro_rules! map1 {
    (<$T:ident: $b:path> $($name:ident -> $out:ty = |$a:ident| $e:expr;)*) => {$(
        pub struct $name;
        impl<$T: $b> Map1<$T> for $name {
            type Out = $out;
            #[inline(always)]
            fn apply($a: $T) -> $out { #[allow(dead_code)] const F: bool = false; $e }
            #[inline(always)]
            fn apply_fma($a: $T) -> $out { #[allow(dead_code)] const F: bool = true; $e }
        }
    )*};
}

macro_rules! map2 {
    (<$T:ident: $b:path> $($name:ident -> $out:ty = |$a:ident, $c:ident| $e:expr;)*) => {$(
        pub struct $name;
        impl<$T: $b> Map2<$T> for $name {
            type Out = $out;
            #[inline(always)]
            fn apply($a: $T, $c: $T) -> $out { #[allow(dead_code)] const F: bool = false; $e }
            #[inline(always)]
            fn apply_fma($a: $T, $c: $T) -> $out { #[allow(dead_code)] const F: bool = true; $e }
        }
    )*};
}

macro_rules! map1_fixup {
    (<$T:ident: $b:path> $($name:ident -> $out:ty = |$a:ident| $e:expr,
        exact if $need:expr => $ex:expr;)*) => {$(
        pub struct $name;
        impl<$T: $b> Map1<$T> for $name {
            type Out = $out;
            #[inline(always)]
            fn apply($a: $T) -> $out { const F: bool = false; $e }
            #[inline(always)]
            fn apply_fma($a: $T) -> $out { const F: bool = true; $e }
            const FIXUP: bool = true;
            #[inline(always)]
            fn needs_exact($a: $T) -> bool { #[allow(dead_code)] const F: bool = false; $need }
            #[inline(always)]
            fn needs_exact_fma($a: $T) -> bool { #[allow(dead_code)] const F: bool = true; $need }
            #[inline(always)]
            fn exact($a: $T) -> $out { $ex }
        }
    )*};
}

macro_rules! map3 {
    (<$T:ident: $b:path> $($name:ident -> $out:ty = |$a:ident, $c:ident, $d:ident| $e:expr;)*) => {$(
        pub struct $name;
        impl<$T: $b> Map3<$T, $T, $T> for $name {
            type Out = $out;
            #[inline(always)]
            fn apply($a: $T, $c: $T, $d: $T) -> $out { $e }
        }
    )*};
}

/// Operations every dtype has (comparisons, logic, classification, copies).
pub mod all {
    use super::*;

    map1! { <T: Copy>
        Identity -> T = |a| a;
    }
    map1! { <T: Order>
        LogicalNot -> bool = |a| !a.truthy();
        IsNan -> bool = |a| a.any_nan();
        IsFinite -> bool = |a| a.all_finite();
        IsInf -> bool = |a| a.any_inf();
    }
    map2! { <T: Order>
        Less -> bool = |a, b| a.lt(b);
        LessEqual -> bool = |a, b| a.le(b);
        Greater -> bool = |a, b| a.gt(b);
        GreaterEqual -> bool = |a, b| a.ge(b);
        Equal -> bool = |a, b| a.eq(b);
        NotEqual -> bool = |a, b| a.ne(b);
        LogicalAnd -> bool = |a, b| a.truthy() & b.truthy();
        LogicalOr -> bool = |a, b| a.truthy() | b.truthy();
        Maximum -> T = |a, b| a.maximum(b);
        Minimum -> T = |a, b| a.minimum(b);
    }
    map3! { <T: Order>
        Clip -> T = |x, lo, hi| x.maximum(lo).minimum(hi);
    }

    /// `where(cond, x, y)`.
    pub struct Where;
    impl<T: Copy> Map3<bool, T, T> for Where {
        type Out = T;
        #[inline(always)]
        fn apply(c: bool, x: T, y: T) -> T {
            if c {
                x
            } else {
                y
            }
        }
    }
}

/// Bitwise operations of bool and the integers (on bool they are the logical ones).
pub trait Bits: Copy + 'static {
    fn and(self, b: Self) -> Self;
    fn or(self, b: Self) -> Self;
    fn xor(self, b: Self) -> Self;
    fn not(self) -> Self;
}

impl<T: Int> Bits for T {
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        Int::and(self, b)
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        Int::or(self, b)
    }
    #[inline(always)]
    fn xor(self, b: Self) -> Self {
        Int::xor(self, b)
    }
    #[inline(always)]
    fn not(self) -> Self {
        Int::not(self)
    }
}

/// The bool "bits" wrapper: bool cannot implement [`Bits`] next to the blanket integer impl, so
/// bool kernels use these.
pub mod boolean {
    use super::*;
    pub struct And;
    pub struct Or;
    pub struct Xor;
    pub struct Not;
    impl Map2<bool> for And {
        type Out = bool;
        #[inline(always)]
        fn apply(a: bool, b: bool) -> bool {
            a & b
        }
    }
    impl Map2<bool> for Or {
        type Out = bool;
        #[inline(always)]
        fn apply(a: bool, b: bool) -> bool {
            a | b
        }
    }
    impl Map2<bool> for Xor {
        type Out = bool;
        #[inline(always)]
        fn apply(a: bool, b: bool) -> bool {
            a ^ b
        }
    }
    impl Map1<bool> for Not {
        type Out = bool;
        #[inline(always)]
        fn apply(a: bool) -> bool {
            !a
        }
    }
}

/// Integer bitwise operations.
pub mod bits {
    use super::*;
    map2! { <T: Bits>
        And -> T = |a, b| a.and(b);
        Or -> T = |a, b| a.or(b);
        Xor -> T = |a, b| a.xor(b);
    }
    map1! { <T: Bits>
        Not -> T = |a| a.not();
    }
}

/// Integer arithmetic (wrapping; division by zero gives 0).
pub mod int {
    use super::*;
    map1! { <T: Int>
        Negative -> T = |a| a.wneg();
        Square -> T = |a| a.wmul(a);
        Reciprocal -> T = |a| a.recip();
        Absolute -> T = |a| a.wabs();
        Sign -> T = |a| a.sign();
    }
    map2! { <T: Int>
        Add -> T = |a, b| a.wadd(b);
        Subtract -> T = |a, b| a.wsub(b);
        Multiply -> T = |a, b| a.wmul(b);
        FloorDivide -> T = |a, b| a.floor_div(b);
        Remainder -> T = |a, b| a.py_rem(b);
        Fmod -> T = |a, b| a.c_fmod(b);
        Power -> T = |a, b| a.ipow(b);
        LeftShift -> T = |a, b| a.lshift(b);
        RightShift -> T = |a, b| a.rshift(b);
    }
    map3! { <T: Int>
        Fma -> T = |a, b, c| a.wmul(b).wadd(c);
        MultiplyAdd -> T = |x, y, z| x.wmul(y).wadd(z);
        AddMultiply -> T = |x, y, z| z.wadd(x.wmul(y));
        MultiplySubtract -> T = |x, y, z| x.wmul(y).wsub(z);
        SubtractMultiply -> T = |x, y, z| z.wsub(x.wmul(y));
    }
}

/// float32/float64 arithmetic and functions.
pub mod flt {
    use super::*;
    use num_complex::Complex;
    map1! { <T: Float>
        Negative -> T = |a| -a;
        Square -> T = |a| a * a;
        Reciprocal -> T = |a| T::ONE / a;
        Absolute -> T = |a| a.abs();
        Sign -> T = |a| a.sign();
        SignBit -> bool = |a| a.signbit();
        Sqrt -> T = |a| a.sqrt();
        Cbrt -> T = |a| a.cbrt::<F>();
        Exp -> T = |a| a.exp::<F>();
        Exp2 -> T = |a| a.exp2::<F>();
        Expm1 -> T = |a| a.expm1::<F>();
        Log -> T = |a| a.ln::<F>();
        Log2 -> T = |a| a.log2::<F>();
        Log10 -> T = |a| a.log10::<F>();
        Log1p -> T = |a| a.ln1p::<F>();
        Arcsin -> T = |a| a.asin::<F>();
        Arccos -> T = |a| a.acos::<F>();
        Arctan -> T = |a| a.atan::<F>();
        Sinh -> T = |a| a.sinh::<F>();
        Cosh -> T = |a| a.cosh::<F>();
        Tanh -> T = |a| a.tanh::<F>();
        Arcsinh -> T = |a| a.asinh::<F>();
        Arccosh -> T = |a| a.acosh::<F>();
        Arctanh -> T = |a| a.atanh::<F>();
        Ceil -> T = |a| a.ceil();
        Floor -> T = |a| a.floor();
        Trunc -> T = |a| a.trunc();
        Rint -> T = |a| a.rint();
    }
    map2! { <T: Float>
        Add -> T = |a, b| a + b;
        Subtract -> T = |a, b| a - b;
        Multiply -> T = |a, b| a * b;
        TrueDivide -> T = |a, b| a / b;
        FloorDivide -> T = |a, b| a.floor_div(b);
        Remainder -> T = |a, b| a.py_rem(b);
        Fmod -> T = |a, b| a % b;
        Arctan2 -> T = |a, b| a.atan2::<F>(b);
        Hypot -> T = |a, b| a.hypot_fast::<F>(b);
        Nextafter -> T = |a, b| a.nextafter(b);
        Copysign -> T = |a, b| a.copysign(b);
        MakeComplex -> Complex<T> = |a, b| Complex { re: a, im: b };
    }
    map3! { <T: Float>
        Fma -> T = |a, b, c| a.fma(b, c);
        // Two roundings, never contracted to one fused multiply-add (Rust does not contract).
        MultiplyAdd -> T = |x, y, z| (x * y) + z;
        AddMultiply -> T = |x, y, z| z + (x * y);
        MultiplySubtract -> T = |x, y, z| (x * y) - z;
        SubtractMultiply -> T = |x, y, z| z - (x * y);
    }

    // Vectorised approximations with an exact second pass for the lanes they cannot do
    // (see `drive::Map1::FIXUP`).
    map1_fixup! { <T: Float>
        Sin -> T = |a| a.sin::<F>(), exact if a.trig_huge() => a.sin_exact();
        Cos -> T = |a| a.cos::<F>(), exact if a.trig_huge() => a.cos_exact();
        Tan -> T = |a| a.tan::<F>(), exact if a.trig_huge() => a.tan_exact();
        // `power(x, 3)`'s integral-exponent road ([`Power`]), as one operand's operation.
        Cube -> T = |a| a.powi_dd::<F, 2, false>(3).0,
            exact if a.powi_dd::<F, 2, false>(3).1 => a.powf_exact(T::from_f64(3.0));
    }

    /// `a ** b`; with a broadcast integral exponent of at most 15 in magnitude (`x**3`,
    /// `x**-2`), a product of double-doubles instead of `exp(b log a)`: ten times faster, and
    /// still within pow's bound (see [`super::super::math::powi`]).
    pub struct Power;
    impl<T: Float> Map2<T> for Power {
        type Out = T;
        #[inline(always)]
        fn apply(a: T, b: T) -> T {
            a.powf::<false>(b)
        }
        #[inline(always)]
        fn apply_fma(a: T, b: T) -> T {
            a.powf::<true>(b)
        }
        const FIXUP: bool = true;
        #[inline(always)]
        fn needs_exact(a: T, b: T) -> bool {
            a.pow_special(b)
        }
        #[inline(always)]
        fn exact(a: T, b: T) -> T {
            a.powf_exact(b)
        }
        #[inline(always)]
        fn int_exponent(b: T) -> Option<i32> {
            b.small_int_exponent()
        }
        #[inline(always)]
        fn powi<const F: bool, const NB: u32, const NEG: bool>(a: T, e: u32) -> (T, bool) {
            a.powi_dd::<F, NB, NEG>(e)
        }
    }
}

/// complex64/complex128 arithmetic and functions.
pub mod cpx {
    use super::super::num::{cabs, cdiv, cmul, cpow, crecip, csign, CMath};
    use super::*;
    use num_complex::Complex;

    map1! { <T: Cplx>
        Negative -> T = |a| T::new(-a.re(), -a.im());
        Conjugate -> T = |a| T::new(a.re(), -a.im());
        Square -> T = |a| cmul(a, a);
        Reciprocal -> T = |a| crecip(a);
        Absolute -> T::R = |a| cabs(a);
        Sign -> T = |a| csign(a);
        Rint -> T = |a| T::new(a.re().rint(), a.im().rint());
        Real -> T::R = |a| a.re();
        Imag -> T::R = |a| a.im();
    }
    /// NumPy's complex `clip` (`clip.cpp`): `min(max(x, lo), hi)` where each step keeps a
    /// first operand with a NaN part, else decides by a plain lexicographic comparison (not the
    /// NaN-aware ordering of `<` and `maximum`).
    pub struct Clip;
    impl<T: Cplx> Map3<T, T, T> for Clip {
        type Out = T;
        #[inline(always)]
        fn apply(x: T, lo: T, hi: T) -> T {
            let nan = |z: T| z.re().is_nan() || z.im().is_nan();
            let before = |a: T, b: T| {
                if a.re() == b.re() {
                    a.im() < b.im()
                } else {
                    a.re() < b.re()
                }
            };
            let t = if nan(x) || before(lo, x) { x } else { lo };
            if nan(t) || before(t, hi) {
                t
            } else {
                hi
            }
        }
    }

    map2! { <T: Cplx>
        Add -> T = |a, b| T::new(a.re() + b.re(), a.im() + b.im());
        Subtract -> T = |a, b| T::new(a.re() - b.re(), a.im() - b.im());
        Multiply -> T = |a, b| cmul(a, b);
        TrueDivide -> T = |a, b| cdiv(a, b);
    }
    map1! { <T: CMath>
        Sqrt -> T = |a| a.sqrt();
        Exp -> T = |a| a.exp();
        Exp2 -> T = |a| a.exp2();
        Expm1 -> T = |a| a.expm1();
        Log -> T = |a| a.ln();
        Log2 -> T = |a| a.log2();
        Log10 -> T = |a| a.log10();
        Log1p -> T = |a| a.ln1p();
        Sin -> T = |a| a.sin();
        Cos -> T = |a| a.cos();
        Tan -> T = |a| a.tan();
        Arcsin -> T = |a| a.asin();
        Arccos -> T = |a| a.acos();
        Arctan -> T = |a| a.atan();
        Sinh -> T = |a| a.sinh();
        Cosh -> T = |a| a.cosh();
        Tanh -> T = |a| a.tanh();
        Arcsinh -> T = |a| a.asinh();
        Arccosh -> T = |a| a.acosh();
        Arctanh -> T = |a| a.atanh();
    }

    /// `np.power` on complex (`nc_pow`).
    pub struct Power;
    impl<R: Float> Map2<Complex<R>> for Power
    where
        Complex<R>: CMath,
    {
        type Out = Complex<R>;
        #[inline(always)]
        fn apply(a: Complex<R>, b: Complex<R>) -> Complex<R> {
            cpow(a, b)
        }
    }
}

/// NumPy's `npy_half_nextafter`: one step of the float16 bit pattern towards `y` (widening to
/// float32 would step by a float32 ulp, which rounds back to `x`).
pub struct HalfNextafter;
impl Map2<half::f16> for HalfNextafter {
    type Out = half::f16;
    #[inline(always)]
    fn apply(a: half::f16, b: half::f16) -> half::f16 {
        let (x, y) = (a.to_bits(), b.to_bits());
        let bits = if a.is_nan() || b.is_nan() {
            0x7e00
        } else if a == b {
            x
        } else if x & 0x7fff == 0 {
            (y & 0x8000) + 1
        } else if x & 0x8000 == 0 {
            if (x as i16) > (y as i16) {
                x - 1
            } else {
                x + 1
            }
        } else if y & 0x8000 == 0 || (x & 0x7fff) > (y & 0x7fff) {
            x - 1
        } else {
            x + 1
        };
        half::f16::from_bits(bits)
    }
}
