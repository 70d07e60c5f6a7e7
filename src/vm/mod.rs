//! The virtual machine: runs a compiled [`Program`] over ndarray operands, block by block,
//! optionally on several threads; and the public evaluation API built on it.
//!
//! ```
//! use ndarray::array;
//! use ndexpr::{evaluate, Vars};
//!
//! let a = array![[1.0, 2.0], [3.0, 4.0]];
//! let r = evaluate("2*a + k", &Vars::new().with("a", &a).with("k", 48.0)).unwrap();
//! assert_eq!(r.into_f64().unwrap(), array![[50.0, 52.0], [54.0, 56.0]].into_dyn());
//! ```

pub mod exec;
pub(crate) mod memory;
pub mod plan;
mod prepared;
pub(crate) mod reduce;
pub mod threads;

pub use exec::{Lookup, BLOCK, MEMORY_BLOCK, MEMORY_BYTES};
pub use prepared::Prepared;
pub use threads::{num_threads, set_num_threads};

use crate::bytecode::{Program, Reduce, ScalarInit};
use crate::compile::{Expr, PyValue, Signature};
use crate::error::{Error, ErrorKind, Result};
use crate::types::{DType, Element, Scalar};
use exec::{Job, Slot};
use half::f16;
use ndarray::{
    ArrayBase, ArrayD, ArrayView, ArrayViewD, ArrayViewMut, ArrayViewMutD, Data, DataMut,
    Dimension, IxDyn, ShapeBuilder,
};
use num_complex::{Complex32, Complex64};
use plan::{broadcast_shapes, broadcast_strides, byte_range, contiguous_strides, shape_str, Plan};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

/// Runs `$body` with `$v` bound to the payload of any variant of a dtype-dispatched enum
/// ([`Array`], [`ArrayRef`], [`ArrayMut`]): `ndexpr::dispatch!(a, Array, v => v.len())`.
#[macro_export]
#[doc(hidden)]
macro_rules! dispatch {
    ($e:expr, $enum:ident, $v:ident => $body:expr) => {
        match $e {
            $enum::Bool($v) => $body,
            $enum::I8($v) => $body,
            $enum::I16($v) => $body,
            $enum::I32($v) => $body,
            $enum::I64($v) => $body,
            $enum::U8($v) => $body,
            $enum::U16($v) => $body,
            $enum::U32($v) => $body,
            $enum::U64($v) => $body,
            $enum::F16($v) => $body,
            $enum::F32($v) => $body,
            $enum::F64($v) => $body,
            $enum::C64($v) => $body,
            $enum::C128($v) => $body,
        }
    };
}

/// Calls `$m!(Variant, type)` for every dtype.
macro_rules! for_each_dtype {
    ($m:ident) => {
        $m!(Bool, bool);
        $m!(I8, i8);
        $m!(I16, i16);
        $m!(I32, i32);
        $m!(I64, i64);
        $m!(U8, u8);
        $m!(U16, u16);
        $m!(U32, u32);
        $m!(U64, u64);
        $m!(F16, f16);
        $m!(F32, f32);
        $m!(F64, f64);
        $m!(C64, Complex32);
        $m!(C128, Complex64);
    };
}

