//! An independent reference evaluator for ndexpr expressions: NumPy 2 semantics, written plainly.
//!
//! It walks the AST and materialises one full temporary array per operation (ndarray `ArrayD`),
//! broadcasting with NumPy's rule, and computes every element with Rust `std` arithmetic and math.
//! It shares no code with ndexpr's kernels or VM: the only crate items it uses are the parser,
//! the AST, `DType`/`Op`/`Ty`/`Loop` and the type rules (`types::resolve`) that pick loop dtypes.
//!
//! Literal-only subexpressions fold first with Python's rules (Python evaluates `2**-1` before
//! NumPy sees it); a literal meeting an array is a weak scalar converted to the loop's dtype.
//! float16 loops compute in float32 and round back per operation, as NumPy's half loops do.
//!
//! Complex loops follow NumPy 2.4's C code on x86-64 (the SIMD multiply is fused, Smith's
//! division, npymath's `npy_cpow`, lexicographic orderings); the complex functions NumPy takes
//! from libm (`cexp`, `csqrt`, ...) are called from the C library here too.
//!
//! Errors whose text starts with [`SKIP`] mark cases NumPy leaves undefined (integer reciprocal
//! of zero, float-to-int casts of NaN) or that the reference does not model (Python's
//! non-integer complex `**` between literals): a differential test should discard such cases
//! rather than compare them.

use half::f16;
use ndarray::{ArrayD, IxDyn, Zip};
use ndexpr::bytecode::Op;
use ndexpr::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use ndexpr::types::{DType, Loop, Ty};
use num_complex::{Complex32, Complex64};

/// Prefix of errors for cases the reference refuses to judge (undefined in NumPy, or unmodelled).
pub const SKIP: &str = "SKIP:";

/// A dtype-tagged owned array.
#[derive(Debug, Clone, PartialEq)]
pub enum RefArray {
    Bool(ArrayD<bool>),
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    U8(ArrayD<u8>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    U64(ArrayD<u64>),
    F16(ArrayD<f16>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    C64(ArrayD<Complex32>),
    C128(ArrayD<Complex64>),
}

/// Runs `$body` with `$a` bound to the array inside any [`RefArray`] variant.
macro_rules! with_array {
    ($arr:expr, $a:ident => $body:expr) => {
        match $arr {
            RefArray::Bool($a) => $body,
            RefArray::I8($a) => $body,
            RefArray::I16($a) => $body,
            RefArray::I32($a) => $body,
            RefArray::I64($a) => $body,
            RefArray::U8($a) => $body,
            RefArray::U16($a) => $body,
            RefArray::U32($a) => $body,
            RefArray::U64($a) => $body,
            RefArray::F16($a) => $body,
            RefArray::F32($a) => $body,
            RefArray::F64($a) => $body,
            RefArray::C64($a) => $body,
            RefArray::C128($a) => $body,
        }
    };
}

impl RefArray {
    pub fn dtype(&self) -> DType {
        match self {
            RefArray::Bool(_) => DType::Bool,
            RefArray::I8(_) => DType::I8,
            RefArray::I16(_) => DType::I16,
            RefArray::I32(_) => DType::I32,
            RefArray::I64(_) => DType::I64,
            RefArray::U8(_) => DType::U8,
            RefArray::U16(_) => DType::U16,
            RefArray::U32(_) => DType::U32,
            RefArray::U64(_) => DType::U64,
            RefArray::F16(_) => DType::F16,
            RefArray::F32(_) => DType::F32,
            RefArray::F64(_) => DType::F64,
            RefArray::C64(_) => DType::C64,
            RefArray::C128(_) => DType::C128,
        }
    }

    pub fn shape(&self) -> Vec<usize> {
        with_array!(self, a => a.shape().to_vec())
    }

    pub fn len(&self) -> usize {
        with_array!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements in logical (C) order, widened for inspection.
    fn widen(&self) -> ArrayD<W> {
        match self {
            RefArray::Bool(a) => a.mapv(W::B),
            RefArray::I8(a) => a.mapv(|x| W::I(x as i128)),
            RefArray::I16(a) => a.mapv(|x| W::I(x as i128)),
            RefArray::I32(a) => a.mapv(|x| W::I(x as i128)),
            RefArray::I64(a) => a.mapv(|x| W::I(x as i128)),
            RefArray::U8(a) => a.mapv(|x| W::I(x as i128)),
            RefArray::U16(a) => a.mapv(|x| W::I(x as i128)),
            RefArray::U32(a) => a.mapv(|x| W::I(x as i128)),
            RefArray::U64(a) => a.mapv(|x| W::I(x as i128)),
            RefArray::F16(a) => a.mapv(|x| W::F(x.to_f64())),
            RefArray::F32(a) => a.mapv(|x| W::F(x as f64)),
            RefArray::F64(a) => a.mapv(W::F),
            RefArray::C64(a) => a.mapv(|z| W::C(Complex64::new(z.re as f64, z.im as f64))),
            RefArray::C128(a) => a.mapv(W::C),
        }
    }

    /// `astype(to)` with NumPy's unsafe casting. Float-to-int casts of NaN or out-of-range
    /// values are undefined in NumPy and give a [`SKIP`] error.
    pub fn cast(&self, to: DType) -> Result<RefArray, String> {
        if self.dtype() == to {
            return Ok(self.clone());
        }
        let w = self.widen();
        fn ints<T: Default>(w: &ArrayD<W>, f: impl Fn(i128) -> T) -> Result<ArrayD<T>, String> {
            let mut err = None;
            let out = w.map(|&x| match x {
                W::B(b) => f(b as i128),
                W::I(i) => f(i),
                W::F(v) | W::C(Complex64 { re: v, .. }) => {
                    if v.is_nan() || v.trunc() < -(2f64.powi(63)) || v.trunc() >= 2f64.powi(64) {
                        err.get_or_insert(format!("{SKIP} float-to-int cast of {v} is undefined"));
                        T::default()
                    } else {
                        f(v.trunc() as i128)
                    }
                }
            });
            err.map_or(Ok(out), Err)
        }
        fn real(x: W) -> f64 {
            match x {
                W::B(b) => b as u8 as f64,
                W::I(i) => i as f64,
                W::F(v) => v,
                W::C(z) => z.re,
            }
        }
        Ok(match to {
            DType::Bool => RefArray::Bool(w.mapv(|x| match x {
                W::B(b) => b,
                W::I(i) => i != 0,
                W::F(v) => v != 0.0,
                W::C(z) => z.re != 0.0 || z.im != 0.0,
            })),
            // `i as T` from i128 keeps the low bits: C's wrap-around for int-to-int casts.
            DType::I8 => RefArray::I8(ints(&w, |i| i as i8)?),
            DType::I16 => RefArray::I16(ints(&w, |i| i as i16)?),
            DType::I32 => RefArray::I32(ints(&w, |i| i as i32)?),
            DType::I64 => RefArray::I64(ints(&w, |i| i as i64)?),
            DType::U8 => RefArray::U8(ints(&w, |i| i as u8)?),
            DType::U16 => RefArray::U16(ints(&w, |i| i as u16)?),
            DType::U32 => RefArray::U32(ints(&w, |i| i as u32)?),
            DType::U64 => RefArray::U64(ints(&w, |i| i as u64)?),
            // Integers convert with one rounding, straight to the target.
            DType::F32 => RefArray::F32(w.mapv(|x| match x {
                W::I(i) => i as f32,
                other => real(other) as f32,
            })),
            DType::F64 => RefArray::F64(w.mapv(real)),
            // Every source value is exact in f64 (ints beyond 2^53 overflow float16 anyway).
            DType::F16 => RefArray::F16(w.mapv(|x| f16::from_f64(real(x)))),
            DType::C64 => RefArray::C64(w.mapv(|x| match x {
                W::C(z) => Complex32::new(z.re as f32, z.im as f32),
                W::I(i) => Complex32::new(i as f32, 0.0),
                other => Complex32::new(real(other) as f32, 0.0),
            })),
            DType::C128 => RefArray::C128(w.mapv(|x| match x {
                W::C(z) => z,
                other => Complex64::new(real(other), 0.0),
            })),
        })
    }

    /// A 0-d array holding one widened value.
    fn scalar(value: W, dtype: DType) -> Result<RefArray, String> {
        let source = match value {
            W::B(b) => RefArray::Bool(ArrayD::from_elem(IxDyn(&[]), b)),
            W::I(i) => {
                if let Ok(v) = i64::try_from(i) {
                    RefArray::I64(ArrayD::from_elem(IxDyn(&[]), v))
                } else if let Ok(v) = u64::try_from(i) {
                    RefArray::U64(ArrayD::from_elem(IxDyn(&[]), v))
                } else if !dtype.is_integer() && dtype != DType::Bool {
                    // Beyond 64 bits NumPy goes through float64 (e.g. exact comparisons).
                    RefArray::F64(ArrayD::from_elem(IxDyn(&[]), i as f64))
                } else {
                    return Err(format!("Python integer {i} out of bounds for {dtype}"));
                }
            }
            W::F(v) => RefArray::F64(ArrayD::from_elem(IxDyn(&[]), v)),
            W::C(z) => RefArray::C128(ArrayD::from_elem(IxDyn(&[]), z)),
        };
        source.cast(dtype)
    }
}

/// A widened element: what casts go through.
#[derive(Debug, Clone, Copy, PartialEq)]
enum W {
    B(bool),
    I(i128),
    F(f64),
    C(Complex64),
}

// ---------------------------------------------------------------------------------------------
// Broadcasting.

/// NumPy's broadcasting rule: align shapes at the right; each pair of lengths must be equal or
/// one of them 1.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let ndim = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; ndim];
    for s in shapes {
        let offset = ndim - s.len();
        for (i, &n) in s.iter().enumerate() {
            let o = &mut out[offset + i];
            if *o == 1 {
                *o = n;
            } else if n != 1 && n != *o {
                return Err(format!(
                    "operands could not be broadcast together with shapes {:?}",
                    shapes
                ));
            }
        }
    }
    Ok(out)
}

fn zip1<A: Copy, R: Default>(
    a: &ArrayD<A>,
    f: impl Fn(A) -> Result<R, String>,
) -> Result<ArrayD<R>, String> {
    let mut err = None;
    let out = a.map(|&x| {
        f(x).unwrap_or_else(|e| {
            err.get_or_insert(e);
            R::default()
        })
    });
    err.map_or(Ok(out), Err)
}

fn zip2<A: Copy, B: Copy, R: Default>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(A, B) -> Result<R, String>,
) -> Result<ArrayD<R>, String> {
    let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
    let av = a.broadcast(IxDyn(&shape)).expect("broadcast a");
    let bv = b.broadcast(IxDyn(&shape)).expect("broadcast b");
    let mut err = None;
    let out = Zip::from(&av).and(&bv).map_collect(|&x, &y| {
        f(x, y).unwrap_or_else(|e| {
            err.get_or_insert(e);
            R::default()
        })
    });
    err.map_or(Ok(out), Err)
}

fn zip3<A: Copy, B: Copy, C: Copy, R: Default>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    c: &ArrayD<C>,
    f: impl Fn(A, B, C) -> R,
) -> Result<ArrayD<R>, String> {
    let shape = broadcast_shapes(&[a.shape(), b.shape(), c.shape()])?;
    let av = a.broadcast(IxDyn(&shape)).expect("broadcast a");
    let bv = b.broadcast(IxDyn(&shape)).expect("broadcast b");
    let cv = c.broadcast(IxDyn(&shape)).expect("broadcast c");
    Ok(Zip::from(&av)
        .and(&bv)
        .and(&cv)
        .map_collect(|&x, &y, &z| f(x, y, z)))
}

