//! `ndexpr eval`, run as a user would: `.npy` files written here (every dtype, both byte
//! orders, C and Fortran order, 0-d, empty, misaligned, format versions 1 to 3), results read
//! back from `-o` files or stdout, errors with their exit status and no file left behind, and a
//! run over inputs larger than the process may allocate.
//!
//! Expected values are computed here from the input data in plain Rust or written by hand; the
//! `.npy` writer and reader below follow NumPy's format description, independently of the
//! crate's own.

use std::fs;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn ndexpr_in(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ndexpr"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(std::env::temp_dir()).expect("temp dir")
}

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The header of a `.npy` file: magic, version, header length, dict, padding to put the data
/// at a multiple of `align` bytes (or `align + skew`, to make it misaligned), newline.
fn npy_header(
    descr: &str,
    fortran: bool,
    shape: &[usize],
    version: u8,
    align: usize,
    skew: usize,
) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {}, }}",
        if fortran { "True" } else { "False" },
        shape_text(shape)
    );
    let prefix = if version == 1 { 10 } else { 12 };
    let mut len = dict.len() + 1;
    while (prefix + len) % align != skew % align {
        len += 1;
    }
    let mut h = b"\x93NUMPY".to_vec();
    h.extend_from_slice(&[version, 0]);
    if version == 1 {
        h.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        h.extend_from_slice(&(len as u32).to_le_bytes());
    }
    h.extend_from_slice(dict.as_bytes());
    h.resize(prefix + len - 1, b' ');
    h.push(b'\n');
    h
}

/// A version 1.0 file with the header dict given verbatim (unpadded).
fn write_npy_dict(path: &Path, dict: &str, data: &[u8]) {
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&((dict.len() + 1) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.push(b'\n');
    h.extend_from_slice(data);
    fs::write(path, h).expect("write npy");
}

fn write_npy(path: &Path, descr: &str, fortran: bool, shape: &[usize], data: &[u8]) {
    write_npy_with(path, descr, fortran, shape, data, 1, 64, 0);
}

#[allow(clippy::too_many_arguments)]
fn write_npy_with(
    path: &Path,
    descr: &str,
    fortran: bool,
    shape: &[usize],
    data: &[u8],
    version: u8,
    align: usize,
    skew: usize,
) {
    let mut bytes = npy_header(descr, fortran, shape, version, align, skew);
    bytes.extend_from_slice(data);
    fs::write(path, bytes).expect("write npy");
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A `.npy` file as read back: the header's fields and the data bytes.
#[derive(Debug)]
struct Npy {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
    data_offset: usize,
    data: Vec<u8>,
}

fn parse_npy_header(bytes: &[u8]) -> (String, bool, Vec<usize>, usize) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "magic");
    let (start, len) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        v => panic!("version {v}"),
    };
    let text = std::str::from_utf8(&bytes[start..start + len]).unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    let field = |key: &str| {
        let at = text.find(&format!("'{key}': ")).expect(key) + key.len() + 4;
        &text[at..]
    };
    let descr = field("descr")[1..].split('\'').next().unwrap().to_string();
    let fortran = field("fortran_order").starts_with("True");
    let shape_text = &field("shape")[1..];
    let shape = shape_text[..shape_text.find(')').unwrap()]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (descr, fortran, shape, start + len)
}

fn read_npy(path: &Path) -> Npy {
    let bytes = fs::read(path).expect("read npy");
    let (descr, fortran, shape, data_offset) = parse_npy_header(&bytes);
    Npy {
        descr,
        fortran,
        shape,
        data_offset,
        data: bytes[data_offset..].to_vec(),
    }
}

