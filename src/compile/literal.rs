//! Python literals and the arithmetic Python does on them before NumPy ever sees them.
//!
//! In `a + 2**-1` Python computes `2**-1 = 0.5` itself, and the array meets a weak Python float.
//! So operators whose operands are all literals fold here, with Python's rules (unbounded-ish
//! ints, `int / int` is a float, `int ** -int` is a float, division by zero is an error), and the
//! result stays weak. Functions of literals are NumPy calls (`sin(2)` is a strong float64) and
//! are not folded here.

use crate::bytecode::Op;
use crate::kernels;
use crate::syntax::ast::{BinaryOp, UnaryOp};
use crate::types::{DType, Scalar, Ty};
use num_complex::Complex64;

/// A Python value. `Bool` is Python's `True`/`False`: an int in arithmetic, a strong NumPy bool
/// when it meets an array.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PyValue {
    Int(i128),
    Float(f64),
    Complex(Complex64),
    Bool(bool),
}

impl PyValue {
    /// How the type rules see this value when it meets arrays.
    pub fn ty(self) -> Ty {
        match self {
            PyValue::Int(v) => Ty::WeakInt(v),
            PyValue::Float(_) => Ty::WeakFloat,
            PyValue::Complex(_) => Ty::WeakComplex,
            PyValue::Bool(_) => Ty::Strong(DType::Bool),
        }
    }

    /// The value as NumPy stores it in `dtype` (the dtype the type rules chose for it).
    pub fn to_scalar(self, dtype: DType) -> Result<Scalar, String> {
        let source = match self {
            PyValue::Bool(b) => Scalar::Bool(b),
            PyValue::Int(v) => {
                if let Ok(v) = i64::try_from(v) {
                    Scalar::I64(v)
                } else if let Ok(v) = u64::try_from(v) {
                    Scalar::U64(v)
                } else {
                    return Err(format!("Python integer {v} out of bounds for {dtype}"));
                }
            }
            PyValue::Float(x) => Scalar::F64(x),
            PyValue::Complex(z) => Scalar::C128(z),
        };
        if let (PyValue::Int(v), true) = (self, dtype.is_integer()) {
            // NumPy refuses to wrap a Python int into a too-small integer dtype.
            let (lo, hi) = int_range(dtype);
            if v < lo || v > hi {
                return Err(format!("Python integer {v} out of bounds for {dtype}"));
            }
        }
        if source.dtype() == dtype {
            return Ok(source);
        }
        kernels::eval_scalar(Op::Cast, source.dtype(), dtype, &[source])
            .ok_or_else(|| format!("cannot convert {} to {dtype}", self.describe()))
    }

    /// The strong NumPy value a literal becomes when passed alone to a function (`np.sin(2)`):
    /// int64 (uint64 above its range), float64, complex128, bool.
    pub fn default_scalar(self) -> Result<Scalar, String> {
        let dtype = match self {
            PyValue::Bool(_) => DType::Bool,
            PyValue::Int(v) if v > i64::MAX as i128 => DType::U64,
            PyValue::Int(_) => DType::I64,
            PyValue::Float(_) => DType::F64,
            PyValue::Complex(_) => DType::C128,
        };
        self.to_scalar(dtype)
    }

    fn describe(self) -> String {
        match self {
            PyValue::Int(v) => format!("integer {v}"),
            PyValue::Float(x) => format!("float {x:?}"),
            PyValue::Complex(z) => format!("complex {}", Scalar::C128(z)),
            PyValue::Bool(b) => format!("bool {}", Scalar::Bool(b)),
        }
    }

    fn as_int(self) -> Option<i128> {
        match self {
            PyValue::Int(v) => Some(v),
            PyValue::Bool(b) => Some(b as i128),
            _ => None,
        }
    }

    fn as_float(self) -> Option<f64> {
        match self {
            PyValue::Int(v) => Some(v as f64),
            PyValue::Bool(b) => Some(b as u8 as f64),
            PyValue::Float(x) => Some(x),
            PyValue::Complex(_) => None,
        }
    }

    fn as_complex(self) -> Complex64 {
        match self {
            PyValue::Complex(z) => z,
            other => Complex64::new(other.as_float().unwrap_or(0.0), 0.0),
        }
    }