// ---------------------------------------------------------------------------------------------
// Element operations, by kind.

/// Integer element operations (NumPy's C loops: wrap-around, division by zero gives 0).
trait Int: Copy + Ord + Default + std::fmt::Debug {
    const BITS: u32;
    const SIGNED: bool;
    const MIN: Self;
    const ZERO: Self;
    const ONE: Self;
    fn wadd(self, o: Self) -> Self;
    fn wsub(self, o: Self) -> Self;
    fn wmul(self, o: Self) -> Self;
    fn wneg(self) -> Self;
    fn not(self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    fn wdiv(self, o: Self) -> Self;
    fn wrem(self, o: Self) -> Self;
    fn shl(self, n: u32) -> Self;
    fn shr(self, n: u32) -> Self;
    fn to_i128(self) -> i128;
}

macro_rules! int_impl {
    ($($t:ty: $signed:expr),*) => {$(
        impl Int for $t {
            const BITS: u32 = <$t>::BITS;
            const SIGNED: bool = $signed;
            const MIN: Self = <$t>::MIN;
            const ZERO: Self = 0;
            const ONE: Self = 1;
            fn wadd(self, o: Self) -> Self { self.wrapping_add(o) }
            fn wsub(self, o: Self) -> Self { self.wrapping_sub(o) }
            fn wmul(self, o: Self) -> Self { self.wrapping_mul(o) }
            fn wneg(self) -> Self { self.wrapping_neg() }
            fn not(self) -> Self { !self }
            fn and(self, o: Self) -> Self { self & o }
            fn or(self, o: Self) -> Self { self | o }
            fn xor(self, o: Self) -> Self { self ^ o }
            fn wdiv(self, o: Self) -> Self { self.wrapping_div(o) }
            fn wrem(self, o: Self) -> Self { self.wrapping_rem(o) }
            fn shl(self, n: u32) -> Self { self << n }
            fn shr(self, n: u32) -> Self { self >> n }
            fn to_i128(self) -> i128 { self as i128 }
        }
    )*};
}
int_impl!(i8: true, i16: true, i32: true, i64: true, u8: false, u16: false, u32: false, u64: false);

/// The shift count as NumPy's `npy_lshift`/`npy_rshift` see it: any count that is negative or
/// at least the width shifts everything out.
fn shift_count<T: Int>(n: T) -> Option<u32> {
    let n = n.to_i128();
    (0..T::BITS as i128).contains(&n).then_some(n as u32)
}

fn int_binary<T: Int>(op: Op, x: T, y: T) -> Result<T, String> {
    let neg = |v: T| T::SIGNED && v < T::ZERO;
    Ok(match op {
        Op::Add => x.wadd(y),
        Op::Subtract => x.wsub(y),
        Op::Multiply => x.wmul(y),
        Op::BitwiseAnd => x.and(y),
        Op::BitwiseOr => x.or(y),
        Op::BitwiseXor => x.xor(y),
        Op::Maximum => x.max(y),
        Op::Minimum => x.min(y),
        Op::FloorDivide => {
            if y == T::ZERO {
                T::ZERO
            } else {
                // wrapping_div: MIN / -1 wraps to MIN, as NumPy 2 returns.
                let q = x.wdiv(y);
                let r = x.wrem(y);
                if r != T::ZERO && neg(r) != neg(y) {
                    q.wsub(T::ONE)
                } else {
                    q
                }
            }
        }
        Op::Remainder => {
            if y == T::ZERO {
                T::ZERO
            } else {
                let r = x.wrem(y); // MIN % -1 is 0
                if r != T::ZERO && neg(r) != neg(y) {
                    r.wadd(y)
                } else {
                    r
                }
            }
        }
        Op::Fmod => {
            if y == T::ZERO {
                T::ZERO
            } else {
                x.wrem(y)
            }
        }
        Op::LeftShift => match shift_count(y) {
            Some(n) => x.shl(n),
            None => T::ZERO,
        },
        Op::RightShift => match shift_count(y) {
            Some(n) => x.shr(n),
            None if neg(x) => T::ZERO.not(),
            None => T::ZERO,
        },
        Op::Power => {
            if neg(y) {
                return Err("Integers to negative integer powers are not allowed.".into());
            }
            let mut e = y.to_i128() as u128;
            let (mut base, mut acc) = (x, T::ONE);
            while e > 0 {
                if e & 1 == 1 {
                    acc = acc.wmul(base);
                }
                base = base.wmul(base);
                e >>= 1;
            }
            acc
        }
        _ => return Err(no_loop(op, "an integer dtype")),
    })
}

fn int_unary<T: Int>(op: Op, x: T) -> Result<T, String> {
    Ok(match op {
        Op::Negative => x.wneg(),
        Op::Positive | Op::Floor | Op::Ceil | Op::Trunc | Op::Rint | Op::Copy | Op::Conjugate => x,
        Op::Invert => x.not(),
        Op::Absolute => {
            if T::SIGNED && x < T::ZERO {
                x.wneg()
            } else {
                x
            }
        }
        Op::Sign => match x.cmp(&T::ZERO) {
            std::cmp::Ordering::Less => T::ONE.wneg(),
            std::cmp::Ordering::Equal => T::ZERO,
            std::cmp::Ordering::Greater => T::ONE,
        },
        Op::Square => x.wmul(x),
        // NumPy computes `1.0 / x` and converts back; 1/0 converts inf: undefined.
        Op::Reciprocal => match x.to_i128() {
            0 => return Err(format!("{SKIP} integer reciprocal of zero is undefined")),
            1 => T::ONE,
            -1 => T::ONE.wneg(),
            _ => T::ZERO,
        },
        _ => return Err(no_loop(op, "an integer dtype")),
    })
}

/// Float element operations (f32 and f64; float16 is computed in f32 by the caller).
trait Float: Copy + PartialOrd + Default + std::fmt::Debug {
    const ZERO: Self;
    const ONE: Self;
    const NAN: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn is_nan(self) -> bool;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn neg(self) -> Self;
    fn fmod(self, o: Self) -> Self;
    fn copysign(self, o: Self) -> Self;
    fn floor(self) -> Self;
    fn unary_std(self, op: Op) -> Option<Self>;
    fn binary_std(self, op: Op, o: Self) -> Option<Self>;
    fn next_after(self, o: Self) -> Self;
    fn is_sign_negative(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_finite(self) -> bool;
    /// `self * a + b` with one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    fn abs(self) -> Self;
    fn sqrt(self) -> Self;
    /// The platform libm's `hypot` (what NumPy's `npy_hypot` calls).
    fn hypot(self, o: Self) -> Self;
}

macro_rules! float_impl {
    ($t:ident, $bits:ty) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAN: Self = $t::NAN;
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn sub(self, o: Self) -> Self {
                self - o
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn div(self, o: Self) -> Self {
                self / o
            }
            fn neg(self) -> Self {
                -self
            }
            fn fmod(self, o: Self) -> Self {
                self % o
            }
            fn copysign(self, o: Self) -> Self {
                $t::copysign(self, o)
            }
            fn floor(self) -> Self {
                $t::floor(self)
            }
            fn is_sign_negative(self) -> bool {
                $t::is_sign_negative(self)
            }
            fn is_infinite(self) -> bool {
                $t::is_infinite(self)
            }
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
            fn abs(self) -> Self {
                $t::abs(self)
            }
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            fn hypot(self, o: Self) -> Self {
                $t::hypot(self, o)
            }
            fn unary_std(self, op: Op) -> Option<Self> {
                let x = self;
                Some(match op {
                    Op::Sqrt => x.sqrt(),
                    Op::Cbrt => x.cbrt(),
                    Op::Exp => x.exp(),
                    Op::Exp2 => x.exp2(),
                    Op::Expm1 => x.exp_m1(),
                    Op::Log => x.ln(),
                    Op::Log2 => x.log2(),
                    Op::Log10 => x.log10(),
                    Op::Log1p => x.ln_1p(),
                    Op::Sin => x.sin(),
                    Op::Cos => x.cos(),
                    Op::Tan => x.tan(),
                    Op::Arcsin => x.asin(),
                    Op::Arccos => x.acos(),
                    Op::Arctan => x.atan(),
                    Op::Sinh => x.sinh(),
                    Op::Cosh => x.cosh(),
                    Op::Tanh => x.tanh(),
                    // Rust's own asinh/acosh/atanh lose thousands of ULP near their poles:
                    // glibc's, as NumPy's scalar loops call.
                    Op::Arcsinh => LibmHyperbolic::asinh_c(x),
                    Op::Arccosh => LibmHyperbolic::acosh_c(x),
                    Op::Arctanh => LibmHyperbolic::atanh_c(x),
                    Op::Ceil => x.ceil(),
                    Op::Floor => x.floor(),
                    Op::Trunc => x.trunc(),
                    Op::Rint => x.round_ties_even(),
                    Op::Absolute => x.abs(),
                    _ => return None,
                })
            }
            fn binary_std(self, op: Op, o: Self) -> Option<Self> {
                Some(match op {
                    Op::Power => self.powf(o),
                    Op::Arctan2 => self.atan2(o),
                    Op::Hypot => self.hypot(o),
                    _ => return None,
                })
            }
            /// C's `nextafter`, on the bit pattern.
            fn next_after(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    return self + o;
                }
                if self == o {
                    return o;
                }
                if self == 0.0 {
                    let tiny = $t::from_bits(1);
                    return if o > 0.0 { tiny } else { -tiny };
                }
                let bits = self.to_bits();
                let away = (o > self) == (self > 0.0);
                $t::from_bits(if away { bits + 1 } else { bits - 1 })
            }
        }
    };
}
float_impl!(f32, u32);
float_impl!(f64, u64);

// ---------------------------------------------------------------------------------------------
// Complex element operations: NumPy 2.4's loops on x86-64 (dispatched to an FMA-capable SIMD
// target, as on the machine that produced `tests/data/kernels_numpy*.tsv`; the unit test
// `complex_elements_match_numpy_rows` checks every complex row of those files bit for bit).

