//! Elementwise kernels: one function per (operation, dtype, operand form), looked up once per
//! instruction when a program is prepared, then called once per block.
//!
//! Semantics are NumPy 2's, bit for bit, except the transcendental functions. Layout: [`drive`]
//! holds the loop drivers (the only `unsafe` code with the C library calls in `num`), `num`
//! the per-family arithmetic traits, `ops` the operations, `cast` the conversions, [`math`] the
//! vectorisable float functions and [`isa`] the per-instruction-set entry points; [`lookup`]
//! instantiates them per dtype, scalar mask and level.
//!
//! float16 has only `Cast`, `Copy` and `Where` kernels: the compiler computes float16 in
//! float32. Integer `power` with a negative exponent (an error in NumPy) gives 0 here: the
//! compiler/VM must check for it. Integer division/remainder by zero gives 0 (NumPy also
//! warns; the kernels cannot). Bool operands must hold 0 or 1, and bool results are 0 or 1.
//!
//! Where NumPy's own loops are SIMD code with fused multiply-adds, the kernels reproduce them:
//! complex `multiply`/`square` (`re = fma(a, c, -b*d)`, `im = fma(a, d, b*c)`) and complex
//! `absolute` (`larger * sqrt(fma(r, r, 1))`, not libm's `hypot`). Float → uint32 casts of
//! values outside `(-2^31, 2^32)` follow NumPy's vectorised loop (see `cast`).
//!
//! Accuracy (not bit-exact, tested against NumPy and correctly rounded references): the float
//! functions of [`math`] (≤ 2 ULP, `sqrt` exact; README table), and the complex functions, which
//! call the C library's C99 functions as NumPy does on Linux (`csin`, `cpow`, ...) plus NumPy's
//! own `exp2`/`log2`/`log10`/`expm1`/`log1p` formulas; complex `power` is `npy_cpow` (small
//! integer exponents by multiplication).

mod cast;
pub mod chain;
pub mod drive;
pub mod isa;
pub mod math;
mod num;
mod ops;
pub mod vector;

use crate::bytecode::Op;
use crate::types::{DType, Element, Scalar};
use cast::CastTo;
use drive::{form1, form2, form3, form3s};
use half::f16;
pub use isa::Isa;
use num_complex::{Complex32, Complex64};
use ops::{all, bits, boolean, cpx, flt, int};

/// Computes `n` elements of an instruction.
///
/// `dst` points to `n` elements of the instruction's output dtype. `args[k]` points to `n`
/// elements of operand `k`'s dtype, or to a single element when bit `k` of the scalar mask the
/// kernel was looked up with is set (that operand is broadcast). `dst` may be equal to any
/// `args[k]` (in-place update) but must not otherwise overlap them. Unused `args` are ignored.
///
/// # Safety
/// The pointers must be valid for those reads and writes and aligned for their dtypes.
pub type KernelFn = unsafe fn(n: usize, dst: *mut u8, args: &[*const u8; 3]);

/// Instantiates a kernel form for the element types of some dtype groups, picking the one whose
/// dtype is `ty`: `pick!(ty, mask, form2; ints => int::Add, floats => flt::Add)`.
macro_rules! pick {
    ($ty:expr, $mask:expr, $form:ident; $($g:ident => $M:ty),* $(,)?) => {{
        let (ty, mask): (DType, u8) = ($ty, $mask);
        let mut r: Option<KernelFn> = None;
        $( pick!(@ $g r ty mask $form $M); )*
        r
    }};
    (@ bool $r:ident $ty:ident $mask:ident $form:ident $M:ty) => {
        pick!(@ one $r $ty $mask $form $M; bool)
    };
    (@ ints $r:ident $ty:ident $mask:ident $form:ident $M:ty) => {
        pick!(@ one $r $ty $mask $form $M; i8, i16, i32, i64, u8, u16, u32, u64)
    };
    (@ floats $r:ident $ty:ident $mask:ident $form:ident $M:ty) => {
        pick!(@ one $r $ty $mask $form $M; f32, f64)
    };
    (@ half $r:ident $ty:ident $mask:ident $form:ident $M:ty) => {
        pick!(@ one $r $ty $mask $form $M; f16)
    };
    (@ complex $r:ident $ty:ident $mask:ident $form:ident $M:ty) => {
        pick!(@ one $r $ty $mask $form $M; Complex32, Complex64)
    };
    // Every dtype but float16.
    (@ all $r:ident $ty:ident $mask:ident $form:ident $M:ty) => {
        pick!(@ one $r $ty $mask $form $M;
              bool, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, Complex32, Complex64)
    };
    (@ one $r:ident $ty:ident $mask:ident $form:ident $M:ty; $($t:ty),*) => {
        $( if $ty == <$t as Element>::DTYPE { $r = Some($form::<L, $t, $M>($mask)); } )*
    };
}

