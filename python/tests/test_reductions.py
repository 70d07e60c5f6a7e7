"""Reductions through the Python module, against NumPy on the same data: every reduction, with and
without an axis (negative too), C, Fortran, strided and broadcast inputs, nested full reductions
inside expressions, thread counts, and the errors."""

import numpy as np
import pytest

import ndexpr as ne

REDUCTIONS = ["sum", "prod", "mean", "min", "max", "any", "all"]
DTYPES = ["bool", "int8", "int32", "int64", "uint16", "uint64", "float16", "float32", "float64",
          "complex64", "complex128"]


def data(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        lo = 0 if dt.kind == "u" else -3
        return rng.integers(lo, 4, shape).astype(dt)
    if dt.kind == "c":
        return (rng.uniform(0.9, 1.1, shape) + 1j * rng.uniform(-0.1, 0.1, shape)).astype(dt)
    # Near 1, so that products of a few thousand values neither overflow nor vanish.
    return rng.uniform(0.99, 1.01, shape).astype(dt) * np.where(rng.random(shape) < 0.5, 1, -1).astype(dt)


def numpy_of(kind, x, axis):
    """NumPy's result, or None where NumPy overflows (a product of a broadcast row repeated a
    thousand times): both answers then depend on the order of the operations."""
    try:
        with np.errstate(over="raise", invalid="raise"):
            return np.asarray(getattr(np, kind)(x, axis=axis))
    except FloatingPointError:
        return None


def expect_same(got, want, kind, dtype, x=None, axis=None):
    got = np.asarray(got)
    if want is None:
        return
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    dt = np.dtype(dtype)
    if dtype == "float16" and kind in ("sum", "mean", "prod"):
        # NumPy rounds to float16 after every step along an outer axis (and every product);
        # ndexpr accumulates in float32 and rounds once (README), so it is compared with the
        # float32 computation: within a few float16 ulps of Σ|x| (sums), 1e-2 relative (products).
        x32 = x.astype(np.float32)
        exact = getattr(np, kind)(x32, axis=axis)
        if kind == "prod":
            scale = 2.0**2 * np.abs(exact)
        else:
            scale = np.abs(x32).sum(axis=axis) / (1 if kind == "sum" else x32.size / exact.size)
        assert np.all(np.abs(got.astype(np.float32) - exact) <= 2.0**-8 * scale + 1e-3)
    elif kind == "prod" and dt.kind in "fc" and not np.all(
        (np.abs(want) >= np.finfo(want.dtype).tiny) & np.isfinite(want)
    ):
        # NumPy's sequential product underflowed or overflowed on the way (a broadcast row
        # multiplied by itself a thousand times): ndexpr's blocked order may then meet inf * 0
        # (NaN) where NumPy ends in a subnormal; neither is the true product. Not compared.
        return
    elif kind in ("sum", "prod", "mean") and (dt.kind in "fc" or kind == "mean"):
        rtol = {"float16": 2e-2, "float32": 1e-4, "complex64": 1e-4}.get(dtype, 1e-11)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(got, want)


def layouts(shape, dtype, seed):
    x = data(shape, dtype, seed)
    yield "C", x
    yield "F", np.asfortranarray(x)
    wide = data(shape[:-1] + (shape[-1] * 3,), dtype, seed + 1)
    yield "strided", wide[..., ::3]
    yield "reversed", x[::-1]
    yield "broadcast", np.broadcast_to(x[:1], shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(37, 1100), (1100, 37), (5, 40, 300)])
def test_every_reduction_axis_and_layout(dtype, shape):
    for name, a in layouts(shape, dtype, 7):
        for kind in REDUCTIONS:
            for axis in [None] + list(range(-len(shape), len(shape))):
                src = f"{kind}(a)" if axis is None else f"{kind}(a, axis={axis})"
                got = ne.evaluate(src, local_dict={"a": a})
                expect_same(got, numpy_of(kind, a, axis), kind, dtype, a, axis)


