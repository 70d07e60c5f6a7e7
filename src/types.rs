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
        let mut bytes = [0u8; 16];
        let n = self.write_ne_bytes(&mut bytes);
        bytes[..n].to_vec()
    }

    /// Writes the value's native-endian bytes to the start of `dst` (16 bytes hold any dtype)
    /// and returns how many: [`Scalar::to_ne_bytes`] without allocating, for the VM's slots.
    pub fn write_ne_bytes(&self, dst: &mut [u8; 16]) -> usize {
        fn raw<T: Copy>(v: &T, dst: &mut [u8; 16]) -> usize {
            let n = std::mem::size_of::<T>();
            // SAFETY: every payload type is plain old data without padding, of at most 16 bytes.
            let src = unsafe { std::slice::from_raw_parts(v as *const T as *const u8, n) };
            dst[..n].copy_from_slice(src);
            n
        }
        with_scalar!(self, v => raw(v, dst))
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

impl Ty {
    /// The dtype NumPy gives a Python literal on its own, as `np.asarray` does: int64, or
    /// uint64 for an int beyond int64 that fits it; float64; complex128.
    fn default_dtype(self) -> DType {
        match self {
            Ty::Strong(d) => d,
            Ty::WeakInt(v) if !fits(v, DType::I64) && fits(v, DType::U64) => DType::U64,
            Ty::WeakInt(_) => DType::I64,
            Ty::WeakFloat => DType::F64,
            Ty::WeakComplex => DType::C128,
        }
    }

    fn is_weak(self) -> bool {
        !matches!(self, Ty::Strong(_))
    }
}

/// The inclusive value range of an integer dtype (bool as 0..=1).
fn int_range(d: DType) -> (i128, i128) {
    match d {
        DType::Bool => (0, 1),
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::U64 => (0, u64::MAX.into()),
        _ => (i128::MIN, i128::MAX),
    }
}

fn fits(v: i128, d: DType) -> bool {
    let (lo, hi) = int_range(d);
    lo <= v && v <= hi
}

fn bounds_error(v: i128, d: DType) -> String {
    format!("Python integer {v} out of bounds for {d}")
}

/// The order NumPy's kinds rank in for `same_kind` casting: b < u < i < f < c.
fn kind_rank(k: Kind) -> u8 {
    match k {
        Kind::Bool => 0,
        Kind::Unsigned => 1,
        Kind::Signed => 2,
        Kind::Float => 3,
        Kind::Complex => 4,
    }
}

/// Safe casting between the numeric dtypes (NumPy's `np.can_cast(a, b, "safe")`).
fn can_cast_safe(from: DType, to: DType) -> bool {
    use Kind::*;
    if from == to || from == DType::Bool {
        return true;
    }
    let (fs, ts) = (from.size(), to.size());
    match (from.kind(), to.kind()) {
        (Signed, Signed) | (Unsigned, Unsigned) | (Float, Float) | (Complex, Complex) => ts >= fs,
        (Unsigned, Signed) => ts > fs,
        // An integer fits a float whose mantissa holds it: 8 bits in float16, 16 in float32.
        (Signed | Unsigned, Float) => ts > fs || ts == 8,
        (Signed | Unsigned, Complex) => ts / 2 > fs || ts == 16,
        (Float, Complex) => ts / 2 >= fs,
        _ => false,
    }
}

/// `np.can_cast(from, to, casting)`.
pub fn can_cast(from: DType, to: DType, casting: Casting) -> bool {
    match casting {
        Casting::No | Casting::Equiv => from == to,
        Casting::Safe => can_cast_safe(from, to),
        Casting::SameKind => {
            can_cast_safe(from, to) || kind_rank(from.kind()) <= kind_rank(to.kind())
        }
        Casting::Unsafe => true,
    }
}

/// `np.promote_types(a, b)`: the smallest dtype both cast to safely.
pub fn promote_types(a: DType, b: DType) -> DType {
    // Candidates from smallest to largest; the first both cast to safely is NumPy's answer.
    const ORDER: [DType; 14] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::U32,
        DType::I32,
        DType::U64,
        DType::I64,
        DType::F16,
        DType::F32,
        DType::F64,
        DType::C64,
        DType::C128,
    ];
    ORDER
        .into_iter()
        .find(|&c| can_cast_safe(a, c) && can_cast_safe(b, c))
        .expect("complex128 holds every dtype")
}