/// A read-only array operand of any dtype: a dynamic-dimensional ndarray view, any strides.
#[derive(Debug, Clone)]
pub enum ArrayRef<'a> {
    Bool(ArrayViewD<'a, bool>),
    I8(ArrayViewD<'a, i8>),
    I16(ArrayViewD<'a, i16>),
    I32(ArrayViewD<'a, i32>),
    I64(ArrayViewD<'a, i64>),
    U8(ArrayViewD<'a, u8>),
    U16(ArrayViewD<'a, u16>),
    U32(ArrayViewD<'a, u32>),
    U64(ArrayViewD<'a, u64>),
    F16(ArrayViewD<'a, f16>),
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
    C64(ArrayViewD<'a, Complex32>),
    C128(ArrayViewD<'a, Complex64>),
}

/// A writable output of any dtype: a dynamic-dimensional mutable ndarray view, any strides.
#[derive(Debug)]
pub enum ArrayMut<'a> {
    Bool(ArrayViewMutD<'a, bool>),
    I8(ArrayViewMutD<'a, i8>),
    I16(ArrayViewMutD<'a, i16>),
    I32(ArrayViewMutD<'a, i32>),
    I64(ArrayViewMutD<'a, i64>),
    U8(ArrayViewMutD<'a, u8>),
    U16(ArrayViewMutD<'a, u16>),
    U32(ArrayViewMutD<'a, u32>),
    U64(ArrayViewMutD<'a, u64>),
    F16(ArrayViewMutD<'a, f16>),
    F32(ArrayViewMutD<'a, f32>),
    F64(ArrayViewMutD<'a, f64>),
    C64(ArrayViewMutD<'a, Complex32>),
    C128(ArrayViewMutD<'a, Complex64>),
}

/// An evaluation result: an owned array of the expression's dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
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

/// Element types the VM can wrap into its dtype-erased enums (every [`Element`]).
pub trait VmElement: Element {
    fn wrap_ref(view: ArrayViewD<'_, Self>) -> ArrayRef<'_>;
    fn wrap_mut(view: ArrayViewMutD<'_, Self>) -> ArrayMut<'_>;
    fn wrap_owned(array: ArrayD<Self>) -> Array;
    fn view_of(array: &Array) -> Option<ArrayViewD<'_, Self>>;
    fn unwrap_owned(array: Array) -> Option<ArrayD<Self>>;
    fn scalar(self) -> Scalar;
}

macro_rules! impl_element {
    ($var:ident, $t:ty) => {
        impl VmElement for $t {
            fn wrap_ref(view: ArrayViewD<'_, Self>) -> ArrayRef<'_> {
                ArrayRef::$var(view)
            }
            fn wrap_mut(view: ArrayViewMutD<'_, Self>) -> ArrayMut<'_> {
                ArrayMut::$var(view)
            }
            fn wrap_owned(array: ArrayD<Self>) -> Array {
                Array::$var(array)
            }
            fn view_of(array: &Array) -> Option<ArrayViewD<'_, Self>> {
                match array {
                    Array::$var(a) => Some(a.view()),
                    _ => None,
                }
            }
            fn unwrap_owned(array: Array) -> Option<ArrayD<Self>> {
                match array {
                    Array::$var(a) => Some(a),
                    _ => None,
                }
            }
            fn scalar(self) -> Scalar {
                Scalar::$var(self)
            }
        }

        impl<'a> IntoVar<'a> for $t {
            fn into_var(self) -> Var<'a> {
                Var::Scalar(Scalar::$var(self))
            }
        }
    };
}
for_each_dtype!(impl_element);

impl<'a, T: VmElement, D: Dimension> From<ArrayView<'a, T, D>> for ArrayRef<'a> {
    fn from(view: ArrayView<'a, T, D>) -> ArrayRef<'a> {
        T::wrap_ref(view.into_dyn())
    }
}

impl<'a, T: VmElement, S: Data<Elem = T>, D: Dimension> From<&'a ArrayBase<S, D>> for ArrayRef<'a> {
    fn from(array: &'a ArrayBase<S, D>) -> ArrayRef<'a> {
        T::wrap_ref(array.view().into_dyn())
    }
}

impl<'a, T: VmElement, D: Dimension> From<ArrayViewMut<'a, T, D>> for ArrayMut<'a> {
    fn from(view: ArrayViewMut<'a, T, D>) -> ArrayMut<'a> {
        T::wrap_mut(view.into_dyn())
    }
}

impl<'a, T: VmElement, S: DataMut<Elem = T>, D: Dimension> From<&'a mut ArrayBase<S, D>>
    for ArrayMut<'a>
{
    fn from(array: &'a mut ArrayBase<S, D>) -> ArrayMut<'a> {
        T::wrap_mut(array.view_mut().into_dyn())
    }
}

impl<'a, T: VmElement, D: Dimension> IntoVar<'a> for ArrayView<'a, T, D> {
    fn into_var(self) -> Var<'a> {
        Var::Array(self.into())
    }
}

impl<'a, T: VmElement, S: Data<Elem = T>, D: Dimension> IntoVar<'a> for &'a ArrayBase<S, D> {
    fn into_var(self) -> Var<'a> {
        Var::Array(self.into())
    }
}

/// What a variable is bound to: an array, or a scalar (loaded into a scalar slot, never expanded).
#[derive(Debug, Clone)]
pub enum Var<'a> {
    Array(ArrayRef<'a>),
    Scalar(Scalar),
    /// A Python value (`int`, `float`, `complex`, `bool`): compiled in as if written in the
    /// expression, so it is a weak scalar under NumPy 2's rules (`PyValue::Int(3)` with an int8
    /// array gives int8), where a [`Scalar`] keeps its dtype (NumPy scalars are strong).
    Literal(PyValue),
}

impl Var<'_> {
    /// The dtype; for a Python value, the one NumPy gives it alone (int64, float64, complex128,
    /// bool).
    pub fn dtype(&self) -> DType {
        match self {
            Var::Array(a) => a.dtype(),
            Var::Scalar(s) => s.dtype(),
            Var::Literal(PyValue::Int(_)) => DType::I64,
            Var::Literal(PyValue::Float(_)) => DType::F64,
            Var::Literal(PyValue::Complex(_)) => DType::C128,
            Var::Literal(PyValue::Bool(_)) => DType::Bool,
        }
    }

    pub fn is_scalar(&self) -> bool {
        !matches!(self, Var::Array(_))
    }
}

impl<'a> IntoVar<'a> for PyValue {
    fn into_var(self) -> Var<'a> {
        Var::Literal(self)
    }
}

/// Values that can be bound to a variable: ndarray arrays and views of every dtype (`&arr`,
/// `arr.view()`, `arr.slice(s![..])`), Rust numbers (`2.5`, `3i32`, `true`, complex), [`Scalar`]s
/// and [`ArrayRef`]s.
pub trait IntoVar<'a> {
    fn into_var(self) -> Var<'a>;
}

impl<'a> IntoVar<'a> for Scalar {
    fn into_var(self) -> Var<'a> {
        Var::Scalar(self)
    }
}

impl<'a> IntoVar<'a> for ArrayRef<'a> {
    fn into_var(self) -> Var<'a> {
        Var::Array(self)
    }
}

impl<'a> IntoVar<'a> for Var<'a> {
    fn into_var(self) -> Var<'a> {
        self
    }
}

/// Named operands, in insertion order: `Vars::new().with("a", &a).with("k", 2.5)`.
///
/// Arrays of any dtype, dimensionality and strides (views, slices, broadcasts) are array
/// operands; Rust numbers and [`Scalar`]s are scalar operands (loaded once, never expanded).
///
/// ```
/// use ndarray::{array, s};
/// use ndexpr::{DType, Vars};
///
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let mut vars = Vars::new().with("a", a.slice(s![.., ..;-1])).with("k", 2i64);
/// vars.insert("z", num_complex::Complex64::new(0.0, 1.0));
/// assert_eq!(vars.get("a").unwrap().dtype(), DType::F32);
/// assert!(vars.get("k").unwrap().is_scalar());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Vars<'a> {
    vars: Vec<(String, Var<'a>)>,
}

impl<'a> Vars<'a> {
    pub fn new() -> Vars<'a> {
        Vars { vars: Vec::new() }
    }

    /// Adds (or replaces) a variable.
    pub fn with(mut self, name: &str, value: impl IntoVar<'a>) -> Vars<'a> {
        self.insert(name, value);
        self
    }

    /// Adds (or replaces) a variable.
    pub fn insert(&mut self, name: &str, value: impl IntoVar<'a>) {
        let value = value.into_var();
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.to_string(), value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Var<'a>> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var<'a>)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The signature these variables give an expression: each name with its dtype and
    /// scalar-ness.
    pub fn signature(&self) -> Signature {
        self.vars
            .iter()
            .fold(Signature::new(), |sig, (name, v)| match v {
                Var::Array(a) => sig.array(name, a.dtype()),
                Var::Scalar(s) => sig.scalar(name, s.dtype()),
                Var::Literal(v) => sig.literal(name, *v),
            })
    }
}

/// Raw description of an array operand: data pointer (first logical element), element strides.
struct RawArray {
    ptr: *mut u8,
    shape: Vec<usize>,
    strides: Vec<isize>,
    size: usize,
    dtype: DType,
}

impl RawArray {
    fn byte_strides(&self) -> Vec<isize> {
        self.strides
            .iter()
            .map(|s| s * self.size as isize)
            .collect()
    }
}

impl<'a> ArrayRef<'a> {
    pub fn dtype(&self) -> DType {
        dispatch!(self, ArrayRef, v => element_dtype(v))
    }

    pub fn shape(&self) -> &[usize] {
        dispatch!(self, ArrayRef, v => v.shape())
    }

    /// Whether the elements are contiguous in Fortran order (and not in C order).
    fn is_fortran(&self) -> bool {
        dispatch!(self, ArrayRef, v => !v.is_standard_layout() && v.t().is_standard_layout())
    }

    fn is_f_contiguous(&self) -> bool {
        dispatch!(self, ArrayRef, v => v.t().is_standard_layout())
    }

    fn raw(&self) -> RawArray {
        dispatch!(self, ArrayRef, v => RawArray {
            ptr: v.as_ptr() as *mut u8,
            shape: v.shape().to_vec(),
            strides: v.strides().to_vec(),
            size: element_dtype(v).size(),
            dtype: element_dtype(v),
        })
    }
}

fn element_dtype<T: Element, S: Data<Elem = T>>(_: &ArrayBase<S, IxDyn>) -> DType {
    T::DTYPE
}

impl<'a> ArrayMut<'a> {
    pub fn dtype(&self) -> DType {
        dispatch!(self, ArrayMut, v => element_dtype(v))
    }

    pub fn shape(&self) -> &[usize] {
        dispatch!(self, ArrayMut, v => v.shape())
    }

    #[allow(clippy::unnecessary_cast)] // the cast is needed for every dtype but u8
    fn raw(&mut self) -> RawArray {
        dispatch!(self, ArrayMut, v => RawArray {
            ptr: v.as_mut_ptr() as *mut u8,
            shape: v.shape().to_vec(),
            strides: v.strides().to_vec(),
            size: element_dtype(v).size(),
            dtype: element_dtype(v),
        })
    }

    /// Copies `src` (same dtype and shape) into this view.
    fn assign_from(&mut self, src: &Array) -> Result<()> {
        macro_rules! assign {
            ($var:ident, $t:ty) => {
                if let (ArrayMut::$var(dst), Array::$var(src)) = (&mut *self, src) {
                    dst.assign(src);
                    return Ok(());
                }
            };
        }
        for_each_dtype!(assign);
        Err(Error::new(
            ErrorKind::Internal,
            "temporary of the wrong dtype",
        ))
    }
}

impl Array {
    pub fn dtype(&self) -> DType {
        dispatch!(self, Array, v => element_dtype(v))
    }

    pub fn shape(&self) -> &[usize] {
        dispatch!(self, Array, v => v.shape())
    }

    /// A view of the elements if `T` is the array's element type.
    pub fn as_view<T: VmElement>(&self) -> Option<ArrayViewD<'_, T>> {
        T::view_of(self)
    }

    /// The array itself if `T` is its element type.
    pub fn into_array<T: VmElement>(self) -> Option<ArrayD<T>> {
        T::unwrap_owned(self)
    }

    /// The elements converted to `f64` as NumPy's `astype(float64)` (bool to 0/1, integers
    /// rounded to nearest); complex arrays are an error (`ErrorKind::Type`).
    pub fn into_f64(self) -> Result<ArrayD<f64>> {
        if self.dtype().is_complex() {
            return Err(Error::new(
                ErrorKind::Type,
                format!("cannot convert a {} array to float64", self.dtype()),
            ));
        }
        Ok(match self {
            Array::Bool(a) => a.mapv(|v| v as u8 as f64),
            Array::I8(a) => a.mapv(|v| v as f64),
            Array::I16(a) => a.mapv(|v| v as f64),
            Array::I32(a) => a.mapv(|v| v as f64),
            Array::I64(a) => a.mapv(|v| v as f64),
            Array::U8(a) => a.mapv(|v| v as f64),
            Array::U16(a) => a.mapv(|v| v as f64),
            Array::U32(a) => a.mapv(|v| v as f64),
            Array::U64(a) => a.mapv(|v| v as f64),
            Array::F16(a) => a.mapv(|v| v.to_f64()),
            Array::F32(a) => a.mapv(|v| v as f64),
            Array::F64(a) => a,
            Array::C64(_) | Array::C128(_) => unreachable!("checked above"),
        })
    }
}

/// Options of one evaluation: which kernels to use, how many threads, from which work on.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub lookup: Lookup,
    /// `None`: [`num_threads()`].
    pub threads: Option<usize>,
    /// Work (elements × per-element cost) from which threads are used.
    pub parallel_work: usize,
    /// Elements per block. `None`: [`BLOCK`], or [`MEMORY_BLOCK`] for a program that does
    /// little work per byte and whose operands take more than [`MEMORY_BYTES`] together
    /// (reductions along an axis keep [`BLOCK`]: a run of up to a block is summed in NumPy's
    /// order, bit for bit).
    pub block: Option<usize>,
    /// Output size in bytes from which contiguous output blocks are written with non-temporal
    /// stores (default [`exec::STREAM_MIN`]; `NDEXPR_STREAM=0|1` forces it off or on).
    pub stream_min: usize,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            lookup: crate::kernels::lookup,
            threads: None,
            parallel_work: exec::PARALLEL_WORK,
            block: None,
            stream_min: exec::STREAM_MIN,
        }
    }
}

/// Turns a panic into an `Internal` error.
fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Error::new(
                ErrorKind::Internal,
                format!("internal error during evaluation: {msg}"),
            ))
        }
    }
}

/// The order of a new result, voted by the array inputs: Fortran when every one is
/// Fortran-contiguous and at least one is not also C-contiguous (as NumPy's `order='K'`).
#[derive(Default)]
struct FortranVote {
    not_all: bool,
    any: bool,
}

impl FortranVote {
    fn add(&mut self, a: &ArrayRef<'_>) {
        self.not_all |= !a.is_f_contiguous();
        self.any |= a.is_fortran();
    }

    fn fortran(&self) -> bool {
        !self.not_all && self.any
    }
}

/// The operands of one evaluation, bound and checked against the program.
struct Bound {
    inputs: Vec<RawArray>,
    slots: Vec<Slot>,
    shape: Vec<usize>,
    fortran: bool,
}

fn slot_of(s: &Scalar) -> Slot {
    let mut slot = Slot::default();
    s.write_ne_bytes(&mut slot.0);
    slot
}

/// A Python value bound to a name the program reads as an operand: it was compiled for another
/// signature.
fn missing_variable(name: &str) -> Error {
    Error::new(
        ErrorKind::UnknownVariable,
        format!("variable `{name}` was not given a value"),
    )
}

fn literal_for_operand(name: &str) -> Error {
    Error::new(
        ErrorKind::Type,
        format!(
            "variable `{name}` is a Python value, but the expression was compiled with `{name}` \
             as an operand; compile it with the value (Vars::signature) instead"
        ),
    )
}

/// Checks that `vars` binds every variable `expr` compiled in as a literal to that same value.
fn check_literals(expr: &Expr, vars: &Vars<'_>) -> Result<()> {
    for lit in expr.literals() {
        let ok = matches!(vars.get(&lit.0), Some(Var::Literal(v)) if Expr::literal_matches(lit, v));
        if !ok {
            return Err(Error::new(
                ErrorKind::Type,
                format!(
                    "variable `{}` was compiled in as the Python value {}; bind the same value \
                     or compile again",
                    lit.0, lit.1
                ),
            ));
        }
    }
    Ok(())
}

fn bind(program: &Program, vars: &Vars<'_>, extra_slots: &mut Vec<Slot>) -> Result<Bound> {
    exec::validate(program)?;
    let wrong_dtype = |name: &str, got: DType, want: DType| {
        Error::new(
            ErrorKind::Type,
            format!("variable `{name}` has dtype {got} but the expression was compiled for {want}"),
        )
    };
    // Scalar slots: constants and scalar variables first.
    let mut slots = Vec::with_capacity(program.scalars.len());
    for init in &program.scalars {
        slots.push(match init {
            ScalarInit::Const(c) => slot_of(c),
            ScalarInit::Computed(_) => Slot::default(),
            ScalarInit::Var(v) => {
                let spec = &program.scalar_vars[*v as usize];
                let scalar = match vars
                    .get(&spec.name)
                    .ok_or_else(|| missing_variable(&spec.name))?
                {
                    Var::Scalar(s) => *s,
                    // A 0-d array may stand for a scalar.
                    Var::Array(a) if a.shape().is_empty() => {
                        let raw = a.raw();
                        let mut slot = Slot::default();
                        // SAFETY: the array has exactly one element of `raw.size` bytes at `ptr`.
                        unsafe {
                            std::ptr::copy_nonoverlapping(raw.ptr, slot.0.as_mut_ptr(), raw.size)
                        };
                        if raw.dtype != spec.dtype {
                            return Err(wrong_dtype(&spec.name, raw.dtype, spec.dtype));
                        }
                        slots.push(slot);
                        continue;
                    }
                    Var::Literal(_) => return Err(literal_for_operand(&spec.name)),
                    Var::Array(a) => {
                        return Err(Error::new(
                            ErrorKind::Type,
                            format!(
                            "variable `{}` was compiled as a scalar but is an array of shape {}",
                            spec.name,
                            shape_str(a.shape())
                        ),
                        ))
                    }
                };
                if scalar.dtype() != spec.dtype {
                    return Err(wrong_dtype(&spec.name, scalar.dtype(), spec.dtype));
                }
                slot_of(&scalar)
            }
        });
    }
    // Array inputs; a scalar given for an array input acts as a 0-d array.
    let mut inputs = Vec::with_capacity(program.inputs.len());
    let mut order = FortranVote::default();
    extra_slots.clear();
    extra_slots.reserve(program.inputs.len());
    for spec in &program.inputs {
        let var = vars
            .get(&spec.name)
            .ok_or_else(|| missing_variable(&spec.name))?;
        if let Var::Literal(_) = var {
            return Err(literal_for_operand(&spec.name));
        }
        if var.dtype() != spec.dtype {
            return Err(wrong_dtype(&spec.name, var.dtype(), spec.dtype));
        }
        let raw = match var {
            Var::Array(a) => {
                order.add(a);
                a.raw()
            }
            Var::Literal(_) => return Err(literal_for_operand(&spec.name)),
            Var::Scalar(s) => {
                extra_slots.push(slot_of(s));
                let slot = extra_slots.last_mut().expect("just pushed");
                RawArray {
                    ptr: slot.0.as_mut_ptr(),
                    shape: Vec::new(),
                    strides: Vec::new(),
                    size: s.dtype().size(),
                    dtype: s.dtype(),
                }
            }
        };
        inputs.push(raw);
    }
    let named: Vec<(&str, &[usize])> = program
        .inputs
        .iter()
        .map(|spec| &spec.name)
        .zip(&inputs)
        .map(|(n, r)| (n.as_str(), r.shape.as_slice()))
        .collect();
    let shape = broadcast_shapes(&named)?;
    Ok(Bound {
        inputs,
        slots,
        shape,
        fortran: order.fortran(),
    })
}

/// What an element-wise run works out from the layouts of its operands alone (shapes, strides,
/// dtypes; not their data): the iteration plan, the block, the kernels, and whether to stream
/// the output. [`Prepared`] keeps one across calls.
struct Setup {
    plan: Plan,
    kernels: Vec<exec::BodyKernel>,
    /// Element size of each operand (0: the output).
    sizes: Vec<usize>,
    block: usize,
    stream: bool,
}

fn setup(program: &Program, bound: &Bound, out: &RawArray, opts: &RunOptions) -> Result<Setup> {
    let shape = &bound.shape;
    let mut strides = vec![broadcast_strides(&out.shape, &out.byte_strides(), shape)];
    let mut sizes = vec![out.size];
    for input in &bound.inputs {
        strides.push(broadcast_strides(
            &input.shape,
            &input.byte_strides(),
            shape,
        ));
        sizes.push(input.size);
    }
    let plan = Plan::new(shape, &strides);
    let out_bytes = shape.iter().product::<usize>() * out.size;
    let block = opts
        .block
        .unwrap_or_else(|| exec::auto_block(program, out_bytes, &bound.inputs))
        .max(1);
    // Inputs constant along the inner axis (stride 0) can be read as scalars, block by block.
    let flat = exec::is_flat(&plan, block);
    let scalar_inputs: Vec<bool> = (1..strides.len())
        .map(|op| !flat && plan.inner > 1 && plan.inner_strides[op] == 0)
        .collect();
    let kernels = exec::body_kernels(program, opts.lookup, &scalar_inputs)?;
    Ok(Setup {
        plan,
        kernels,
        sizes,
        block,
        stream: exec::stream_output(program, out_bytes, opts),
    })
}

/// Runs `program` as `setup` plans it over the operands at `bases` (0: the output), reading
/// its scalars from `slots` (the prologue already run).
fn run_setup(
    program: &Program,
    setup: &Setup,
    slots: &[Slot],
    bases: Vec<*mut u8>,
    opts: &RunOptions,
) -> Result<()> {
    let job = Job {
        program,
        kernels: &setup.kernels,
        slots,
        plan: &setup.plan,
        bases,
        sizes: &setup.sizes,
        block: setup.block,
        stream: setup.stream,
        negative_power: Default::default(),
        sink: None,
        direct: None,
        products: false,
        sweep: None,
    };
    let threads = opts.threads.unwrap_or_else(num_threads).max(1);
    exec::run_job(job, threads, opts.parallel_work)
}

/// Runs a bound program into `out` (shape `bound.shape`, already checked).
fn execute(program: &Program, bound: &mut Bound, out: &RawArray, opts: &RunOptions) -> Result<()> {
    let setup = setup(program, bound, out, opts)?;
    exec::run_prologue(program, &mut bound.slots, opts.lookup)?;
    let bases = std::iter::once(out.ptr)
        .chain(bound.inputs.iter().map(|i| i.ptr))
        .collect();
    run_setup(program, &setup, &bound.slots, bases, opts)
}

/// Runs a bound program (its sub-reductions computed) into `out`, of the program's result shape.
fn run(program: &Program, bound: &mut Bound, out: &RawArray, opts: &RunOptions) -> Result<()> {
    if program.reduce.is_some() {
        reduce::execute(program, bound, out, opts)
    } else {
        execute(program, bound, out, opts)
    }
}

/// Binds `program` to `vars` and computes its full reductions, each a pass of its own over its
/// own variables (which broadcast among themselves only), into the slots the program reads
/// them from. Nested reductions (`sum(a - mean(a))`) recurse: inner passes run first.
fn bind_all(
    program: &Program,
    vars: &Vars<'_>,
    extra: &mut Vec<Slot>,
    opts: &RunOptions,
) -> Result<Bound> {
    let mut bound = bind(program, vars, extra)?;
    for sub in &program.reductions {
        let mut sub_extra = Vec::new();
        let mut sub_bound = bind_all(&sub.program, vars, &mut sub_extra, opts)?;
        let mut slot = Slot::default();
        let dtype = sub.program.result_dtype;
        let out = RawArray {
            ptr: slot.0.as_mut_ptr(),
            shape: Vec::new(),
            strides: Vec::new(),
            size: dtype.size(),
            dtype,
        };
        reduce::execute(&sub.program, &mut sub_bound, &out, opts)?;
        bound.slots[sub.slot as usize] = slot;
    }
    Ok(bound)
}

/// Allocates the output (C order, or Fortran order when all inputs are), runs, and wraps it.
fn run_new<T: VmElement>(program: &Program, bound: &mut Bound, opts: &RunOptions) -> Result<Array> {
    // A reduction's result has the reduced shape, in C order.
    let out_shape = match &program.reduce {
        None => bound.shape.clone(),
        Some(spec) => {
            bound.fortran = false;
            reduce::result_shape(spec, &bound.shape)?
        }
    };
    let n: usize = out_shape.iter().product();
    let mut data: Vec<T> = Vec::with_capacity(n);
    memory::advise_huge_pages(data.as_mut_ptr() as *mut u8, n * T::DTYPE.size());
    let shape = IxDyn(&out_shape);
    let strides = contiguous_strides(&out_shape, bound.fortran);
    let out = RawArray {
        ptr: data.as_mut_ptr() as *mut u8,
        shape: out_shape.clone(),
        strides,
        size: T::DTYPE.size(),
        dtype: T::DTYPE,
    };
    // Fresh pages are written with ordinary stores: the kernel has just zeroed each huge page
    // through the cache, and streaming past it measured slower (`ndexpr bench`, `2*a+48`,
    // 10^7 f64, new output, six alternating runs: medians 9.6-10.7 ms plain against 10.3-11.2
    // streaming, minima 8.9-9.5 against 9.6-10.1), while into an existing buffer streaming wins
    // (6.2-7.3 against 7.9-8.5 ms).
    let opts = &RunOptions {
        stream_min: usize::MAX,
        ..*opts
    };
    run(program, bound, &out, opts)?;
    // SAFETY: the run wrote all n elements (every block of the plan covers the output exactly
    // once, and each block's last instruction or scatter writes all of its elements).
    unsafe { data.set_len(n) };
    let array = if bound.fortran {
        ArrayD::from_shape_vec(shape.f(), data)
    } else {
        ArrayD::from_shape_vec(shape, data)
    }
    .map_err(|e| Error::new(ErrorKind::Internal, format!("output allocation: {e}")))?;
    Ok(T::wrap_owned(array))
}

fn new_output(program: &Program, bound: &mut Bound, opts: &RunOptions) -> Result<Array> {
    macro_rules! by_dtype {
        ($($var:ident $t:ty),*) => {
            match program.result_dtype { $(DType::$var => run_new::<$t>(program, bound, opts),)* }
        };
    }
    by_dtype!(Bool bool, I8 i8, I16 i16, I32 i32, I64 i64, U8 u8, U16 u16, U32 u32, U64 u64,
              F16 f16, F32 f32, F64 f64, C64 Complex32, C128 Complex64)
}

/// Evaluates `program` over `vars` into a new array.
pub fn eval_program(program: &Program, vars: &Vars<'_>, opts: &RunOptions) -> Result<Array> {
    guard(|| {
        let mut extra = Vec::new();
        let mut bound = bind_all(program, vars, &mut extra, opts)?;
        new_output(program, &mut bound, opts)
    })
}

fn check_output_dtype(program: &Program, out: &ArrayMut<'_>) -> Result<()> {
    if out.dtype() != program.result_dtype {
        return Err(Error::new(
            ErrorKind::Output,
            format!(
                "output has dtype {} but the expression gives {}",
                out.dtype(),
                program.result_dtype
            ),
        ));
    }
    Ok(())
}

/// An element-wise result of `shape` may be written into an output of its shape or of one it
/// broadcasts to.
fn check_output_shape(out_shape: &[usize], shape: &[usize]) -> Result<()> {
    // (The equal-shapes test first: it is the common case, and allocates nothing.)
    let fits = out_shape == shape
        || broadcast_shapes(&[("out", out_shape), ("expr", shape)]).is_ok_and(|s| s == out_shape);
    if !fits {
        return Err(Error::new(
            ErrorKind::Shape,
            format!(
                "output has shape {} but the expression gives shape {}",
                shape_str(out_shape),
                shape_str(shape)
            ),
        ));
    }
    Ok(())
}

/// Checks that `out_shape` is exactly what reduction `spec` gives over operands of `shape`.
fn check_reduction_shape(spec: &Reduce, out_shape: &[usize], shape: &[usize]) -> Result<()> {
    let want = reduce::result_shape(spec, shape)?;
    if out_shape != want {
        return Err(Error::new(
            ErrorKind::Shape,
            format!(
                "output has shape {} but the reduction gives shape {}",
                shape_str(out_shape),
                shape_str(&want)
            ),
        ));
    }
    Ok(())
}

/// Evaluates `program` over `vars` into `out`, which must have the result's dtype and the
/// operands' broadcast shape (or a shape they broadcast to). `out` may be one of the inputs
/// (in-place update); an output that partially overlaps an input is evaluated through a
/// temporary. On error `out` is untouched.
pub fn eval_program_into(
    program: &Program,
    vars: &Vars<'_>,
    mut out: ArrayMut<'_>,
    opts: &RunOptions,
) -> Result<()> {
    guard(|| {
        let mut extra = Vec::new();
        let mut bound = bind_all(program, vars, &mut extra, opts)?;
        check_output_dtype(program, &out)?;
        let out_shape = out.shape().to_vec();
        if let Some(spec) = &program.reduce {
            // A reduction's output has exactly the reduced shape, and never shares memory
            // with an input (its elements are written while inputs are still being read).
            check_reduction_shape(spec, &out_shape, &bound.shape)?;
            let raw = out.raw();
            if overlaps_any(&raw, &bound) {
                let tmp = new_output(program, &mut bound, opts)?;
                return out.assign_from(&tmp);
            }
            return reduce::execute(program, &mut bound, &raw, opts);
        }
        check_output_shape(&out_shape, &bound.shape)?;
        bound.shape = out_shape;
        let raw = out.raw();
        if partially_overlaps(&raw, &bound) {
            // Evaluate into a fresh array, then copy: reads never see partial writes.
            bound.fortran = false;
            let tmp = new_output(program, &mut bound, opts)?;
            return out.assign_from(&tmp);
        }
        execute(program, &mut bound, &raw, opts)
    })
}

/// Evaluates `program` with the variable `name` bound to `out` itself, writing the result back
/// into `out` (`x = f(x, ...)` in place, without allocating). `vars` must not hold `name`'s
/// memory under another name; if it does (partially), a temporary is used as in
/// [`eval_program_into`].
pub fn eval_program_in_place(
    program: &Program,
    name: &str,
    vars: &Vars<'_>,
    mut out: ArrayMut<'_>,
    opts: &RunOptions,
) -> Result<()> {
    // SAFETY: the read-only view aliases `out` only for the duration of this call; the VM reads
    // each element of a block before the block's result is written back (elementwise, same
    // pointer and strides: the exact-alias case the kernels allow), and nothing else reads it.
    let alias: ArrayRef<'_> = dispatch!(&mut out, ArrayMut, v => {
        let view = unsafe { v.raw_view_mut().deref_into_view() };
        view.into()
    });
    let mut vars = vars.clone();
    vars.insert(name, alias);
    eval_program_into(program, &vars, out, opts)
}

/// Whether `out` shares memory with an input without being exactly that input (same first
/// element, element size and strides after broadcasting). Conservative, like NumPy's ufunc
/// overlap check (memory bounds, `solve_may_share_memory` with `max_work = 1`): disjoint
/// elements inside overlapping ranges (`a[::2]` into `a[1::2]`) also go through a temporary,
/// which costs time but never correctness.
fn partially_overlaps(out: &RawArray, bound: &Bound) -> bool {
    let Some((olo, ohi)) = byte_range(out.ptr as usize, &out.shape, &out.byte_strides(), out.size)
    else {
        return false;
    };
    // Only needed (and computed) when an input's range meets the output's.
    let out_strides = std::cell::OnceCell::<Vec<isize>>::new();
    let out_strides = || {
        out_strides.get_or_init(|| broadcast_strides(&out.shape, &out.byte_strides(), &bound.shape))
    };
    bound.inputs.iter().any(|input| {
        byte_range(
            input.ptr as usize,
            &input.shape,
            &input.byte_strides(),
            input.size,
        )
        .is_some_and(|range| {
            overlaps_partially((olo, ohi), range, input.ptr == out.ptr, || {
                steps_like(input, out.size, out_strides(), &bound.shape)
            })
        })
    })
}

/// The in-place rule: an input whose bytes (`input`: lowest, one past the highest) meet the
/// output's (`out`) may be read while the output is written only when it is the output itself,
/// the same first element (`same_first`) stepping the same way (`same_steps`, asked only then):
/// each element is then read before its block is written. Any other meeting (NumPy's
/// conservative test) goes through a temporary.
fn overlaps_partially(
    out: (usize, usize),
    input: (usize, usize),
    same_first: bool,
    same_steps: impl FnOnce() -> bool,
) -> bool {
    input.0 < out.1 && out.0 < input.1 && !(same_first && same_steps())
}

/// Whether `input` steps through the iteration of `shape` as an output of element size `size`
/// and broadcast byte strides `out_steps` does.
fn steps_like(input: &RawArray, size: usize, out_steps: &[isize], shape: &[usize]) -> bool {
    input.size == size && broadcast_strides(&input.shape, &input.byte_strides(), shape) == out_steps
}

/// Whether `out`'s memory range meets any input's.
fn overlaps_any(out: &RawArray, bound: &Bound) -> bool {
    let Some((olo, ohi)) = byte_range(out.ptr as usize, &out.shape, &out.byte_strides(), out.size)
    else {
        return false;
    };
    bound.inputs.iter().any(|input| {
        byte_range(
            input.ptr as usize,
            &input.shape,
            &input.byte_strides(),
            input.size,
        )
        .is_some_and(|(lo, hi)| lo < ohi && olo < hi)
    })
}

/// A small bounded LRU map: each entry remembers when it was last used; inserting into a full
/// map evicts the least recently used entry (an O(capacity) scan, only on a miss).
pub(crate) struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    tick: u64,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Lru<K, V> {
    pub(crate) fn new(capacity: usize) -> Lru<K, V> {
        Lru {
            map: HashMap::new(),
            tick: 0,
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|(v, used)| {
            *used = tick;
            v.clone()
        })
    }

    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            if let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
            }
        }
        self.tick += 1;
        self.map.insert(key, (value, self.tick));
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

type CacheKey = (String, Signature);
const CACHE_CAPACITY: usize = 256;
static CACHE: Mutex<Option<Lru<CacheKey, Expr>>> = Mutex::new(None);

fn with_cache<R>(f: impl FnOnce(&mut Lru<CacheKey, Expr>) -> R) -> R {
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(|| Lru::new(CACHE_CAPACITY)))
}

/// Compiles `src` for `signature`, or reuses the cached compilation (bounded LRU, 256 entries).
fn cached_compile(src: &str, signature: Signature) -> Result<Expr> {
    let key = (src.to_string(), signature);
    if let Some(expr) = with_cache(|c| c.get(&key)) {
        return Ok(expr);
    }
    // Compile outside the lock: other threads keep evaluating meanwhile.
    let expr = guard(|| Expr::compile(&key.0, &key.1))?;
    with_cache(|c| c.insert(key, expr.clone()));
    Ok(expr)
}

/// The compiled expression [`evaluate`] holds for `src` and `signature`, if any.
pub fn cached(src: &str, signature: &Signature) -> Option<Expr> {
    let key = (src.to_string(), signature.clone());
    with_cache(|c| c.get(&key))
}

/// Number of compiled expressions currently cached by [`evaluate`].
pub fn cache_len() -> usize {
    with_cache(|c| c.len())
}

/// Evaluates the expression `src` over `vars` (compiled once per source and variable signature,
/// then cached).
///
/// ```
/// use ndarray::array;
/// use ndexpr::{evaluate, Vars};
///
/// let a = array![1.0, 2.0, 3.0];
/// let b = array![10.0, 20.0, 30.0];
/// let r = evaluate("a*b + 1", &Vars::new().with("a", &a).with("b", &b)).unwrap();
/// assert_eq!(r.as_view::<f64>().unwrap(), array![11.0, 41.0, 91.0].into_dyn());
/// ```
pub fn evaluate(src: &str, vars: &Vars<'_>) -> Result<Array> {
    let expr = cached_compile(src, vars.signature())?;
    expr.eval(vars)
}

impl Expr {
    /// Evaluates the compiled expression over `vars` into a new array (C order, or Fortran
    /// order when every array input is Fortran-ordered).
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ndexpr::{Expr, Vars};
    ///
    /// let a = Array2::<f64>::ones((1000, 1000));
    /// let vars = Vars::new().with("a", &a).with("k", 0.5);
    /// let expr = Expr::compile("sin(a)**2 + k", &vars.signature()).unwrap();
    /// let r = expr.eval(&vars).unwrap().into_array::<f64>().unwrap();
    /// assert_eq!(r.shape(), &[1000, 1000]);
    /// ```
    pub fn eval(&self, vars: &Vars<'_>) -> Result<Array> {
        check_literals(self, vars)
            .and_then(|()| eval_program(self.program(), vars, &RunOptions::default()))
            .map_err(|e| e.with_source(self.source()))
    }

    /// The shape of the array [`Expr::eval`] returns for `vars`, and whether it is in Fortran
    /// order (every array input Fortran-contiguous and one not C-contiguous; reductions are C):
    /// a caller that allocates its own arrays (the Python binding's NumPy arrays) makes the same
    /// one and evaluates into it with [`Expr::eval_into`]. Errors as `eval` would report them.
    ///
    /// ```
    /// use ndarray::{Array2, ShapeBuilder};
    /// use ndexpr::{Expr, Vars};
    ///
    /// let a = Array2::<f64>::zeros((3, 4).f());
    /// let vars = Vars::new().with("a", &a);
    /// let expr = Expr::compile("2*a + sum(a)", &vars.signature()).unwrap();
    /// assert_eq!(expr.result_layout(&vars).unwrap(), (vec![3, 4], true));
    /// ```
    pub fn result_layout(&self, vars: &Vars<'_>) -> Result<(Vec<usize>, bool)> {
        let program = self.program();
        let mut named: Vec<(&str, &[usize])> = Vec::with_capacity(program.inputs.len());
        let mut order = FortranVote::default();
        for spec in &program.inputs {
            let Some(var) = vars.get(&spec.name) else {
                return Err(missing_variable(&spec.name).with_source(self.source()));
            };
            match var {
                Var::Array(a) => {
                    order.add(a);
                    named.push((&spec.name, a.shape()));
                }
                Var::Scalar(_) => named.push((&spec.name, &[])),
                Var::Literal(_) => return Err(literal_for_operand(&spec.name)),
            }
        }
        let shape = broadcast_shapes(&named).map_err(|e| e.with_source(self.source()))?;
        match &program.reduce {
            None => Ok((shape, order.fortran())),
            Some(spec) => Ok((
                reduce::result_shape(spec, &shape).map_err(|e| e.with_source(self.source()))?,
                false,
            )),
        }
    }

    /// Evaluates into `out` (`&mut array` or a mutable view of the result's dtype and shape;
    /// any strides). An output sharing memory with an input (other than being exactly that
    /// input) is handled through a temporary. On error `out` is untouched.
    ///
    /// ```
    /// use ndarray::{s, Array1, Array2};
    /// use ndexpr::{Expr, Vars};
    ///
    /// let a = Array1::<f64>::linspace(0.0, 1.0, 100);
    /// let vars = Vars::new().with("a", &a);
    /// let expr = Expr::compile("2*a + 48", &vars.signature()).unwrap();
    /// let mut out = Array2::<f64>::zeros((3, 200));
    /// expr.eval_into(&vars, out.slice_mut(s![1, ..;2])).unwrap();
    /// assert_eq!(out[[1, 2]], 2.0 * a[1] + 48.0);
    /// ```
    pub fn eval_into<'o>(&self, vars: &Vars<'_>, out: impl Into<ArrayMut<'o>>) -> Result<()> {
        check_literals(self, vars)
            .and_then(|()| {
                eval_program_into(self.program(), vars, out.into(), &RunOptions::default())
            })
            .map_err(|e| e.with_source(self.source()))
    }

    /// Evaluates with variable `name` read from `x` and writes the result back into `x`:
    /// `x = expr` in place, no allocation (Rust's borrows forbid passing `&x` in `vars` and
    /// `&mut x` as the output at once; this is the safe spelling of that). The result's dtype
    /// must be `x`'s.
    ///
    /// ```
    /// use ndarray::Array1;
    /// use ndexpr::{Expr, Signature, DType, Vars};
    ///
    /// let mut x = Array1::<f64>::ones(1_000_000);
    /// let expr = Expr::compile("x*2 + 1", &Signature::new().array("x", DType::F64)).unwrap();
    /// expr.eval_in_place("x", &Vars::new(), &mut x).unwrap();
    /// assert_eq!(x[0], 3.0);
    /// ```
    pub fn eval_in_place<'o>(
        &self,
        name: &str,
        vars: &Vars<'_>,
        x: impl Into<ArrayMut<'o>>,
    ) -> Result<()> {
        check_literals(self, vars)
            .and_then(|()| {
                eval_program_in_place(self.program(), name, vars, x.into(), &RunOptions::default())
            })
            .map_err(|e| e.with_source(self.source()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut lru = Lru::new(3);
        lru.insert("a", 1);
        lru.insert("b", 2);
        lru.insert("c", 3);
        assert_eq!(lru.get(&"a"), Some(1)); // a is now the most recent
        lru.insert("d", 4); // evicts b
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.get(&"b"), None);
        assert_eq!(lru.get(&"a"), Some(1));
        assert_eq!(lru.get(&"c"), Some(3));
        lru.insert("c", 30); // replacing does not evict
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.get(&"c"), Some(30));
        lru.insert("e", 5); // evicts d (least recent)
        assert_eq!(lru.get(&"d"), None);
    }

    #[test]
    fn compile_panic_is_an_error_not_a_panic() {
        // Whatever `Expr::compile` does with a signature it cannot satisfy, `evaluate` returns
        // (it never unwinds into the caller).
        let a = ndarray::Array1::<f64>::zeros(3);
        let r = std::panic::catch_unwind(|| {
            let _ = evaluate("a +* 2", &Vars::new().with("a", &a));
        });
        assert!(r.is_ok());
    }

    #[test]
    fn shapes_print_like_python() {
        assert_eq!(shape_str(&[]), "()");
        assert_eq!(shape_str(&[5]), "(5,)");
        assert_eq!(shape_str(&[3, 4]), "(3, 4)");
    }
}