type C<T> = num_complex::Complex<T>;

/// The C library's inverse hyperbolic functions (accurate where Rust's formulas are not).
trait LibmHyperbolic: Sized {
    fn asinh_c(self) -> Self;
    fn acosh_c(self) -> Self;
    fn atanh_c(self) -> Self;
}

mod hyp {
    #[link(name = "m")]
    extern "C" {
        pub fn asinh(x: f64) -> f64;
        pub fn acosh(x: f64) -> f64;
        pub fn atanh(x: f64) -> f64;
        pub fn asinhf(x: f32) -> f32;
        pub fn acoshf(x: f32) -> f32;
        pub fn atanhf(x: f32) -> f32;
    }
}

macro_rules! libm_hyperbolic {
    ($t:ty, $asinh:ident, $acosh:ident, $atanh:ident) => {
        impl LibmHyperbolic for $t {
            fn asinh_c(self) -> Self {
                // SAFETY: pure C math functions of one float.
                unsafe { hyp::$asinh(self) }
            }
            fn acosh_c(self) -> Self {
                // SAFETY: as above.
                unsafe { hyp::$acosh(self) }
            }
            fn atanh_c(self) -> Self {
                // SAFETY: as above.
                unsafe { hyp::$atanh(self) }
            }
        }
    };
}
libm_hyperbolic!(f64, asinh, acosh, atanh);
libm_hyperbolic!(f32, asinhf, acoshf, atanhf);

/// The C library's complex functions: NumPy's `npy_cexp`, `npy_csqrt`, ... call them (glibc
/// here), so on the same platform they reproduce NumPy bit for bit. ndexpr computes its own, so
/// the differential test compares them with a tolerance all the same.
mod clib {
    use num_complex::{Complex32, Complex64};
    #[link(name = "m")]
    extern "C" {
        pub fn cexp(z: Complex64) -> Complex64;
        pub fn clog(z: Complex64) -> Complex64;
        pub fn csqrt(z: Complex64) -> Complex64;
        pub fn csin(z: Complex64) -> Complex64;
        pub fn ccos(z: Complex64) -> Complex64;
        pub fn ctan(z: Complex64) -> Complex64;
        pub fn csinh(z: Complex64) -> Complex64;
        pub fn ccosh(z: Complex64) -> Complex64;
        pub fn ctanh(z: Complex64) -> Complex64;
        pub fn casin(z: Complex64) -> Complex64;
        pub fn cacos(z: Complex64) -> Complex64;
        pub fn catan(z: Complex64) -> Complex64;
        pub fn casinh(z: Complex64) -> Complex64;
        pub fn cacosh(z: Complex64) -> Complex64;
        pub fn catanh(z: Complex64) -> Complex64;
        pub fn cpow(a: Complex64, b: Complex64) -> Complex64;
        pub fn cexpf(z: Complex32) -> Complex32;
        pub fn clogf(z: Complex32) -> Complex32;
        pub fn csqrtf(z: Complex32) -> Complex32;
        pub fn csinf(z: Complex32) -> Complex32;
        pub fn ccosf(z: Complex32) -> Complex32;
        pub fn ctanf(z: Complex32) -> Complex32;
        pub fn csinhf(z: Complex32) -> Complex32;
        pub fn ccoshf(z: Complex32) -> Complex32;
        pub fn ctanhf(z: Complex32) -> Complex32;
        pub fn casinf(z: Complex32) -> Complex32;
        pub fn cacosf(z: Complex32) -> Complex32;
        pub fn catanf(z: Complex32) -> Complex32;
        pub fn casinhf(z: Complex32) -> Complex32;
        pub fn cacoshf(z: Complex32) -> Complex32;
        pub fn catanhf(z: Complex32) -> Complex32;
        pub fn cpowf(a: Complex32, b: Complex32) -> Complex32;
    }
}

/// The parts of a complex dtype: float element operations plus the C library's complex functions.
trait CPart: Float {
    /// NumPy's `NPY_LOGE2`, `NPY_LOG2E`, `NPY_LOG10E` in this precision.
    const LOGE2: Self;
    const LOG2E: Self;
    const LOG10E: Self;
    /// The C library's function for `op` (one of those it has), or `None`.
    fn clib(op: Op, z: C<Self>) -> Option<C<Self>>;
    fn cpow(a: C<Self>, b: C<Self>) -> C<Self>;
    fn rint(self) -> Self;
}

macro_rules! cpart_impl {
    ($t:ident, $c:ty, $($op:ident => $f:ident),*; $pow:ident) => {
        impl CPart for $t {
            const LOGE2: Self = std::$t::consts::LN_2;
            const LOG2E: Self = std::$t::consts::LOG2_E;
            const LOG10E: Self = std::$t::consts::LOG10_E;
            fn clib(op: Op, z: C<Self>) -> Option<C<Self>> {
                // SAFETY: plain C99 functions of one complex value (repr(C) pairs).
                Some(match op {
                    $(Op::$op => unsafe { clib::$f(z) },)*
                    _ => return None,
                })
            }
            fn cpow(a: C<Self>, b: C<Self>) -> C<Self> {
                // SAFETY: as above.
                unsafe { clib::$pow(a, b) }
            }
            fn rint(self) -> Self {
                self.round_ties_even()
            }
        }
    };
}
cpart_impl!(f64, Complex64, Exp => cexp, Log => clog, Sqrt => csqrt, Sin => csin, Cos => ccos,
    Tan => ctan, Sinh => csinh, Cosh => ccosh, Tanh => ctanh, Arcsin => casin, Arccos => cacos,
    Arctan => catan, Arcsinh => casinh, Arccosh => cacosh, Arctanh => catanh; cpow);
cpart_impl!(f32, Complex32, Exp => cexpf, Log => clogf, Sqrt => csqrtf, Sin => csinf,
    Cos => ccosf, Tan => ctanf, Sinh => csinhf, Cosh => ccoshf, Tanh => ctanhf, Arcsin => casinf,
    Arccos => cacosf, Arctan => catanf, Arcsinh => casinhf, Arccosh => cacoshf,
    Arctanh => catanhf; cpowf);

/// NumPy's SIMD complex multiply (Highway's `MulComplex`: a fused multiply-add-subtract), used
/// for `multiply` and `square`: `re = fma(ar, br, -(ai*bi))`, `im = fma(ar, bi, ai*br)`.
fn c_mul<T: CPart>(a: C<T>, b: C<T>) -> C<T> {
    C::new(
        a.re.mul_add(b.re, a.im.mul(b.im).neg()),
        a.re.mul_add(b.im, a.im.mul(b.re)),
    )
}

/// npymath's `cmul` (used by `power`): two roundings per product, no fusing.
fn c_mul_plain<T: CPart>(a: C<T>, b: C<T>) -> C<T> {
    C::new(
        a.re.mul(b.re).sub(a.im.mul(b.im)),
        a.re.mul(b.im).add(a.im.mul(b.re)),
    )
}

/// NumPy's complex `divide` (Smith's method, `loops.c.src`; npymath's `cdiv` is the same).
fn c_div<T: CPart>(a: C<T>, b: C<T>) -> C<T> {
    let (abr, abi) = (b.re.abs(), b.im.abs());
    if abr >= abi {
        if abr == T::ZERO && abi == T::ZERO {
            // A complex inf or nan.
            return C::new(a.re.div(abr), a.im.div(abi));
        }
        let rat = b.im.div(b.re);
        let scl = T::ONE.div(b.re.add(b.im.mul(rat)));
        C::new(
            a.re.add(a.im.mul(rat)).mul(scl),
            a.im.sub(a.re.mul(rat)).mul(scl),
        )
    } else {
        let rat = b.re.div(b.im);
        let scl = T::ONE.div(b.im.add(b.re.mul(rat)));
        C::new(
            a.re.mul(rat).add(a.im).mul(scl),
            a.im.mul(rat).sub(a.re).mul(scl),
        )
    }
}

/// NumPy's complex `reciprocal` (`loops.c.src`).
fn c_recip<T: CPart>(z: C<T>) -> C<T> {
    if z.im.abs() <= z.re.abs() {
        let r = z.im.div(z.re);
        let d = z.re.add(z.im.mul(r));
        C::new(T::ONE.div(d), r.neg().div(d))
    } else {
        let r = z.re.div(z.im);
        let d = z.re.mul(r).add(z.im);
        C::new(r.div(d), T::ONE.neg().div(d))
    }
}

/// NumPy's SIMD complex `absolute` (`loops_unary_complex.dispatch.cpp`, taken for every
/// layout): infinities win over NaNs, then `larger * sqrt(fma(ratio, ratio, 1))`.
fn c_abs<T: CPart>(z: C<T>) -> T {
    let inf = T::ONE.div(T::ZERO);
    let (mut re, mut im) = (z.re.abs(), z.im.abs());
    let (re_inf, im_inf) = (re.is_infinite(), im.is_infinite());
    if re_inf {
        im = inf;
    }
    if im_inf {
        re = inf;
    }
    let (re_nan, im_nan) = (re.is_nan(), im.is_nan());
    if re_nan {
        im = T::NAN;
    }
    if im_nan {
        re = T::NAN;
    }
    // Both NaN or neither, here.
    let (larger, smaller) = if re.is_nan() || re >= im {
        (re, im)
    } else {
        (im, re)
    };
    let ratio = if larger == T::ZERO || smaller.is_infinite() {
        T::ZERO
    } else {
        smaller.div(larger)
    };
    ratio.mul_add(ratio, T::ONE).sqrt().mul(larger)
}

/// NumPy 2's complex `sign`: `z / |z|` with libm's `hypot` (`loops.c.src`).
fn c_sign<T: CPart>(z: C<T>) -> C<T> {
    let a = z.re.hypot(z.im);
    let unit = |v: T| if v > T::ZERO { T::ONE } else { T::ONE.neg() };
    if a.is_nan() {
        C::new(T::NAN, T::NAN)
    } else if a.is_infinite() {
        match (z.re.is_infinite(), z.im.is_infinite()) {
            (true, true) => C::new(T::NAN, T::NAN),
            (true, false) => C::new(unit(z.re), T::ZERO),
            _ => C::new(T::ZERO, unit(z.im)),
        }
    } else if a == T::ZERO {
        C::new(T::ZERO, T::ZERO)
    } else {
        C::new(z.re.div(a), z.im.div(a))
    }
}