/// NEP 50 promotion without the bounds check of weak ints: strong dtypes promote together, weak
/// literals take the strong dtype's precision at the kind they need.
fn result_type_unchecked(operands: &[Ty]) -> DType {
    let strong = operands
        .iter()
        .filter_map(|t| match t {
            Ty::Strong(d) => Some(*d),
            _ => None,
        })
        .reduce(promote_types);
    // The highest weak kind: 0 none, 1 int, 2 float, 3 complex.
    let weak = operands
        .iter()
        .map(|t| match t {
            Ty::Strong(_) => 0,
            Ty::WeakInt(_) => 1,
            Ty::WeakFloat => 2,
            Ty::WeakComplex => 3,
        })
        .max()
        .unwrap_or(0);
    let Some(s) = strong else {
        return match weak {
            3 => DType::C128,
            2 => DType::F64,
            _ => DType::I64,
        };
    };
    match (weak, s.kind()) {
        (0, _) => s,
        (1, Kind::Bool) => DType::I64,
        (1, _) => s,
        (2, Kind::Bool | Kind::Signed | Kind::Unsigned) => DType::F64,
        (2, _) => s,
        (_, Kind::Complex) => s,
        (_, _) if matches!(s, DType::F16 | DType::F32) => DType::C64,
        _ => DType::C128,
    }
}

/// `np.result_type(...)` over strong and weak operands (NEP 50). Errors as NumPy 2 does, e.g.
/// "Python integer 300 out of bounds for int8" (NumPy checks a Python int's value when it is
/// converted to an integer result dtype, as a ufunc call does; `np.result_type` itself does not).
pub fn result_type(operands: &[Ty]) -> Result<DType, String> {
    let r = result_type_unchecked(operands);
    check_weak_ints(operands, &vec![r; operands.len()])?;
    Ok(r)
}

/// Every weak int must fit the integer dtype it is converted to.
fn check_weak_ints(operands: &[Ty], to: &[DType]) -> Result<(), String> {
    for (t, &d) in operands.iter().zip(to) {
        if let Ty::WeakInt(v) = *t {
            if (d.is_integer() || d == DType::Bool) && !fits(v, d) {
                return Err(bounds_error(v, d));
            }
        }
    }
    Ok(())
}

/// Whether `np.clip` drops a Python int bound of an integer `x`: a lower bound at or below the
/// dtype's minimum, or an upper bound at or above its maximum, clips nothing and is dropped before
/// the ufunc runs (so it is never converted, and never out of bounds). The compiler must drop it
/// too (`clip(x, lo, hi)` becomes `minimum(x, hi)`, `maximum(x, lo)` or `positive(x)`).
pub fn clip_drops_bound(x: DType, bound: i128, is_upper: bool) -> bool {
    if !x.is_integer() {
        return false;
    }
    let (lo, hi) = int_range(x);
    if is_upper {
        bound >= hi
    } else {
        bound <= lo
    }
}

fn code_dtype(c: u8) -> DType {
    match c {
        b'?' => DType::Bool,
        b'b' => DType::I8,
        b'h' => DType::I16,
        b'i' => DType::I32,
        b'q' => DType::I64,
        b'B' => DType::U8,
        b'H' => DType::U16,
        b'I' => DType::U32,
        b'Q' => DType::U64,
        b'e' => DType::F16,
        b'f' => DType::F32,
        b'd' => DType::F64,
        b'F' => DType::C64,
        b'D' => DType::C128,
        _ => unreachable!("unknown type code {}", c as char),
    }
}

