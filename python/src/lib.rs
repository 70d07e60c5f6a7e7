//! `ndexpr._ndexpr`: the native half of the Python package.
//!
//! It turns Python values into ndexpr operands (NumPy arrays read in place when that is safe,
//! converted by NumPy when it is not), compiles through a small cache, runs with the GIL
//! released, and maps ndexpr's errors to Python exceptions. The numexpr-style API (frame lookup,
//! `re_evaluate`, `NumExpr`) lives in `ndexpr/__init__.py` on top of it.

use ndarray::{Axis, IxDyn, RawArrayView, RawArrayViewMut, ShapeBuilder};
use ndexpr::types::{can_cast, Casting};
use ndexpr::vm::plan::broadcast_shapes;
use ndexpr::{
    Array, ArrayMut, ArrayRef, DType, Error as NdError, ErrorKind, Expr, Prepared, PyValue, Scalar,
    Signature, Var, Vars,
};
use num_complex::{Complex32, Complex64};
use numpy::PyUntypedArrayMethods;
use numpy::{npyffi, PyArray, PyArrayDescr, PyArrayDescrMethods, PyUntypedArray};
use pyo3::exceptions::{
    PyKeyError, PyOverflowError, PyRuntimeError, PySyntaxError, PyTypeError, PyValueError,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyComplex, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use std::collections::HashMap;
use std::sync::Mutex;

/// The extension's Rust allocations go through mimalloc: an evaluation at 1,000 elements makes
/// some fifty small allocations (views, plans, block buffers), and glibc's malloc/free were
/// ~40% of its instructions (callgrind, `2*a+48`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// ---------------------------------------------------------------------------------------------
// Errors

/// An ndexpr error as the Python exception numexpr users expect; the message is the caret
/// diagnostic.
fn py_err(e: &NdError) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::Syntax | ErrorKind::Limit => PySyntaxError::new_err(msg),
        ErrorKind::UnknownVariable => PyKeyError::new_err(msg),
        ErrorKind::UnknownFunction | ErrorKind::Arity | ErrorKind::Type => {
            PyTypeError::new_err(msg)
        }
        ErrorKind::Value | ErrorKind::Shape | ErrorKind::Output => PyValueError::new_err(msg),
        ErrorKind::Internal => PyRuntimeError::new_err(msg),
    }
}

// ---------------------------------------------------------------------------------------------
// NumPy helpers

fn numpy(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static NUMPY: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    NUMPY
        .get_or_try_init(py, || py.import("numpy").map(|m| m.unbind()))
        .map(|m| m.bind(py))
}

fn numpy_generic(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static GENERIC: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    GENERIC.import(py, "numpy", "generic")
}

/// The ndexpr dtype of a NumPy dtype, whatever its byte order; `None` for the dtypes ndexpr does
/// not compute with (object, strings, datetimes, structured, longdouble, ...).
fn dtype_of(descr: &Bound<'_, PyArrayDescr>) -> Option<DType> {
    if descr.has_fields() || descr.has_subarray() {
        return None;
    }
    let size = descr.itemsize();
    // NumPy's type numbers: BOOL 0, BYTE..ULONGLONG 1..10 (odd signed, even unsigned), FLOAT 11,
    // DOUBLE 12, CFLOAT 14, CDOUBLE 15, HALF 23. The size tells the integer width apart.
    Some(match (descr.num(), size) {
        (0, 1) => DType::Bool,
        (n @ 1..=10, _) => {
            let signed = n % 2 == 1;
            match (signed, size) {
                (true, 1) => DType::I8,
                (true, 2) => DType::I16,
                (true, 4) => DType::I32,
                (true, 8) => DType::I64,
                (false, 1) => DType::U8,
                (false, 2) => DType::U16,
                (false, 4) => DType::U32,
                (false, 8) => DType::U64,
                _ => return None,
            }
        }
        (23, 2) => DType::F16,
        (11, 4) => DType::F32,
        (12, 8) => DType::F64,
        (14, 8) => DType::C64,
        (15, 16) => DType::C128,
        _ => return None,
    })
}

fn parse_dtype(name: &str) -> PyResult<DType> {
    // NumPy's spelling first ("int8" is int8, "i8" would be NumPy's int64: callers pass
    // `np.dtype(x).name`, so only full names reach here in practice).
    DType::ALL
        .into_iter()
        .find(|d| d.name() == name)
        .or_else(|| DType::from_name(name))
        .ok_or_else(|| PyTypeError::new_err(format!("ndexpr does not support dtype {name}")))
}

fn casting_name(casting: Casting) -> &'static str {
    match casting {
        Casting::No => "no",
        Casting::Equiv => "equiv",
        Casting::Safe => "safe",
        Casting::SameKind => "same_kind",
        Casting::Unsafe => "unsafe",
    }
}

fn parse_casting(casting: &str) -> PyResult<Casting> {
    Ok(match casting {
        "no" => Casting::No,
        "equiv" => Casting::Equiv,
        "safe" => Casting::Safe,
        "same_kind" => Casting::SameKind,
        "unsafe" => Casting::Unsafe,
        _ => {
            return Err(PyValueError::new_err(format!(
                "casting must be one of 'no', 'equiv', 'safe', 'same_kind', or 'unsafe' \
                 (got {casting:?})"
            )))
        }
    })
}

/// The layout of a NumPy array, read from its C struct.
struct Layout {
    ptr: *mut u8,
    shape: Vec<usize>,
    strides: Vec<isize>,
}

/// The fields of a live ndarray (data pointer, dimensions, strides, descriptor, flags), for a
/// caller that reads them at once.
fn fields<'a>(a: &'a Bound<'_, PyUntypedArray>) -> &'a npyffi::PyArrayObject_fields {
    // SAFETY: `a` is a live ndarray (checked by the cast that produced it), held for 'a; its
    // fields are read while the GIL is held.
    unsafe { &*npyffi::_PyArray_GET_ITEM_DATA(a.as_array_ptr()) }
}

fn layout(a: &Bound<'_, PyUntypedArray>) -> Layout {
    Layout {
        ptr: fields(a).data as *mut u8,
        shape: a.shape().to_vec(),
        strides: a.strides().to_vec(),
    }
}

/// Whether an array of this layout can be read in place as `size`-byte elements: data aligned
/// for the element type and every stride (of an axis longer than 1) a multiple of the size.
/// rust-numpy's `as_array()` would silently truncate other strides; such arrays are copied.
fn is_well_formed(l: &Layout, size: usize, align: usize) -> bool {
    let empty = l.shape.contains(&0);
    !l.ptr.is_null()
        && (empty || (l.ptr as usize).is_multiple_of(align))
        && l.shape
            .iter()
            .zip(&l.strides)
            .all(|(&n, &s)| n <= 1 || empty || s % size as isize == 0)
}

/// Whether an array of dtype `dt` (descriptor `descr`) and layout `l` is read in place: native
/// byte order and [`is_well_formed`]; other arrays are copied by NumPy first.
fn readable_in_place(descr: &Bound<'_, PyArrayDescr>, dt: DType, l: &Layout) -> bool {
    descr.is_native_byteorder() != Some(false) && is_well_formed(l, dt.size(), align_of(dt))
}

/// Whether no two elements of the layout share memory (sufficient test: sorted by stride, each
/// axis steps over everything the smaller ones span). Outputs must pass it.
fn has_no_internal_overlap(l: &Layout, size: usize) -> bool {
    if l.shape.contains(&0) {
        return true;
    }
    let mut axes: Vec<(usize, usize)> = l
        .shape
        .iter()
        .zip(&l.strides)
        .filter(|(&n, _)| n > 1)
        .map(|(&n, &s)| (s.unsigned_abs(), n))
        .collect();
    axes.sort_unstable();
    let mut span = size;
    for (stride, n) in axes {
        if stride < span {
            return false;
        }
        span += stride * (n - 1);
    }
    true
}

/// Element strides with every axis made non-negative, the pointer moved to the lowest address,
/// and the axes that were reversed; length-0/1 axes get stride 0.
fn positive(l: &Layout, size: usize) -> (*mut u8, Vec<usize>, Vec<usize>) {
    let empty = l.shape.contains(&0);
    let mut ptr = l.ptr;
    let mut strides = Vec::with_capacity(l.shape.len());
    let mut inverted = Vec::new();
    for (axis, (&n, &s)) in l.shape.iter().zip(&l.strides).enumerate() {
        if n <= 1 || empty {
            strides.push(0);
        } else if s >= 0 {
            strides.push(s as usize / size);
        } else {
            // SAFETY: the last element along this axis lies inside the array's allocation.
            ptr = unsafe { ptr.offset(s * (n as isize - 1)) };
            strides.push(s.unsigned_abs() / size);
            inverted.push(axis);
        }
    }
    (ptr, strides, inverted)
}

