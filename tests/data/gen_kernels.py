"""Generates tests/data/kernels_numpy.tsv: NumPy 2 oracle values for tests/kernels.rs.

Run with NumPy 2.4 on x86-64:  python tests/data/gen_kernels.py > tests/data/kernels_numpy.tsv
and  python tests/data/gen_kernels.py --approx > tests/data/kernels_numpy_approx.tsv
(functions compared with a tolerance).

Each line: op, operand dtype, output dtype, three operands, result ("-" for unused operands).
Values: bool 0/1, integers in decimal, floats as the hex of their bits, complex as "re,im" bits.
"""
import itertools
import warnings

import numpy as np

warnings.simplefilter("ignore")

SHORT = {np.bool_: "bool", np.int8: "i8", np.int16: "i16", np.int32: "i32", np.int64: "i64",
         np.uint8: "u8", np.uint16: "u16", np.uint32: "u32", np.uint64: "u64", np.float16: "f16",
         np.float32: "f32", np.float64: "f64", np.complex64: "c64", np.complex128: "c128"}
INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOATS = [np.float32, np.float64]
COMPLEX = [np.complex64, np.complex128]
ALL = [np.bool_] + INTS + [np.float16] + FLOATS + COMPLEX
FBITS = {np.float16: np.uint16, np.float32: np.uint32, np.float64: np.uint64}


def enc(x):
    t = x.dtype.type
    if t is np.bool_:
        return str(int(x))
    if t in INTS:
        return str(int(x))
    if t in FBITS:
        return hex(int(np.array(x).view(FBITS[t])))
    r = np.real(x)
    i = np.imag(x)
    return enc(r) + "," + enc(i)


def row(op, ty, out, args, res):
    a = [enc(v) for v in args] + ["-"] * (3 - len(args))
    print("\t".join([op, SHORT[ty], SHORT[out.dtype.type]] + a + [enc(res)]))


def int_values(t):
    i = np.iinfo(t)
    bits = i.bits
    v = [i.min, i.min + 1, -7, -3, -2, -1, 0, 1, 2, 3, 7, bits - 1, bits, bits + 1, i.max]
    return np.array(sorted({x for x in v if i.min <= x <= i.max}), dtype=t)


FLOAT_VALUES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0,
                -3.0, 7.0, 0.1, 1e30, -1e-30, 1e300, 5e-324, 6.5, -7.25]


def float_values(t):
    return np.array(FLOAT_VALUES, dtype=t)


def binary(name, t, xs, ys=None, skip=None):
    ys = xs if ys is None else ys
    pairs = [(a, b) for a in xs for b in ys if skip is None or not skip(a, b)]
    a = np.array([p[0] for p in pairs], dtype=t)
    b = np.array([p[1] for p in pairs], dtype=t)
    r = getattr(np, name)(a, b)
    for k in range(len(pairs)):
        row(name, t, r, [a[k], b[k]], r[k])


def unary(name, t, xs):
    a = np.array(xs, dtype=t)
    r = getattr(np, name)(a)
    for k in range(len(a)):
        row(name, t, r, [a[k]], r[k])