fn f64s(data: &[u8]) -> Vec<f64> {
    data.chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The names in `dir`, sorted (hidden temporaries included).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Every dtype, byte order and memory order.

/// A dtype as the test writes it: NumPy's type code and numpy name, element size, the number of
/// scalar components (2 for complex, each swapped on its own), and the little-endian bytes of
/// the element with C-order index `i`.
struct Dt {
    code: &'static str,
    name: &'static str,
    parts: usize,
    le: fn(usize) -> Vec<u8>,
}

fn int_value(i: usize) -> i64 {
    i as i64 * 37 - 50
}

fn float_value(i: usize) -> f64 {
    i as f64 * 1.5 - 2.0
}

const DTYPES: &[Dt] = &[
    Dt {
        code: "b1",
        name: "bool",
        parts: 1,
        le: |i| vec![(i % 2 == 0) as u8],
    },
    Dt {
        code: "i1",
        name: "int8",
        parts: 1,
        le: |i| (int_value(i) as i8).to_le_bytes().to_vec(),
    },
    Dt {
        code: "i2",
        name: "int16",
        parts: 1,
        le: |i| (int_value(i) as i16).to_le_bytes().to_vec(),
    },
    Dt {
        code: "i4",
        name: "int32",
        parts: 1,
        le: |i| (int_value(i) as i32).to_le_bytes().to_vec(),
    },
    Dt {
        code: "i8",
        name: "int64",
        parts: 1,
        le: |i| int_value(i).to_le_bytes().to_vec(),
    },
    Dt {
        code: "u1",
        name: "uint8",
        parts: 1,
        le: |i| (int_value(i) as u8).to_le_bytes().to_vec(),
    },
    Dt {
        code: "u2",
        name: "uint16",
        parts: 1,
        le: |i| (int_value(i) as u16).to_le_bytes().to_vec(),
    },
    Dt {
        code: "u4",
        name: "uint32",
        parts: 1,
        le: |i| (int_value(i) as u32).to_le_bytes().to_vec(),
    },
    Dt {
        code: "u8",
        name: "uint64",
        parts: 1,
        le: |i| (int_value(i) as u64).to_le_bytes().to_vec(),
    },
    Dt {
        code: "f2",
        name: "float16",
        parts: 1,
        le: |i| half::f16::from_f64(float_value(i)).to_le_bytes().to_vec(),
    },
    Dt {
        code: "f4",
        name: "float32",
        parts: 1,
        le: |i| (float_value(i) as f32).to_le_bytes().to_vec(),
    },
    Dt {
        code: "f8",
        name: "float64",
        parts: 1,
        le: |i| float_value(i).to_le_bytes().to_vec(),
    },
    Dt {
        code: "c8",
        name: "complex64",
        parts: 2,
        le: |i| {
            let mut b = (float_value(i) as f32).to_le_bytes().to_vec();
            b.extend_from_slice(&(-(i as f32)).to_le_bytes());
            b
        },
    },
    Dt {
        code: "c16",
        name: "complex128",
        parts: 2,
        le: |i| {
            let mut b = float_value(i).to_le_bytes().to_vec();
            b.extend_from_slice(&(-(i as f64)).to_le_bytes());
            b
        },
    },
];

impl Dt {
    fn bytes(&self, i: usize, big: bool) -> Vec<u8> {
        let mut b = (self.le)(i);
        if big {
            let part = b.len() / self.parts;
            for chunk in b.chunks_mut(part) {
                chunk.reverse();
            }
        }
        b
    }

    /// The descr NumPy writes for this dtype in the given byte order.
    fn descr(&self, big: bool) -> String {
        let order = if self.code.ends_with('1') && self.parts == 1 {
            '|'
        } else if big {
            '>'
        } else {
            '<'
        };
        format!("{order}{}", self.code)
    }
}

#[test]
fn every_dtype_byte_order_and_memory_order_reads_back_exactly() {
    let dir = tmp();
    let (rows, cols) = (2usize, 3usize);
    for dt in DTYPES {
        // What the output must hold: little-endian, C order.
        let want: Vec<u8> = (0..rows * cols).flat_map(|i| dt.bytes(i, false)).collect();
        for big in [false, true] {
            for fortran in [false, true] {
                // In Fortran order the file lists column by column.
                let order: Vec<usize> = if fortran {
                    (0..cols)
                        .flat_map(|c| (0..rows).map(move |r| r * cols + c))
                        .collect()
                } else {
                    (0..rows * cols).collect()
                };
                let data: Vec<u8> = order.iter().flat_map(|&i| dt.bytes(i, big)).collect();
                let input = dir.path().join("in.npy");
                write_npy(&input, &dt.descr(big), fortran, &[rows, cols], &data);
                let case = format!("{} big={big} fortran={fortran}", dt.code);
                let r = ndexpr_in(dir.path(), &["eval", "a", "a=in.npy", "-o", "out.npy"]);
                assert_eq!(r.code, 0, "{case}: {}", r.err);
                assert_eq!(r.out, "", "{case}");
                let out = read_npy(&dir.path().join("out.npy"));
                assert_eq!(out.descr, dt.descr(false), "{case}");
                assert!(!out.fortran, "{case}");
                assert_eq!(out.shape, vec![rows, cols], "{case}");
                assert_eq!(out.data_offset % 64, 0, "{case}");
                assert_eq!(out.data, want, "{case}");
                // Printing names the dtype as NumPy does.
                let r = ndexpr_in(dir.path(), &["eval", "a", "a=in.npy"]);
                assert_eq!(r.code, 0, "{case}: {}", r.err);
                assert!(
                    r.out
                        .ends_with(&format!("shape (2, 3), dtype {}\n", dt.name)),
                    "{case}: {}",
                    r.out
                );
            }
        }
    }
}

#[test]
fn prints_like_numpy() {
    let dir = tmp();
    let p = dir.path();
    write_npy(
        &p.join("a.npy"),
        "<f8",
        false,
        &[3],
        &f64_bytes(&[1.0, 2.5, -3.0]),
    );
    let r = ndexpr_in(p, &["eval", "a", "a=a.npy"]);
    assert_eq!(
        (r.code, r.out.as_str()),
        (0, "[ 1.   2.5 -3. ]\nshape (3,), dtype float64\n")
    );
    // 2*a + 48 = [50, 53, 42]
    let r = ndexpr_in(p, &["eval", "2*a + 48", "a=a.npy"]);
    assert_eq!(r.out, "[50. 53. 42.]\nshape (3,), dtype float64\n");
    // A 2-d bool result, and integers right-aligned to the widest.
    let r = ndexpr_in(p, &["eval", "a > 0", "a=a.npy"]);
    assert_eq!(r.out, "[ True  True False]\nshape (3,), dtype bool\n");
    let ints: Vec<u8> = [1i32, -20, 300, 4]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_npy(&p.join("m.npy"), "<i4", false, &[2, 2], &ints);
    let r = ndexpr_in(p, &["eval", "m", "m=m.npy"]);
    assert_eq!(
        r.out,
        "[[  1 -20]\n [300   4]]\nshape (2, 2), dtype int32\n"
    );
    // More than 1000 elements: 3 at each edge.
    let big: Vec<f64> = (0..2000).map(|i| i as f64).collect();
    write_npy(&p.join("big.npy"), "<f8", false, &[2000], &f64_bytes(&big));
    let r = ndexpr_in(p, &["eval", "big + 1", "big=big.npy"]);
    assert_eq!(
        r.out,
        "[1.000e+00 2.000e+00 3.000e+00 ... 1.998e+03 1.999e+03 2.000e+03]\nshape (2000,), dtype float64\n"
    );
}

#[test]
fn arithmetic_matches_plain_rust() {
    let dir = tmp();
    let p = dir.path();
    // int32: 2*a + 48 wraps like C.
    let a: Vec<i32> = vec![0, 1, -7, i32::MAX, i32::MIN, 1_000_000_000];
    let bytes: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(&p.join("a.npy"), "<i4", false, &[6], &bytes);
    let r = ndexpr_in(p, &["eval", "2*a + 48", "a=a.npy", "-o", "o.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let out = read_npy(&p.join("o.npy"));
    assert_eq!(out.descr, "<i4");
    let want: Vec<u8> = a
        .iter()
        .flat_map(|v| v.wrapping_mul(2).wrapping_add(48).to_le_bytes())
        .collect();
    assert_eq!(out.data, want);

    // float32: a*b + c, two roundings.
    let x: Vec<f32> = (0..50).map(|i| i as f32 * 0.37 - 3.1).collect();
    let y: Vec<f32> = (0..50).map(|i| 1.0 / (i as f32 + 0.5)).collect();
    let z: Vec<f32> = (0..50).map(|i| (i as f32).sqrt()).collect();
    for (name, v) in [("x", &x), ("y", &y), ("z", &z)] {
        let b: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
        write_npy(&p.join(format!("{name}.npy")), "<f4", false, &[50], &b);
    }
    let r = ndexpr_in(
        p,
        &[
            "eval", "a*b + c", "a=x.npy", "b=y.npy", "c=z.npy", "-o", "o.npy",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let out = read_npy(&p.join("o.npy"));
    assert_eq!(out.descr, "<f4");
    let want: Vec<u8> = (0..50)
        .flat_map(|i| (x[i] * y[i] + z[i]).to_le_bytes())
        .collect();
    assert_eq!(out.data, want);
}

#[test]
fn number_values_are_weak_literals() {
    let dir = tmp();
    let p = dir.path();
    let a: Vec<i8> = vec![1, 2, 100, -128];
    write_npy(
        &p.join("a.npy"),
        "|i1",
        false,
        &[4],
        &a.iter().map(|v| *v as u8).collect::<Vec<_>>(),
    );
    let i8s = |path: &str| -> Vec<i8> {
        let out = read_npy(&p.join(path));
        assert_eq!(out.descr, "|i1", "a weak literal keeps int8");
        out.data.iter().map(|&b| b as i8).collect()
    };
    // int8 + 3 is int8 (NEP 50), wrapping at 127.
    let r = ndexpr_in(p, &["eval", "a + k", "a=a.npy", "k=3", "-o", "o.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(i8s("o.npy"), vec![4, 5, 103, -125]);
    // A negative literal, as if written `a + (-4)`.
    let r = ndexpr_in(p, &["eval", "a + k", "a=a.npy", "k=-4", "-o", "o.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(i8s("o.npy"), vec![-3, -2, 96, 124]);
    // `-k**2` is `-(k**2)` for a variable: parentheses keep that.
    let r = ndexpr_in(p, &["eval", "a - k**2", "a=a.npy", "k=-3", "-o", "o.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(i8s("o.npy"), vec![-8, -7, 91, 119]);
    // A float literal with an int8 array gives float64, as NumPy 2.
    let r = ndexpr_in(p, &["eval", "a * k", "a=a.npy", "k=2.5", "-o", "o.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let out = read_npy(&p.join("o.npy"));
    assert_eq!(out.descr, "<f8");
    assert_eq!(f64s(&out.data), vec![2.5, 5.0, 250.0, -320.0]);
    // int8 + 300 is an error in NumPy 2, shown on the expression as written.
    let r = ndexpr_in(p, &["eval", "a + k", "a=a.npy", "k=300"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("300 out of bounds for int8"), "{}", r.err);
    assert!(r.err.contains("\n  a + k\n  ^^^^^"), "{}", r.err);
    // Literals fold by Python's rules; with no array the result is 0-d.
    let r = ndexpr_in(p, &["eval", "k**-1", "k=2"]);
    assert_eq!(r.out, "0.5\nshape (), dtype float64\n");
    let r = ndexpr_in(p, &["eval", "k + 1e-3", "k=True"]);
    assert_eq!(r.out, "1.001\nshape (), dtype float64\n");
    // A float32 array times a weak float stays float32; times 2j becomes complex64.
    let f: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_npy(&p.join("f.npy"), "<f4", false, &[2], &f);
    let r = ndexpr_in(p, &["eval", "f * k", "f=f.npy", "k=2.5"]);
    assert_eq!(r.out, "[ 3.75 -5.  ]\nshape (2,), dtype float32\n");
    let r = ndexpr_in(p, &["eval", "f * k", "f=f.npy", "k=2j"]);
    // (-2+0j)*(0+2j) has real part -2*0 - 0*2 = -0.
    assert_eq!(r.out, "[ 0.+3.j -0.-4.j]\nshape (2,), dtype complex64\n");
}

#[test]
fn a_literal_looking_value_is_a_number_even_if_a_file_has_that_name() {
    let dir = tmp();
    let p = dir.path();
    write_npy(&p.join("3"), "<f8", false, &[2], &f64_bytes(&[10.0, 20.0]));
    let r = ndexpr_in(p, &["eval", "k * 2", "k=3"]);
    assert_eq!((r.code, r.out.as_str()), (0, "6\nshape (), dtype int64\n"));
    assert!(r.err.contains("write `k=./3` for the file"), "{}", r.err);
    let r = ndexpr_in(p, &["eval", "k * 2", "k=./3"]);
    assert_eq!(r.out, "[20. 40.]\nshape (2,), dtype float64\n");
}

#[test]
fn zero_d_and_empty_arrays() {
    let dir = tmp();
    let p = dir.path();
    write_npy(&p.join("z.npy"), "<f8", false, &[], &f64_bytes(&[2.5]));
    let r = ndexpr_in(p, &["eval", "z*2", "z=z.npy"]);
    assert_eq!(r.out, "5.\nshape (), dtype float64\n");
    let r = ndexpr_in(p, &["eval", "z*2", "z=z.npy", "-o", "o.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let out = read_npy(&p.join("o.npy"));
    assert_eq!((out.shape.len(), f64s(&out.data)), (0, vec![5.0]));

    write_npy(&p.join("e.npy"), "<f8", false, &[0, 3], &[]);
    let r = ndexpr_in(p, &["eval", "e + 1", "e=e.npy"]);
    assert_eq!(r.out, "[]\nshape (0, 3), dtype float64\n");
    let r = ndexpr_in(p, &["eval", "e + 1", "e=e.npy", "-o", "o.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let out = read_npy(&p.join("o.npy"));
    assert_eq!((out.shape, out.data.len()), (vec![0, 3], 0));
    // An empty array broadcast with a 0-d one, and big-endian.
    write_npy(&p.join("eb.npy"), ">i2", false, &[4, 0], &[]);
    let r = ndexpr_in(p, &["eval", "e * z", "e=eb.npy", "z=z.npy", "-o", "o.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let out = read_npy(&p.join("o.npy"));
    assert_eq!((out.descr.as_str(), out.shape), ("<f8", vec![4, 0]));
}

#[test]
fn broadcast_shapes() {
    let dir = tmp();
    let p = dir.path();
    let c = [1.0, 2.0, 3.0];
    let r4 = [10.0, 20.0, 30.0, 40.0];
    write_npy(&p.join("c.npy"), "<f8", false, &[3, 1], &f64_bytes(&c));
    write_npy(&p.join("r.npy"), "<f8", false, &[4], &f64_bytes(&r4));
    let r = ndexpr_in(
        p,
        &["eval", "c*100 + r", "c=c.npy", "r=r.npy", "-o", "o.npy"],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let out = read_npy(&p.join("o.npy"));
    assert_eq!(out.shape, vec![3, 4]);
    let want: Vec<f64> = c
        .iter()
        .flat_map(|ci| r4.iter().map(move |rj| ci * 100.0 + rj))
        .collect();
    assert_eq!(f64s(&out.data), want);
}

#[test]
fn many_chunks_over_mixed_layouts() {
    // Large enough for several chunks, including a row split in two: a big-endian C-order
    // input, a Fortran-order input and a broadcast column.
    let dir = tmp();
    let p = dir.path();
    let (rows, cols) = (3usize, 1_100_000usize);
    let a = |r: usize, c: usize| (r * cols + c) as f64 * 0.5;
    let b = |r: usize, c: usize| (c % 1000) as f64 - r as f64;
    let col = [1.0, -1.0, 0.25];
    let a_be: Vec<u8> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .flat_map(|(r, c)| a(r, c).to_be_bytes())
        .collect();
    write_npy(&p.join("a.npy"), ">f8", false, &[rows, cols], &a_be);
    let b_f: Vec<u8> = (0..cols)
        .flat_map(|c| (0..rows).map(move |r| (r, c)))
        .flat_map(|(r, c)| b(r, c).to_le_bytes())
        .collect();
    write_npy(&p.join("b.npy"), "<f8", true, &[rows, cols], &b_f);
    write_npy(&p.join("c.npy"), "<f8", false, &[rows, 1], &f64_bytes(&col));
    let r = ndexpr_in(
        p,
        &[
            "eval",
            "a*2 - b + c",
            "a=a.npy",
            "b=b.npy",
            "c=c.npy",
            "-o",
            "o.npy",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let out = read_npy(&p.join("o.npy"));
    assert_eq!(out.shape, vec![rows, cols]);
    let got = f64s(&out.data);
    for r in 0..rows {
        for c in 0..cols {
            let want = a(r, c) * 2.0 - b(r, c) + col[r];
            assert_eq!(got[r * cols + c], want, "at ({r}, {c})");
        }
    }
}

#[test]
fn reductions_read_every_chunk() {
    // More elements than one chunk of the chunked evaluation: a reduction (at the root, or
    // inside the expression) must still see all of them. Integer-valued data, so every sum is
    // exact and the expected values are computed here exactly.
    let dir = tmp();
    let p = dir.path();
    let (rows, cols) = (3usize, 1_100_000usize);
    let a = |r: usize, c: usize| (c % 1000) as f64 + r as f64;
    let b = |r: usize, c: usize| (c % 7) as f64 - r as f64;
    let a_c: Vec<f64> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| a(r, c)))
        .collect();
    write_npy(
        &p.join("a.npy"),
        "<f8",
        false,
        &[rows, cols],
        &f64_bytes(&a_c),
    );
    let b_f: Vec<f64> = (0..cols)
        .flat_map(|c| (0..rows).map(move |r| b(r, c)))
        .collect();
    write_npy(
        &p.join("b.npy"),
        "<f8",
        true,
        &[rows, cols],
        &f64_bytes(&b_f),
    );
    let run = |expr: &str, out: &str| {
        let r = ndexpr_in(p, &["eval", expr, "a=a.npy", "b=b.npy", "-o", out]);
        assert_eq!(r.code, 0, "{expr}: {}", r.err);
        read_npy(&p.join(out))
    };
    let axis0 = run("sum(a*b, axis=0)", "s0.npy");
    assert_eq!(axis0.shape, vec![cols]);
    let got = f64s(&axis0.data);
    for (c, &g) in got.iter().enumerate() {
        let want: f64 = (0..rows).map(|r| a(r, c) * b(r, c)).sum();
        assert_eq!(g, want, "column {c}");
    }
    let axis1 = run("sum(a*b, axis=-1)", "s1.npy");
    assert_eq!(axis1.shape, vec![rows]);
    let got = f64s(&axis1.data);
    for (r, &g) in got.iter().enumerate() {
        let want: f64 = (0..cols).map(|c| a(r, c) * b(r, c)).sum();
        assert_eq!(g, want, "row {r}");
    }
    let total = run("sum(a*b)", "t.npy");
    assert_eq!(total.shape, Vec::<usize>::new());
    let want: f64 = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| a(r, c) * b(r, c)))
        .sum();
    assert_eq!(f64s(&total.data), vec![want]);
    let centred = run("a - mean(a)", "m.npy");
    assert_eq!(centred.shape, vec![rows, cols]);
    let mean = a_c.iter().sum::<f64>() / (rows * cols) as f64;
    let got = f64s(&centred.data);
    for (i, (&g, &x)) in got.iter().zip(&a_c).enumerate() {
        assert_eq!(g, x - mean, "element {i}");
    }
    // Printed, too.
    let r = ndexpr_in(p, &["eval", "max(a, axis=0)", "a=a.npy"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("shape (1100000,), dtype float64"),
        "{}",
        r.out
    );
    let r = ndexpr_in(p, &["eval", "sum(a, axis=2)", "a=a.npy"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .contains("axis 2 is out of bounds for array of dimension 2"),
        "{}",
        r.err
    );
}

#[test]
fn misaligned_data_and_format_versions() {
    let dir = tmp();
    let p = dir.path();
    let v = [1.0, -2.0, 3.5];
    // Data at an offset that is a multiple of 4 but not of 8.
    write_npy_with(
        &p.join("mis.npy"),
        "<f8",
        false,
        &[3],
        &f64_bytes(&v),
        1,
        8,
        4,
    );
    let h = fs::read(p.join("mis.npy")).unwrap();
    assert_eq!(parse_npy_header(&h).3 % 8, 4);
    let r = ndexpr_in(p, &["eval", "a + 1", "a=mis.npy"]);
    assert_eq!(
        r.out, "[ 2.  -1.   4.5]\nshape (3,), dtype float64\n",
        "{}",
        r.err
    );
    for version in [2u8, 3] {
        write_npy_with(
            &p.join("v.npy"),
            "<f8",
            false,
            &[3],
            &f64_bytes(&v),
            version,
            64,
            0,
        );
        let r = ndexpr_in(p, &["eval", "a + 1", "a=v.npy"]);
        assert_eq!(
            r.out, "[ 2.  -1.   4.5]\nshape (3,), dtype float64\n",
            "{}",
            r.err
        );
    }
}

#[test]
fn unused_variables_are_ignored_with_a_warning() {
    let dir = tmp();
    let p = dir.path();
    write_npy(&p.join("a.npy"), "<f8", false, &[1], &f64_bytes(&[1.0]));
    let r = ndexpr_in(p, &["eval", "a", "a=a.npy", "extra=missing.npy", "k=2"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.out, "[1.]\nshape (1,), dtype float64\n");
    assert!(r.err.contains("warning: `extra` is not used"), "{}", r.err);
    assert!(r.err.contains("warning: `k` is not used"), "{}", r.err);
}

// ---------------------------------------------------------------------------------------------
// Errors: status 1, a message on stderr, nothing written (neither the output nor a temporary).

fn assert_fails(dir: &Path, args: &[&str], message: &str) {
    let before = listing(dir);
    let mut full = args.to_vec();
    full.extend(["-o", "out.npy"]);
    let r = ndexpr_in(dir, &full);
    assert_eq!(r.code, 1, "{args:?}: {}", r.err);
    assert!(r.err.contains(message), "{args:?}: {}", r.err);
    assert_eq!(r.out, "", "{args:?}");
    assert_eq!(listing(dir), before, "{args:?} left a file behind");
}

#[test]
fn errors_exit_1_and_leave_nothing_behind() {
    let dir = tmp();
    let p = dir.path();
    write_npy(
        &p.join("a.npy"),
        "<f8",
        false,
        &[3],
        &f64_bytes(&[1.0, 2.0, 3.0]),
    );
    write_npy(&p.join("b4.npy"), "<f8", false, &[4], &f64_bytes(&[1.0; 4]));
    let ints = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    write_npy(&p.join("i.npy"), "<i8", false, &[3], &ints(&[2, 2, 2]));
    write_npy(&p.join("neg.npy"), "<i8", false, &[3], &ints(&[1, -1, 2]));
    write_npy(&p.join("str.npy"), "<U5", false, &[2], &[0u8; 40]);
    write_npy(&p.join("obj.npy"), "|O", false, &[2], &[0u8; 16]);
    write_npy(&p.join("dt.npy"), "<M8[ns]", false, &[2], &[0u8; 16]);
    write_npy(&p.join("trunc.npy"), "<f8", false, &[3], &[0u8; 16]);
    write_npy_dict(
        &p.join("rec.npy"),
        "{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (2,), }",
        &[0u8; 16],
    );
    fs::write(p.join("text.npy"), "x,y\n1,2\n").unwrap();
    fs::create_dir(p.join("adir")).unwrap();

    // A bad expression: ndexpr's diagnostic with its caret.
    assert_fails(p, &["eval", "2*a +", "a=a.npy"], "unexpected end of input");
    assert_fails(
        p,
        &["eval", "sinn(a)", "a=a.npy"],
        "unknown function `sinn`\n  sinn(a)\n  ^^^^",
    );
    // Files: missing, a directory, not .npy, unsupported dtypes, truncated.
    assert_fails(
        p,
        &["eval", "a", "a=nope.npy"],
        "`nope.npy` is neither a number nor an existing file",
    );
    assert_fails(p, &["eval", "a", "a=adir"], "is a directory");
    assert_fails(p, &["eval", "a", "a=text.npy"], "not a .npy file");
    assert_fails(p, &["eval", "a", "a=str.npy"], "unsupported dtype `<U5`");
    assert_fails(p, &["eval", "a", "a=obj.npy"], "unsupported dtype `|O`");
    assert_fails(p, &["eval", "a", "a=dt.npy"], "unsupported dtype `<M8[ns]`");
    assert_fails(p, &["eval", "a", "a=rec.npy"], "structured");
    assert_fails(p, &["eval", "a", "a=trunc.npy"], "truncated");
    // Shapes that do not broadcast.
    assert_fails(
        p,
        &["eval", "a + b", "a=a.npy", "b=b4.npy"],
        "could not be broadcast",
    );
    // Arguments that are not NAME=VALUE, a name given twice, a name not given.
    assert_fails(p, &["eval", "a", "a.npy"], "`a.npy` is not NAME=VALUE");
    assert_fails(p, &["eval", "a", "2x=a.npy"], "not a variable name");
    assert_fails(
        p,
        &["eval", "a", "a=a.npy", "a=3"],
        "variable `a` is given twice",
    );
    assert_fails(
        p,
        &["eval", "a + bb", "a=a.npy"],
        "variable `bb` is not given a value\n  a + bb\n      ^^",
    );
    // A type error on the substituted literal, and an error found while writing (after the
    // output file was created).
    assert_fails(
        p,
        &["eval", "a << k", "a=a.npy", "k=1"],
        "ufunc 'left_shift' not supported for the input types float64, float64\n  a << k\n  ^^^^^^",
    );
    assert_fails(
        p,
        &["eval", "i ** n", "i=i.npy", "n=neg.npy"],
        "Integers to negative integer powers are not allowed",
    );
    // An output that cannot be created.
    let r = ndexpr_in(p, &["eval", "a", "a=a.npy", "-o", "no/such/dir/out.npy"]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("cannot create"), "{}", r.err);
    let r = ndexpr_in(p, &["eval", "a", "a=a.npy", "-o", "adir"]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("is a directory"), "{}", r.err);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tmp();
    for args in [
        vec!["eval"],
        vec!["eval", "a", "--threads", "0"],
        vec!["eval", "a", "--frobnicate"],
        vec!["eval", "a", "-o"],
    ] {
        let r = ndexpr_in(dir.path(), &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.err);
    }
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn threads_option_gives_the_same_result() {
    let dir = tmp();
    let p = dir.path();
    let v: Vec<f64> = (0..300_000).map(|i| (i as f64).sin()).collect();
    write_npy(&p.join("a.npy"), "<f8", false, &[v.len()], &f64_bytes(&v));
    let mut outs = Vec::new();
    for t in ["1", "2", "3"] {
        let r = ndexpr_in(
            p,
            &["eval", "a*a + 1", "a=a.npy", "--threads", t, "-o", "o.npy"],
        );
        assert_eq!(r.code, 0, "{}", r.err);
        outs.push(read_npy(&p.join("o.npy")).data);
    }
    let want: Vec<u8> = f64_bytes(&v.iter().map(|x| x * x + 1.0).collect::<Vec<_>>());
    assert!(outs.iter().all(|o| *o == want));
}

// ---------------------------------------------------------------------------------------------
// Out of core: inputs and output larger than the process may allocate.

/// Writes a 1-d float64 `.npy` of `n` elements `f(i)` without holding it in memory.
fn write_big(path: &Path, n: usize, f: impl Fn(usize) -> f64) {
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(path).unwrap());
    w.write_all(&npy_header("<f8", false, &[n], 1, 64, 0))
        .unwrap();
    for i in 0..n {
        w.write_all(&f(i).to_le_bytes()).unwrap();
    }
    w.flush().unwrap();
}

fn read_f64_at(path: &Path, offset: usize, index: usize) -> f64 {
    let mut f = fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start((offset + 8 * index) as u64))
        .unwrap();
    let mut b = [0u8; 8];
    f.read_exact(&mut b).unwrap();
    f64::from_le_bytes(b)
}

/// Runs `ndexpr ARGS` under `ulimit -d KB` (RLIMIT_DATA: private writable memory, heap
/// included; file-backed shared mappings are not counted).
fn ndexpr_limited(dir: &Path, kb: usize, args: &str) -> Run {
    let bin: PathBuf = env!("CARGO_BIN_EXE_ndexpr").into();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -d {kb} && exec \"$0\" {args}"))
        .arg(bin)
        .current_dir(dir)
        .output()
        .expect("runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn files_larger_than_the_memory_limit_go_through_mappings() {
    let dir = tmp();
    let p = dir.path();
    let n = 50_000_000; // 400 MB per file, the limit is 150 MB
    write_big(&p.join("A.npy"), n, |i| i as f64);
    write_big(&p.join("B.npy"), n, |i| (i % 7) as f64);
    // Negative control: printing needs the whole result in memory, which the limit forbids.
    let r = ndexpr_limited(p, 150_000, "eval '2*a+b' a=A.npy b=B.npy");
    assert_eq!(r.code, 1, "the limit must bite: {}", r.err);
    assert!(r.err.contains("not enough memory"), "{}", r.err);
    // Through -o: no full-size allocation.
    let r = ndexpr_limited(p, 150_000, "eval '2*a+b' a=A.npy b=B.npy -o OUT.npy");
    assert_eq!(r.code, 0, "{}", r.err);
    let out = p.join("OUT.npy");
    let mut head = vec![0u8; 128];
    fs::File::open(&out).unwrap().read_exact(&mut head).unwrap();
    let (descr, fortran, shape, offset) = parse_npy_header(&head);
    assert_eq!((descr.as_str(), fortran, shape), ("<f8", false, vec![n]));
    assert_eq!(fs::metadata(&out).unwrap().len() as usize, offset + 8 * n);
    for i in [0, 1, 6, 7, 1 << 20, (1 << 20) + 1, n / 2 + 3, n - 2, n - 1] {
        assert_eq!(
            read_f64_at(&out, offset, i),
            2.0 * i as f64 + (i % 7) as f64,
            "element {i}"
        );
    }
    assert_eq!(listing(p), vec!["A.npy", "B.npy", "OUT.npy"]);
}