/// A read-only view of a NumPy array's memory.
///
/// SAFETY: the caller guarantees that the layout describes a live, well-formed (see
/// [`is_well_formed`]) array of `T` that stays alive (a reference is held) for `'a`.
unsafe fn view<'a, T>(l: &Layout) -> ndarray::ArrayViewD<'a, T> {
    let (ptr, strides, inverted) = positive(l, std::mem::size_of::<T>());
    let mut raw =
        RawArrayView::from_shape_ptr(IxDyn(&l.shape).strides(IxDyn(&strides)), ptr as *const T);
    for axis in inverted {
        raw.invert_axis(Axis(axis));
    }
    raw.deref_into_view()
}

/// A mutable view of a NumPy array's memory.
///
/// SAFETY: as [`view`], and the array is writable without internal overlap. Read-only views of
/// the same memory may exist (an input that is also the output): the VM accesses both through
/// raw pointers only, reads each block before writing it, and goes through a temporary when the
/// overlap is not exact, as `Expr::eval_in_place` does with the same two views.
unsafe fn view_mut<'a, T>(l: &Layout) -> ndarray::ArrayViewMutD<'a, T> {
    let (ptr, strides, inverted) = positive(l, std::mem::size_of::<T>());
    let mut raw =
        RawArrayViewMut::from_shape_ptr(IxDyn(&l.shape).strides(IxDyn(&strides)), ptr as *mut T);
    for axis in inverted {
        raw.invert_axis(Axis(axis));
    }
    raw.deref_into_view_mut()
}

macro_rules! by_dtype {
    ($dt:expr, $t:ident => $body:expr) => {
        match $dt {
            DType::Bool => {
                type $t = bool;
                $body
            }
            DType::I8 => {
                type $t = i8;
                $body
            }
            DType::I16 => {
                type $t = i16;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::I64 => {
                type $t = i64;
                $body
            }
            DType::U8 => {
                type $t = u8;
                $body
            }
            DType::U16 => {
                type $t = u16;
                $body
            }
            DType::U32 => {
                type $t = u32;
                $body
            }
            DType::U64 => {
                type $t = u64;
                $body
            }
            DType::F16 => {
                type $t = half::f16;
                $body
            }
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            DType::C64 => {
                type $t = Complex32;
                $body
            }
            DType::C128 => {
                type $t = Complex64;
                $body
            }
        }
    };
}

fn align_of(dt: DType) -> usize {
    by_dtype!(dt, T => std::mem::align_of::<T>())
}

/// SAFETY: as [`view`], for an array of dtype `dt`.
unsafe fn array_ref<'a>(dt: DType, l: &Layout) -> ArrayRef<'a> {
    by_dtype!(dt, T => ArrayRef::from(view::<T>(l)))
}

/// SAFETY: as [`view_mut`], for an array of dtype `dt`.
unsafe fn array_mut<'a>(dt: DType, l: &Layout) -> ArrayMut<'a> {
    by_dtype!(dt, T => ArrayMut::from(view_mut::<T>(l)))
}

/// The one element at `ptr` (native byte order, any alignment).
///
/// SAFETY: `ptr` points to `dt.size()` readable bytes.
unsafe fn read_scalar(dt: DType, ptr: *const u8) -> Scalar {
    use std::ptr::read_unaligned as rd;
    match dt {
        // A NumPy bool byte may hold any value: anything non-zero is true.
        DType::Bool => Scalar::Bool(rd(ptr) != 0),
        DType::I8 => Scalar::I8(rd(ptr as *const i8)),
        DType::I16 => Scalar::I16(rd(ptr as *const i16)),
        DType::I32 => Scalar::I32(rd(ptr as *const i32)),
        DType::I64 => Scalar::I64(rd(ptr as *const i64)),
        DType::U8 => Scalar::U8(rd(ptr)),
        DType::U16 => Scalar::U16(rd(ptr as *const u16)),
        DType::U32 => Scalar::U32(rd(ptr as *const u32)),
        DType::U64 => Scalar::U64(rd(ptr as *const u64)),
        DType::F16 => Scalar::F16(rd(ptr as *const half::f16)),
        DType::F32 => Scalar::F32(rd(ptr as *const f32)),
        DType::F64 => Scalar::F64(rd(ptr as *const f64)),
        DType::C64 => Scalar::C64(rd(ptr as *const Complex32)),
        DType::C128 => Scalar::C128(rd(ptr as *const Complex64)),
    }
}

fn to_numpy(py: Python<'_>, a: Array) -> Bound<'_, PyAny> {
    macro_rules! wrap {
        ($($var:ident),*) => {
            match a { $(Array::$var(x) => PyArray::from_owned_array(py, x).into_any(),)* }
        };
    }
    wrap!(Bool, I8, I16, I32, I64, U8, U16, U32, U64, F16, F32, F64, C64, C128)
}

// ---------------------------------------------------------------------------------------------
// Operands

/// Python values made into ndexpr variables, with the objects that must outlive the views.
struct Operands<'py> {
    vars: Vars<'py>,
    /// Arrays NumPy made for us (converted copies, `np.asarray` of lists and scalars): the views
    /// in `vars` point into them.
    _keep: Vec<Bound<'py, PyAny>>,
}

fn unsupported(name: &str, what: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "variable `{name}` has unsupported type {what}: ndexpr computes with bool, int8..int64, \
         uint8..uint64, float16, float32, float64, complex64 and complex128"
    ))
}

/// Converts an array NumPy's memory can't be read in place from (big-endian, unaligned, byte
/// strides that are not a multiple of the item size) into a native, aligned, C-ordered copy of
/// the same shape (`np.array(a, dtype, order='C')`: `np.ascontiguousarray` would make a 0-d
/// array 1-d, turning a strong scalar into a `(1,)` array).
fn native_copy<'py>(a: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = a.py();
    let dtype = a.getattr("dtype")?.call_method1("newbyteorder", ("=",))?;
    numpy(py)?.call_method(
        "array",
        (a, dtype),
        Some(&[("order", "C")].into_py_dict(py)?),
    )
}

impl<'py> Operands<'py> {
    fn empty() -> Self {
        Operands {
            vars: Vars::new(),
            _keep: Vec::new(),
        }
    }

    fn new(
        py: Python<'py>,
        names: &Bound<'py, PyList>,
        values: &Bound<'py, PyList>,
    ) -> PyResult<Self> {
        if names.len() != values.len() {
            return Err(PyValueError::new_err("names and values differ in length"));
        }
        let mut ops = Operands::empty();
        for (name, value) in names.iter().zip(values.iter()) {
            let name: String = name.extract()?;
            ops.add(py, &name, value)?;
        }
        Ok(ops)
    }

    fn add(&mut self, py: Python<'py>, name: &str, value: Bound<'py, PyAny>) -> PyResult<()> {
        if let Ok(array) = value.cast::<PyUntypedArray>() {
            return self.add_array(py, name, array.clone());
        }
        // NumPy scalars first: np.float64 and np.complex128 are also Python floats/complexes,
        // but they are strong (they keep their dtype).
        if value.is_instance(numpy_generic(py)?)? {
            let array = numpy(py)?.call_method1("asarray", (&value,))?;
            return self.add_array(py, name, array.cast_into::<PyUntypedArray>()?);
        }
        let literal = if let Ok(b) = value.cast::<PyBool>() {
            PyValue::Bool(b.is_true())
        } else if let Ok(i) = value.cast::<PyInt>() {
            PyValue::Int(i.extract::<i128>().map_err(|_| {
                PyOverflowError::new_err(format!(
                    "variable `{name}`: Python integer {i} is too large for any NumPy dtype"
                ))
            })?)
        } else if let Ok(f) = value.cast::<PyFloat>() {
            PyValue::Float(f.value())
        } else if let Ok(c) = value.cast::<PyComplex>() {
            PyValue::Complex(Complex64::new(c.real(), c.imag()))
        } else {
            // Lists, tuples, objects with __array__ ...: whatever NumPy makes of them.
            if value.is_instance_of::<PyString>() || value.is_none() {
                return Err(unsupported(name, &value.get_type().name()?.to_string()));
            }
            let array = numpy(py)?.call_method1("asarray", (&value,))?;
            let array = array.cast_into::<PyUntypedArray>()?;
            return self.add_array(py, name, array);
        };
        self.vars.insert(name, Var::Literal(literal));
        Ok(())
    }