    fn truthy(self) -> bool {
        match self {
            PyValue::Int(v) => v != 0,
            PyValue::Float(x) => x != 0.0,
            PyValue::Complex(z) => z.re != 0.0 || z.im != 0.0,
            PyValue::Bool(b) => b,
        }
    }
}

/// The inclusive range of an integer dtype.
pub fn int_range(dtype: DType) -> (i128, i128) {
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

const INT_TOO_LARGE: &str = "integer constant too large: it does not fit in 128 bits";

fn float_kernel(op: Op, a: f64, b: f64) -> f64 {
    match kernels::eval_scalar(
        op,
        DType::F64,
        DType::F64,
        &[Scalar::F64(a), Scalar::F64(b)],
    ) {
        Some(Scalar::F64(x)) => x,
        _ => f64::NAN,
    }
}

/// CPython's complex arithmetic (`Objects/complexobject.c`), which runs before NumPy sees the
/// value: plain products, division by the denominator (not by its reciprocal, as NumPy), and
/// powers by repeated multiplication for integral exponents up to 100.
mod py_complex {
    use num_complex::Complex64 as C;

    /// `_Py_c_prod`.
    pub fn prod(a: C, b: C) -> C {
        C::new(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re)
    }

    /// `_Py_c_quot` (the caller has refused a zero divisor).
    pub fn quot(a: C, b: C) -> C {
        let (abs_re, abs_im) = (b.re.abs(), b.im.abs());
        if abs_re >= abs_im {
            let ratio = b.im / b.re;
            let denom = b.re + b.im * ratio;
            C::new((a.re + a.im * ratio) / denom, (a.im - a.re * ratio) / denom)
        } else if abs_im >= abs_re {
            let ratio = b.re / b.im;
            let denom = b.re * ratio + b.im;
            C::new((a.re * ratio + a.im) / denom, (a.im * ratio - a.re) / denom)
        } else {
            C::new(f64::NAN, f64::NAN)
        }
    }

    /// `complex_pow`: `c_powi` for integral exponents of magnitude up to 100, else `_Py_c_pow`.
    pub fn pow(a: C, b: C) -> C {
        if b.im == 0.0 && b.re == b.re.floor() && b.re.abs() <= 100.0 {
            let n = b.re as i64;
            let powu = |n: u64| {
                let (mut r, mut p, mut mask) = (C::new(1.0, 0.0), a, 1u64);
                while mask > 0 && n >= mask {
                    if n & mask != 0 {
                        r = prod(r, p);
                    }
                    mask <<= 1;
                    p = prod(p, p);
                }
                r
            };
            return if n > 0 {
                powu(n as u64)
            } else {
                quot(C::new(1.0, 0.0), powu(n.unsigned_abs()))
            };
        }
        if b.re == 0.0 && b.im == 0.0 {
            return C::new(1.0, 0.0);
        }
        if a.re == 0.0 && a.im == 0.0 {
            return C::new(0.0, 0.0);
        }
        let vabs = a.re.hypot(a.im);
        let mut len = vabs.powf(b.re);
        let at = a.im.atan2(a.re);
        let mut phase = at * b.re;
        if b.im != 0.0 {
            len /= (at * b.im).exp();
            phase += b.im * vabs.ln();
        }
        C::new(len * phase.cos(), len * phase.sin())
    }
}

/// Python's `-x`, `+x`, `~x`, `not x` on a literal.
pub fn unary(op: UnaryOp, x: PyValue) -> Result<PyValue, String> {
    Ok(match (op, x) {
        (UnaryOp::Not, v) => PyValue::Bool(!v.truthy()),
        (UnaryOp::Pos, PyValue::Bool(b)) => PyValue::Int(b as i128),
        (UnaryOp::Pos, v) => v,
        (UnaryOp::Neg, PyValue::Float(f)) => PyValue::Float(-f),
        (UnaryOp::Neg, PyValue::Complex(z)) => PyValue::Complex(-z),
        (UnaryOp::Neg, v) => PyValue::Int(v.as_int().unwrap().checked_neg().ok_or(INT_TOO_LARGE)?),
        (UnaryOp::Invert, PyValue::Bool(b)) => {
            // Python's `~True` is -2 (an int); NumPy's `~` on a bool is logical not. In an
            // expression language over arrays the NumPy meaning is the useful one.
            PyValue::Bool(!b)
        }
        (UnaryOp::Invert, PyValue::Int(v)) => PyValue::Int(!v),
        (UnaryOp::Invert, v) => {
            return Err(format!("bad operand type for unary ~: {}", v.describe()))
        }
    })
}

fn checked(v: Option<i128>) -> Result<PyValue, String> {
    v.map(PyValue::Int).ok_or_else(|| INT_TOO_LARGE.to_string())
}

fn floor_div_mod(a: i128, b: i128) -> (i128, i128) {
    let (q, r) = (a / b, a % b);
    if r != 0 && ((r < 0) != (b < 0)) {
        (q - 1, r + b)
    } else {
        (q, r)
    }
}

/// Python's binary operators on two literals.
pub fn binary(op: BinaryOp, a: PyValue, b: PyValue) -> Result<PyValue, String> {
    use BinaryOp::*;
    use PyValue::*;
    // Logical and comparison results are bools whatever the operand kinds.
    match op {
        And => return Ok(Bool(a.truthy() && b.truthy())),
        Or => return Ok(Bool(a.truthy() || b.truthy())),
        Eq | Ne => {
            let equal = match (a.as_int(), b.as_int()) {
                (Some(x), Some(y)) => x == y,
                _ => a.as_complex() == b.as_complex(),
            };
            return Ok(Bool(equal == (op == Eq)));
        }
        Lt | Le | Gt | Ge => {
            let ord = match (a.as_int(), b.as_int(), a.as_float(), b.as_float()) {
                (Some(x), Some(y), _, _) => x.partial_cmp(&y),
                (_, _, Some(x), Some(y)) => x.partial_cmp(&y),
                _ => return Err("'<' is not supported between complex numbers".into()),
            };
            let holds = match ord {
                None => false,
                Some(o) => match op {
                    Lt => o.is_lt(),
                    Le => o.is_le(),
                    Gt => o.is_gt(),
                    _ => o.is_ge(),
                },
            };
            return Ok(Bool(holds));
        }
        _ => {}
    }
    // Bitwise operators on two bools stay bool, as in Python.
    if let (Bool(x), Bool(y)) = (a, b) {
        match op {
            BitAnd => return Ok(Bool(x & y)),
            BitOr => return Ok(Bool(x | y)),
            BitXor => return Ok(Bool(x ^ y)),
            _ => {}
        }
    }
    if let (Some(x), Some(y)) = (a.as_int(), b.as_int()) {
        return match op {
            Add => checked(x.checked_add(y)),
            Sub => checked(x.checked_sub(y)),
            Mul => checked(x.checked_mul(y)),
            Div if y == 0 => Err("division by zero".into()),
            Div => Ok(Float(x as f64 / y as f64)),
            FloorDiv | Mod if y == 0 => Err("integer division or modulo by zero".into()),
            FloorDiv => Ok(Int(floor_div_mod(x, y).0)),
            Mod => Ok(Int(floor_div_mod(x, y).1)),
            Pow if y < 0 => {
                if x == 0 {
                    return Err("0 cannot be raised to a negative power".into());
                }
                Ok(Float((x as f64).powf(y as f64)))
            }
            Pow => checked(u32::try_from(y).ok().and_then(|e| x.checked_pow(e))),
            LShift | RShift if y < 0 => Err("negative shift count".into()),
            // Zero stays zero however far it is shifted (Python ints are unbounded).
            LShift if x == 0 => Ok(Int(0)),
            LShift => {
                let shifted = u32::try_from(y)
                    .ok()
                    .filter(|&s| s < 127)
                    .and_then(|s| x.checked_mul(1i128 << s));
                checked(shifted)
            }
            RShift => Ok(Int(if y >= 127 {
                if x < 0 {
                    -1
                } else {
                    0
                }
            } else {
                x >> y
            })),
            BitAnd => Ok(Int(x & y)),
            BitOr => Ok(Int(x | y)),
            BitXor => Ok(Int(x ^ y)),
            _ => unreachable!("logical and comparison operators return above"),
        };
    }
    if let (Some(x), Some(y)) = (a.as_float(), b.as_float()) {
        let result = match op {
            Add => x + y,
            Sub => x - y,
            Mul => x * y,
            Div | FloorDiv | Mod if y == 0.0 => return Err("float division by zero".into()),
            Div => x / y,
            FloorDiv => float_kernel(Op::FloorDivide, x, y),
            Mod => float_kernel(Op::Remainder, x, y),
            Pow => {
                if x == 0.0 && y < 0.0 {
                    return Err("0.0 cannot be raised to a negative power".into());
                }
                if x < 0.0 && y.fract() != 0.0 && y.is_finite() {
                    // Python gives a complex number here.
                    return Ok(Complex(py_complex::pow(
                        Complex64::new(x, 0.0),
                        Complex64::new(y, 0.0),
                    )));
                }
                let r = x.powf(y);
                if r.is_infinite() && x.is_finite() && y.is_finite() {
                    return Err("numerical result out of range".into());
                }
                r
            }
            _ => {
                return Err(format!(
                    "unsupported operand types for {}: floats",
                    op.symbol()
                ))
            }
        };
        return Ok(Float(result));
    }
    let (x, y) = (a.as_complex(), b.as_complex());
    let z = match op {
        Add => x + y,
        Sub => x - y,
        Mul => py_complex::prod(x, y),
        Div if y == Complex64::new(0.0, 0.0) => return Err("complex division by zero".into()),
        Div => py_complex::quot(x, y),
        Pow => {
            if x == Complex64::new(0.0, 0.0) && (y.re < 0.0 || y.im != 0.0) {
                return Err("0.0 to a negative or complex power".into());
            }
            py_complex::pow(x, y)
        }
        _ => {
            return Err(format!(
                "unsupported operand types for {}: complex",
                op.symbol()
            ))
        }
    };
    Ok(Complex(z))
}

impl std::fmt::Display for PyValue {
    /// As Python's `repr`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn float(x: f64) -> String {
            if x.is_nan() {
                "nan".into()
            } else if x.is_infinite() {
                if x > 0.0 { "inf" } else { "-inf" }.into()
            } else if x == x.trunc() && x.abs() < 1e16 {
                format!("{x:.1}")
            } else {
                format!("{x}")
            }
        }
        match *self {
            PyValue::Int(v) => write!(f, "{v}"),
            PyValue::Float(x) => write!(f, "{}", float(x)),
            PyValue::Complex(z) => write!(
                f,
                "({}{}{}j)",
                float(z.re),
                if z.im < 0.0 || (z.im == 0.0 && z.im.is_sign_negative()) {
                    ""
                } else {
                    "+"
                },
                float(z.im)
            ),
            PyValue::Bool(b) => write!(f, "{}", if b { "True" } else { "False" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BinaryOp::*;
    use PyValue::*;

    #[test]
    fn python_integer_arithmetic() {
        // Expected values are Python 3's.
        assert_eq!(binary(Pow, Int(2), Int(-1)), Ok(Float(0.5)));
        assert_eq!(binary(FloorDiv, Int(-7), Int(2)), Ok(Int(-4)));
        assert_eq!(binary(Mod, Int(-7), Int(2)), Ok(Int(1)));
        assert_eq!(binary(Mod, Int(7), Int(-2)), Ok(Int(-1)));
        assert_eq!(binary(Div, Int(1), Int(4)), Ok(Float(0.25)));
        assert_eq!(binary(Pow, Int(2), Int(64)), Ok(Int(1 << 64)));
        assert_eq!(binary(Add, Bool(true), Bool(true)), Ok(Int(2)));
        assert_eq!(binary(BitAnd, Bool(true), Bool(false)), Ok(Bool(false)));
        assert_eq!(binary(RShift, Int(-5), Int(1)), Ok(Int(-3)));
        assert_eq!(binary(Lt, Int(1), Float(1.5)), Ok(Bool(true)));
        assert!(binary(FloorDiv, Int(1), Int(0)).is_err());
        assert!(binary(Div, Float(1.0), Float(0.0)).is_err());
        assert!(binary(Pow, Int(10), Int(40)).is_err());
        assert_eq!(
            unary(UnaryOp::Neg, Int(9223372036854775808)),
            Ok(Int(-9223372036854775808))
        );
        assert_eq!(unary(UnaryOp::Invert, Int(5)), Ok(Int(-6)));
    }

    #[test]
    fn int_range_bounds() {
        assert_eq!(int_range(DType::I8), (-128, 127));
        assert_eq!(int_range(DType::U64), (0, 18446744073709551615));
    }
}