/// Whether npymath's `npy_cpow` computes `a ** b` exactly (by multiplications), not with libm's
/// `cpow`.
fn c_pow_is_exact<T: CPart>(a: C<T>, b: C<T>) -> bool {
    (b.re == T::ZERO && b.im == T::ZERO)
        || (a.re == T::ZERO && a.im == T::ZERO)
        || (b.im == T::ZERO && b.re > T::from_f64(-100.0) && b.re < T::from_f64(100.0) && {
            T::from_f64(b.re.to_f64().trunc()) == b.re
        })
}

/// npymath's `npy_cpow`: 1 for a zero exponent, 0 or NaN for a zero base, binary powering with
/// `cmul` for integer exponents below 100 in magnitude (a negative one divides 1 by the power),
/// libm's `cpow` otherwise.
fn c_pow<T: CPart>(a: C<T>, b: C<T>) -> C<T> {
    if b.re == T::ZERO && b.im == T::ZERO {
        return C::new(T::ONE, T::ZERO);
    }
    if a.re == T::ZERO && a.im == T::ZERO {
        return if b.re > T::ZERO {
            C::new(T::ZERO, T::ZERO)
        } else {
            C::new(T::NAN, T::NAN)
        };
    }
    if !c_pow_is_exact(a, b) {
        return T::cpow(a, b);
    }
    let n = b.re.to_f64() as i64;
    match n {
        1 => a,
        2 => c_mul_plain(a, a),
        3 => c_mul_plain(a, c_mul_plain(a, a)),
        _ => {
            let m = n.unsigned_abs();
            let (mut acc, mut p, mut mask) = (C::new(T::ONE, T::ZERO), a, 1u64);
            loop {
                if m & mask != 0 {
                    acc = c_mul_plain(acc, p);
                }
                mask <<= 1;
                if m < mask {
                    break;
                }
                p = c_mul_plain(p, p);
            }
            if n < 0 {
                c_div(C::new(T::ONE, T::ZERO), acc)
            } else {
                acc
            }
        }
    }
}

/// NumPy's complex orderings (`loops.c.src` CLT/CLE/...): lexicographic, and a strict real-part
/// decision needs neither imaginary part to be NaN.
fn c_compare<T: CPart>(op: Op, x: C<T>, y: C<T>) -> bool {
    let no_nan_im = !x.im.is_nan() && !y.im.is_nan();
    match op {
        Op::Less => (x.re < y.re && no_nan_im) || (x.re == y.re && x.im < y.im),
        Op::LessEqual => (x.re < y.re && no_nan_im) || (x.re == y.re && x.im <= y.im),
        Op::Greater => (x.re > y.re && no_nan_im) || (x.re == y.re && x.im > y.im),
        Op::GreaterEqual => (x.re > y.re && no_nan_im) || (x.re == y.re && x.im >= y.im),
        Op::Equal => x.re == y.re && x.im == y.im,
        Op::NotEqual => x.re != y.re || x.im != y.im,
        _ => unreachable!("not a comparison: {op:?}"),
    }
}

fn c_has_nan<T: CPart>(z: C<T>) -> bool {
    z.re.is_nan() || z.im.is_nan()
}

/// NumPy's complex `maximum`/`minimum`: the first operand if it has a NaN part or is
/// greater-or-equal (less-or-equal) by [`c_compare`], else the second.
fn c_max_min<T: CPart>(op: Op, x: C<T>, y: C<T>) -> C<T> {
    let keep = match op {
        Op::Maximum => c_compare(Op::GreaterEqual, x, y),
        _ => c_compare(Op::LessEqual, x, y),
    };
    if c_has_nan(x) || keep {
        x
    } else {
        y
    }
}

/// NumPy's complex `clip` (`clip.cpp`): `Min(Max(x, lo), hi)` where each step keeps a first
/// operand with a NaN part, else picks by a plain lexicographic strict comparison.
fn c_clip<T: CPart>(x: C<T>, lo: C<T>, hi: C<T>) -> C<T> {
    let gt = |a: C<T>, b: C<T>| {
        if a.re == b.re {
            a.im > b.im
        } else {
            a.re > b.re
        }
    };
    let lt = |a: C<T>, b: C<T>| {
        if a.re == b.re {
            a.im < b.im
        } else {
            a.re < b.re
        }
    };
    let t = if c_has_nan(x) || gt(x, lo) { x } else { lo };
    if c_has_nan(t) || lt(t, hi) {
        t
    } else {
        hi
    }
}

/// The complex functions NumPy computes with libm (approximate as far as ndexpr is concerned).
fn c_func<T: CPart>(op: Op, z: C<T>) -> Option<C<T>> {
    let scale = |w: C<T>, k: T| C::new(w.re.mul(k), w.im.mul(k));
    Some(match op {
        // npy's nc_log2/nc_log10/nc_exp2 (funcs.inc.src).
        Op::Log2 => scale(T::clib(Op::Log, z)?, T::LOG2E),
        Op::Log10 => scale(T::clib(Op::Log, z)?, T::LOG10E),
        Op::Exp2 => T::clib(Op::Exp, scale(z, T::LOGE2))?,
        // nc_expm1: (expm1(x) cos(y) - 2 sin(y/2)^2, exp(x) sin(y)).
        Op::Expm1 => {
            let f = |o: Op, v: T| v.unary_std(o).expect("libm function");
            let a = f(Op::Sin, z.im.div(T::from_f64(2.0)));
            C::new(
                f(Op::Expm1, z.re)
                    .mul(f(Op::Cos, z.im))
                    .sub(T::from_f64(2.0).mul(a).mul(a)),
                f(Op::Exp, z.re).mul(f(Op::Sin, z.im)),
            )
        }
        // nc_log1p (NumPy 2.4): (log(hypot(x + 1, y)), atan2(y, x + 1)).
        Op::Log1p => {
            let xp1 = z.re.add(T::ONE);
            let re = xp1.hypot(z.im).unary_std(Op::Log).expect("log");
            C::new(re, z.im.binary_std(Op::Arctan2, xp1).expect("atan2"))
        }
        _ => T::clib(op, z)?,
    })
}

fn complex_unary<T: CPart>(op: Op, z: C<T>) -> Result<C<T>, String> {
    Ok(match op {
        Op::Negative => C::new(z.re.neg(), z.im.neg()),
        Op::Positive | Op::Copy => z,
        Op::Conjugate => C::new(z.re, z.im.neg()),
        Op::Square => c_mul(z, z),
        Op::Reciprocal => c_recip(z),
        Op::Sign => c_sign(z),
        Op::Rint => C::new(z.re.rint(), z.im.rint()),
        _ => match c_func(op, z) {
            Some(w) => w,
            None => return Err(no_loop(op, "a complex dtype")),
        },
    })
}

fn complex_binary<T: CPart>(op: Op, x: C<T>, y: C<T>) -> Result<C<T>, String> {
    Ok(match op {
        Op::Add => C::new(x.re.add(y.re), x.im.add(y.im)),
        Op::Subtract => C::new(x.re.sub(y.re), x.im.sub(y.im)),
        Op::Multiply => c_mul(x, y),
        Op::TrueDivide => c_div(x, y),
        Op::Power => c_pow(x, y),
        Op::Maximum | Op::Minimum => c_max_min(op, x, y),
        _ => return Err(no_loop(op, "a complex dtype")),
    })
}

/// NumPy's `npy_half_nextafter`: one step of the float16 bit pattern towards `y`.
fn half_next_after(x: f16, y: f16) -> f16 {
    if x.is_nan() || y.is_nan() {
        return f16::NAN;
    }
    if x == y {
        return x;
    }
    if x == f16::ZERO {
        let tiny = f16::from_bits(1);
        return if y > f16::ZERO { tiny } else { -tiny };
    }
    let away = (y > x) == (x > f16::ZERO);
    let bits = x.to_bits();
    f16::from_bits(if away { bits + 1 } else { bits - 1 })
}

/// NumPy's `npy_divmod` (the same algorithm as Python's float `divmod`): (floor quotient, mod).
fn float_divmod<T: Float>(a: T, b: T) -> (T, T) {
    let mut m = a.fmod(b);
    if b == T::ZERO {
        return (a.div(b), m);
    }
    let mut div = a.sub(m).div(b);
    if m != T::ZERO {
        if (b < T::ZERO) != (m < T::ZERO) {
            m = m.add(b);
            div = div.sub(T::ONE);
        }
    } else {
        m = T::ZERO.copysign(b);
    }
    let floordiv = if div != T::ZERO {
        let mut f = div.floor();
        if div.sub(f) > T::from_f64(0.5) {
            f = f.add(T::ONE);
        }
        f
    } else {
        T::ZERO.copysign(a.div(b))
    };
    (floordiv, m)
}

fn float_binary<T: Float>(op: Op, x: T, y: T) -> Result<T, String> {
    Ok(match op {
        Op::Add => x.add(y),
        Op::Subtract => x.sub(y),
        Op::Multiply => x.mul(y),
        Op::TrueDivide => x.div(y),
        Op::FloorDivide => float_divmod(x, y).0,
        Op::Remainder => float_divmod(x, y).1,
        Op::Fmod => x.fmod(y),
        Op::Copysign => x.copysign(y),
        Op::Nextafter => x.next_after(y),
        // NumPy: `(in1 >= in2 || isnan(in1)) ? in1 : in2`.
        Op::Maximum => {
            if x >= y || x.is_nan() {
                x
            } else {
                y
            }
        }
        Op::Minimum => {
            if x <= y || x.is_nan() {
                x
            } else {
                y
            }
        }
        _ => match x.binary_std(op, y) {
            Some(v) => v,
            None => return Err(no_loop(op, "a float dtype")),
        },
    })
}

fn float_unary<T: Float>(op: Op, x: T) -> Result<T, String> {
    Ok(match op {
        Op::Negative => x.neg(),
        Op::Positive | Op::Copy | Op::Conjugate => x,
        Op::Square => x.mul(x),
        Op::Reciprocal => T::ONE.div(x),
        // NumPy: `in > 0 ? 1 : (in < 0 ? -1 : (in == 0 ? 0 : in))`.
        Op::Sign => {
            if x > T::ZERO {
                T::ONE
            } else if x < T::ZERO {
                T::ONE.neg()
            } else if x == T::ZERO {
                T::ZERO
            } else {
                x
            }
        }
        _ => match x.unary_std(op) {
            Some(v) => v,
            None => return Err(no_loop(op, "a float dtype")),
        },
    })
}

/// NumPy's `clip` for floats (`clip.cpp`): `min(max(x, lo), hi)` where each step keeps a NaN
/// first operand and otherwise picks with a strict comparison (so a NaN bound propagates).
fn float_clip<T: Float>(x: T, lo: T, hi: T) -> T {
    let t = if x.is_nan() || x > lo { x } else { lo };
    if t.is_nan() || t < hi {
        t
    } else {
        hi
    }
}