    fn add_array(
        &mut self,
        py: Python<'py>,
        name: &str,
        array: Bound<'py, PyUntypedArray>,
    ) -> PyResult<()> {
        let descr = array.dtype();
        let Some(dt) = dtype_of(&descr) else {
            return Err(unsupported(name, &format!("dtype {}", descr.str()?)));
        };
        let l = layout(&array);
        if !readable_in_place(&descr, dt, &l) {
            let copy = native_copy(array.as_any())?.cast_into::<PyUntypedArray>()?;
            let l = layout(&copy);
            debug_assert!(is_well_formed(&l, dt.size(), align_of(dt)));
            self.push_array(name, dt, l, copy.into_any());
            return Ok(());
        }
        let _ = py;
        self.push_array(name, dt, l, array.into_any());
        Ok(())
    }

    fn push_array(&mut self, name: &str, dt: DType, l: Layout, keep: Bound<'py, PyAny>) {
        let var = if l.shape.is_empty() {
            // A 0-d array or NumPy scalar: a strong scalar, loaded once.
            // SAFETY: a 0-d array holds one element of `dt.size()` bytes at its data pointer.
            Var::Scalar(unsafe { read_scalar(dt, l.ptr) })
        } else {
            // SAFETY: `l` describes `keep`, a live native, aligned array of `dt` whose strides
            // are multiples of the item size (checked or made so by the caller); `keep` is held
            // in `self`, which outlives every use of the view.
            Var::Array(unsafe { array_ref(dt, &l) })
        };
        self.vars.insert(name, var);
        self._keep.push(keep);
    }
}

// ---------------------------------------------------------------------------------------------
// Compilation cache

type Key = (String, Signature);
const CACHE_CAPACITY: usize = 256;

struct Cache {
    map: HashMap<Key, (Expr, u64)>,
    tick: u64,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

fn cache_get(key: &Key) -> Option<Expr> {
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.as_mut()?;
    cache.tick += 1;
    let tick = cache.tick;
    cache.map.get_mut(key).map(|(e, used)| {
        *used = tick;
        e.clone()
    })
}

fn cache_put(key: Key, expr: Expr) {
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(|| Cache {
        map: HashMap::new(),
        tick: 0,
    });
    if cache.map.len() >= CACHE_CAPACITY && !cache.map.contains_key(&key) {
        if let Some(oldest) = cache
            .map
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())
        {
            cache.map.remove(&oldest);
        }
    }
    cache.tick += 1;
    let tick = cache.tick;
    cache.map.insert(key, (expr, tick));
}

/// Compiles (or finds in the cache) `ex` for the signature of `vars`; no GIL needed.
fn compile_cached(ex: &str, signature: Signature) -> Result<Expr, NdError> {
    let key = (ex.to_string(), signature);
    if let Some(expr) = cache_get(&key) {
        return Ok(expr);
    }
    let expr = Expr::compile(&key.0, &key.1)?;
    cache_put(key, expr.clone());
    Ok(expr)
}

// ---------------------------------------------------------------------------------------------
// Running

/// Runs `expr` over `ops`: into a new array (order 'K'/'A': C, or Fortran when every input is;
/// 'C' and 'F' as asked), or into `out` (cast from the result's dtype by `casting`). Returns the
/// result (`out` itself when given).
fn run<'py>(
    py: Python<'py>,
    expr: &Expr,
    ops: &Operands<'py>,
    out: Option<Bound<'py, PyAny>>,
    order: &str,
    casting: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let casting = parse_casting(casting)?;
    let order = match order {
        "K" | "k" => 'K',
        "A" | "a" => 'A',
        "C" | "c" => 'C',
        "F" | "f" => 'F',
        _ => {
            return Err(PyValueError::new_err(format!(
                "order must be one of 'C', 'F', 'A', or 'K' (got {order:?})"
            )))
        }
    };
    let rdt = expr.dtype();
    let vars = &ops.vars;
    let Some(out) = out else {
        if order == 'K' || order == 'A' {
            if let Ok((shape, fortran)) = expr.result_layout(vars) {
                if shape.iter().product::<usize>() * rdt.size() <= SMALL_NEW_OUTPUT {
                    let fresh = new_array(py, rdt, &shape, fortran);
                    eval_into_array(py, expr, vars, &fresh, rdt)?;
                    return Ok(fresh);
                }
            }
            // Errors (a missing variable, shapes) are reported by `eval` below.
        }
        if order == 'C' || order == 'F' {
            let shapes: Vec<(&str, &[usize])> = vars
                .iter()
                .filter_map(|(n, v)| match v {
                    Var::Array(a) => Some((n, a.shape())),
                    _ => None,
                })
                .collect();
            // A shape error is left to the evaluation, which reports it with the expression.
            if let Ok(shape) = broadcast_shapes(&shapes) {
                if shape.iter().filter(|&&n| n > 1).count() > 1 {
                    let fresh = numpy(py)?.call_method(
                        "empty",
                        (PyTuple::new(py, &shape)?,),
                        Some(
                            &[("dtype", rdt.name()), ("order", &order.to_string())]
                                .into_py_dict(py)?,
                        ),
                    )?;
                    eval_into_array(py, expr, vars, &fresh, rdt)?;
                    return Ok(fresh);
                }
            }
        }
        let result = py.detach(|| expr.eval(vars)).map_err(|e| py_err(&e))?;
        return Ok(to_numpy(py, result));
    };

    let Ok(out_array) = out.cast::<PyUntypedArray>() else {
        return Err(PyTypeError::new_err(format!(
            "out must be a NumPy array, not {}",
            out.get_type().name()?
        )));
    };
    if fields(out_array).flags & npyffi::NPY_ARRAY_WRITEABLE == 0 {
        return Err(PyValueError::new_err(
            "output array is read-only (out must be a writable array; np.broadcast_to and \
             other read-only views cannot be written)",
        ));
    }
    let descr = out_array.dtype();
    let odt = dtype_of(&descr).filter(|_| descr.is_native_byteorder() != Some(false));
    let allowed = match odt {
        Some(odt) => can_cast(rdt, odt, casting),
        None => {
            let np = numpy(py)?;
            np.call_method1("can_cast", (rdt.name(), &descr, casting_name(casting)))?
                .extract::<bool>()?
        }
    };
    if !allowed {
        return Err(PyTypeError::new_err(format!(
            "cannot cast the result of `{}` from dtype('{}') to out's dtype {} with casting rule \
             '{}'",
            expr.source(),
            rdt.name(),
            descr.repr()?,
            casting_name(casting)
        )));
    }
    let l = layout(out_array);
    let direct = odt == Some(rdt)
        && is_well_formed(&l, rdt.size(), align_of(rdt))
        && has_no_internal_overlap(&l, rdt.size());
    if direct {
        // SAFETY: `out` is a live, writable, native, aligned array of the result's dtype with
        // strides that are multiples of the item size and no internal overlap; the caller holds
        // it for the whole call. Input views of the same memory are allowed (see `view_mut`).
        let view = unsafe { array_mut(rdt, &l) };
        py.detach(|| expr.eval_into(vars, view))
            .map_err(|e| py_err(&e))?;
        return Ok(out);
    }
    // Another dtype, or an output that can't be written in place (big-endian, unaligned,
    // overlapping itself): evaluate into a temporary of out's shape, then let NumPy cast.
    let np = numpy(py)?;
    let shape = PyTuple::new(py, out_array.shape())?;
    let tmp = np.call_method1("empty", (shape, rdt.name()))?;
    eval_into_array(py, expr, vars, &tmp, rdt)?;
    np.call_method(
        "copyto",
        (&out, &tmp),
        Some(&[("casting", "unsafe")].into_py_dict(py)?),
    )?;
    Ok(out)
}

/// New outputs up to this size are NumPy arrays evaluated into (`Expr::eval_into`), not arrays
/// ndexpr allocates and hands over: that saved the `PySliceContainer` owner object and a
/// Rust-side allocation per call (~0.2 us of ~3 us at 1,000 f64). Larger ones keep `eval`, which
/// asks for huge pages and writes fresh pages with plain stores (see `run_new` in the library).
const SMALL_NEW_OUTPUT: usize = 1 << 20;

