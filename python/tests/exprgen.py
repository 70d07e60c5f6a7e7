"""Random expressions and operands for the differential tests, with NumPy as the oracle.

An expression is generated as a tree and rendered twice: as ndexpr source, and as Python source
that NumPy evaluates with its own operators and ufuncs (``eval`` over a namespace of NumPy
functions: the oracle, in the test only).
"""

from __future__ import annotations

import numpy as np

INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float16", "float32", "float64"]
COMPLEXES = ["complex64", "complex128"]
DTYPES = ["bool"] + INTS + FLOATS + COMPLEXES

def pow_(x, y):
    """``x ** y`` as NumPy computes it for arrays: ndarray.__pow__ makes ``bool_array ** 2``
    np.square (int8). NumPy's scalars skip that shortcut (``np.True_ ** 2`` is int64); ndexpr
    treats NumPy scalars as 0-d arrays, so the oracle does too."""
    if isinstance(x, (np.ndarray, np.bool_)) and x.dtype == bool and type(y) is int and y == 2:
        return np.square(x)
    return x ** y


# ndexpr name -> NumPy callable, for the oracle.
NP_FUNCS = {
    "where": np.where,
    "abs": np.absolute,
    "sign": np.sign,
    "square": np.square,
    "sqrt": np.sqrt,
    "ceil": np.ceil,
    "floor": np.floor,
    "trunc": np.trunc,
    "round": np.rint,
    "isnan": np.isnan,
    "isfinite": np.isfinite,
    "isinf": np.isinf,
    "signbit": np.signbit,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "copysign": np.copysign,
    "fmod": np.fmod,
    "conj": np.conjugate,
    "reciprocal": np.reciprocal,
    "nextafter": np.nextafter,
    "copy": lambda x: np.array(x, copy=True),
    # transcendental: compared within a few ULP
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "arcsinh": np.arcsinh,
    "arccosh": np.arccosh,
    "arctanh": np.arctanh,
    "exp": np.exp,
    "exp2": np.exp2,
    "expm1": np.expm1,
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "log1p": np.log1p,
    "cbrt": np.cbrt,
    "arctan2": np.arctan2,
    "hypot": np.hypot,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_not": np.logical_not,
    "pow_": pow_,
}

EXACT_UNARY = ["abs", "sign", "square", "sqrt", "ceil", "floor", "trunc", "round", "isnan",
               "isfinite", "isinf", "signbit", "conj", "copy", "reciprocal"]
EXACT_BINARY = ["maximum", "minimum", "copysign", "fmod", "nextafter"]
INEXACT_UNARY = ["sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                 "arcsinh", "arccosh", "arctanh", "exp", "exp2", "expm1", "log", "log2",
                 "log10", "log1p", "cbrt"]
INEXACT_BINARY = ["arctan2", "hypot"]
ARITH = ["+", "-", "*", "/", "//", "%"]
COMPARE = ["<", "<=", ">", ">=", "==", "!="]
BITWISE = ["&", "|", "^", "<<", ">>"]

# Result shapes, and the layouts an operand of that shape can be given in.
SHAPES = [(), (1,), (7,), (600,), (1100,), (3, 5), (4, 1, 6), (2, 3, 4, 5), (40, 33), (1, 0)]
LAYOUTS = ["c", "rev", "step", "bcast", "fortran", "field", "unaligned", "big", "transposed",
           "neg2d"]


# --------------------------------------------------------------------------------------------
# Values


