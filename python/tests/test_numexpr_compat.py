"""Cross-checks with numexpr itself (skipped when it is not installed), where numexpr and
NumPy 2 agree: float64/int64/complex128/bool expressions, out=, re_evaluate, NumExpr calls."""

import numpy as np
import pytest

import ndexpr as ne

numexpr = pytest.importorskip("numexpr")

rng = np.random.default_rng(4)
A = rng.standard_normal(10_000)
B = rng.standard_normal(10_000)
I = rng.integers(-1000, 1000, 10_000)
J = rng.integers(1, 50, 10_000)
Z = A + 1j * B
M = A > 0

EXACT = [
    "2*A + 48", "A*B + 3", "A - B/2", "where(A > B, A, B)", "A < B", "(A > 0) & (B < 0)",
    "sqrt(abs(A))", "I + J*3", "I - J", "I * J", "where(M, I, J)", "maximum(A, B)",
    "minimum(A, B)", "Z * 2", "real(Z) + imag(Z)", "~M", "A ** 2", "floor(A) + ceil(B)",
    "I < J", "copysign(A, B)", "fmod(A, B)",
]
CLOSE = ["sin(A)**2 + cos(B)**2", "exp(-abs(A)) * log1p(abs(B))", "arctan2(A, B)", "tanh(A)",
         "sqrt(A**2 + B**2)", "A**3 + 4*A**2 - 2*A + 1"]


@pytest.mark.parametrize("src", EXACT)
def test_same_as_numexpr_exact(src):
    want = numexpr.evaluate(src)
    got = ne.evaluate(src)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("src", CLOSE)
def test_same_as_numexpr_close(src):
    want = numexpr.evaluate(src)
    got = ne.evaluate(src)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


def test_out_and_re_evaluate_like_numexpr():
    for lib in (numexpr, ne):
        a = np.arange(5.0)
        out = np.zeros(5)
        assert lib.evaluate("a * 2", out=out) is out
        a = np.ones(5)  # noqa: F841
        lib.re_evaluate()
        assert list(out) == [2.0] * 5
        a = np.arange(5.0)
        lib.evaluate("a + 1", out=a)
        assert list(a) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_numexpr_object_calls_like_numexpr():
    sig = [("a", np.float64), ("b", np.float64)]
    x, y = np.arange(4.0), np.ones(4)
    np.testing.assert_array_equal(ne.NumExpr("a - 2*b", sig)(x, y), numexpr.NumExpr("a - 2*b", sig)(x, y))


def test_same_exceptions_as_numexpr():
    a = np.ones(3)  # noqa: F841
    for lib in (numexpr, ne):
        with pytest.raises(KeyError):
            lib.evaluate("a + missing_name")
        with pytest.raises(SyntaxError):
            lib.evaluate("a +* 2")
        with pytest.raises(ValueError):
            lib.evaluate("a + 1", out=np.broadcast_to(np.zeros(1), (3,)))
        with pytest.raises(TypeError):
            lib.evaluate("a * 2", out=np.zeros(3, np.int32), casting="safe")