/// An uninitialised NumPy array of `dt` (C or Fortran order), to be written in full by an
/// evaluation before anyone sees it.
fn new_array<'py>(py: Python<'py>, dt: DType, shape: &[usize], fortran: bool) -> Bound<'py, PyAny> {
    // SAFETY: the elements are uninitialised; the caller evaluates into every one of them before
    // returning the array (and drops it unseen on error).
    by_dtype!(dt, T => unsafe { PyArray::<T, IxDyn>::new(py, IxDyn(shape), fortran) }.into_any())
}

/// Evaluates into `fresh`, a new well-formed array of dtype `dt` allocated by NumPy.
fn eval_into_array(
    py: Python<'_>,
    expr: &Expr,
    vars: &Vars<'_>,
    fresh: &Bound<'_, PyAny>,
    dt: DType,
) -> PyResult<()> {
    let l = layout(fresh.cast::<PyUntypedArray>()?);
    // SAFETY: `fresh` is a new, writable, aligned, native array of `dt` owned by the caller for
    // the whole call, aliasing nothing.
    let view = unsafe { array_mut(dt, &l) };
    py.detach(|| expr.eval_into(vars, view))
        .map_err(|e| py_err(&e))
}

use pyo3::types::IntoPyDict;

// ---------------------------------------------------------------------------------------------
// Python API

/// A compiled expression: compiled for variable dtypes, run with `run(values, ...)`.
#[pyclass(frozen, module = "ndexpr._ndexpr")]
struct Compiled {
    expr: Expr,
    /// Names, in the order `run` takes values.
    names: Vec<String>,
}

#[pymethods]
impl Compiled {
    /// Compiles `ex` for array variables of the given dtypes: `signature` is a list of
    /// `(name, dtype name)` pairs, the order in which `run` takes its values.
    #[new]
    fn new(py: Python<'_>, ex: &str, signature: Vec<(String, String)>) -> PyResult<Compiled> {
        let mut sig = Signature::new();
        for (name, dtype) in &signature {
            sig = sig.array(name, parse_dtype(dtype)?);
        }
        let ex_owned = ex.to_string();
        let expr = py
            .detach(|| compile_cached(&ex_owned, sig))
            .map_err(|e| py_err(&e))?;
        Ok(Compiled {
            expr,
            names: signature.into_iter().map(|(n, _)| n).collect(),
        })
    }

    /// Evaluates with `values` in signature order.
    #[pyo3(signature = (values, out=None, order="K", casting="safe"))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        values: Bound<'py, PyList>,
        out: Option<Bound<'py, PyAny>>,
        order: &str,
        casting: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let names = PyList::new(py, &self.names)?;
        let ops = Operands::new(py, &names, &values)?;
        run(py, &self.expr, &ops, out, order, casting)
    }

    /// The result's dtype name (`'float64'`, ...).
    #[getter]
    fn dtype(&self) -> &'static str {
        self.expr.dtype().name()
    }

    #[getter]
    fn source(&self) -> &str {
        self.expr.source()
    }

    /// The names `run` takes values for, in order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// The register bytecode, one instruction per line.
    fn disassemble(&self) -> String {
        self.expr.disassemble()
    }

    fn __repr__(&self) -> String {
        format!(
            "<ndexpr compiled {:?} -> {}>",
            self.expr.source(),
            self.expr.dtype()
        )
    }
}

/// Compiles `ex` for the given values (cached by source and variable dtypes; Python numbers are
/// compiled in as weak literals), without evaluating.
#[pyfunction]
fn compile<'py>(
    py: Python<'py>,
    ex: &str,
    names: Bound<'py, PyList>,
    values: Bound<'py, PyList>,
) -> PyResult<Compiled> {
    let ops = Operands::new(py, &names, &values)?;
    let sig = ops.vars.signature();
    let expr = py
        .detach(|| compile_cached(ex, sig))
        .map_err(|e| py_err(&e))?;
    Ok(Compiled {
        expr,
        names: names.extract()?,
    })
}

/// Evaluates `ex` with `names[i]` bound to `values[i]`.
#[pyfunction]
#[pyo3(signature = (ex, names, values, out=None, order="K", casting="same_kind"))]
fn evaluate_values<'py>(
    py: Python<'py>,
    ex: &str,
    names: Bound<'py, PyList>,
    values: Bound<'py, PyList>,
    out: Option<Bound<'py, PyAny>>,
    order: &str,
    casting: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let ops = Operands::new(py, &names, &values)?;
    let sig = ops.vars.signature();
    let expr = py
        .detach(|| compile_cached(ex, sig))
        .map_err(|e| py_err(&e))?;
    run(py, &expr, &ops, out, order, casting)
}

// ---------------------------------------------------------------------------------------------
// The numexpr-style call: names looked up in the caller's dictionaries

/// The parts of a compilation's signature that vary between calls of one expression: for each
/// variable (in the expression's order), whether it is an array, a NumPy scalar or a Python
/// value, its dtype, and a Python value's exact bits.
type SigKey = Vec<(u8, u8, u128, u64)>;

fn sig_key(vars: &Vars<'_>) -> SigKey {
    vars.iter()
        .map(|(_, v)| match v {
            Var::Array(a) => (0, a.dtype() as u8, 0, 0),
            Var::Scalar(s) => (1, s.dtype() as u8, 0, 0),
            Var::Literal(PyValue::Int(i)) => (2, 0, *i as u128, 0),
            Var::Literal(PyValue::Float(x)) => (2, 1, x.to_bits() as u128, 0),
            Var::Literal(PyValue::Complex(z)) => (2, 2, z.re.to_bits() as u128, z.im.to_bits()),
            Var::Literal(PyValue::Bool(b)) => (2, 3, *b as u128, 0),
        })
        .collect()
}

/// A variable as a Python string and a Rust one, with the span of its first use.
type CallName = (Py<PyString>, Box<str>, usize, usize);

/// What repeated calls of one expression string reuse: its variables (interned Python strings,
/// so that dictionary lookups compare pointers, with the character span of each first use, for
/// the missing-variable message) and its compilations by [`SigKey`], most recent last.
struct CallEntry {
    /// The string object first seen: the entry is also found by its address, which no other
    /// object can take while this reference keeps it alive.
    ex: Py<PyString>,
    source: Box<str>,
    names: Box<[CallName]>,
    compiled: Mutex<Vec<(SigKey, Expr)>>,
    /// Prepared evaluations for the layouts of recent calls, most recent first ([`fast_call`]).
    fast: Mutex<Vec<std::sync::Arc<FastCall>>>,
    /// The key of the last call the fast path missed: a layout is prepared when it comes twice
    /// in a row, not for a number variable that changes every call.
    missed: Mutex<Option<LayoutKey>>,
    used: std::sync::atomic::AtomicU64,
}

impl CallEntry {
    /// The compilation for `vars` (bound in the order of `names`), made on first need.
    fn compiled(&self, py: Python<'_>, vars: &Vars<'_>) -> PyResult<Expr> {
        let key = sig_key(vars);
        let lock = || self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, expr)) = lock().iter().rev().find(|(k, _)| *k == key) {
            return Ok(expr.clone());
        }
        let sig = vars.signature();
        let expr = py
            .detach(|| compile_cached(&self.source, sig))
            .map_err(|e| py_err(&e))?;
        let mut compiled = lock();
        if compiled.len() >= VARIANTS {
            compiled.remove(0);
        }
        compiled.push((key, expr.clone()));
        Ok(expr)
    }
}

/// Compilations kept per expression: a handful of dtype combinations (a Python number variable
/// that changes every call is compiled in as a literal, so it would churn through them).
const VARIANTS: usize = 8;

/// FxHash (rustc's hasher) for the expression strings keying [`CALLS`]: one multiply per 8
/// bytes, where SipHash cost ~0.1 us per call on short expressions (perf, `2*a+48`).
#[derive(Default)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Fx = std::hash::BuildHasherDefault<FxHasher>;

struct Calls {
    by_source: HashMap<Box<str>, std::sync::Arc<CallEntry>, Fx>,
    /// The same entries by the address of their `ex` object: a string constant in the caller's
    /// code is the same object every call, found without reading its characters (under the
    /// abi3 API of Python 3.9 that is a UTF-8 copy).
    by_object: HashMap<usize, std::sync::Arc<CallEntry>, Fx>,
    tick: u64,
}

/// Per expression string, what [`evaluate_dicts`] reuses. Every access holds the GIL too.
static CALLS: Mutex<Option<Calls>> = Mutex::new(None);

fn with_calls<R>(f: impl FnOnce(&mut Calls) -> R) -> R {
    let mut guard = CALLS.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(|| Calls {
        by_source: HashMap::default(),
        by_object: HashMap::default(),
        tick: 0,
    }))
}

