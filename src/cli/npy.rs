//! Reading and writing NumPy's `.npy` files, for `eval`.
//!
//! Inputs are memory-mapped and, when their bytes are already what the VM wants (native byte
//! order, aligned for the element type, not `bool`), viewed in place, so that evaluating over
//! a file costs no copy and no memory beyond the page cache, even for files larger than RAM.
//! Data that cannot be viewed in place (big-endian on a little-endian machine, a hand-written
//! header that leaves the data misaligned, or booleans, whose bytes might not all be 0 or 1) is
//! decoded piece by piece: the caller asks for one chunk of an input at a time
//! ([`Source::select`]), so the decoded copy is never larger than one chunk.
//!
//! The header is a Python dict literal; we parse just enough of Python's literal syntax to read
//! the three keys NumPy writes, and reject everything ndexpr cannot compute with (strings,
//! objects, datetimes, structured dtypes, `float128`) by name.

use super::mapped::{self, Plain};
use half::f16;
use memmap2::Mmap;
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder, Slice};
use ndexpr::vm::VmElement;
use ndexpr::{Array, ArrayRef, DType};
use num_complex::{Complex32, Complex64};
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The byte order of the data in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
}

/// What a `.npy` header says.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub dtype: DType,
    pub order: ByteOrder,
    pub fortran: bool,
    pub shape: Vec<usize>,
    /// Where the data starts in the file.
    pub data_offset: usize,
}

impl Header {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes of data the header promises (checked for overflow when parsed).
    pub fn data_len(&self) -> usize {
        self.len() * self.dtype.size()
    }
}

/// A value of Python's literal syntax, as far as `.npy` headers use it.
#[derive(Debug, Clone, PartialEq)]
enum Py {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

struct PyParser<'s> {
    s: &'s [u8],
    i: usize,
}

impl PyParser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Items up to `close`, separated by commas, with an optional trailing comma.
    fn seq(&mut self, close: u8) -> Result<(Vec<Py>, bool), String> {
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            if self.eat(close) {
                return Ok((items, trailing_comma));
            }
            items.push(self.value()?);
            trailing_comma = self.eat(b',');
            if !trailing_comma {
                return if self.eat(close) {
                    Ok((items, false))
                } else {
                    Err(format!("expected `,` or `{}`", close as char))
                };
            }
        }
    }

    fn value(&mut self) -> Result<Py, String> {
        match self.peek().ok_or("unexpected end of header")? {
            q @ (b'\'' | b'"') => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    self.i += 1;
                }
                if self.i == self.s.len() {
                    return Err("unterminated string".into());
                }
                let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(Py::Str(text))
            }
            b'(' => {
                self.i += 1;
                let (items, trailing) = self.seq(b')')?;
                // `(3)` is just 3 in Python; NumPy always writes `(3,)`.
                if items.len() == 1 && !trailing {
                    Ok(items.into_iter().next().expect("one item"))
                } else {
                    Ok(Py::Tuple(items))
                }
            }
            b'[' => {
                self.i += 1;
                Ok(Py::List(self.seq(b']')?.0))
            }
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    if self.eat(b'}') {
                        return Ok(Py::Dict(entries));
                    }
                    let key = self.value()?;
                    if !self.eat(b':') {
                        return Err("expected `:` in the header dict".into());
                    }
                    let value = self.value()?;
                    entries.push((key, value));
                    if !self.eat(b',') {
                        return if self.eat(b'}') {
                            Ok(Py::Dict(entries))
                        } else {
                            Err("expected `,` or `}` in the header dict".into())
                        };
                    }
                }
            }
            c if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII digits");
                // Python 2 era files write longs as `3L`.
                if self.i < self.s.len() && self.s[self.i] == b'L' {
                    self.i += 1;
                }
                text.parse()
                    .map(Py::Int)
                    .map_err(|_| format!("number `{text}` too large"))
            }
            c if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Py::Bool(true)),
                    b"False" => Ok(Py::Bool(false)),
                    b"None" => Ok(Py::None),
                    other => Err(format!(
                        "unexpected `{}` in the header",
                        String::from_utf8_lossy(other)
                    )),
                }
            }
            c => Err(format!("unexpected `{}` in the header", c as char)),
        }
    }
}