/// NumPy 2's loops of each ufunc, in NumPy's order, as `ufunc.types` lists them (restricted to
/// ndexpr's dtypes; `l`/`L` are written `q`/`Q`, duplicates dropped): inputs `>` output.
fn ufunc_loops(op: crate::bytecode::Op) -> Option<&'static str> {
    const INT: &str = "bb>b BB>B hh>h HH>H ii>i II>I qq>q QQ>Q";
    const FLOAT_UNARY: &str = "e>e f>f d>d F>F D>D";
    const CMP: &str =
        "??>? bb>? BB>? hh>? HH>? ii>? II>? qq>? QQ>? qQ>? Qq>? ee>? ff>? dd>? FF>? DD>?";
    const PRED: &str = "?>? b>? B>? h>? H>? i>? I>? q>? Q>? e>? f>? d>? F>? D>?";
    use crate::bytecode::Op::*;
    Some(match op {
        Negative | Positive | Square | Reciprocal | Sign | Conjugate => {
            "b>b B>B h>h H>H i>i I>I q>q Q>Q e>e f>f d>d F>F D>D"
        }
        Absolute => "?>? b>b B>B h>h H>H i>i I>I q>q Q>Q e>e f>f d>d F>f D>d",
        Invert => "?>? b>b B>B h>h H>H i>i I>I q>q Q>Q",
        LogicalNot | IsNan | IsFinite | IsInf => PRED,
        SignBit => "e>? f>? d>?",
        Cbrt => "e>e f>f d>d",
        Sqrt | Exp | Exp2 | Expm1 | Log | Log2 | Log10 | Log1p | Sin | Cos | Tan | Arcsin
        | Arccos | Arctan | Sinh | Cosh | Tanh | Arcsinh | Arccosh | Arctanh | Rint => FLOAT_UNARY,
        Ceil | Floor | Trunc => "?>? b>b B>B h>h H>H i>i I>I q>q Q>Q e>e f>f d>d",
        Add | Multiply | Maximum | Minimum => {
            "??>? bb>b BB>B hh>h HH>H ii>i II>I qq>q QQ>Q ee>e ff>f dd>d FF>F DD>D"
        }
        Subtract | Power => "bb>b BB>B hh>h HH>H ii>i II>I qq>q QQ>Q ee>e ff>f dd>d FF>F DD>D",
        TrueDivide => "ee>e ff>f dd>d FF>F DD>D",
        FloorDivide | Remainder | Fmod => "bb>b BB>B hh>h HH>H ii>i II>I qq>q QQ>Q ee>e ff>f dd>d",
        BitwiseAnd | BitwiseOr | BitwiseXor => "??>? bb>b BB>B hh>h HH>H ii>i II>I qq>q QQ>Q",
        LeftShift | RightShift => INT,
        Less | LessEqual | Greater | GreaterEqual | Equal | NotEqual => CMP,
        LogicalAnd | LogicalOr => {
            "??>? bb>? BB>? hh>? HH>? ii>? II>? qq>? QQ>? ee>? ff>? dd>? FF>? DD>?"
        }
        Arctan2 | Hypot | Nextafter | Copysign => "ee>e ff>f dd>d",
        Clip => {
            "???>? bbb>b BBB>B hhh>h HHH>H iii>i III>I qqq>q QQQ>Q eee>e fff>f ddd>d FFF>F DDD>D"
        }
        // Not user functions: the compiler makes the fused ones after type checking.
        Real | Imag | Complex | Where | Fma | Cast | Copy | Cube | MultiplyAdd | AddMultiply
        | MultiplySubtract | SubtractMultiply | Fused => return None,
    })
}

/// NumPy's linear loop search: the first loop every input casts to safely.
fn linear_search(loops: &str, inputs: &[DType]) -> Option<Loop> {
    loops.split(' ').find_map(|sig| {
        let (ins, out) = sig.split_once('>').expect("loop signature");
        let ins: Vec<DType> = ins.bytes().map(code_dtype).collect();
        let ok =
            ins.len() == inputs.len() && ins.iter().zip(inputs).all(|(&l, &i)| can_cast_safe(i, l));
        ok.then(|| Loop {
            inputs: ins,
            output: code_dtype(out.as_bytes()[0]),
        })
    })
}

fn no_loop(op: crate::bytecode::Op, inputs: &[DType]) -> String {
    let names: Vec<&str> = inputs.iter().map(|d| d.name()).collect();
    format!(
        "ufunc '{}' not supported for the input types {}",
        op.name(),
        names.join(", ")
    )
}

/// The smallest dtype holding a Python int exactly (float64 beyond int64/uint64).
fn int_dtype_for(v: i128) -> DType {
    [
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
    ]
    .into_iter()
    .find(|&d| fits(v, d))
    .unwrap_or(DType::F64)
}

fn is_comparison(op: crate::bytecode::Op) -> bool {
    use crate::bytecode::Op::*;
    matches!(
        op,
        Less | LessEqual | Greater | GreaterEqual | Equal | NotEqual
    )
}