def values(rng, dtype, n, special=True):
    """`n` random values of `dtype`, with the dtype's edge values mixed in."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(info.min, -100), min(info.max, 100)
        v = rng.integers(lo, hi + 1, n, dtype=np.int64).astype(dt)
        if special and n >= 8:
            edges = np.array([info.min, info.max, 0, 1, info.max - 1, info.min + (1 if info.min else 0)],
                             dtype=dt)
            idx = rng.choice(n, size=min(len(edges), n // 4), replace=False)
            v[idx] = edges[: len(idx)]
        return v
    if dt.kind == "f":
        v = (rng.standard_normal(n) * 8).astype(dt)
        if special and n >= 8:
            edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5], dtype=dt)
            idx = rng.choice(n, size=min(len(edges), n // 4), replace=False)
            v[idx] = edges[: len(idx)]
        return v
    re = values(rng, dt.type(0).real.dtype, n, special)
    im = values(rng, dt.type(0).real.dtype, n, special)
    with np.errstate(all="ignore"):
        z = np.empty(n, dt)
        z.real = re
        z.imag = im
    return z


def layout_array(rng, base, layout):
    """`base` (C-contiguous) placed in memory as `layout` says; same shape and values."""
    shape = base.shape
    dt = base.dtype
    if layout == "c" or base.ndim == 0:
        return base
    if layout == "rev":
        big = np.zeros(shape[:-1] + (shape[-1] * 3,), dt)
        view = big[..., ::-3]
        view[...] = base
        return view
    if layout == "step":
        big = np.zeros(shape[:-1] + (shape[-1] * 20,), dt)
        view = big[..., ::20]
        view[...] = base
        return view
    if layout == "fortran":
        return np.asfortranarray(base)
    if layout == "field":
        rec = np.zeros(shape, dtype=[("pad", "u1"), ("v", dt)])
        rec["v"] = base
        return rec["v"]
    if layout == "unaligned":
        if dt.itemsize == 1:
            return base
        buf = np.zeros(base.size * dt.itemsize + 1, np.uint8)
        view = buf[1:].view(dt).reshape(shape)
        view[...] = base
        assert not view.flags.aligned or base.size == 0
        return view
    if layout == "big":
        return base.astype(dt.newbyteorder(">"))
    if layout == "transposed":
        return np.ascontiguousarray(base.T).T
    if layout == "neg2d":
        big = np.zeros(tuple(n * 2 for n in shape), dt)
        view = big[tuple(slice(None, None, -2) for _ in shape)]
        view[...] = base
        return view
    if layout == "bcast":
        # The values of the first row, broadcast along the first axis.
        row = base[:1] if base.shape[0] > 0 else base
        return np.broadcast_to(row, shape)
    raise ValueError(layout)


# --------------------------------------------------------------------------------------------
# Expressions


class Node:
    def __init__(self, src, np_src, exact=True, literal=False):
        self.src = src
        self.np_src = np_src
        self.exact = exact
        self.literal = literal


class Gen:
    """Builds random expressions over the variables it is given."""

    def __init__(self, rng, var_names, var_kinds, exact_only=True, python_names=()):
        self.rng = rng
        self.vars = var_names
        # Variables bound to Python numbers: literals, as far as folding goes.
        self.python = set(python_names)
        self.arrays = [n for n in var_names if n not in self.python] or var_names
        self.kinds = var_kinds  # name -> dtype
        self.exact_only = exact_only

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def literal(self):
        r = self.rng.random()
        if r < 0.4:
            v = int(self.rng.integers(0, 5))
            return Node(str(v), str(v), literal=True)
        if r < 0.75:
            v = self.choice(["2.5", "0.5", "1.0", "3.0", "1e3", "-0.0"])
            return Node("(" + v + ")", "(" + v + ")", literal=True)
        if r < 0.85:
            v = self.choice(["True", "False"])
            return Node(v, v, literal=True)
        if r < 0.93:
            v = self.choice(["2j", "(1.5+0.5j)"])
            return Node(v, v, literal=True)
        v = self.choice(["300", "70000", "4294967296"])
        return Node(v, v, literal=True)

    def leaf(self, allow_literal=True):
        if allow_literal and self.rng.random() < 0.25:
            return self.literal()
        name = self.choice(self.vars if allow_literal else self.arrays)
        return Node(name, name, literal=name in self.python)

    def operand(self, depth):
        """An expression that is not a bare literal (a unary operator or function on a literal
        is folded by Python's rules in ndexpr, where True/False are NumPy bools: ``~False`` is
        ``True`` there and ``-1`` in Python)."""
        x = self.expr(depth)
        if x.literal:
            return self.leaf(allow_literal=False)
        return x

    def expr(self, depth):
        if depth <= 0:
            return self.leaf()
        r = self.rng.random()
        if r < 0.45:
            op = self.choice(ARITH * 3 + COMPARE + BITWISE + ["**"])
            lhs = self.expr(depth - 1)
            rhs = self.expr(depth - 1)
            if lhs.literal and rhs.literal:
                # no literal-literal operations: Python's and NumPy's rules differ there
                rhs = self.leaf(allow_literal=False)
            if op == "**" and not (lhs.src in self.kinds and rhs.src in self.kinds and np.result_type(
                    self.kinds[lhs.src], self.kinds[rhs.src]).kind in "iub"):
                # Exact for integer exponents; for others only the exponents NumPy's
                # ndarray.__pow__ special-cases (square, sqrt, reciprocal, copy).
                rhs = self.choice([Node("2", "2"), Node("(0.5)", "(0.5)"), Node("(-1)", "(-1)"),
                                   Node("1", "1")])
            if op == "**" and lhs.literal:
                lhs = self.leaf(allow_literal=False)
            if op == "**":
                # see pow_
                return Node("(%s ** %s)" % (lhs.src, rhs.src),
                            "pow_(%s, %s)" % (lhs.np_src, rhs.np_src), lhs.exact and rhs.exact)
            return Node("(%s %s %s)" % (lhs.src, op, rhs.src),
                        "(%s %s %s)" % (lhs.np_src, op, rhs.np_src), lhs.exact and rhs.exact)
        if r < 0.55:
            op = self.choice(["-", "~", "not "])
            x = self.operand(depth - 1)
            if op == "not ":
                return Node("(not %s)" % x.src, "logical_not(%s)" % x.np_src, x.exact)
            return Node("(%s%s)" % (op, x.src), "(%s%s)" % (op, x.np_src), x.exact)
        if r < 0.62:
            op = self.choice(["and", "or"])
            lhs, rhs = self.expr(depth - 1), self.expr(depth - 1)
            if lhs.literal and rhs.literal:  # Python's `and` on two numbers returns one
                rhs = self.leaf(allow_literal=False)
            return Node("(%s %s %s)" % (lhs.src, op, rhs.src),
                        "logical_%s(%s, %s)" % (op, lhs.np_src, rhs.np_src), lhs.exact and rhs.exact)
        if r < 0.72:
            c, x, y = self.expr(depth - 1), self.expr(depth - 1), self.expr(depth - 1)
            return Node("where(%s, %s, %s)" % (c.src, x.src, y.src),
                        "where(%s, %s, %s)" % (c.np_src, x.np_src, y.np_src),
                        c.exact and x.exact and y.exact)
        if r < 0.88:
            f = self.choice(EXACT_UNARY)
            x = self.operand(depth - 1)
            return Node("%s(%s)" % (f, x.src), "%s(%s)" % (f, x.np_src), x.exact)
        f = self.choice(EXACT_BINARY)
        x, y = self.expr(depth - 1), self.expr(depth - 1)
        return Node("%s(%s, %s)" % (f, x.src, y.src), "%s(%s, %s)" % (f, x.np_src, y.np_src),
                    x.exact and y.exact)


def oracle(np_src, namespace):
    """NumPy's answer for `np_src` (operators and ufuncs), as an array; or the exception."""
    ns = dict(NP_FUNCS)
    ns.update(namespace)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return np.asarray(eval(np_src, {"__builtins__": {}}, ns)), None
            except Exception as e:  # noqa: BLE001 - any failure is the oracle's answer
                return None, e