/// The dtype and byte order of a `descr` string such as `<f8`, `>i4`, `|b1`.
fn parse_descr(descr: &str) -> Result<(DType, ByteOrder), String> {
    let unsupported = || {
        format!(
            "unsupported dtype `{descr}` (ndexpr computes with bool, int8 to int64, uint8 to \
             uint64, float16, float32, float64, complex64 and complex128)"
        )
    };
    let (order, code) = match descr.as_bytes().first() {
        Some(b'<') => (ByteOrder::Little, &descr[1..]),
        Some(b'>') => (ByteOrder::Big, &descr[1..]),
        Some(b'|' | b'=') => (ByteOrder::NATIVE, &descr[1..]),
        _ => (ByteOrder::NATIVE, descr),
    };
    let dtype = match code {
        "b1" | "?" => DType::Bool,
        "i1" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        "c8" => DType::C64,
        "c16" => DType::C128,
        _ => return Err(unsupported()),
    };
    Ok((dtype, order))
}

/// The `descr` NumPy writes for `dtype` in native byte order.
pub fn descr(dtype: DType) -> String {
    let kind = match dtype.kind() {
        ndexpr::types::Kind::Bool => 'b',
        ndexpr::types::Kind::Signed => 'i',
        ndexpr::types::Kind::Unsigned => 'u',
        ndexpr::types::Kind::Float => 'f',
        ndexpr::types::Kind::Complex => 'c',
    };
    let order = match (dtype.size(), ByteOrder::NATIVE) {
        (1, _) => '|',
        (_, ByteOrder::Little) => '<',
        (_, ByteOrder::Big) => '>',
    };
    format!("{order}{kind}{}", dtype.size())
}

/// Parses the header at the start of `bytes`, which must hold at least the whole header (the
/// first 12 bytes tell how long it is: see [`header_len`]).
pub fn parse_header(bytes: &[u8]) -> Result<Header, String> {
    let (version, start, len) = header_len(bytes)?;
    let end = start + len;
    if bytes.len() < end {
        return Err("the file ends inside its header".into());
    }
    let text = &bytes[start..end];
    let mut parser = PyParser { s: text, i: 0 };
    let dict = match parser.value() {
        Ok(Py::Dict(d)) => d,
        Ok(_) => return Err("the header is not a dict".into()),
        Err(e) => return Err(format!("malformed header ({e})")),
    };
    if parser.peek().is_some() {
        return Err("malformed header (text after the dict)".into());
    }
    let get = |key: &str| {
        dict.iter()
            .find(|(k, _)| *k == Py::Str(key.into()))
            .map(|(_, v)| v)
            .ok_or_else(|| format!("the header has no `{key}`"))
    };
    let (dtype, order) = match get("descr")? {
        Py::Str(s) => parse_descr(s)?,
        Py::List(_) => {
            return Err(
                "unsupported dtype: a structured (record) array; ndexpr computes with plain \
                 numeric arrays"
                    .into(),
            )
        }
        _ => return Err("malformed header (`descr` is not a string)".into()),
    };
    let fortran = match get("fortran_order")? {
        Py::Bool(b) => *b,
        _ => return Err("malformed header (`fortran_order` is not True or False)".into()),
    };
    let shape = match get("shape")? {
        Py::Tuple(items) => items
            .iter()
            .map(|d| match d {
                Py::Int(n) => usize::try_from(*n).map_err(|_| "dimension too large".to_string()),
                _ => Err("malformed header (`shape` holds a non-integer)".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Py::Int(n) => vec![usize::try_from(*n).map_err(|_| "dimension too large".to_string())?],
        _ => return Err("malformed header (`shape` is not a tuple)".into()),
    };
    shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or("the array is too large for this machine")?;
    let _ = version;
    Ok(Header {
        dtype,
        order,
        fortran,
        shape,
        data_offset: end,
    })
}

/// The format version, where the header text starts and its length, from the file's first
/// bytes (at least 12, or 10 for version 1).
pub fn header_len(bytes: &[u8]) -> Result<((u8, u8), usize, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let version = (bytes[6], bytes[7]);
    match version.0 {
        1 => Ok((
            version,
            10,
            u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        )),
        2 | 3 if bytes.len() >= 12 => Ok((
            version,
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        )),
        2 | 3 => Err("not a .npy file (truncated header)".into()),
        _ => Err(format!(
            "unsupported .npy format version {}.{}",
            version.0, version.1
        )),
    }
}

/// A complete header (magic, version, length, dict, padding, newline) for a C-order array of
/// `dtype` in native byte order, padded so that the data starts at a multiple of 64 bytes as
/// NumPy does. Version 1.0 unless the header needs more than 65535 bytes (a shape of thousands
/// of dimensions), then 2.0.
pub fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}",
        descr(dtype)
    );
    let padded = |prefix: usize| {
        let unpadded = prefix + dict.len() + 1;
        dict.len() + 1 + (64 - unpadded % 64) % 64
    };
    let (mut out, len) = if padded(10) <= u16::MAX as usize {
        let len = padded(10);
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        (out, len)
    } else {
        let len = padded(12);
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        (out, len)
    };
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + len - dict.len() - 1, b' ');
    out.push(b'\n');
    out
}