/// The loop NumPy 2 picks for `op` over these operands (NumPy's ufunc type resolution with
/// NEP 50 weak scalars), or NumPy's refusal as a one-line message.
///
/// Each Python literal first takes the dtype the operands promote to (a lone literal: int64, or
/// uint64 beyond int64, float64, complex128), then NumPy's linear search picks the first loop of
/// the ufunc every input casts to safely; a Python int must fit the integer dtype of its loop
/// input ("Python integer 300 out of bounds for int8"). Things callers must know:
/// - Loop inputs need not be all one dtype: comparisons of int64 with uint64 use NumPy's mixed
///   `qQ`/`Qq` loops (inputs `[int64, uint64]`), and `absolute`/`real`/`imag` of complex output
///   the real dtype.
/// - Comparisons of an integer array with a Python int it does not fit compare exactly, as
///   NumPy 2 does (`uint8 < -1` is all False): the loop is widened to hold the value (`[int16,
///   int16]`, or `[uint64, int64]` for `uint64 < -1`); beyond the 64-bit ranges, float64 (exact
///   except against the extreme int64/uint64 values).
/// - `where` wraps Python ints to its dtype unchecked (NumPy: `where(c, int8, 300)` holds 44).
/// - `clip` with an integer `x` ignores Python int bounds that clip nothing
///   ([`clip_drops_bound`]); such a bound is typed as the loop dtype but must be dropped, not
///   cast.
/// - `logical_and`/`logical_or` cast both operands to bool unless they share one dtype.
pub fn resolve(op: crate::bytecode::Op, operands: &[Ty]) -> Result<Loop, String> {
    use crate::bytecode::Op;
    if operands.len() != op.arity() {
        return Err(format!(
            "{} takes {} operands, not {}",
            op.name(),
            op.arity(),
            operands.len()
        ));
    }
    match op {
        Op::Cast | Op::Copy => {
            return Err(format!("{} is not type-resolved as a ufunc", op.name()))
        }
        Op::Where => {
            // np.where converts x and y to their common dtype without checking Python ints'
            // bounds: it wraps them as an unsafe cast does (`np.where(c, int8_array, 300)` is
            // int8 and holds 44 for 300); only ints beyond int64 and uint64 fail. The condition
            // is cast to bool.
            for t in operands {
                if let Ty::WeakInt(v) = *t {
                    if !fits(v, DType::I64) && !fits(v, DType::U64) {
                        return Err(format!("Python integer {v} too large to convert to int64"));
                    }
                }
            }
            let r = result_type_unchecked(&operands[1..]);
            return Ok(Loop {
                inputs: vec![DType::Bool, r, r],
                output: r,
            });
        }
        Op::Fma => {
            let r = result_type(operands)?;
            return match r.kind() {
                Kind::Complex => Err("fma does not support complex".into()),
                Kind::Bool => Err("fma does not support bool".into()),
                _ => Ok(Loop {
                    inputs: vec![r; 3],
                    output: r,
                }),
            };
        }
        Op::Complex => {
            if operands
                .iter()
                .any(|t| matches!(t, Ty::WeakComplex) || t.default_dtype().is_complex())
            {
                return Err("complex() takes real parts, not complex ones".into());
            }
            let (f, c) = match result_type_unchecked(operands) {
                DType::F16 | DType::F32 => (DType::F32, DType::C64),
                _ => (DType::F64, DType::C128),
            };
            return Ok(Loop {
                inputs: vec![f, f],
                output: c,
            });
        }
        Op::Real | Op::Imag => {
            let d = operands[0].default_dtype();
            check_weak_ints(operands, &[d])?;
            return Ok(Loop {
                inputs: vec![d],
                output: d.real_part(),
            });
        }
        Op::Clip => return resolve_clip(operands),
        _ => {}
    }
    resolve_ufunc(op, operands)
}