def approx():
    """Functions whose results may differ from NumPy's by a few ulp (libm vs NumPy's SIMD)."""
    xs = [0.0, -0.0, 0.5, -0.5, 0.9, 1.0, -1.0, 2.0, 3.5, -3.5, 10.0, 100.0, 1e-10, np.inf,
          -np.inf, np.nan, 0.1, 1.5, -2.0]
    for t in FLOATS:
        for name in ["sqrt", "cbrt", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
                     "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                     "arcsinh", "arccosh", "arctanh"]:
            unary(name, t, xs)
        for name in ["arctan2", "power"]:
            binary(name, t, [0.0, -0.0, 0.5, -2.0, 3.0, 1.0, np.inf, -np.inf, np.nan, 2.5])
    cs = [complex(1, 2), complex(-3, 0.5), complex(0.5, -0.25), complex(2, 0), complex(-1, 0),
          complex(0, 1), complex(0.1, 0.1), complex(-2, -3)]
    for t in COMPLEX:
        for name in ["sqrt", "exp", "exp2", "log", "log2", "log10", "sin", "cos", "tan",
                     "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
                     "arctanh", "expm1", "log1p"]:
            unary(name, t, cs)
        binary("power", t, cs + [complex(0, 0), complex(3, 0), complex(-2, 0), complex(0.5, 0)])


if len(__import__("sys").argv) > 1:
    approx()
    raise SystemExit


CMP = ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"]

for t in INTS:
    xs = int_values(t)
    for name in ["add", "subtract", "multiply", "floor_divide", "remainder", "fmod",
                 "left_shift", "right_shift", "bitwise_and", "bitwise_or", "bitwise_xor",
                 "maximum", "minimum"] + CMP:
        binary(name, t, xs)
    binary("power", t, xs, skip=lambda a, b: b < 0)
    for name in ["negative", "absolute", "sign", "square", "reciprocal", "invert", "floor",
                 "positive", "isnan"]:
        unary(name, t, xs)

bools = np.array([False, True])
for name in ["add", "multiply", "bitwise_and", "bitwise_or", "bitwise_xor", "maximum",
             "minimum", "logical_and", "logical_or"] + CMP:
    binary(name, np.bool_, bools)
for name in ["invert", "absolute", "logical_not", "isnan"]:
    unary(name, np.bool_, bools)

for t in FLOATS:
    xs = float_values(t)
    for name in ["add", "subtract", "multiply", "divide", "floor_divide", "remainder", "fmod",
                 "maximum", "minimum", "copysign", "nextafter", "hypot"] + CMP:
        binary(name, t, xs)
    for name in ["negative", "absolute", "sign", "square", "reciprocal", "floor", "ceil",
                 "trunc", "rint", "sqrt", "isnan", "isfinite", "isinf", "signbit",
                 "logical_not"]:
        unary(name, t, xs)
    unary("rint", t, [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 4.5, 2.4999999, 1e16 + 1])

CVALS = [complex(1, 2), complex(-3, 0.5), complex(0, 0), complex(0, -0.0), complex(-0.0, 0),
         complex(1e300, 1e300), complex(1e-300, 1e-300), complex(1e300, -1e-300),
         complex(np.inf, 0), complex(np.inf, 1), complex(1, -np.inf), complex(np.nan, 1),
         complex(1, np.nan), complex(2, 2), complex(1, 2), complex(3, 4), complex(-1e38, 2e38)]
for t in COMPLEX:
    xs = np.array(CVALS, dtype=t)
    for name in ["add", "subtract", "multiply", "divide", "maximum", "minimum"] + CMP:
        binary(name, t, xs)
    for name in ["negative", "absolute", "sign", "square", "reciprocal", "conjugate", "isnan",
                 "isfinite", "isinf", "logical_not"]:
        unary(name, t, xs)
    # Integer exponents: NumPy's nc_pow multiplies exactly (binary powering).
    binary("power", t, [complex(1, 2), complex(-3, 0.5), complex(0.5, -0.25), complex(1e-3, 7)],
           [complex(n, 0) for n in [0, 1, 2, 3, 4, 5, 7, -1, -2, -3, 99]])
    a = np.array(CVALS, dtype=t)
    for k in range(len(a)):
        row("real", t, np.real(a), [a[k]], np.real(a)[k])
        row("imag", t, np.imag(a), [a[k]], np.imag(a)[k])

# clip: minimum(maximum(x, lo), hi), NaN-propagating.
for t in FLOATS:
    v = np.array([np.nan, -1.0, 0.0, -0.0, 2.0, 5.0, np.inf], dtype=t)
    trip = list(itertools.product(v, v, v))
    x, lo, hi = (np.array([p[k] for p in trip], dtype=t) for k in range(3))
    r = np.clip(x, lo, hi)
    for k in range(len(trip)):
        row("clip", t, r, [x[k], lo[k], hi[k]], r[k])
for t in [np.int8, np.uint16, np.int64]:
    v = int_values(t)[[0, 3, 6, 7, -1]]
    trip = list(itertools.product(v, v, v))
    x, lo, hi = (np.array([p[k] for p in trip], dtype=t) for k in range(3))
    r = np.clip(x, lo, hi)
    for k in range(len(trip)):
        row("clip", t, r, [x[k], lo[k], hi[k]], r[k])


# Casts, each value converted inside a 64-element array (NumPy's vectorised loop, see cast.rs).
def cast_rows(src, values):
    a = np.array(values).astype(src) if src is not np.bool_ else np.array(values, dtype=bool)
    for dst in ALL:
        for x in a:
            r = np.full(64, x, dtype=src).astype(dst)[0]
            row("cast", src, np.array([r]), [x], r)


SPECIAL = [np.nan, -np.nan, np.inf, -np.inf, 1e20, -1e20, 300.0, -1.0, -129.0, 65535.0,
           65536.0, -2.5, 2.9, 0.0, -0.0, 4294967295.0, 4294967296.0, 2147483648.0,
           -2147483648.0, -2147483649.0, -3e9, 2.0**63, 2.0**64, -(2.0**63), 1e19, 9.3e18,
           65519.99, 65520.0, 1.00048828125, 1.0004882812500002, 6e-8, 3e-8, 2.9802322387695312e-08]
for src in [np.float16, np.float32, np.float64]:
    cast_rows(src, SPECIAL)
for src in COMPLEX:
    cast_rows(src, [complex(v, 1.0) for v in SPECIAL[:12]] + [complex(0, 0), complex(0, -2.0)])
for src in INTS:
    cast_rows(src, int_values(src))
cast_rows(np.bool_, [False, True])