/// Element types as stored in `.npy` files: decodable from bytes in either order.
pub trait NpyElement: VmElement + Default {
    fn decode(bytes: &[u8], order: ByteOrder) -> Self;
    /// A freshly created output file's data bytes as elements to write, if aligned.
    fn view_mut(bytes: &mut [u8]) -> Option<&mut [Self]>;
}

macro_rules! npy_int {
    ($($t:ty),*) => {$(
        impl NpyElement for $t {
            fn decode(b: &[u8], order: ByteOrder) -> Self {
                let b = b.try_into().expect("element size");
                match order {
                    ByteOrder::Little => <$t>::from_le_bytes(b),
                    ByteOrder::Big => <$t>::from_be_bytes(b),
                }
            }
            fn view_mut(bytes: &mut [u8]) -> Option<&mut [Self]> {
                mapped::cast_mut(bytes)
            }
        }
    )*};
}
npy_int!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

impl NpyElement for bool {
    fn decode(b: &[u8], _: ByteOrder) -> Self {
        b[0] != 0
    }
    fn view_mut(bytes: &mut [u8]) -> Option<&mut [Self]> {
        Some(mapped::zeroed_bools(bytes))
    }
}

impl NpyElement for f16 {
    fn decode(b: &[u8], order: ByteOrder) -> Self {
        f16::from_bits(u16::decode(b, order))
    }
    fn view_mut(bytes: &mut [u8]) -> Option<&mut [Self]> {
        mapped::cast_mut(bytes)
    }
}

impl NpyElement for Complex32 {
    fn decode(b: &[u8], order: ByteOrder) -> Self {
        Complex32::new(f32::decode(&b[..4], order), f32::decode(&b[4..], order))
    }
    fn view_mut(bytes: &mut [u8]) -> Option<&mut [Self]> {
        mapped::cast_mut(bytes)
    }
}

impl NpyElement for Complex64 {
    fn decode(b: &[u8], order: ByteOrder) -> Self {
        Complex64::new(f64::decode(&b[..8], order), f64::decode(&b[8..], order))
    }
    fn view_mut(bytes: &mut [u8]) -> Option<&mut [Self]> {
        mapped::cast_mut(bytes)
    }
}