@pytest.mark.parametrize("dtype", ["int32", "float32", "float64", "complex128"])
def test_sum_of_an_expression_with_an_axis(dtype):
    a = data((300, 700), dtype, 1)
    b = data((300, 700), dtype, 2)
    for axis in (0, 1, -1, None):
        got = ne.evaluate("sum(a*b)" if axis is None else f"sum(a*b, axis={axis})")
        expect_same(got, np.asarray(np.sum(a * b, axis=axis)), "sum", dtype)


@pytest.mark.parametrize("dtype", ["int8", "float32", "float64"])
def test_argmin_argmax(dtype):
    a = data((50, 71), dtype, 3)
    for kind in ("argmin", "argmax"):
        got = ne.evaluate(f"{kind}(a)")
        want = np.asarray(getattr(np, kind)(a))
        assert got.dtype == want.dtype and got == want
    af = np.asfortranarray(a)
    assert ne.evaluate("argmax(af)") == np.argmax(af)


def test_nan_propagates():
    a = np.arange(3000.0)
    a[1234] = np.nan
    for kind in ("min", "max", "sum", "mean"):
        assert np.isnan(ne.evaluate(f"{kind}(a)"))
    assert ne.evaluate("argmax(a)") == 1234
    m = a.reshape(30, 100)
    np.testing.assert_array_equal(ne.evaluate("max(m, axis=0)"), np.max(m, axis=0))
    np.testing.assert_array_equal(ne.evaluate("min(m, axis=1)"), np.min(m, axis=1))


def test_full_reductions_inside_expressions():
    rng = np.random.default_rng(5)
    a = rng.standard_normal(100_003)
    b = rng.standard_normal(100_003).astype(np.float32)
    cases = {
        "a - mean(a)": a - np.mean(a),
        "(a - min(a)) / (max(a) - min(a))": (a - np.min(a)) / (np.max(a) - np.min(a)),
        "sum(a - mean(a))": np.sum(a - np.mean(a)),
        "b * sum(a)": b * np.sum(a),
        "b - mean(b)": b - np.mean(b),
        "sum(b) + a": np.sum(b) + a,
        "where(a > mean(a), 1, 0)": np.where(a > np.mean(a), 1, 0),
        "a / sqrt(sum(a**2))": a / np.sqrt(np.sum(a**2)),
    }
    for src, want in cases.items():
        got = ne.evaluate(src)
        want = np.asarray(want)
        assert got.dtype == want.dtype, src
        np.testing.assert_allclose(got, want, rtol=1e-5 if want.dtype == np.float32 else 1e-9,
                                   atol=1e-9, err_msg=src)


def test_thread_counts_give_identical_results():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((1500, 900))
    b = rng.standard_normal((1500, 900))
    before = ne.get_num_threads()
    try:
        results = {}
        for t in (1, 2, 4):
            ne.set_num_threads(t)
            results[t] = [ne.evaluate(src, local_dict={"a": a, "b": b}) for src in
                          ("sum(a*b)", "sum(a, axis=0)", "mean(a, axis=1)", "a - mean(a)",
                           "max(a*b, axis=-2)")]
        for t in (2, 4):
            for x, y in zip(results[1], results[t]):
                assert np.array_equal(x, y)
    finally:
        ne.set_num_threads(before)


def test_empty_inputs():
    e = np.zeros((0, 3))
    assert ne.evaluate("sum(e)") == 0 and ne.evaluate("prod(e)") == 1
    np.testing.assert_array_equal(ne.evaluate("sum(e, axis=0)"), np.zeros(3))
    assert ne.evaluate("sum(e, axis=1)").shape == (0,)
    with pytest.raises(ValueError, match="zero-size array to reduction operation minimum"):
        ne.evaluate("min(e)")


def test_errors():
    a = np.ones((3, 4))
    with pytest.raises(Exception, match="axis 2 is out of bounds for array of dimension 2"):
        ne.evaluate("sum(a, axis=2)")
    with pytest.raises(Exception, match="axis -3 is out of bounds"):
        ne.evaluate("sum(a, axis=-3)")
    with pytest.raises(Exception, match="axis"):
        ne.evaluate("a + sum(a, axis=0)")