/// The entry of `ex` (parsed on first sight, a `SyntaxError` if malformed).
fn call_entry(py: Python<'_>, ex: &Bound<'_, PyString>) -> PyResult<std::sync::Arc<CallEntry>> {
    use std::sync::atomic::Ordering::Relaxed;
    let address = ex.as_ptr() as usize;
    let hit = with_calls(|c| {
        c.tick += 1;
        let e = c.by_object.get(&address)?.clone();
        e.used.store(c.tick, Relaxed);
        Some(e)
    });
    if let Some(e) = hit {
        return Ok(e);
    }
    let source = ex.to_cow()?;
    let hit = with_calls(|c| {
        let e = c.by_source.get(&*source)?.clone();
        e.used.store(c.tick, Relaxed);
        Some(e)
    });
    if let Some(e) = hit {
        return Ok(e);
    }
    let names: Box<[CallName]> = variable_names(py, &source)?
        .into_iter()
        .map(|(n, s, e)| (PyString::intern(py, &n).unbind(), n.into(), s, e))
        .collect();
    let entry = std::sync::Arc::new(CallEntry {
        ex: ex.clone().unbind(),
        source: (*source).into(),
        names,
        compiled: Mutex::new(Vec::new()),
        fast: Mutex::new(Vec::new()),
        missed: Mutex::new(None),
        used: Default::default(),
    });
    let evicted = with_calls(|c| {
        let mut evicted = None;
        if c.by_source.len() >= CACHE_CAPACITY {
            let oldest = c
                .by_source
                .iter()
                .min_by_key(|(_, e)| e.used.load(Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(old) = oldest.and_then(|k| c.by_source.remove(&k)) {
                c.by_object.remove(&(old.ex.as_ptr() as usize));
                evicted = Some(old);
            }
        }
        c.tick += 1;
        entry.used.store(c.tick, Relaxed);
        c.by_source.insert(entry.source.clone(), entry.clone());
        c.by_object.insert(address, entry.clone());
        evicted
    });
    // Released outside the lock: dropping Python references may run arbitrary code.
    drop(evicted);
    Ok(entry)
}

/// `d[name]`, or `None` when `d` has no such key (other errors propagate, as `d[name]` would).
fn lookup<'py>(
    d: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if let Ok(dict) = d.cast_exact::<PyDict>() {
        return dict.get_item(name);
    }
    match d.get_item(name) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<PyKeyError>(d.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `value` may be a Dask collection (its type comes from a `dask` module): the Python
/// layer then builds a graph instead. NumPy arrays and Python numbers are answered without
/// asking the type.
fn maybe_dask(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if value.is_exact_instance_of::<PyFloat>()
        || value.is_exact_instance_of::<PyInt>()
        || value.is_exact_instance_of::<PyBool>()
        || value.is_exact_instance_of::<PyComplex>()
        || value.cast_exact::<PyUntypedArray>().is_ok()
    {
        return Ok(false);
    }
    let module = value.get_type().module()?;
    let module = module.to_cow()?;
    Ok(module == "dask" || module.starts_with("dask."))
}

fn missing_variable_error(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static MISSING: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    MISSING.import(py, "ndexpr", "_missing")
}

/// numexpr's `evaluate` once the dictionaries are known: each variable of `ex` is looked up in
/// `local_dict`, then `global_dict` (a missing one is `VariableNotFoundError`, built by
/// `ndexpr._missing`), then evaluated as [`evaluate_values`] does. Returns `NotImplemented` when a
/// value or `out` is a Dask collection, for the Python layer to take over.
fn evaluate_dicts<'py>(
    py: Python<'py>,
    ex: &Bound<'py, PyAny>,
    local_dict: &Bound<'py, PyAny>,
    global_dict: &Bound<'py, PyAny>,
    out: Option<Bound<'py, PyAny>>,
    order: &Bound<'py, PyAny>,
    casting: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let Ok(ex_str) = ex.cast::<PyString>() else {
        return Err(PyValueError::new_err("must specify expression as a string"));
    };
    let entry = call_entry(py, ex_str)?;
    let mut values = Vec::with_capacity(entry.names.len());
    for (name, _, start, end) in entry.names.iter() {
        let name = name.bind(py);
        let value = match lookup(local_dict, name)? {
            Some(v) => v,
            None => match lookup(global_dict, name)? {
                Some(v) => v,
                None => {
                    let dicts = PyTuple::new(py, [local_dict, global_dict])?;
                    let err = missing_variable_error(py)?.call1((ex, name, *start, *end, dicts))?;
                    return Err(PyErr::from_value(err));
                }
            },
        };
        if maybe_dask(&value)? {
            return Ok(py.NotImplemented().into_bound(py));
        }
        values.push(value);
    }
    if let Some(o) = &out {
        if !o.is_none() && maybe_dask(o)? {
            return Ok(py.NotImplemented().into_bound(py));
        }
    }
    let out = out.filter(|o| !o.is_none());
    let probe = probe(py, &values, out.as_ref(), order, casting);
    if let Some(p) = &probe {
        if let Some(result) = fast_call(py, &entry, p, out.as_ref())? {
            return Ok(result);
        }
    }
    let mut ops = Operands::empty();
    for ((_, name, _, _), value) in entry.names.iter().zip(&values) {
        ops.add(py, name, value.clone())?;
    }
    let expr = entry.compiled(py, &ops.vars)?;
    let order = common_str(order, intern!(py, "K"), "K")?;
    let casting = common_str(casting, intern!(py, "same_kind"), "same_kind")?;
    let out_given = out.is_some();
    let result = run(py, &expr, &ops, out, &order, &casting)?;
    if let Some(p) = probe {
        remember_fast(&entry, p, &values, &expr, &ops.vars, &result, out_given);
    }
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Repeated calls

/// Words of a [`LayoutKey`] (three 4-d arrays take 30).
const KEY_WORDS: usize = 64;
/// Variables of an expression the fast path takes.
const FAST_VARS: usize = 16;
/// Layouts prepared per expression.
const FAST_LAYOUTS: usize = 4;

const KEY_ARRAY: usize = 1;
const KEY_BOOL: usize = 2;
const KEY_INT: usize = 3;
const KEY_FLOAT: usize = 4;
const KEY_COMPLEX: usize = 5;
const KEY_OUT: usize = 6;
const KEY_NEW_OUT: usize = 7;

/// What a call's variables and `out` are, as far as the evaluation depends on it: per variable
/// in the expression's order, an array's dtype descriptor (its address), dimensions and byte
/// strides, or a Python number's type and value; then `out`'s layout, or that there is none.
/// Fixed-size: built without allocating.
#[derive(Clone)]
struct LayoutKey {
    len: usize,
    words: [usize; KEY_WORDS],
}

impl LayoutKey {
    fn push(&mut self, word: usize) -> Option<()> {
        *self.words.get_mut(self.len)? = word;
        self.len += 1;
        Some(())
    }

    fn words(&self) -> &[usize] {
        &self.words[..self.len]
    }

    /// Appends `a`'s layout (tag and dimensions, descriptor, shape, byte strides); returns its
    /// data pointer, flags and number of dimensions.
    fn push_array(&mut self, a: &Bound<'_, PyUntypedArray>) -> Option<(usize, i32, usize)> {
        let f = fields(a);
        let nd = f.nd as usize;
        self.push(KEY_ARRAY | nd << 8)?;
        self.push(f.descr as usize)?;
        for i in 0..nd {
            // SAFETY: `dimensions` and `strides` of a live ndarray hold `nd` elements each.
            let (n, stride) = unsafe { (*f.dimensions.add(i), *f.strides.add(i)) };
            self.push(n as usize)?;
            self.push(stride as usize)?;
        }
        Some((f.data as usize, f.flags, nd))
    }
}

impl PartialEq for LayoutKey {
    fn eq(&self, other: &LayoutKey) -> bool {
        self.words() == other.words()
    }
}

/// A call's [`LayoutKey`] and data pointers.
struct Probe {
    key: LayoutKey,
    /// Each variable's data (0 for a Python number), in the expression's order.
    data: [usize; FAST_VARS],
    /// `out`'s data (0: none).
    out: usize,
}

/// The probe of a call the fast path can take: every variable an ndarray (exactly, not a
/// subclass) of one or more dimensions or a Python bool, int (of 64 bits), float or complex;
/// `out` none or a writable ndarray; `order` 'K' or 'A' and a valid `casting`. `None` for any
/// other call, which the general path takes (and reports errors of).
fn probe(
    py: Python<'_>,
    values: &[Bound<'_, PyAny>],
    out: Option<&Bound<'_, PyAny>>,
    order: &Bound<'_, PyAny>,
    casting: &Bound<'_, PyAny>,
) -> Option<Probe> {
    if !order.is(intern!(py, "K")) {
        let order = order.cast::<PyString>().ok()?.to_cow().ok()?;
        if !matches!(&*order, "K" | "k" | "A" | "a") {
            return None;
        }
    }
    if !casting.is(intern!(py, "same_kind")) {
        parse_casting(&casting.cast::<PyString>().ok()?.to_cow().ok()?).ok()?;
    }
    if values.len() > FAST_VARS {
        return None;
    }
    let mut p = Probe {
        key: LayoutKey {
            len: 0,
            words: [0; KEY_WORDS],
        },
        data: [0; FAST_VARS],
        out: 0,
    };
    for (v, data) in values.iter().zip(&mut p.data) {
        if let Ok(a) = v.cast_exact::<PyUntypedArray>() {
            let (ptr, _, nd) = p.key.push_array(a)?;
            // A 0-d array is a scalar variable: bound by value, not prepared.
            if nd == 0 {
                return None;
            }
            *data = ptr;
        } else if let Ok(b) = v.cast_exact::<PyBool>() {
            p.key.push(KEY_BOOL)?;
            p.key.push(b.is_true() as usize)?;
        } else if let Ok(i) = v.cast_exact::<PyInt>() {
            p.key.push(KEY_INT)?;
            p.key.push(i.extract::<i64>().ok()? as usize)?;
        } else if let Ok(f) = v.cast_exact::<PyFloat>() {
            p.key.push(KEY_FLOAT)?;
            p.key.push(f.value().to_bits() as usize)?;
        } else if let Ok(c) = v.cast_exact::<PyComplex>() {
            p.key.push(KEY_COMPLEX)?;
            p.key.push(c.real().to_bits() as usize)?;
            p.key.push(c.imag().to_bits() as usize)?;
        } else {
            return None;
        }
    }
    match out {
        Some(o) => {
            let o = o.cast_exact::<PyUntypedArray>().ok()?;
            p.key.push(KEY_OUT)?;
            let (ptr, flags, _) = p.key.push_array(o)?;
            if flags & npyffi::NPY_ARRAY_WRITEABLE == 0 {
                return None;
            }
            p.out = ptr;
        }
        None => p.key.push(KEY_NEW_OUT)?,
    }
    Some(p)
}

/// An evaluation prepared for the layouts of one [`LayoutKey`].
struct FastCall {
    key: LayoutKey,
    /// The dtype descriptors whose addresses `key` holds: kept alive, so that no other
    /// descriptor can take one of their addresses.
    _descrs: Vec<Py<PyAny>>,
    prepared: Prepared,
    /// Per prepared input, its variable's position among the expression's names.
    inputs: Box<[usize]>,
    /// The alignment each variable's data needs (1 for numbers), and `out`'s.
    aligns: Box<[usize]>,
    out_align: usize,
    /// A new output's dtype, shape and order (Fortran or C); `None` when `out` is given.
    new_out: Option<(DType, Box<[usize]>, bool)>,
}

/// Runs a call whose layouts were prepared before (see [`Prepared`]): no operands built, no
/// binding, broadcasting or planning, just the data pointers and the block loop. `None`: not
/// prepared (or an `out` partially overlapping an input), for the general path to take.
fn fast_call<'py>(
    py: Python<'py>,
    entry: &CallEntry,
    probe: &Probe,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let hit = {
        let fast = entry.fast.lock().unwrap_or_else(|e| e.into_inner());
        fast.iter().find(|f| f.key == probe.key).cloned()
    };
    let Some(f) = hit else {
        return Ok(None);
    };
    let misaligned = f
        .aligns
        .iter()
        .zip(&probe.data)
        .any(|(&align, &ptr)| ptr % align != 0);
    if misaligned || !probe.out.is_multiple_of(f.out_align) {
        return Ok(None);
    }
    let (result, out_ptr) = match (&f.new_out, out) {
        (Some((dt, shape, fortran)), _) => {
            let fresh = new_array(py, *dt, shape, *fortran);
            let ptr = fields(fresh.cast::<PyUntypedArray>()?).data as usize;
            (fresh, ptr)
        }
        (None, Some(out)) => (out.clone(), probe.out),
        (None, None) => return Ok(None),
    };
    let mut inputs = [0usize; FAST_VARS];
    for (slot, &var) in inputs.iter_mut().zip(f.inputs.iter()) {
        *slot = probe.data[var];
    }
    let n = f.inputs.len();
    let ran = py.detach(|| {
        let ptrs = inputs.map(|a| a as *const u8);
        // SAFETY: the key matched, so every variable and `out` has the layout (descriptor,
        // shape, byte strides) the evaluation was prepared for, and each pointer is aligned
        // (checked above); the arrays are held by the caller for the whole call (`values`,
        // `out`, or the new array), `out` is writable (checked by `probe`) and, being NumPy's,
        // not written by anyone else while the GIL is released here.
        unsafe { f.prepared.run(out_ptr as *mut u8, &ptrs[..n]) }
    });
    match ran {
        Ok(true) => Ok(Some(result)),
        Ok(false) => Ok(None),
        Err(e) => Err(py_err(&e)),
    }
}

/// After the general path evaluated a call the fast path could take, prepares its layouts for
/// the next calls (from the second call in a row with this key). Only calls whose arrays were
/// all read in place (native, aligned, strides multiples of the item size) and whose result
/// went straight into `out` or into a new array of at most [`SMALL_NEW_OUTPUT`] bytes (larger
/// ones take `eval`, which asks for huge pages).
fn remember_fast(
    entry: &CallEntry,
    probe: Probe,
    values: &[Bound<'_, PyAny>],
    expr: &Expr,
    vars: &Vars<'_>,
    result: &Bound<'_, PyAny>,
    out_given: bool,
) -> Option<()> {
    {
        // Prepared already (the fast path declined this call: `out` overlaps an input).
        let fast = entry.fast.lock().unwrap_or_else(|e| e.into_inner());
        if fast.iter().any(|f| f.key == probe.key) {
            return None;
        }
    }
    {
        let mut missed = entry.missed.lock().unwrap_or_else(|e| e.into_inner());
        if missed.as_ref() != Some(&probe.key) {
            *missed = Some(probe.key.clone());
            return None;
        }
    }
    let rdt = expr.dtype();
    let in_place = |a: &Bound<'_, PyUntypedArray>| -> Option<(DType, Layout)> {
        let descr = a.dtype();
        let dt = dtype_of(&descr)?;
        let l = layout(a);
        readable_in_place(&descr, dt, &l).then_some((dt, l))
    };
    let mut descrs = Vec::new();
    let mut aligns = Vec::with_capacity(values.len());
    for v in values {
        match v.cast_exact::<PyUntypedArray>() {
            Ok(a) => {
                let (dt, _) = in_place(a)?;
                aligns.push(align_of(dt));
                descrs.push(a.dtype().into_any().unbind());
            }
            Err(_) => aligns.push(1),
        }
    }
    let out = result.cast_exact::<PyUntypedArray>().ok()?;
    let (odt, l) = in_place(out)?;
    if odt != rdt || !has_no_internal_overlap(&l, rdt.size()) {
        return None;
    }
    let new_out = if out_given {
        descrs.push(out.dtype().into_any().unbind());
        None
    } else {
        if l.shape.iter().product::<usize>() * rdt.size() > SMALL_NEW_OUTPUT {
            return None;
        }
        let flags = fields(out).flags;
        let fortran = flags & npyffi::NPY_ARRAY_C_CONTIGUOUS == 0
            && flags & npyffi::NPY_ARRAY_F_CONTIGUOUS != 0;
        Some((rdt, l.shape.clone().into_boxed_slice(), fortran))
    };
    // SAFETY: `result` is a live, well-formed array of the result's dtype without internal
    // overlap, held by the caller; `prepare` reads its layout only.
    let view = unsafe { array_mut(rdt, &l) };
    let prepared = expr.prepare(vars, view).ok()??;
    let inputs = prepared
        .input_names()
        .map(|n| entry.names.iter().position(|(_, name, _, _)| &**name == n))
        .collect::<Option<Box<[usize]>>>()?;
    let fast = std::sync::Arc::new(FastCall {
        key: probe.key,
        _descrs: descrs,
        prepared,
        inputs,
        aligns: aligns.into_boxed_slice(),
        out_align: if out_given { align_of(rdt) } else { 1 },
        new_out,
    });
    let evicted = {
        let mut all = entry.fast.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(0, fast);
        (all.len() > FAST_LAYOUTS).then(|| all.pop())
    };
    // Descriptors released outside the lock, with the GIL held (as by the caller).
    drop(evicted);
    Some(())
}

/// Evaluate the array expression `ex` element-wise, as numexpr's ``evaluate``.
///
/// Parameters
/// ----------
/// ex : str
///     The expression, e.g. ``"2*a + 3*b"`` or ``"where(a > b, sin(a)**2, 0)"``. Variables are
///     looked up in `local_dict`, then in `global_dict`; when either is not given, the caller's
///     local (resp. global) variables are used instead, as numexpr does.
/// local_dict, global_dict : mapping, optional
///     Values of the variables: NumPy arrays of any numeric dtype, shape and strides (read in
///     place when aligned and native-endian, copied otherwise), NumPy scalars and 0-d arrays
///     (strong: they keep their dtype), Python ``bool``/``int``/``float``/``complex`` (weak
///     scalars, NEP 50: ``float32_array * k`` with ``k = 2.0`` is float32), or anything
///     ``np.asarray`` accepts.
/// out : ndarray, optional
///     Where to write the result; may be one of the inputs (``evaluate("a*2", out=a)``), strided
///     or of another dtype if `casting` allows. Its shape must be the result's (or one the
///     result broadcasts to). On error, `out` is left untouched. Returned when given.
/// order : {'K', 'A', 'C', 'F'}
///     Memory order of a new result: 'K' and 'A' give Fortran order when every array input is
///     Fortran-contiguous and C order otherwise; 'C' and 'F' force it.
/// casting : {'no', 'equiv', 'safe', 'same_kind', 'unsafe'}
///     How the result may be cast into `out` (NumPy's rules). Default 'same_kind', as numexpr
///     2.14.
/// sanitize, disable_cache :
///     Accepted for compatibility. ndexpr never passes the expression to Python's ``eval``, so
///     there is nothing to sanitize; ``disable_cache=True`` does not remember the call for
///     ``re_evaluate``.
/// optimization, truediv :
///     Accepted (and checked) for compatibility, then ignored: NumPy 2's semantics always
///     (``/`` is true division).
///
/// Returns
/// -------
/// ndarray or dask.array.Array
///     A new array of the dtype NumPy 2 gives the same expression, or `out`. When any variable
///     is a Dask array, a lazy Dask array computed chunk by chunk by ndexpr (`out` must then be
///     None: see ``ndexpr.dask``).
///
/// Raises
/// ------
/// SyntaxError
///     A malformed expression (the message shows it with a caret under the problem).
/// KeyError (VariableNotFoundError)
///     A variable with no value.
/// TypeError
///     No NumPy loop for these dtypes, an unknown function, a wrong number of arguments, a
///     dtype ndexpr does not support, or a result that can't be cast into `out`.
/// ValueError
///     Shapes that don't broadcast, a wrong `out` shape, a read-only `out`, a literal out of its
///     dtype's range.
///
#[pyfunction]
#[pyo3(
    name = "evaluate",
    signature = (ex, local_dict=None, global_dict=None, out=None, order=None, casting=None,
                 sanitize=None, _frame_depth=3, disable_cache=false, **kwargs),
    text_signature = "(ex, local_dict=None, global_dict=None, out=None, order='K', \
                      casting='same_kind', sanitize=None, _frame_depth=3, disable_cache=False, \
                      **kwargs)"
)]
#[allow(clippy::too_many_arguments)]
fn evaluate_numexpr<'py>(
    py: Python<'py>,
    ex: &Bound<'py, PyAny>,
    local_dict: Option<Bound<'py, PyAny>>,
    global_dict: Option<Bound<'py, PyAny>>,
    out: Option<Bound<'py, PyAny>>,
    order: Option<Bound<'py, PyAny>>,
    casting: Option<Bound<'py, PyAny>>,
    sanitize: Option<Bound<'py, PyAny>>,
    _frame_depth: i64,
    disable_cache: bool,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    // Written in Rust rather than Python: at 1,000 elements a call costs ~2 µs, and the Python
    // function around the extension (its frame, the frame lookup, the `threading.local` write
    // for re_evaluate) took ~1 µs of it.
    let _ = sanitize;
    if let Some(kwargs) = kwargs.filter(|k| !k.is_empty()) {
        package_function(py, "_check_context")?.call1((kwargs,))?;
    }
    let order = order.unwrap_or_else(|| intern!(py, "K").clone().into_any());
    let casting = casting.unwrap_or_else(|| intern!(py, "same_kind").clone().into_any());
    let out = out.filter(|o| !o.is_none());
    let result = evaluate_in(
        py,
        ex,
        (local_dict, global_dict, _frame_depth - 3),
        out.clone(),
        &order,
        &casting,
    )?;
    if !disable_cache {
        remember(py, ex, out.as_ref(), &order, &casting)?;
    }
    Ok(result)
}