/// Runs `$body` with the type alias `$t` set to the element type of `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {{
        use ndexpr::DType as D;
        match $dtype {
            D::Bool => {
                type $t = bool;
                $body
            }
            D::I8 => {
                type $t = i8;
                $body
            }
            D::I16 => {
                type $t = i16;
                $body
            }
            D::I32 => {
                type $t = i32;
                $body
            }
            D::I64 => {
                type $t = i64;
                $body
            }
            D::U8 => {
                type $t = u8;
                $body
            }
            D::U16 => {
                type $t = u16;
                $body
            }
            D::U32 => {
                type $t = u32;
                $body
            }
            D::U64 => {
                type $t = u64;
                $body
            }
            D::F16 => {
                type $t = half::f16;
                $body
            }
            D::F32 => {
                type $t = f32;
                $body
            }
            D::F64 => {
                type $t = f64;
                $body
            }
            D::C64 => {
                type $t = num_complex::Complex32;
                $body
            }
            D::C128 => {
                type $t = num_complex::Complex64;
                $body
            }
        }
    }};
}
pub(crate) use with_dtype;

/// An input file, mapped.
pub struct Input {
    pub header: Header,
    map: Mmap,
}

/// Reads the header through ordinary reads (a mapping of a non-`.npy` file would be wasted).
fn read_header(file: &mut File) -> Result<Header, String> {
    let mut prefix = vec![0u8; 12];
    let mut got = 0;
    while got < prefix.len() {
        match file.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    prefix.truncate(got);
    let (_, start, len) = header_len(&prefix)?;
    let mut bytes = prefix;
    bytes.resize(start + len, 0);
    if got < bytes.len() {
        file.read_exact(&mut bytes[got..])
            .map_err(|_| "the file ends inside its header".to_string())?;
    }
    parse_header(&bytes)
}

impl Input {
    /// Opens, checks and maps a `.npy` file. Errors name the problem, not the path (the caller
    /// adds it).
    pub fn open(path: &Path) -> Result<Input, String> {
        let mut file = File::open(path).map_err(|e| e.to_string())?;
        if file.metadata().map_err(|e| e.to_string())?.is_dir() {
            return Err("is a directory".into());
        }
        let header = read_header(&mut file)?;
        let file_len = file.metadata().map_err(|e| e.to_string())?.len();
        let need = header.data_offset as u64 + header.data_len() as u64;
        if file_len < need {
            return Err(format!(
                "the file is truncated: the header promises {} bytes of data, the file has {}",
                header.data_len(),
                file_len.saturating_sub(header.data_offset as u64)
            ));
        }
        let map = mapped::map_read(&file).map_err(|e| format!("cannot map it: {e}"))?;
        Ok(Input { header, map })
    }

    fn data(&self) -> &[u8] {
        let start = self.header.data_offset;
        &self.map[start..start + self.header.data_len()]
    }

    /// The data as the VM can read it: in place if it can, otherwise as raw bytes to decode
    /// chunk by chunk.
    pub fn source(&self) -> Source<'_> {
        let h = &self.header;
        if h.len() == 0 {
            // No bytes to interpret: byte order and alignment do not matter.
            return Source::Direct(with_dtype!(h.dtype, T => {
                let none: &[T] = &[];
                ArrayViewD::from_shape(IxDyn(&h.shape), none)
                    .expect("an empty shape fits no data")
                    .into()
            }));
        }
        if h.order == ByteOrder::NATIVE && h.dtype != DType::Bool {
            if let Some(view) = in_place(self.data(), h) {
                return Source::Direct(view);
            }
        }
        // Bytes with a trailing axis over the bytes of each element: byte strides are element
        // strides times the element size.
        let size = h.dtype.size();
        let mut shape = h.shape.clone();
        let mut strides = vec![0usize; shape.len()];
        let mut acc = size;
        let axes: Vec<usize> = if h.fortran {
            (0..shape.len()).collect()
        } else {
            (0..shape.len()).rev().collect()
        };
        for ax in axes {
            strides[ax] = acc;
            acc *= shape[ax];
        }
        shape.push(size);
        strides.push(1);
        let view = ArrayViewD::from_shape(IxDyn(&shape).strides(IxDyn(&strides)), self.data())
            .expect("the header's shape fits the data (checked on open)");
        Source::Bytes {
            view,
            dtype: h.dtype,
            order: h.order,
        }
    }
}