/// The output dtype NumPy gives `op` on operands of dtype `ty` (for `Cast`: any).
fn output_dtype(op: Op, ty: DType) -> Option<DType> {
    use Op::*;
    Some(match op {
        Less | LessEqual | Greater | GreaterEqual | Equal | NotEqual | LogicalAnd | LogicalOr
        | LogicalNot | IsNan | IsFinite | IsInf | SignBit => DType::Bool,
        Absolute | Real | Imag => ty.real_part(),
        Complex => match ty {
            DType::F32 => DType::C64,
            DType::F64 => DType::C128,
            _ => return None,
        },
        Cast => return None,
        _ => ty,
    })
}

/// The kernel for `op` with operand dtype `ty` and output dtype `out` (see
/// [`crate::bytecode::Instr`]), or `None` when ndexpr has no such loop; compiled for the
/// [`isa::active`] instruction-set level. The kernel of [`Op::Fused`] is the exception to
/// [`KernelFn`]'s operands: its operand 0 points to a [`chain::Chain`] (see [`chain::run`]).
pub fn lookup(op: Op, ty: DType, out: DType, scalar_mask: u8) -> Option<KernelFn> {
    static ACTIVE: std::sync::OnceLock<Lookup> = std::sync::OnceLock::new();
    let table =
        ACTIVE.get_or_init(|| lookup_for(isa::active()).unwrap_or(lookup_at::<isa::Baseline>));
    table(op, ty, out, scalar_mask)
}

/// A kernel table: [`lookup`] for one instruction-set level.
pub type Lookup = fn(Op, DType, DType, u8) -> Option<KernelFn>;