/// A function of the `ndexpr` package (the Python layer), for the rare paths: option checks
/// and Dask operands.
fn package_function<'py>(py: Python<'py>, name: &'static str) -> PyResult<Bound<'py, PyAny>> {
    py.import(intern!(py, "ndexpr"))?.getattr(name)
}

/// The local and global variables of the Python code `above` frames above the caller (0: the
/// caller itself; numexpr's `_frame_depth` counts from inside its Python function); the locals
/// only when `locals` (in a function, Python 3.11 builds that dictionary from the frame's fast
/// variables on every request: `evaluate(ex, local_dict=d)` does not pay for it).
fn caller_namespaces(
    py: Python<'_>,
    above: i64,
    locals: bool,
) -> PyResult<(Option<Bound<'_, PyAny>>, Bound<'_, PyAny>)> {
    if above == 0 {
        // SAFETY: the GIL is held (`py`); a function implemented in C (this one) has no frame
        // of its own, so the current frame is its caller's. Both calls return borrowed
        // references (NULL with an error set, or NULL when no Python frame runs), taken as new
        // references at once.
        unsafe {
            let globals = pyo3::ffi::PyEval_GetGlobals();
            if !globals.is_null() {
                let globals = Bound::from_borrowed_ptr(py, globals);
                if !locals {
                    return Ok((None, globals));
                }
                let locals = pyo3::ffi::PyEval_GetLocals();
                if !locals.is_null() {
                    return Ok((Some(Bound::from_borrowed_ptr(py, locals)), globals));
                }
            }
            if let Some(err) = PyErr::take(py) {
                return Err(err);
            }
        }
    }
    let frame = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "_getframe"))?
        .call1((above.max(0),))?;
    let frame_locals = if locals {
        Some(frame.getattr(intern!(py, "f_locals"))?)
    } else {
        None
    };
    Ok((frame_locals, frame.getattr(intern!(py, "f_globals"))?))
}

