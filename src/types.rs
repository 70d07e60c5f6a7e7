//! NumPy dtypes, typed scalar values, and NumPy 2's promotion rules (NEP 50: Python literals are
//! weak scalars that take the dtype of the arrays they meet).

use half::f16;
use num_complex::{Complex32, Complex64};
use std::fmt;

/// The element types ndexpr computes with: NumPy's numeric dtypes, native byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F16,
    F32,
    F64,
    C64,
    C128,
}

/// NumPy's dtype kinds, which decide how weak literals promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Bool,
    Signed,
    Unsigned,
    Float,
    Complex,
}

impl DType {
    pub const ALL: [DType; 14] = [
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
        DType::C64,
        DType::C128,
    ];

    /// NumPy's name: `bool`, `int8`, ..., `float16`, `complex128`.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::C64 => "complex64",
            DType::C128 => "complex128",
        }
    }

    /// The short name used in disassembly and on the command line: `bool`, `i8`, `u16`, `f32`, `c128`.
    pub fn short_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::C64 => "c64",
            DType::C128 => "c128",
        }
    }

    /// Parses a NumPy name, a short name, or a NumPy type code (`?`, `b`, `h`, `i`, `l`, `q`, `B`,
    /// `H`, `I`, `L`, `Q`, `e`, `f`, `d`, `F`, `D`, with `l`/`L` as on 64-bit Linux).
    pub fn from_name(name: &str) -> Option<DType> {
        let by_code = match name {
            "?" | "b1" => Some(DType::Bool),
            "b" | "i1" => Some(DType::I8),
            "h" | "i2" => Some(DType::I16),
            "i" | "i4" => Some(DType::I32),
            "l" | "q" | "i8" => Some(DType::I64),
            "B" | "u1" => Some(DType::U8),
            "H" | "u2" => Some(DType::U16),
            "I" | "u4" => Some(DType::U32),
            "L" | "Q" | "u8" => Some(DType::U64),
            "e" | "f2" => Some(DType::F16),
            "f" | "f4" => Some(DType::F32),
            "d" | "f8" => Some(DType::F64),
            "F" | "c8" => Some(DType::C64),
            "D" | "c16" => Some(DType::C128),
            _ => None,
        };
        // "i8"/"u8" are ambiguous: NumPy reads them as byte counts ("i8" = int64), but ndexpr's
        // short names use bits ("i8" = int8). Short names win, as the CLI and disassembly use them.
        DType::ALL
            .into_iter()
            .find(|d| d.short_name() == name || d.name() == name)
            .or(by_code)
            .or(match name {
                "bool_" | "boolean" => Some(DType::Bool),
                "double" | "float" => Some(DType::F64),
                "int" => Some(DType::I64),
                "complex" => Some(DType::C128),
                "half" => Some(DType::F16),
                "single" => Some(DType::F32),
                _ => None,
            })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 | DType::F16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 | DType::C64 => 8,
            DType::C128 => 16,
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            DType::Bool => Kind::Bool,
            DType::I8 | DType::I16 | DType::I32 | DType::I64 => Kind::Signed,
            DType::U8 | DType::U16 | DType::U32 | DType::U64 => Kind::Unsigned,
            DType::F16 | DType::F32 | DType::F64 => Kind::Float,
            DType::C64 | DType::C128 => Kind::Complex,
        }
    }

    pub fn is_integer(self) -> bool {
        matches!(self.kind(), Kind::Signed | Kind::Unsigned)
    }

    pub fn is_float(self) -> bool {
        self.kind() == Kind::Float
    }

    pub fn is_complex(self) -> bool {
        self.kind() == Kind::Complex
    }

    /// The real dtype of a complex one (`complex64` → `float32`); other dtypes map to themselves.
    pub fn real_part(self) -> DType {
        match self {
            DType::C64 => DType::F32,
            DType::C128 => DType::F64,
            d => d,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A typed scalar value: a constant in a program, or a scalar variable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    F16(f16),
    F32(f32),
    F64(f64),
    C64(Complex32),
    C128(Complex64),
}

/// Runs `$body` with `$v` bound to the payload of a [`Scalar`], whatever its variant.
#[macro_export]
macro_rules! with_scalar {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            $crate::types::Scalar::Bool($v) => $body,
            $crate::types::Scalar::I8($v) => $body,
            $crate::types::Scalar::I16($v) => $body,
            $crate::types::Scalar::I32($v) => $body,
            $crate::types::Scalar::I64($v) => $body,
            $crate::types::Scalar::U8($v) => $body,
            $crate::types::Scalar::U16($v) => $body,
            $crate::types::Scalar::U32($v) => $body,
            $crate::types::Scalar::U64($v) => $body,
            $crate::types::Scalar::F16($v) => $body,
            $crate::types::Scalar::F32($v) => $body,
            $crate::types::Scalar::F64($v) => $body,
            $crate::types::Scalar::C64($v) => $body,
            $crate::types::Scalar::C128($v) => $body,
        }
    };
}