fn compare<T: PartialOrd>(op: Op, x: T, y: T) -> bool {
    match op {
        Op::Less => x < y,
        Op::LessEqual => x <= y,
        Op::Greater => x > y,
        Op::GreaterEqual => x >= y,
        Op::Equal => x == y,
        Op::NotEqual => x != y,
        _ => unreachable!("not a comparison: {op:?}"),
    }
}

fn bool_binary(op: Op, x: bool, y: bool) -> Result<bool, String> {
    Ok(match op {
        // NumPy's bool loops: add is or, multiply is and.
        Op::Add | Op::BitwiseOr | Op::Maximum | Op::LogicalOr => x | y,
        Op::Multiply | Op::BitwiseAnd | Op::Minimum | Op::LogicalAnd => x & y,
        Op::BitwiseXor | Op::NotEqual => x ^ y,
        _ => return Err(no_loop(op, "bool")),
    })
}

fn bool_unary(op: Op, x: bool) -> Result<bool, String> {
    Ok(match op {
        Op::Invert | Op::LogicalNot => !x,
        Op::Positive
        | Op::Absolute
        | Op::Square
        | Op::Floor
        | Op::Ceil
        | Op::Trunc
        | Op::Rint
        | Op::Copy => x,
        _ => return Err(no_loop(op, "bool")),
    })
}

fn no_loop(op: Op, what: &str) -> String {
    format!(
        "{SKIP} the reference has no `{}` loop for {what}",
        op.name()
    )
}

fn is_comparison(op: Op) -> bool {
    matches!(
        op,
        Op::Less | Op::LessEqual | Op::Greater | Op::GreaterEqual | Op::Equal | Op::NotEqual
    )
}

/// The operations whose results are only accurate to a few ULP (libm-quality functions).
pub fn is_transcendental(op: Op) -> bool {
    matches!(
        op,
        Op::Sin
            | Op::Cos
            | Op::Tan
            | Op::Arcsin
            | Op::Arccos
            | Op::Arctan
            | Op::Sinh
            | Op::Cosh
            | Op::Tanh
            | Op::Arcsinh
            | Op::Arccosh
            | Op::Arctanh
            | Op::Exp
            | Op::Exp2
            | Op::Expm1
            | Op::Log
            | Op::Log2
            | Op::Log10
            | Op::Log1p
            | Op::Cbrt
            | Op::Arctan2
            | Op::Hypot
    )
}

macro_rules! int_variants {
    ($m:ident) => {
        $m!(I8, I16, I32, I64, U8, U16, U32, U64)
    };
}

/// Applies a unary op to an operand already of the loop's dtype (never float16).
fn apply_unary(op: Op, a: &RefArray) -> Result<RefArray, String> {
    use RefArray as R;
    // `real`/`imag`: the parts of a complex array; of a real one, itself and zeros (NumPy's
    // `np.real`/`np.imag`).
    if matches!(op, Op::Real | Op::Imag) {
        let re = op == Op::Real;
        return Ok(match a {
            R::C64(x) => R::F32(x.mapv(|z| if re { z.re } else { z.im })),
            R::C128(x) => R::F64(x.mapv(|z| if re { z.re } else { z.im })),
            other if re => other.clone(),
            other => zeros_like(other),
        });
    }
    // Bool-valued tests first.
    if matches!(
        op,
        Op::IsNan | Op::IsInf | Op::IsFinite | Op::SignBit | Op::LogicalNot
    ) {
        if op == Op::LogicalNot {
            let R::Bool(b) = a.cast(DType::Bool)? else {
                unreachable!()
            };
            return Ok(R::Bool(b.mapv(|x| !x)));
        }
        return Ok(R::Bool(match a {
            R::F32(x) => x.mapv(|v| float_test(op, v)),
            R::F64(x) => x.mapv(|v| float_test(op, v)),
            R::C64(x) if op != Op::SignBit => x.mapv(|v| complex_test(op, v)),
            R::C128(x) if op != Op::SignBit => x.mapv(|v| complex_test(op, v)),
            R::C64(_) | R::C128(_) | R::F16(_) => {
                return Err(format!("{SKIP} {} on {}", op.name(), a.dtype()))
            }
            other if op == Op::SignBit => {
                return Err(format!("{SKIP} signbit on {}", other.dtype()))
            }
            // Integers and bools are finite numbers.
            other => ArrayD::from_elem(IxDyn(&other.shape()), op == Op::IsFinite),
        }));
    }
    macro_rules! ints {
        ($($v:ident),*) => {
            match a {
                $(R::$v(x) => return Ok(R::$v(zip1(x, |v| int_unary(op, v))?)),)*
                _ => {}
            }
        };
    }
    int_variants!(ints);
    Ok(match a {
        R::Bool(x) => R::Bool(zip1(x, |v| bool_unary(op, v))?),
        R::F32(x) => R::F32(zip1(x, |v| float_unary(op, v))?),
        R::F64(x) => R::F64(zip1(x, |v| float_unary(op, v))?),
        R::C64(x) if op == Op::Absolute => R::F32(x.mapv(c_abs)),
        R::C128(x) if op == Op::Absolute => R::F64(x.mapv(c_abs)),
        R::C64(x) => R::C64(zip1(x, |v| complex_unary(op, v))?),
        R::C128(x) => R::C128(zip1(x, |v| complex_unary(op, v))?),
        other => return Err(format!("{SKIP} {} on {}", op.name(), other.dtype())),
    })
}

/// An array of zeros (false) of the same dtype and shape.
fn zeros_like(a: &RefArray) -> RefArray {
    use RefArray as R;
    macro_rules! z {
        ($($v:ident),*) => {
            match a {
                $(R::$v(x) => R::$v(ArrayD::default(x.raw_dim())),)*
            }
        };
    }
    z!(Bool, I8, I16, I32, I64, U8, U16, U32, U64, F16, F32, F64, C64, C128)
}

fn complex_test<T: CPart>(op: Op, z: C<T>) -> bool {
    match op {
        Op::IsNan => z.re.is_nan() || z.im.is_nan(),
        Op::IsInf => z.re.is_infinite() || z.im.is_infinite(),
        Op::IsFinite => z.re.is_finite() && z.im.is_finite(),
        _ => unreachable!(),
    }
}

fn float_test<T: Float>(op: Op, v: T) -> bool {
    match op {
        Op::IsNan => v.is_nan(),
        Op::IsInf => v.is_infinite(),
        Op::IsFinite => v.is_finite(),
        Op::SignBit => v.is_sign_negative(),
        _ => unreachable!(),
    }
}

/// Applies a binary op to operands already of the loop's dtype (never float16).
fn apply_binary(op: Op, a: &RefArray, b: &RefArray) -> Result<RefArray, String> {
    use RefArray as R;
    if matches!(op, Op::LogicalAnd | Op::LogicalOr) {
        let (R::Bool(x), R::Bool(y)) = (a.cast(DType::Bool)?, b.cast(DType::Bool)?) else {
            unreachable!()
        };
        return Ok(R::Bool(zip2(&x, &y, |p, q| bool_binary(op, p, q))?));
    }
    if is_comparison(op)
        && a.dtype().is_integer()
        && b.dtype().is_integer()
        && a.dtype() != b.dtype()
    {
        // NumPy's mixed loops (int64 with uint64) compare the exact values.
        let (wx, wy) = (a.widen(), b.widen());
        return Ok(R::Bool(zip2(&wx, &wy, |p, q| match (p, q) {
            (W::I(p), W::I(q)) => Ok(compare(op, p, q)),
            _ => unreachable!(),
        })?));
    }
    if op == Op::Complex {
        return match (a, b) {
            (R::F32(x), R::F32(y)) => Ok(R::C64(zip2(x, y, |p, q| Ok(C::new(p, q)))?)),
            (R::F64(x), R::F64(y)) => Ok(R::C128(zip2(x, y, |p, q| Ok(C::new(p, q)))?)),
            _ => Err(format!("complex() over {} and {}", a.dtype(), b.dtype())),
        };
    }
    if is_comparison(op) {
        match (a, b) {
            (R::C64(x), R::C64(y)) => {
                return Ok(R::Bool(zip2(x, y, |p, q| Ok(c_compare(op, p, q)))?))
            }
            (R::C128(x), R::C128(y)) => {
                return Ok(R::Bool(zip2(x, y, |p, q| Ok(c_compare(op, p, q)))?))
            }
            _ => {}
        }
        macro_rules! cmp {
            ($($v:ident),*) => {
                match (a, b) {
                    $((R::$v(x), R::$v(y)) => return Ok(R::Bool(zip2(x, y, |p, q| Ok(compare(op, p, q)))?)),)*
                    _ => return Err(format!("{SKIP} {} on {} and {}", op.name(), a.dtype(), b.dtype())),
                }
            };
        }
        cmp!(Bool, I8, I16, I32, I64, U8, U16, U32, U64, F32, F64);
    }
    macro_rules! ints {
        ($($v:ident),*) => {
            match (a, b) {
                $((R::$v(x), R::$v(y)) => return Ok(R::$v(zip2(x, y, |p, q| int_binary(op, p, q))?)),)*
                _ => {}
            }
        };
    }
    int_variants!(ints);
    Ok(match (a, b) {
        (R::Bool(x), R::Bool(y)) => R::Bool(zip2(x, y, |p, q| bool_binary(op, p, q))?),
        (R::F32(x), R::F32(y)) => R::F32(zip2(x, y, |p, q| float_binary(op, p, q))?),
        (R::F64(x), R::F64(y)) => R::F64(zip2(x, y, |p, q| float_binary(op, p, q))?),
        (R::C64(x), R::C64(y)) => R::C64(zip2(x, y, |p, q| complex_binary(op, p, q))?),
        (R::C128(x), R::C128(y)) => R::C128(zip2(x, y, |p, q| complex_binary(op, p, q))?),
        _ => {
            return Err(format!(
                "{SKIP} {} on {} and {}",
                op.name(),
                a.dtype(),
                b.dtype()
            ))
        }
    })
}