/// Evaluate again the last expression evaluated (or validated) in this thread, with fresh
/// values of the same variables (looked up as ``evaluate`` does), and the same `out`, `order`
/// and `casting`.
#[pyfunction]
#[pyo3(signature = (local_dict=None, global_dict=None, _frame_depth=2))]
fn re_evaluate<'py>(
    py: Python<'py>,
    local_dict: Option<Bound<'py, PyAny>>,
    global_dict: Option<Bound<'py, PyAny>>,
    _frame_depth: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let call = LAST_CALL.with(|last| {
        last.borrow().as_ref().map(|c| {
            let bind = |o: &Py<PyAny>| o.bind(py).clone();
            (
                bind(&c.ex),
                c.out.as_ref().map(bind),
                bind(&c.order),
                bind(&c.casting),
            )
        })
    });
    let Some((ex, out_ref, order, casting)) = call else {
        return Err(PyRuntimeError::new_err(
            "A previous evaluate() execution was not found, please call `validate` or \
             `evaluate` once before `re_evaluate`",
        ));
    };
    // `out` is held weakly: a collected `out` is evaluated into a new array.
    let out = match out_ref {
        Some(r) => Some(r.call0()?).filter(|o| !o.is_none()),
        None => None,
    };
    evaluate_in(
        py,
        &ex,
        (local_dict, global_dict, _frame_depth - 2),
        out,
        &order,
        &casting,
    )
}