/// `np.clip(x, lo, hi)`: a Python-scalar `x` becomes an array first; for an integer `x`, Python
/// int bounds beyond its range on the side that clips nothing are dropped (see
/// [`clip_drops_bound`]); what remains is NumPy's clip ufunc, or `maximum`/`minimum`/`positive`.
fn resolve_clip(operands: &[Ty]) -> Result<Loop, String> {
    use crate::bytecode::Op;
    let x = Ty::Strong(operands[0].default_dtype());
    let xd = operands[0].default_dtype();
    let dropped = |k: usize| match operands[k] {
        Ty::WeakInt(v) => clip_drops_bound(xd, v, k == 2),
        _ => false,
    };
    let (lo, hi) = (operands[1], operands[2]);
    let inner = match (dropped(1), dropped(2)) {
        (false, false) => resolve_ufunc(Op::Clip, &[x, lo, hi])?,
        (true, false) => resolve_ufunc(Op::Minimum, &[x, hi])?,
        (false, true) => resolve_ufunc(Op::Maximum, &[x, lo])?,
        (true, true) => resolve_ufunc(Op::Positive, &[x])?,
    };
    // The dropped bounds are never used; they are given the dtype of the clip loop.
    let d = inner.output;
    Ok(Loop {
        inputs: vec![inner.inputs[0], d, d],
        output: d,
    })
}

fn resolve_ufunc(op: crate::bytecode::Op, operands: &[Ty]) -> Result<Loop, String> {
    use crate::bytecode::Op;
    let loops = ufunc_loops(op).expect("a ufunc");
    // NEP 50: each Python literal takes the dtype of the promotion of all operands; a lone
    // literal (`np.sin(2)`) is converted as `np.asarray` does.
    let common = match operands {
        [t] => t.default_dtype(),
        _ => result_type_unchecked(operands),
    };
    let any_weak = operands.iter().any(|t| t.is_weak());
    let dtypes: Vec<DType> = operands
        .iter()
        .map(|t| match t {
            Ty::Strong(d) => *d,
            _ => common,
        })
        .collect();
    let all_bool = dtypes.iter().all(|&d| d == DType::Bool);

    match op {
        Op::Negative if all_bool => {
            return Err(
                "The numpy boolean negative, the `-` operator, is not supported, use the \
                        `~` operator or the logical_not function instead"
                    .into(),
            )
        }
        Op::Subtract if all_bool => {
            return Err(
                "numpy boolean subtract, the `-` operator, is not supported, use the \
                        bitwise_xor, the `^` operator, or the logical_xor function instead"
                    .into(),
            )
        }
        Op::Positive | Op::Sign if all_bool => {
            return Err(format!("ufunc '{}' has no loop for bool", op.name()))
        }
        Op::LogicalAnd | Op::LogicalOr => {
            // NumPy's logical promoter: operands of one dtype use its loop, others go to bool.
            // Python ints are converted to int64 first.
            for t in operands {
                if let Ty::WeakInt(v) = *t {
                    if !fits(v, DType::I64) {
                        return Err(bounds_error(v, DType::I64));
                    }
                }
            }
            let same = !any_weak && dtypes.windows(2).all(|w| w[0] == w[1]);
            let d = if same { dtypes[0] } else { DType::Bool };
            return Ok(Loop {
                inputs: vec![d; dtypes.len()],
                output: DType::Bool,
            });
        }
        Op::TrueDivide if dtypes.iter().all(|&d| d.is_integer() || d == DType::Bool) => {
            check_weak_ints(operands, &[DType::F64, DType::F64])?;
            return Ok(Loop {
                inputs: vec![DType::F64; 2],
                output: DType::F64,
            });
        }
        _ => {}
    }

    if is_comparison(op) && common.is_integer() {
        // NumPy 2 compares Python ints with integer arrays exactly, whatever their value
        // (`uint8 < -1` is all False): pick a loop that holds the value.
        let out_of_range = operands
            .iter()
            .any(|t| matches!(*t, Ty::WeakInt(v) if !fits(v, common)));
        // Two Python ints compare exactly too (NumPy uses its object loop for them).
        let exact = operands.iter().all(|t| matches!(t, Ty::WeakInt(_)))
            || operands
                .iter()
                .any(|t| matches!(t, Ty::Strong(d) if d.is_integer()));
        if out_of_range && exact {
            let exact: Vec<DType> = operands
                .iter()
                .map(|t| match *t {
                    Ty::WeakInt(v) if !fits(v, common) => int_dtype_for(v),
                    _ => common,
                })
                .collect();
            return linear_search(loops, &exact).ok_or_else(|| no_loop(op, &exact));
        }
    }

    let found = linear_search(loops, &dtypes).ok_or_else(|| no_loop(op, &dtypes))?;
    check_weak_ints(operands, &found.inputs)?;
    Ok(found)
}