/// The kernel table of `level`, or `None` when this CPU (or target) lacks it.
pub fn lookup_for(level: Isa) -> Option<Lookup> {
    if !level.supported() {
        return None;
    }
    match level {
        Isa::Baseline => Some(lookup_at::<isa::Baseline>),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(lookup_at::<isa::Avx2>),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(lookup_at::<isa::Avx512>),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
}

/// [`lookup`] for level `L`.
fn lookup_at<L: isa::Level>(op: Op, ty: DType, out: DType, scalar_mask: u8) -> Option<KernelFn> {
    let m = scalar_mask;
    if op == Op::Cast {
        return cast_kernel::<L>(ty, out, m);
    }
    if output_dtype(op, ty) != Some(out) {
        return None;
    }
    use Op::*;
    match op {
        Negative => {
            pick!(ty, m, form1; ints => int::Negative, floats => flt::Negative, complex => cpx::Negative)
        }
        Positive => {
            pick!(ty, m, form1; ints => all::Identity, floats => all::Identity, complex => all::Identity)
        }
        Add => {
            pick!(ty, m, form2; bool => boolean::Or, ints => int::Add, floats => flt::Add, complex => cpx::Add)
        }
        Subtract => {
            pick!(ty, m, form2; ints => int::Subtract, floats => flt::Subtract, complex => cpx::Subtract)
        }
        Multiply => {
            pick!(ty, m, form2; bool => boolean::And, ints => int::Multiply, floats => flt::Multiply, complex => cpx::Multiply)
        }
        TrueDivide => pick!(ty, m, form2; floats => flt::TrueDivide, complex => cpx::TrueDivide),
        FloorDivide => pick!(ty, m, form2; ints => int::FloorDivide, floats => flt::FloorDivide),
        Remainder => pick!(ty, m, form2; ints => int::Remainder, floats => flt::Remainder),
        Fmod => pick!(ty, m, form2; ints => int::Fmod, floats => flt::Fmod),
        Power => {
            pick!(ty, m, form2; ints => int::Power, floats => flt::Power, complex => cpx::Power)
        }
        Square => {
            pick!(ty, m, form1; ints => int::Square, floats => flt::Square, complex => cpx::Square)
        }
        Cube => pick!(ty, m, form1; floats => flt::Cube),
        Reciprocal => {
            pick!(ty, m, form1; ints => int::Reciprocal, floats => flt::Reciprocal, complex => cpx::Reciprocal)
        }
        Absolute => {
            pick!(ty, m, form1; bool => all::Identity, ints => int::Absolute, floats => flt::Absolute, complex => cpx::Absolute)
        }
        Sign => pick!(ty, m, form1; ints => int::Sign, floats => flt::Sign, complex => cpx::Sign),
        BitwiseAnd => pick!(ty, m, form2; bool => boolean::And, ints => bits::And),
        BitwiseOr => pick!(ty, m, form2; bool => boolean::Or, ints => bits::Or),
        BitwiseXor => pick!(ty, m, form2; bool => boolean::Xor, ints => bits::Xor),
        Invert => pick!(ty, m, form1; bool => boolean::Not, ints => bits::Not),
        LeftShift => pick!(ty, m, form2; ints => int::LeftShift),
        RightShift => pick!(ty, m, form2; ints => int::RightShift),
        Less => pick!(ty, m, form2; all => all::Less),
        LessEqual => pick!(ty, m, form2; all => all::LessEqual),
        Greater => pick!(ty, m, form2; all => all::Greater),
        GreaterEqual => pick!(ty, m, form2; all => all::GreaterEqual),
        Equal => pick!(ty, m, form2; all => all::Equal),
        NotEqual => pick!(ty, m, form2; all => all::NotEqual),
        LogicalAnd => pick!(ty, m, form2; all => all::LogicalAnd),
        LogicalOr => pick!(ty, m, form2; all => all::LogicalOr),
        LogicalNot => pick!(ty, m, form1; all => all::LogicalNot),
        IsNan => pick!(ty, m, form1; all => all::IsNan),
        IsFinite => pick!(ty, m, form1; all => all::IsFinite),
        IsInf => pick!(ty, m, form1; all => all::IsInf),
        SignBit => pick!(ty, m, form1; floats => flt::SignBit),
        Sqrt => pick!(ty, m, form1; floats => flt::Sqrt, complex => cpx::Sqrt),
        Cbrt => pick!(ty, m, form1; floats => flt::Cbrt),
        Exp => pick!(ty, m, form1; floats => flt::Exp, complex => cpx::Exp),
        Exp2 => pick!(ty, m, form1; floats => flt::Exp2, complex => cpx::Exp2),
        Expm1 => pick!(ty, m, form1; floats => flt::Expm1, complex => cpx::Expm1),
        Log => pick!(ty, m, form1; floats => flt::Log, complex => cpx::Log),
        Log2 => pick!(ty, m, form1; floats => flt::Log2, complex => cpx::Log2),
        Log10 => pick!(ty, m, form1; floats => flt::Log10, complex => cpx::Log10),
        Log1p => pick!(ty, m, form1; floats => flt::Log1p, complex => cpx::Log1p),
        Sin => pick!(ty, m, form1; floats => flt::Sin, complex => cpx::Sin),
        Cos => pick!(ty, m, form1; floats => flt::Cos, complex => cpx::Cos),
        Tan => pick!(ty, m, form1; floats => flt::Tan, complex => cpx::Tan),
        Arcsin => pick!(ty, m, form1; floats => flt::Arcsin, complex => cpx::Arcsin),
        Arccos => pick!(ty, m, form1; floats => flt::Arccos, complex => cpx::Arccos),
        Arctan => pick!(ty, m, form1; floats => flt::Arctan, complex => cpx::Arctan),
        Sinh => pick!(ty, m, form1; floats => flt::Sinh, complex => cpx::Sinh),
        Cosh => pick!(ty, m, form1; floats => flt::Cosh, complex => cpx::Cosh),
        Tanh => pick!(ty, m, form1; floats => flt::Tanh, complex => cpx::Tanh),
        Arcsinh => pick!(ty, m, form1; floats => flt::Arcsinh, complex => cpx::Arcsinh),
        Arccosh => pick!(ty, m, form1; floats => flt::Arccosh, complex => cpx::Arccosh),
        Arctanh => pick!(ty, m, form1; floats => flt::Arctanh, complex => cpx::Arctanh),
        Arctan2 => pick!(ty, m, form2; floats => flt::Arctan2),
        Hypot => pick!(ty, m, form2; floats => flt::Hypot),
        Nextafter => pick!(ty, m, form2; floats => flt::Nextafter, half => ops::HalfNextafter),
        Copysign => pick!(ty, m, form2; floats => flt::Copysign),
        Maximum => pick!(ty, m, form2; all => all::Maximum),
        Minimum => pick!(ty, m, form2; all => all::Minimum),
        Ceil => {
            pick!(ty, m, form1; bool => all::Identity, ints => all::Identity, floats => flt::Ceil)
        }
        Floor => {
            pick!(ty, m, form1; bool => all::Identity, ints => all::Identity, floats => flt::Floor)
        }
        Trunc => {
            pick!(ty, m, form1; bool => all::Identity, ints => all::Identity, floats => flt::Trunc)
        }
        Rint => pick!(ty, m, form1; floats => flt::Rint, complex => cpx::Rint),
        Conjugate => {
            pick!(ty, m, form1; ints => all::Identity, floats => all::Identity, complex => cpx::Conjugate)
        }
        Real => pick!(ty, m, form1; complex => cpx::Real),
        Imag => pick!(ty, m, form1; complex => cpx::Imag),
        Complex => pick!(ty, m, form2; floats => flt::MakeComplex),
        Where => pick!(ty, m, where_form; all => all::Where, half => all::Where),
        Fma => pick!(ty, m, form3s; ints => int::Fma, floats => flt::Fma),
        MultiplyAdd => pick!(ty, m, form3s; ints => int::MultiplyAdd, floats => flt::MultiplyAdd),
        AddMultiply => pick!(ty, m, form3s; ints => int::AddMultiply, floats => flt::AddMultiply),
        MultiplySubtract => {
            pick!(ty, m, form3s; ints => int::MultiplySubtract, floats => flt::MultiplySubtract)
        }
        SubtractMultiply => {
            pick!(ty, m, form3s; ints => int::SubtractMultiply, floats => flt::SubtractMultiply)
        }
        Clip => {
            pick!(ty, m, form3s; bool => all::Clip, ints => all::Clip, floats => all::Clip, complex => cpx::Clip)
        }
        Copy => pick!(ty, m, form1; all => all::Identity, half => all::Identity),
        Fused => chain::kernel::<L>(ty),
        Cast => None,
    }
}

/// `where`'s form: a bool condition, then two operands of `T`.
fn where_form<L: isa::Level, T: std::marker::Copy, M: drive::Map3<bool, T, T>>(
    mask: u8,
) -> KernelFn {
    form3::<L, bool, T, T, M>(mask)
}

/// The `astype` kernel from `ty` to `out`.
fn cast_kernel<L: isa::Level>(ty: DType, out: DType, m: u8) -> Option<KernelFn> {
    macro_rules! to {
        ($u:ty) => {
            pick!(ty, m, form1; all => CastTo<$u>, half => CastTo<$u>)
        };
    }
    match out {
        DType::Bool => to!(bool),
        DType::I8 => to!(i8),
        DType::I16 => to!(i16),
        DType::I32 => to!(i32),
        DType::I64 => to!(i64),
        DType::U8 => to!(u8),
        DType::U16 => to!(u16),
        DType::U32 => to!(u32),
        DType::U64 => to!(u64),
        DType::F16 => to!(f16),
        DType::F32 => to!(f32),
        DType::F64 => to!(f64),
        DType::C64 => to!(Complex32),
        DType::C128 => to!(Complex64),
    }
}

/// One element's storage, aligned for every dtype.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct Slot([u8; 16]);

/// Reads a [`Scalar`] of dtype `d` from the first bytes of `b`.
fn scalar_from_bytes(d: DType, b: &[u8; 16]) -> Scalar {
    fn get<T: Copy>(b: &[u8; 16]) -> T {
        assert!(std::mem::size_of::<T>() <= 16);
        // SAFETY: `T` is one of the plain-old-data element types (size <= 16 checked), and the
        // bytes were written as a `T` by a kernel or copied from a `Scalar` of that dtype.
        unsafe { (b.as_ptr() as *const T).read_unaligned() }
    }
    match d {
        DType::Bool => Scalar::Bool(b[0] != 0),
        DType::I8 => Scalar::I8(get(b)),
        DType::I16 => Scalar::I16(get(b)),
        DType::I32 => Scalar::I32(get(b)),
        DType::I64 => Scalar::I64(get(b)),
        DType::U8 => Scalar::U8(get(b)),
        DType::U16 => Scalar::U16(get(b)),
        DType::U32 => Scalar::U32(get(b)),
        DType::U64 => Scalar::U64(get(b)),
        DType::F16 => Scalar::F16(get(b)),
        DType::F32 => Scalar::F32(get(b)),
        DType::F64 => Scalar::F64(get(b)),
        DType::C64 => Scalar::C64(get(b)),
        DType::C128 => Scalar::C128(get(b)),
    }
}

/// The dtype operand `k` of an instruction `(op, ty)` has.
fn operand_dtype(op: Op, ty: DType, k: usize) -> DType {
    if op == Op::Where && k == 0 {
        DType::Bool
    } else {
        ty
    }
}

/// Evaluates one element of `op` on scalar operands (for constant folding) by running the same
/// kernel as the VM with `n = 1`, so folded constants are bit-identical to run-time results.
/// `None` when there is no such kernel or the operands' count or dtypes do not fit.
pub fn eval_scalar(op: Op, ty: DType, out: DType, args: &[Scalar]) -> Option<Scalar> {
    if args.len() != op.arity() || op == Op::Fused {
        return None;
    }
    let mut slots = [Slot([0; 16]); 3];
    for (k, a) in args.iter().enumerate() {
        if a.dtype() != operand_dtype(op, ty, k) {
            return None;
        }
        let bytes = a.to_ne_bytes();
        slots[k].0[..bytes.len()].copy_from_slice(&bytes);
    }
    let kernel = lookup(op, ty, out, 0)?;
    let mut dst = Slot([0; 16]);
    let ptrs = [
        slots[0].0.as_ptr(),
        slots[1].0.as_ptr(),
        slots[2].0.as_ptr(),
    ];
    // SAFETY: each slot is 16-byte aligned and holds one element of its operand's dtype (checked
    // above); `dst` holds one element of `out`; n = 1.
    unsafe { kernel(1, dst.0.as_mut_ptr(), &ptrs) };
    Some(scalar_from_bytes(out, &dst.0))
}

/// The instruction-set level the kernels run with: `sse2`, `avx2`, `avx512`, `neon` or
/// `scalar` (see [`isa`]).
pub fn isa() -> &'static str {
    isa::active().name()
}