impl Scalar {
    pub fn dtype(&self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::I8(_) => DType::I8,
            Scalar::I16(_) => DType::I16,
            Scalar::I32(_) => DType::I32,
            Scalar::I64(_) => DType::I64,
            Scalar::U8(_) => DType::U8,
            Scalar::U16(_) => DType::U16,
            Scalar::U32(_) => DType::U32,
            Scalar::U64(_) => DType::U64,
            Scalar::F16(_) => DType::F16,
            Scalar::F32(_) => DType::F32,
            Scalar::F64(_) => DType::F64,
            Scalar::C64(_) => DType::C64,
            Scalar::C128(_) => DType::C128,
        }
    }

    /// The value's bytes in native order, as an element of its dtype is stored in an array
    /// (bool as one byte 0 or 1).
    pub fn to_ne_bytes(&self) -> Vec<u8> {
        fn raw<T: Copy>(v: &T) -> Vec<u8> {
            // SAFETY: every payload type is plain old data without padding.
            unsafe {
                std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>())
            }
            .to_vec()
        }
        with_scalar!(self, v => raw(v))
    }

    /// Bit-exact equality (distinguishes -0.0 from 0.0, equates identical NaNs): what constant
    /// deduplication needs.
    pub fn bits_eq(&self, other: &Scalar) -> bool {
        self.dtype() == other.dtype() && self.to_ne_bytes() == other.to_ne_bytes()
    }
}

impl fmt::Display for Scalar {
    /// Python's spelling: `True`, `3`, `2.5`, `inf`, `nan`, `(1+2j)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn float(x: f64) -> String {
            if x.is_nan() {
                "nan".into()
            } else if x.is_infinite() {
                if x > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                }
            } else {
                format!("{x:?}")
            }
        }
        fn complex(re: f64, im: f64) -> String {
            let im_s = float(im);
            let sign = if im_s.starts_with('-') { "" } else { "+" };
            format!("({}{sign}{im_s}j)", float(re))
        }
        match *self {
            Scalar::Bool(b) => f.write_str(if b { "True" } else { "False" }),
            Scalar::I8(v) => write!(f, "{v}"),
            Scalar::I16(v) => write!(f, "{v}"),
            Scalar::I32(v) => write!(f, "{v}"),
            Scalar::I64(v) => write!(f, "{v}"),
            Scalar::U8(v) => write!(f, "{v}"),
            Scalar::U16(v) => write!(f, "{v}"),
            Scalar::U32(v) => write!(f, "{v}"),
            Scalar::U64(v) => write!(f, "{v}"),
            Scalar::F16(v) => f.write_str(&float(v.to_f64())),
            Scalar::F32(v) => f.write_str(&float(v as f64)),
            Scalar::F64(v) => f.write_str(&float(v)),
            Scalar::C64(c) => f.write_str(&complex(c.re as f64, c.im as f64)),
            Scalar::C128(c) => f.write_str(&complex(c.re, c.im)),
        }
    }
}

/// Rust element types that correspond to a [`DType`].
pub trait Element: Copy + Send + Sync + 'static {
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),* $(,)?) => { $(impl Element for $t { const DTYPE: DType = DType::$d; })* };
}
element!(bool => Bool, i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8, u16 => U16, u32 => U32,
         u64 => U64, f16 => F16, f32 => F32, f64 => F64, Complex32 => C64, Complex64 => C128);

// ---------------------------------------------------------------------------------------------
// Promotion and ufunc loop resolution (NumPy 2, NEP 50).

/// The type of an operand as the type checker sees it: an array or NumPy scalar of a concrete
/// dtype (strong), or a Python literal (weak: it adapts to the strong operands it meets).
/// Python's `True`/`False` are strong `bool` in NumPy 2, so there is no weak bool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    Strong(DType),
    /// A Python int with its value (needed for NumPy 2's out-of-bounds check, `int8 + 300`).
    WeakInt(i128),
    WeakFloat,
    WeakComplex,
}

/// The dtypes a ufunc loop takes and gives, after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    /// One per operand: the dtype each operand is cast to before the loop runs.
    pub inputs: Vec<DType>,
    pub output: DType,
}

/// NumPy's casting levels, for `can_cast` (as `out=` with `casting=` uses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Casting {
    No,
    Equiv,
    Safe,
    SameKind,
    Unsafe,
}

/// `np.promote_types(a, b)`.
pub fn promote_types(a: DType, b: DType) -> DType {
    let _ = (a, b);
    unimplemented!("promote_types")
}

/// `np.result_type(...)` over strong and weak operands (NEP 50). Errors as NumPy 2 does, e.g.
/// "Python integer 300 out of bounds for int8".
pub fn result_type(operands: &[Ty]) -> Result<DType, String> {
    let _ = operands;
    unimplemented!("result_type")
}

/// `np.can_cast(from, to, casting)`.
pub fn can_cast(from: DType, to: DType, casting: Casting) -> bool {
    let _ = (from, to, casting);
    unimplemented!("can_cast")
}

/// The loop NumPy 2 picks for `op` over these operands (NumPy's ufunc type resolution with
/// NEP 50 weak scalars), or NumPy's refusal as a one-line message.
pub fn resolve(op: crate::bytecode::Op, operands: &[Ty]) -> Result<Loop, String> {
    let _ = (op, operands);
    unimplemented!("resolve")
}