fn apply_ternary(op: Op, a: &RefArray, b: &RefArray, c: &RefArray) -> Result<RefArray, String> {
    use RefArray as R;
    match op {
        Op::Where => {
            let R::Bool(cond) = a.cast(DType::Bool)? else {
                unreachable!()
            };
            macro_rules! wh {
                ($($v:ident),*) => {
                    match (b, c) {
                        $((R::$v(x), R::$v(y)) => Ok(R::$v(zip3(&cond, x, y, |k, p, q| if k { p } else { q })?)),)*
                        _ => Err(format!("where over {} and {}", b.dtype(), c.dtype())),
                    }
                };
            }
            wh!(Bool, I8, I16, I32, I64, U8, U16, U32, U64, F16, F32, F64, C64, C128)
        }
        Op::Clip => {
            macro_rules! clip_int {
                ($($v:ident),*) => {
                    match (a, b, c) {
                        $((R::$v(x), R::$v(lo), R::$v(hi)) => return Ok(R::$v(zip3(x, lo, hi, |p, l, h| p.max(l).min(h))?)),)*
                        _ => {}
                    }
                };
            }
            clip_int!(Bool, I8, I16, I32, I64, U8, U16, U32, U64);
            match (a, b, c) {
                (R::F32(x), R::F32(lo), R::F32(hi)) => Ok(R::F32(zip3(x, lo, hi, float_clip)?)),
                (R::F64(x), R::F64(lo), R::F64(hi)) => Ok(R::F64(zip3(x, lo, hi, float_clip)?)),
                (R::C64(x), R::C64(lo), R::C64(hi)) => Ok(R::C64(zip3(x, lo, hi, c_clip)?)),
                (R::C128(x), R::C128(lo), R::C128(hi)) => Ok(R::C128(zip3(x, lo, hi, c_clip)?)),
                _ => Err(format!("{SKIP} clip on {}", a.dtype())),
            }
        }
        Op::Fma => match (a, b, c) {
            (R::F32(x), R::F32(y), R::F32(z)) => {
                Ok(R::F32(zip3(x, y, z, |p, q, r| p.mul_add(q, r))?))
            }
            (R::F64(x), R::F64(y), R::F64(z)) => {
                Ok(R::F64(zip3(x, y, z, |p, q, r| p.mul_add(q, r))?))
            }
            _ => Err(format!("{SKIP} fma on {}", a.dtype())),
        },
        _ => Err(format!(
            "{SKIP} the reference has no ternary `{}`",
            op.name()
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Python literals.

/// A Python literal value (before it meets an array).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Py {
    Int(i128),
    Float(f64),
    Complex(Complex64),
    Bool(bool),
}

impl Py {
    fn ty(self) -> Ty {
        match self {
            Py::Int(v) => Ty::WeakInt(v),
            Py::Float(_) => Ty::WeakFloat,
            Py::Complex(_) => Ty::WeakComplex,
            Py::Bool(_) => Ty::Strong(DType::Bool),
        }
    }

    fn truthy(self) -> bool {
        match self {
            Py::Int(v) => v != 0,
            Py::Float(x) => x != 0.0,
            Py::Complex(z) => z.re != 0.0 || z.im != 0.0,
            Py::Bool(b) => b,
        }
    }

    fn int(self) -> Option<i128> {
        match self {
            Py::Int(v) => Some(v),
            Py::Bool(b) => Some(b as i128),
            _ => None,
        }
    }

    fn float(self) -> Option<f64> {
        match self {
            Py::Float(x) => Some(x),
            Py::Complex(_) => None,
            other => other.int().map(|v| v as f64),
        }
    }

    /// The value stored into `dtype` (the loop dtype chosen for it): NumPy 2 refuses a Python
    /// int outside an integer dtype's range.
    fn to_array(self, dtype: DType) -> Result<RefArray, String> {
        self.convert(dtype, true)
    }

    /// As [`Py::to_array`]; unchecked, a Python int wraps into the dtype (as `where` does).
    fn convert(self, dtype: DType, checked: bool) -> Result<RefArray, String> {
        match self {
            Py::Int(v) if dtype.is_integer() && checked => {
                let (lo, hi) = int_bounds(dtype);
                if v < lo || v > hi {
                    return Err(format!("Python integer {v} out of bounds for {dtype}"));
                }
                RefArray::scalar(W::I(v), dtype)
            }
            Py::Int(v) => RefArray::scalar(W::I(v), dtype),
            Py::Float(x) => RefArray::scalar(W::F(x), dtype),
            Py::Complex(z) => RefArray::scalar(W::C(z), dtype),
            Py::Bool(b) => RefArray::scalar(W::B(b), dtype),
        }
    }

    /// What NumPy makes of a literal on its own (`np.asarray(2)`): int64 (uint64 above its
    /// range), float64, complex128, bool.
    fn default_array(self) -> Result<RefArray, String> {
        let dtype = match self {
            Py::Bool(_) => DType::Bool,
            Py::Int(v) if v > i64::MAX as i128 => DType::U64,
            Py::Int(_) => DType::I64,
            Py::Float(_) => DType::F64,
            Py::Complex(_) => DType::C128,
        };
        self.to_array(dtype)
    }
}

/// Python 3's complex operators (`complexobject.c` before 3.14: a real operand becomes
/// `complex(x, 0.0)` first). Non-integer powers are approximate in CPython and are not modelled.
fn py_complex_binary(op: BinaryOp, a: Py, b: Py) -> Result<Py, String> {
    use BinaryOp::*;
    let as_complex = |p: Py| match p {
        Py::Complex(z) => z,
        other => Complex64::new(other.float().expect("a real literal"), 0.0),
    };
    let (x, y) = (as_complex(a), as_complex(b));
    Ok(match op {
        Eq => Py::Bool(x.re == y.re && x.im == y.im),
        Ne => Py::Bool(!(x.re == y.re && x.im == y.im)),
        Add => Py::Complex(Complex64::new(x.re + y.re, x.im + y.im)),
        Sub => Py::Complex(Complex64::new(x.re - y.re, x.im - y.im)),
        // `_Py_c_prod`: two roundings per product.
        Mul => Py::Complex(c_mul_plain(x, y)),
        Div => Py::Complex(py_c_quot(x, y).ok_or("complex division by zero")?),
        Pow => {
            if !(y.im == 0.0 && y.re == y.re.floor() && y.re.abs() <= 100.0) {
                return Err(format!("{SKIP} Python's complex ** is approximate"));
            }
            // `c_powi`: binary powering from 1 with `_Py_c_prod`; a negative exponent divides.
            let n = y.re as i64;
            let (mut r, mut p, mut mask) = (Complex64::new(1.0, 0.0), x, 1u64);
            let m = n.unsigned_abs();
            while m >= mask {
                if m & mask != 0 {
                    r = c_mul_plain(r, p);
                }
                mask <<= 1;
                p = c_mul_plain(p, p);
            }
            if n <= 0 {
                r = py_c_quot(Complex64::new(1.0, 0.0), r)
                    .ok_or("0.0 to a negative or complex power")?;
            }
            if r.re.is_infinite() || r.im.is_infinite() {
                return Err("complex exponentiation".into());
            }
            Py::Complex(r)
        }
        _ => return Err(format!("unsupported operand types for {op:?}: complex")),
    })
}

/// CPython's `_Py_c_quot` (Smith's method, dividing by the denominator), `None` for a zero
/// divisor.
fn py_c_quot(a: Complex64, b: Complex64) -> Option<Complex64> {
    let (abr, abi) = (b.re.abs(), b.im.abs());
    Some(if abr >= abi {
        if abr == 0.0 {
            return None;
        }
        let ratio = b.im / b.re;
        let denom = b.re + b.im * ratio;
        Complex64::new((a.re + a.im * ratio) / denom, (a.im - a.re * ratio) / denom)
    } else if abi >= abr {
        let ratio = b.re / b.im;
        let denom = b.re * ratio + b.im;
        Complex64::new((a.re * ratio + a.im) / denom, (a.im * ratio - a.re) / denom)
    } else {
        Complex64::new(f64::NAN, f64::NAN)
    })
}

fn int_bounds(dtype: DType) -> (i128, i128) {
    match dtype {
        DType::I8 => (i8::MIN as i128, i8::MAX as i128),
        DType::I16 => (i16::MIN as i128, i16::MAX as i128),
        DType::I32 => (i32::MIN as i128, i32::MAX as i128),
        DType::I64 => (i64::MIN as i128, i64::MAX as i128),
        DType::U8 => (0, u8::MAX as i128),
        DType::U16 => (0, u16::MAX as i128),
        DType::U32 => (0, u32::MAX as i128),
        DType::U64 => (0, u64::MAX as i128),
        _ => (i128::MIN, i128::MAX),
    }
}

fn too_large() -> String {
    "integer literal arithmetic overflows 128 bits".to_string()
}

/// Python's unary operators on a literal (`~` on a bool is NumPy's logical not, as ndexpr has it).
fn py_unary(op: UnaryOp, x: Py) -> Result<Py, String> {
    Ok(match (op, x) {
        (UnaryOp::Not, v) => Py::Bool(!v.truthy()),
        (UnaryOp::Pos, Py::Bool(b)) => Py::Int(b as i128),
        (UnaryOp::Pos, v) => v,
        (UnaryOp::Neg, Py::Float(f)) => Py::Float(-f),
        (UnaryOp::Neg, Py::Complex(z)) => Py::Complex(-z),
        (UnaryOp::Neg, v) => Py::Int(v.int().unwrap().checked_neg().ok_or_else(too_large)?),
        (UnaryOp::Invert, Py::Bool(b)) => Py::Bool(!b),
        (UnaryOp::Invert, Py::Int(v)) => Py::Int(!v),
        (UnaryOp::Invert, v) => return Err(format!("bad operand type for unary ~: {v:?}")),
    })
}

/// Python's binary operators on two literals (`and`/`or` give bools, as ndexpr's logical ops).
fn py_binary(op: BinaryOp, a: Py, b: Py) -> Result<Py, String> {
    use BinaryOp::*;
    match op {
        And => return Ok(Py::Bool(a.truthy() && b.truthy())),
        Or => return Ok(Py::Bool(a.truthy() || b.truthy())),
        _ if matches!(a, Py::Complex(_)) || matches!(b, Py::Complex(_)) => {
            return py_complex_binary(op, a, b)
        }
        Lt | Le | Gt | Ge | Eq | Ne => {
            let ord = match (a.int(), b.int()) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => a.float().unwrap().partial_cmp(&b.float().unwrap()),
            };
            let holds = match (op, ord) {
                (Ne, None) => true,
                (_, None) => false,
                (Lt, Some(o)) => o.is_lt(),
                (Le, Some(o)) => o.is_le(),
                (Gt, Some(o)) => o.is_gt(),
                (Ge, Some(o)) => o.is_ge(),
                (Eq, Some(o)) => o.is_eq(),
                (_, Some(o)) => o.is_ne(),
            };
            return Ok(Py::Bool(holds));
        }
        _ => {}
    }
    if let (Py::Bool(x), Py::Bool(y)) = (a, b) {
        match op {
            BitAnd => return Ok(Py::Bool(x & y)),
            BitOr => return Ok(Py::Bool(x | y)),
            BitXor => return Ok(Py::Bool(x ^ y)),
            _ => {}
        }
    }
    if let (Some(x), Some(y)) = (a.int(), b.int()) {
        let ok = |v: Option<i128>| v.map(Py::Int).ok_or_else(too_large);
        return match op {
            Add => ok(x.checked_add(y)),
            Sub => ok(x.checked_sub(y)),
            Mul => ok(x.checked_mul(y)),
            Div | FloorDiv | Mod if y == 0 => Err("division by zero".into()),
            Div => Ok(Py::Float(x as f64 / y as f64)),
            FloorDiv | Mod => {
                let (mut q, mut r) = (x / y, x % y);
                if r != 0 && (r < 0) != (y < 0) {
                    q -= 1;
                    r += y;
                }
                Ok(Py::Int(if op == FloorDiv { q } else { r }))
            }
            Pow if y < 0 => {
                if x == 0 {
                    Err("0 cannot be raised to a negative power".into())
                } else {
                    Ok(Py::Float((x as f64).powf(y as f64)))
                }
            }
            Pow => ok(u32::try_from(y).ok().and_then(|e| x.checked_pow(e))),
            LShift | RShift if y < 0 => Err("negative shift count".into()),
            LShift => ok(if x == 0 {
                Some(0)
            } else {
                u32::try_from(y)
                    .ok()
                    .filter(|&s| s < 127)
                    .and_then(|s| x.checked_mul(1i128 << s))
            }),
            RShift => Ok(Py::Int(if y >= 127 {
                if x < 0 {
                    -1
                } else {
                    0
                }
            } else {
                x >> y
            })),
            BitAnd => Ok(Py::Int(x & y)),
            BitOr => Ok(Py::Int(x | y)),
            BitXor => Ok(Py::Int(x ^ y)),
            _ => unreachable!(),
        };
    }
    let (x, y) = (a.float().unwrap(), b.float().unwrap());
    Ok(Py::Float(match op {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div | FloorDiv | Mod if y == 0.0 => return Err("float division by zero".into()),
        Div => x / y,
        FloorDiv => float_divmod(x, y).0,
        Mod => float_divmod(x, y).1,
        Pow => {
            if x == 0.0 && y < 0.0 {
                return Err("0.0 cannot be raised to a negative power".into());
            }
            if x < 0.0 && y.is_finite() && y.fract() != 0.0 {
                return Err(format!(
                    "{SKIP} a negative float to a fractional power is complex"
                ));
            }
            let r = x.powf(y);
            if r.is_infinite() && x.is_finite() && y.is_finite() {
                return Err("numerical result out of range".into());
            }
            r
        }
        _ => return Err(format!("unsupported operand types for {op:?}: float")),
    }))
}

// ---------------------------------------------------------------------------------------------
// The evaluator.

/// How far a result can be trusted bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exactness {
    /// Every operation is exactly specified: compare bits.
    Exact,
    /// As `Exact`, except that the last operation (`maximum`/`minimum` of a -0.0 and a +0.0)
    /// may give either zero: NumPy's SIMD loops return the second operand, its scalar loops the
    /// first. Compare bits with the zeros' signs ignored.
    ZeroSign,
    /// Only the last operation is a libm-quality function (or float `**`) of exact operands:
    /// compare within a few ULP.
    Approx,
    /// An approximate value went through further operations: values are not comparable.
    Tainted,
}

/// The type rules: NumPy's loop for an op over these operand types.
pub type Rules<'r> = &'r dyn Fn(Op, &[Ty]) -> Result<Loop, String>;

#[derive(Debug, Clone)]
enum Val {
    Lit(Py),
    Arr(RefArray, Exactness),
}

struct Evaluator<'v, 'r> {
    vars: &'v [(&'v str, RefArray)],
    rules: Rules<'r>,
    /// The per-element tolerances of the last ufunc call's result, when it is a complex
    /// approximate function of exact operands (see [`complex_tolerance`]).
    tolerance: std::cell::RefCell<Option<ArrayD<f64>>>,
}