# --------------------------------------------------------------------------------------------
# Comparison


def _bits_equal_float(got, want):
    """Equal values, equal signs of zero, NaN where NaN."""
    both_nan = np.isnan(got) & np.isnan(want)
    same = (got == want) & (np.signbit(got) == np.signbit(want))
    return both_nan | same


def assert_exact(got, want, what=""):
    assert got.dtype == want.dtype, "%s: dtype %s, NumPy %s" % (what, got.dtype, want.dtype)
    assert got.shape == want.shape, "%s: shape %s, NumPy %s" % (what, got.shape, want.shape)
    if got.dtype.kind == "f":
        ok = _bits_equal_float(got, want)
    elif got.dtype.kind == "c":
        ok = _bits_equal_float(got.real, want.real) & _bits_equal_float(got.imag, want.imag)
    else:
        ok = got == want
    if not np.all(ok):
        bad = np.argwhere(~np.asarray(ok))[:5]
        raise AssertionError(
            "%s: %d of %d elements differ; first at %s: got %r, NumPy %r"
            % (what, np.size(ok) - np.count_nonzero(ok), np.size(ok), bad.tolist(),
               [got[tuple(i)] for i in bad], [want[tuple(i)] for i in bad])
        )


def ulp_distance(got, want):
    """Distance in units of the last place of `want` (NaN against NaN and equal infinities: 0)."""
    got = np.asarray(got)
    want = np.asarray(want)
    with np.errstate(all="ignore"):
        both_nan = np.isnan(got) & np.isnan(want)
        same = got == want
        spacing = np.abs(np.spacing(np.where(np.isfinite(want), want, 0).astype(want.dtype)))
        spacing = np.maximum(spacing, np.finfo(want.dtype).smallest_subnormal)
        d = np.abs(got.astype(np.float64) - want.astype(np.float64)) / spacing.astype(np.float64)
    return np.where(both_nan | same, 0.0, np.where(np.isfinite(d), d, np.inf))


def assert_close(got, want, maxulp, what=""):
    assert got.dtype == want.dtype, "%s: dtype %s, NumPy %s" % (what, got.dtype, want.dtype)
    assert got.shape == want.shape, "%s: shape %s, NumPy %s" % (what, got.shape, want.shape)
    if got.dtype.kind == "c":
        d = np.maximum(ulp_distance(got.real, want.real), ulp_distance(got.imag, want.imag))
    elif got.dtype.kind == "f":
        d = ulp_distance(got, want)
    else:
        d = np.where(got == want, 0.0, np.inf)
    if np.size(d) and np.max(d) > maxulp:
        i = np.unravel_index(np.argmax(d), d.shape)
        raise AssertionError("%s: %.1f ULP apart (max %s) at %s: got %r, NumPy %r"
                             % (what, np.max(d), maxulp, i, got[i], want[i]))