/// A typed view of native, aligned data; `None` for dtypes without [`Plain`] or misaligned data.
fn in_place<'a>(data: &'a [u8], h: &Header) -> Option<ArrayRef<'a>> {
    fn typed<'a, P: Plain + VmElement>(data: &'a [u8], h: &Header) -> Option<ArrayRef<'a>> {
        let elems = mapped::cast::<P>(data)?;
        let shape = IxDyn(&h.shape);
        let view = if h.fortran {
            ArrayViewD::from_shape(shape.f(), elems)
        } else {
            ArrayViewD::from_shape(shape, elems)
        }
        .ok()?;
        Some(view.into())
    }
    match h.dtype {
        DType::Bool => None,
        DType::I8 => typed::<i8>(data, h),
        DType::I16 => typed::<i16>(data, h),
        DType::I32 => typed::<i32>(data, h),
        DType::I64 => typed::<i64>(data, h),
        DType::U8 => typed::<u8>(data, h),
        DType::U16 => typed::<u16>(data, h),
        DType::U32 => typed::<u32>(data, h),
        DType::U64 => typed::<u64>(data, h),
        DType::F16 => typed::<f16>(data, h),
        DType::F32 => typed::<f32>(data, h),
        DType::F64 => typed::<f64>(data, h),
        DType::C64 => typed::<Complex32>(data, h),
        DType::C128 => typed::<Complex64>(data, h),
    }
}

/// An input's data, viewed in place or to be decoded.
pub enum Source<'a> {
    Direct(ArrayRef<'a>),
    Bytes {
        /// The array's shape plus a last axis over each element's bytes.
        view: ArrayViewD<'a, u8>,
        dtype: DType,
        order: ByteOrder,
    },
}

/// One chunk of an input: borrowed from the mapping, or decoded.
pub enum Chunk<'a> {
    Borrowed(ArrayRef<'a>),
    Owned(Array),
}

impl Chunk<'_> {
    pub fn view(&self) -> ArrayRef<'_> {
        match self {
            Chunk::Borrowed(r) => ndexpr::dispatch!(r, ArrayRef, v => v.view().into()),
            Chunk::Owned(a) => array_ref(a),
        }
    }
}

impl<'a> Source<'a> {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Source::Direct(r) => r.shape().to_vec(),
            Source::Bytes { view, .. } => view.shape()[..view.ndim() - 1].to_vec(),
        }
    }

    /// The sub-array `ranges` (one range per axis), as the VM can read it.
    pub fn select(&self, ranges: &[Range<usize>]) -> Chunk<'a> {
        let slice = |ax: ndarray::AxisDescription| {
            let r = &ranges[ax.axis.index()];
            Slice::from(r.start as isize..r.end as isize)
        };
        match self {
            Source::Direct(r) => Chunk::Borrowed(slice_ref(r, &slice)),
            Source::Bytes { view, dtype, order } => {
                let ndim = view.ndim() - 1;
                let mut v = view.clone();
                v.slice_each_axis_inplace(|ax| {
                    if ax.axis.index() < ndim {
                        slice(ax)
                    } else {
                        Slice::from(..)
                    }
                });
                Chunk::Owned(with_dtype!(dtype, T => T::wrap_owned(decode::<T>(&v, *order))))
            }
        }
    }
}