fn binary_op(op: BinaryOp) -> Op {
    match op {
        BinaryOp::Add => Op::Add,
        BinaryOp::Sub => Op::Subtract,
        BinaryOp::Mul => Op::Multiply,
        BinaryOp::Div => Op::TrueDivide,
        BinaryOp::FloorDiv => Op::FloorDivide,
        BinaryOp::Mod => Op::Remainder,
        BinaryOp::Pow => Op::Power,
        BinaryOp::LShift => Op::LeftShift,
        BinaryOp::RShift => Op::RightShift,
        BinaryOp::BitAnd => Op::BitwiseAnd,
        BinaryOp::BitOr => Op::BitwiseOr,
        BinaryOp::BitXor => Op::BitwiseXor,
        BinaryOp::Lt => Op::Less,
        BinaryOp::Le => Op::LessEqual,
        BinaryOp::Gt => Op::Greater,
        BinaryOp::Ge => Op::GreaterEqual,
        BinaryOp::Eq => Op::Equal,
        BinaryOp::Ne => Op::NotEqual,
        BinaryOp::And => Op::LogicalAnd,
        BinaryOp::Or => Op::LogicalOr,
    }
}

/// The functions the reference knows, by their expression names.
pub fn function(name: &str) -> Option<Op> {
    Some(match name {
        "where" => Op::Where,
        "sin" => Op::Sin,
        "cos" => Op::Cos,
        "tan" => Op::Tan,
        "arcsin" => Op::Arcsin,
        "arccos" => Op::Arccos,
        "arctan" => Op::Arctan,
        "arctan2" => Op::Arctan2,
        "sinh" => Op::Sinh,
        "cosh" => Op::Cosh,
        "tanh" => Op::Tanh,
        "arcsinh" => Op::Arcsinh,
        "arccosh" => Op::Arccosh,
        "arctanh" => Op::Arctanh,
        "log" => Op::Log,
        "log10" => Op::Log10,
        "log1p" => Op::Log1p,
        "log2" => Op::Log2,
        "exp" => Op::Exp,
        "expm1" => Op::Expm1,
        "exp2" => Op::Exp2,
        "sqrt" => Op::Sqrt,
        "cbrt" => Op::Cbrt,
        "square" => Op::Square,
        "reciprocal" => Op::Reciprocal,
        "abs" | "absolute" => Op::Absolute,
        "ceil" => Op::Ceil,
        "floor" => Op::Floor,
        "round" | "rint" => Op::Rint,
        "trunc" => Op::Trunc,
        "sign" => Op::Sign,
        "fmod" => Op::Fmod,
        "hypot" => Op::Hypot,
        "nextafter" => Op::Nextafter,
        "copysign" => Op::Copysign,
        "maximum" => Op::Maximum,
        "minimum" => Op::Minimum,
        "isnan" => Op::IsNan,
        "isfinite" => Op::IsFinite,
        "isinf" => Op::IsInf,
        "signbit" => Op::SignBit,
        "clip" => Op::Clip,
        "fma" => Op::Fma,
        "copy" => Op::Copy,
        "real" => Op::Real,
        "imag" => Op::Imag,
        "conj" | "conjugate" => Op::Conjugate,
        "complex" => Op::Complex,
        _ => return None,
    })
}