/// `evaluate_dicts` with each dictionary not given taken from the Python code `above` frames
/// over the caller ([`caller_namespaces`]); a Dask operand sends the call to the Python layer.
fn evaluate_in<'py>(
    py: Python<'py>,
    ex: &Bound<'py, PyAny>,
    (local_dict, global_dict, above): (Option<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>, i64),
    out: Option<Bound<'py, PyAny>>,
    order: &Bound<'py, PyAny>,
    casting: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (local_dict, global_dict) = match (local_dict, global_dict) {
        (Some(l), Some(g)) => (l, g),
        (l, g) => {
            let (frame_locals, frame_globals) = caller_namespaces(py, above, l.is_none())?;
            let l = match (l, frame_locals) {
                (Some(l), _) | (None, Some(l)) => l,
                (None, None) => return Err(PyRuntimeError::new_err("no caller frame")),
            };
            (l, g.unwrap_or(frame_globals))
        }
    };
    let result = evaluate_dicts(
        py,
        ex,
        &local_dict,
        &global_dict,
        out.clone(),
        order,
        casting,
    )?;
    if result.is(py.NotImplemented().bind(py)) {
        return package_function(py, "_evaluate_dask")?.call1((
            ex,
            &local_dict,
            &global_dict,
            &out,
            order,
            casting,
        ));
    }
    Ok(result)
}

/// What `re_evaluate` repeats: the last expression evaluated (or validated) on this thread,
/// with a weak reference to its `out` and its `order` and `casting`.
struct LastCall {
    ex: Py<PyAny>,
    out: Option<Py<PyAny>>,
    order: Py<PyAny>,
    casting: Py<PyAny>,
}

thread_local! {
    static LAST_CALL: std::cell::RefCell<Option<LastCall>> = const { std::cell::RefCell::new(None) };
}

/// Remembers a call for `re_evaluate` (Python threads are OS threads: a thread-local here is
/// numexpr's per-thread state).
#[pyfunction]
#[pyo3(signature = (ex, out, order, casting))]
fn remember(
    py: Python<'_>,
    ex: &Bound<'_, PyAny>,
    out: Option<&Bound<'_, PyAny>>,
    order: &Bound<'_, PyAny>,
    casting: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let out = match out.filter(|o| !o.is_none()) {
        Some(o) => Some(pyo3::types::PyWeakrefReference::new(o)?.into_any().unbind()),
        None => None,
    };
    let call = LastCall {
        ex: ex.clone().unbind(),
        out,
        order: order.clone().unbind(),
        casting: casting.clone().unbind(),
    };
    // The previous call's references are released with the GIL held (`py` is alive here).
    let previous = LAST_CALL.with(|last| last.borrow_mut().replace(call));
    drop(previous);
    let _ = py;
    Ok(())
}

/// `s` as a Rust string, without copying when it is the interned `common` (the defaults that
/// Python code passes as constants).
fn common_str<'a>(
    s: &'a Bound<'_, PyAny>,
    common: &Bound<'_, PyString>,
    text: &'static str,
) -> PyResult<std::borrow::Cow<'a, str>> {
    if s.is(common) {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    s.extract::<std::borrow::Cow<'a, str>>()
}

/// The variables `ex` reads, in order of first use, each as `(name, start, end)` with the
/// character offsets of its first occurrence. Raises `SyntaxError` for a malformed expression.
#[pyfunction]
fn variable_names(py: Python<'_>, ex: &str) -> PyResult<Vec<(String, usize, usize)>> {
    let (ast, chars) = parse_for_python(py, ex)?;
    let mut found: Vec<(String, usize, usize)> = Vec::new();
    let mut stack = vec![&ast];
    // Depth-first, left to right: push children in reverse.
    use ndexpr::syntax::ast::ExprKind;
    while let Some(node) = stack.pop() {
        if let ExprKind::Name(name) = &node.kind {
            if !found.iter().any(|(n, _, _)| n == name) {
                found.push((name.clone(), chars(node.span.start), chars(node.span.end)));
            }
        }
        stack.extend(node.children().into_iter().rev());
    }
    Ok(found)
}

/// Parses `ex` (a `SyntaxError` if malformed), mapping byte offsets of spans to the character
/// offsets Python slices with.
fn parse_for_python<'a>(
    py: Python<'_>,
    ex: &'a str,
) -> PyResult<(ndexpr::syntax::ast::Expr, impl Fn(usize) -> usize + 'a)> {
    let ex_owned = ex.to_string();
    let ast = py
        .detach(|| {
            std::panic::catch_unwind(|| ndexpr::syntax::parse(&ex_owned)).unwrap_or_else(|_| {
                Err(NdError::new(
                    ErrorKind::Internal,
                    "internal error while parsing",
                ))
            })
        })
        .map_err(|e| py_err(&e.with_source(ex)))?;
    let chars = move |byte: usize| ex[..byte.min(ex.len())].chars().count();
    Ok((ast, chars))
}

/// A reduction call found by [`reductions`]: `(function, is_root, start, end, arg_start,
/// arg_end, axis)`.
type ReductionCall = (String, bool, usize, usize, usize, usize, Option<i64>);

/// The outermost reduction calls of `ex` — those not inside another reduction's argument — in
/// source order, each as `(function, is_root, start, end, arg_start, arg_end, axis)`: the
/// character offsets of the whole call and of its first argument (`ex[arg_start:arg_end]` is
/// an expression of its own), whether the call is the whole expression, and its axis when it
/// is an integer literal. Reductions nested inside an argument are found by calling this on the
/// argument. The Dask integration (`ndexpr/dask.py`) builds its graphs from this; it compiles
/// the expression first, so the calls it sees are valid ones.
#[pyfunction]
fn reductions(py: Python<'_>, ex: &str) -> PyResult<Vec<ReductionCall>> {
    use ndexpr::bytecode::ReduceKind;
    use ndexpr::syntax::ast::ExprKind;
    let (ast, chars) = parse_for_python(py, ex)?;
    let mut found = Vec::new();
    let mut stack = vec![&ast];
    // Depth-first, left to right; a reduction's own argument is not searched (outermost only).
    while let Some(node) = stack.pop() {
        match &node.kind {
            ExprKind::Call {
                func, args, kwargs, ..
            } if ReduceKind::from_name(func).is_some() && !args.is_empty() => {
                let axis_expr = args.get(1).or(kwargs.first().map(|k| &k.value));
                found.push((
                    func.clone(),
                    std::ptr::eq(node, &ast),
                    chars(node.span.start),
                    chars(node.span.end),
                    chars(args[0].span.start),
                    chars(args[0].span.end),
                    axis_expr.and_then(|e| e.int_literal()),
                ));
            }
            _ => stack.extend(node.children().into_iter().rev()),
        }
    }
    Ok(found)
}

/// The dtype reduction `kind` (`'sum'`, ...) of `dtype` values accumulates in, and its result
/// dtype (NumPy 2's: `('int64', 'int64')` for `sum` of int8, `('float32', 'float16')` for
/// float16, `('float64', 'float64')` for `mean` of ints).
#[pyfunction]
fn reduction_dtypes(kind: &str, dtype: &str) -> PyResult<(&'static str, &'static str)> {
    let k = ndexpr::bytecode::ReduceKind::from_name(kind)
        .ok_or_else(|| PyValueError::new_err(format!("`{kind}` is not a reduction")))?;
    let (ty, out) = ndexpr::compile::reduction_dtypes(k, parse_dtype(dtype)?);
    Ok((ty.name(), out.name()))
}

/// Sets the number of threads evaluations may use; returns the previous number.
#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<usize> {
    if n < 0 {
        return Err(PyValueError::new_err(format!(
            "the number of threads must be >= 0 (0 restores the default), got {n}"
        )));
    }
    Ok(ndexpr::set_num_threads(n as usize))
}

/// The number of threads evaluations may use.
#[pyfunction]
fn get_num_threads() -> usize {
    ndexpr::num_threads()
}

/// The instruction-set level the kernels run at (`sse2`, `avx2`, `avx512`, `neon`).
#[pyfunction]
fn isa() -> String {
    ndexpr::kernels::isa().to_string()
}

#[pymodule]
fn _ndexpr(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Compiled>()?;
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_values, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_numexpr, m)?)?;
    m.add_function(wrap_pyfunction!(remember, m)?)?;
    m.add_function(wrap_pyfunction!(re_evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(variable_names, m)?)?;
    m.add_function(wrap_pyfunction!(reductions, m)?)?;
    m.add_function(wrap_pyfunction!(reduction_dtypes, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(isa, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