/// Decodes a byte view (shape plus an element-bytes axis) into a C-order array.
fn decode<T: NpyElement>(v: &ArrayViewD<'_, u8>, order: ByteOrder) -> ArrayD<T> {
    let size = T::DTYPE.size();
    let shape = v.shape()[..v.ndim() - 1].to_vec();
    let data: Vec<T> = match v.as_slice() {
        Some(bytes) => bytes
            .chunks_exact(size)
            .map(|b| T::decode(b, order))
            .collect(),
        None => v
            .rows()
            .into_iter()
            .map(|row| match row.as_slice() {
                Some(b) => T::decode(b, order),
                None => T::decode(&row.to_vec(), order),
            })
            .collect(),
    };
    ArrayD::from_shape_vec(IxDyn(&shape), data).expect("one element per index")
}

/// A borrowed view of an owned result.
pub fn array_ref(a: &Array) -> ArrayRef<'_> {
    ndexpr::dispatch!(a, Array, v => v.view().into())
}

fn slice_ref<'a>(
    r: &ArrayRef<'a>,
    slice: &dyn Fn(ndarray::AxisDescription) -> Slice,
) -> ArrayRef<'a> {
    ndexpr::dispatch!(r, ArrayRef, v => {
        let mut v = v.clone();
        v.slice_each_axis_inplace(slice);
        v.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_is_aligned() {
        for shape in [vec![], vec![3], vec![2, 3, 4], vec![0, 5]] {
            let h = header_bytes(DType::F64, &shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            let parsed = parse_header(&h).unwrap();
            assert_eq!(parsed.shape, shape);
            assert_eq!(parsed.dtype, DType::F64);
            assert!(!parsed.fortran);
            assert_eq!(parsed.data_offset, h.len());
        }
    }

    #[test]
    fn parses_numpy_headers() {
        let mk = |dict: &str| {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&[1, 0]);
            b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            b.extend_from_slice(dict.as_bytes());
            b
        };
        let h = parse_header(&mk(
            "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }\n",
        ))
        .unwrap();
        assert_eq!(
            (h.dtype, h.order, h.fortran, h.shape),
            (DType::I32, ByteOrder::Big, true, vec![2, 3])
        );
        let h = parse_header(&mk(
            "{\"shape\": (4L,), \"fortran_order\": False, \"descr\": \"|b1\"}",
        ))
        .unwrap();
        assert_eq!((h.dtype, h.shape), (DType::Bool, vec![4]));
        let err = parse_header(&mk(
            "{'descr': '<U5', 'fortran_order': False, 'shape': (2,), }",
        ))
        .unwrap_err();
        assert!(err.contains("unsupported dtype `<U5`"), "{err}");
        let err = parse_header(&mk(
            "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }",
        ))
        .unwrap_err();
        assert!(err.contains("structured"), "{err}");
        assert!(parse_header(b"PK\x03\x04 not npy")
            .unwrap_err()
            .contains("not a .npy"));
    }

    #[test]
    fn decodes_big_endian_fortran_chunks() {
        // A 2x3 int16 array [[1,2,3],[4,5,6]] in Fortran order, big-endian.
        let data: Vec<u8> = [1i16, 4, 2, 5, 3, 6]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let view = ArrayViewD::from_shape(IxDyn(&[2, 3, 2]).strides(IxDyn(&[2, 4, 1])), &data[..])
            .unwrap();
        let src = Source::Bytes {
            view,
            dtype: DType::I16,
            order: ByteOrder::Big,
        };
        let Chunk::Owned(Array::I16(a)) = src.select(&[1..2, 0..3]) else {
            panic!("decoded")
        };
        assert_eq!(a, ndarray::array![[4i16, 5, 6]].into_dyn());
        let Chunk::Owned(Array::I16(a)) = src.select(&[0..2, 1..3]) else {
            panic!("decoded")
        };
        assert_eq!(a, ndarray::array![[2i16, 3], [5, 6]].into_dyn());
    }
}