impl Evaluator<'_, '_> {
    fn eval(&self, expr: &Expr) -> Result<Val, String> {
        match &expr.kind {
            ExprKind::Int(v) => Ok(Val::Lit(Py::Int(*v as i128))),
            ExprKind::Float(x) => Ok(Val::Lit(Py::Float(*x))),
            ExprKind::Imag(x) => Ok(Val::Lit(Py::Complex(Complex64::new(0.0, *x)))),
            ExprKind::Bool(b) => Ok(Val::Lit(Py::Bool(*b))),
            ExprKind::Name(name) => match self.vars.iter().find(|(n, _)| n == name) {
                Some((_, a)) => Ok(Val::Arr(a.clone(), Exactness::Exact)),
                None => Err(format!("unknown variable `{name}`")),
            },
            ExprKind::Unary { op, operand } => {
                let x = self.eval(operand)?;
                if let Val::Lit(p) = x {
                    return py_unary(*op, p).map(Val::Lit);
                }
                let op = match op {
                    UnaryOp::Neg => Op::Negative,
                    UnaryOp::Pos => Op::Positive,
                    UnaryOp::Invert => Op::Invert,
                    UnaryOp::Not => Op::LogicalNot,
                };
                self.ufunc(op, vec![x])
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.eval(lhs)?, self.eval(rhs)?);
                if let (Val::Lit(x), Val::Lit(y)) = (&a, &b) {
                    return py_binary(*op, *x, *y).map(Val::Lit);
                }
                if *op == BinaryOp::Pow {
                    if let (Val::Arr(base, _), Val::Lit(e)) = (&a, &b) {
                        let d = base.dtype();
                        if d == DType::Bool && matches!(e, Py::Int(2)) {
                            // NumPy 2.4.6: `np.array([True]) ** 2` is np.square's int8.
                            return self.ufunc(Op::Square, vec![a]);
                        }
                        if d.is_float() || d.is_complex() {
                            // NumPy 2's `fast_scalar_power` (ndarray.__pow__): a Python int
                            // exponent 2 or -1, or a Python float 0.5, on a float array.
                            let shortcut = match e {
                                Py::Int(2) => Some(Op::Square),
                                Py::Int(-1) => Some(Op::Reciprocal),
                                Py::Float(f) if *f == 0.5 => Some(Op::Sqrt),
                                _ => None,
                            };
                            if let Some(s) = shortcut {
                                return self.ufunc(s, vec![a]);
                            }
                        } else if let Py::Int(k) = e {
                            // Decided when the exponent is known, as ndexpr's compiler does
                            // (NumPy raises the same error at run time on non-empty arrays).
                            let lp = (self.rules)(Op::Power, &[Ty::Strong(d), Ty::WeakInt(*k)])?;
                            if *k < 0 && lp.output.is_integer() {
                                return Err(
                                    "Integers to negative integer powers are not allowed.".into()
                                );
                            }
                        }
                    }
                }
                self.ufunc(binary_op(*op), vec![a, b])
            }
            ExprKind::Call {
                func, args, kwargs, ..
            } => {
                if !kwargs.is_empty() {
                    return Err(format!("`{func}` takes no keyword arguments"));
                }
                let op = function(func).ok_or_else(|| format!("unknown function `{func}`"))?;
                if args.len() != op.arity() {
                    return Err(format!("`{func}` takes {} arguments", op.arity()));
                }
                let vals = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                if op == Op::Copy {
                    return match vals.into_iter().next().unwrap() {
                        Val::Lit(p) => Ok(Val::Arr(p.default_array()?, Exactness::Exact)),
                        v => Ok(v),
                    };
                }
                self.ufunc(op, vals)
            }
        }
    }

    /// One NumPy ufunc call: resolve the loop, cast the operands to it, compute.
    fn ufunc(&self, op: Op, vals: Vec<Val>) -> Result<Val, String> {
        let tys: Vec<Ty> = vals
            .iter()
            .map(|v| match v {
                Val::Lit(p) => p.ty(),
                Val::Arr(a, _) => Ty::Strong(a.dtype()),
            })
            .collect();
        let lp = (self.rules)(op, &tys)?;
        if lp.inputs.len() != vals.len() {
            return Err(format!(
                "rules gave {} inputs for {}",
                lp.inputs.len(),
                op.name()
            ));
        }
        // NumPy's `np.clip` (`_methods._clip`) drops a Python int bound of an integer `x` that
        // clips nothing (a lower bound at or below the dtype's minimum, an upper one at or above
        // its maximum) and calls `maximum`, `minimum` or `positive` instead; the dropped bound
        // is never converted. The loop dtypes stay the ones resolved for clip.
        let (op, vals, inputs) = if op == Op::Clip {
            let drops = |i: usize, upper: bool| match (&vals[0], &vals[i]) {
                (Val::Arr(x, _), Val::Lit(Py::Int(b))) if x.dtype().is_integer() => {
                    let (lo, hi) = int_bounds(x.dtype());
                    if upper {
                        *b >= hi
                    } else {
                        *b <= lo
                    }
                }
                _ => false,
            };
            let keep = |ix: &[usize]| -> (Vec<Val>, Vec<DType>) {
                (
                    ix.iter().map(|&i| vals[i].clone()).collect(),
                    ix.iter().map(|&i| lp.inputs[i]).collect(),
                )
            };
            let (new_op, (v, d)) = match (drops(1, false), drops(2, true)) {
                (false, false) => (Op::Clip, keep(&[0, 1, 2])),
                (true, false) => (Op::Minimum, keep(&[0, 2])),
                (false, true) => (Op::Maximum, keep(&[0, 1])),
                (true, true) => (Op::Positive, keep(&[0])),
            };
            (new_op, v, d)
        } else {
            (op, vals, lp.inputs.clone())
        };
        let mut exactness = Exactness::Exact;
        let mut args = Vec::with_capacity(vals.len());
        for (v, &d) in vals.iter().zip(&inputs) {
            // Logical ops test truthiness: a cast to bool.
            let d = if matches!(op, Op::LogicalAnd | Op::LogicalOr | Op::LogicalNot) {
                DType::Bool
            } else {
                d
            };
            args.push(match v {
                // `where` wraps Python ints into its dtype unchecked (NumPy 2:
                // `where(c, int8, 300)` holds 44).
                Val::Lit(p) => p.convert(d, op != Op::Where)?,
                Val::Arr(a, e) => {
                    if *e != Exactness::Exact {
                        exactness = Exactness::Tainted;
                    }
                    a.cast(d)?
                }
            });
        }
        let ty = if op == Op::Where {
            inputs[1]
        } else {
            inputs[0]
        };
        // float16 loops: compute in float32, round back once per operation.
        let half = ty == DType::F16 && op != Op::Where;
        if half {
            for a in &mut args {
                if a.dtype() == DType::F16 {
                    *a = a.cast(DType::F32)?;
                }
            }
        }
        let mut out = match args.len() {
            // NumPy's float16 nextafter works on the half bits, not through float32.
            2 if op == Op::Nextafter && ty == DType::F16 => {
                let (RefArray::F32(x), RefArray::F32(y)) = (&args[0], &args[1]) else {
                    unreachable!("float16 operands were widened above")
                };
                let h = |v: f32| f16::from_f32(v);
                RefArray::F16(zip2(x, y, |p, q| Ok(half_next_after(h(p), h(q))))?)
            }
            1 => apply_unary(op, &args[0])?,
            2 => apply_binary(op, &args[0], &args[1])?,
            3 => apply_ternary(op, &args[0], &args[1], &args[2])?,
            n => return Err(format!("no {n}-ary ops")),
        };
        if half && lp.output == DType::F16 && out.dtype() != DType::F16 {
            out = out.cast(DType::F16)?;
        }
        if out.dtype() != lp.output {
            return Err(format!(
                "reference bug: {} gave {} where the loop says {}",
                op.name(),
                out.dtype(),
                lp.output
            ));
        }
        if matches!(op, Op::Maximum | Op::Minimum)
            && exactness == Exactness::Exact
            && mixed_zeros(&args[0], &args[1])?
        {
            exactness = Exactness::ZeroSign;
        }
        let inexact_op = if inputs.iter().any(|d| d.is_complex()) {
            // libm's complex functions, `sign` (libm's hypot) and `power` unless npymath
            // multiplies; `abs` is NumPy's own exact formula.
            is_transcendental(op)
                || matches!(op, Op::Sqrt | Op::Sign)
                || (op == Op::Power && !complex_pow_exact(&args[0], &args[1])?)
        } else {
            is_transcendental(op) || (op == Op::Power && lp.output.is_float())
        };
        let mut tolerance = None;
        if inexact_op && exactness == Exactness::Exact {
            exactness = Exactness::Approx;
            if out.dtype().is_complex() {
                tolerance = Some(complex_tolerance(&args, &out));
            }
        }
        *self.tolerance.borrow_mut() = tolerance;
        Ok(Val::Arr(out, exactness))
    }
}

/// Per-element absolute tolerances for a complex approximate result: ndexpr computes these
/// functions its own way, and NumPy's own formulas lose accuracy in proportion to the operands'
/// size (`exp2` scales its argument by ln 2 first, `power` goes through exp and log). So each part
/// may be off by `16 eps (1 + Σ|operand|) max(|re|, |im|)`. Elements outside the ordinary
/// domain — an operand part infinite, NaN, beyond 2^20 or below 2^-40 in magnitude (but not
/// zero), or a result part not finite — are special values (C99 Annex G), not compared:
/// infinity.
fn complex_tolerance(args: &[RefArray], out: &RefArray) -> ArrayD<f64> {
    let (w, eps) = match out {
        RefArray::C64(_) => (out.widen(), f32::EPSILON as f64),
        _ => (out.widen(), f64::EPSILON),
    };
    let shape = w.raw_dim();
    let mut size = ArrayD::<f64>::zeros(shape.clone());
    let mut ordinary = ArrayD::from_elem(shape, true);
    let ok = |v: f64| {
        v.is_finite() && v.abs() <= 2f64.powi(20) && (v == 0.0 || v.abs() >= 2f64.powi(-40))
    };
    for a in args {
        let wa = a.widen();
        let wa = wa
            .broadcast(size.raw_dim())
            .expect("operands broadcast to the result");
        Zip::from(&mut size)
            .and(&mut ordinary)
            .and(&wa)
            .for_each(|s, o, &x| {
                let (re, im) = match x {
                    W::C(z) => (z.re, z.im),
                    W::F(v) => (v, 0.0),
                    W::I(i) => (i as f64, 0.0),
                    W::B(b) => (b as u8 as f64, 0.0),
                };
                *o &= ok(re) && ok(im);
                *s += re.hypot(im);
            });
    }
    Zip::from(&w)
        .and(&size)
        .and(&ordinary)
        .map_collect(|&r, &s, &o| match r {
            W::C(z) if o && z.re.is_finite() && z.im.is_finite() => {
                16.0 * eps * (1.0 + s) * z.re.abs().max(z.im.abs())
            }
            _ => f64::INFINITY,
        })
}

/// Whether npymath computes every broadcast pair of `a ** b` by multiplications.
fn complex_pow_exact(a: &RefArray, b: &RefArray) -> Result<bool, String> {
    let exact = match (a, b) {
        (RefArray::C64(x), RefArray::C64(y)) => zip2(x, y, |p, q| Ok(c_pow_is_exact(p, q)))?,
        (RefArray::C128(x), RefArray::C128(y)) => zip2(x, y, |p, q| Ok(c_pow_is_exact(p, q)))?,
        _ => return Ok(true),
    };
    Ok(exact.iter().all(|&e| e))
}

/// Whether some broadcast pair of elements is a -0.0 and a +0.0.
fn mixed_zeros(a: &RefArray, b: &RefArray) -> Result<bool, String> {
    if !a.dtype().is_float() {
        return Ok(false);
    }
    let pairs = zip2(&a.widen(), &b.widen(), |p, q| {
        Ok(matches!((p, q), (W::F(x), W::F(y)) if x == 0.0 && y == 0.0
            && x.is_sign_negative() != y.is_sign_negative()))
    })?;
    Ok(pairs.iter().any(|&m| m))
}

/// Evaluates an already-parsed expression with the given type rules, and says how exactly the
/// result is specified.
pub fn reference_eval_ast(
    expr: &Expr,
    vars: &[(&str, RefArray)],
    rules: Rules,
) -> Result<(RefArray, Exactness), String> {
    reference_eval_tolerances(expr, vars, rules).map(|(a, e, _)| (a, e))
}

/// As [`reference_eval_ast`], with per-element absolute tolerances (infinite: not compared) for
/// a complex [`Exactness::Approx`] result (see [`complex_tolerance`]).
pub fn reference_eval_tolerances(
    expr: &Expr,
    vars: &[(&str, RefArray)],
    rules: Rules,
) -> Result<(RefArray, Exactness, Option<ArrayD<f64>>), String> {
    let ev = Evaluator {
        vars,
        rules,
        tolerance: Default::default(),
    };
    let val = ev.eval(expr)?;
    // An approximate result is the last ufunc call's (any later operation taints it).
    let tolerance = ev.tolerance.into_inner();
    match val {
        Val::Lit(p) => Ok((p.default_array()?, Exactness::Exact, None)),
        Val::Arr(a, e) => {
            let tolerance = tolerance.filter(|t| e == Exactness::Approx && t.shape() == a.shape());
            Ok((a, e, tolerance))
        }
    }
}

/// NumPy 2's type rules, as ndexpr implements them (verified against NumPy separately).
pub fn numpy_rules(op: Op, tys: &[Ty]) -> Result<Loop, String> {
    ndexpr::types::resolve(op, tys)
}

/// Parses and evaluates `src` with NumPy 2's rules; also says how exactly the result is
/// specified.
pub fn reference_eval_traced(
    src: &str,
    vars: &[(&str, RefArray)],
) -> Result<(RefArray, Exactness), String> {
    let expr = ndexpr::syntax::parse(src).map_err(|e| e.to_string())?;
    reference_eval_ast(&expr, vars, &numpy_rules)
}

/// Parses and evaluates `src` with NumPy 2's rules: the result, how exactly it is specified, and
/// per-element tolerances for a complex approximate result.
pub fn reference_eval_full(
    src: &str,
    vars: &[(&str, RefArray)],
) -> Result<(RefArray, Exactness, Option<ArrayD<f64>>), String> {
    let expr = ndexpr::syntax::parse(src).map_err(|e| e.to_string())?;
    reference_eval_tolerances(&expr, vars, &numpy_rules)
}

/// Parses and evaluates `src` over the variables with NumPy 2's semantics.
pub fn reference_eval(src: &str, vars: &[(&str, RefArray)]) -> Result<RefArray, String> {
    reference_eval_traced(src, vars).map(|(a, _)| a)
}
