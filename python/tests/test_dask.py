"""ndexpr on Dask (ndexpr.dask): lazy graphs run on a local distributed cluster of two worker
processes, compared with NumPy on the same data (the operands computed by Dask, then NumPy's
operators, ufuncs and reductions: never ndexpr's own output)."""

import math
import os
import pickle
import time

import numpy as np
import pytest

import ndexpr as ne
from exprgen import assert_close, assert_exact

dask = pytest.importorskip(
    "dask", reason="Dask is not installed (pip install './python[dask]'; CI installs it)"
)
da = pytest.importorskip("dask.array", reason="dask[array] is not installed")
distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")

MEMORY_LIMIT = 200e6  # bytes per worker, for the larger-than-memory test
TIMEOUT = 120  # seconds any one computation may take before the test fails


@pytest.fixture(scope="module")
def client():
    """Two worker processes on loopback, one thread each, 200 MB each; closed at the end."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit=MEMORY_LIMIT,
        silence_logs=40,
        timeout="60s",
    )
    c = distributed.Client(cluster, timeout="60s")
    try:
        c.wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)


def compute(*xs):
    """Computes on the cluster (the fixture's client), failing after TIMEOUT seconds."""
    c = distributed.get_client()
    futures = c.compute(list(xs))
    distributed.wait(futures, timeout=TIMEOUT)
    return c.gather(futures)


def rand(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -1000), min(info.max, 1000), shape, endpoint=True).astype(dtype)
    if dtype.kind == "c":
        return (rng.random(shape) + 0.5 + 1j * (rng.random(shape) - 0.5)).astype(dtype)
    return (rng.random(shape) + 0.5).astype(dtype)


def float_sum_tol(terms, n):
    """Any summation order of n terms errs by at most (n-1)·u·Σ|x| (u: the unit roundoff of the
    result's dtype): the bound dask's tree (per-chunk pairwise, then the tree) and NumPy's
    pairwise sum both satisfy, so their difference is within twice that."""
    u = np.finfo(np.asarray(terms).real.dtype).eps / 2
    return 2 * max(n - 1, 1) * u * np.sum(np.abs(terms).astype(np.float64), axis=None)


# ---------------------------------------------------------------------------------------------
# Laziness, metadata, errors (no computation)


def test_lazy_with_dtype_and_shape_metadata(client):
    # Functions that tasks run are defined in the tests (so that they travel by value: the
    # workers can't import this module).
    def _boom(x):
        raise AssertionError("computed although the result is lazy")

    a = da.ones((40, 30), chunks=(9, 7)).map_blocks(_boom, dtype=float)
    b = da.ones(30, chunks=10, dtype=np.float32)
    r = ne.evaluate("2*a + b")
    assert isinstance(r, da.Array)
    assert r.dtype == np.float64 and r.shape == (40, 30)
    assert r._meta.dtype == np.float64 and r._meta.ndim == 2
    s = ne.evaluate("sum(a*b, axis=-1)")
    assert isinstance(s, da.Array) and s.shape == (40,) and s.dtype == np.float64
    m = ne.evaluate("a - mean(a)")
    assert m.shape == (40, 30)
    with pytest.raises(AssertionError, match="computed although"):
        compute(r)


def test_errors_raised_when_building_not_when_computing(client):
    a = da.ones((10, 8), chunks=4, dtype=np.int8)
    with pytest.raises(SyntaxError):
        ne.evaluate("a +* 2")
    with pytest.raises(KeyError):
        ne.evaluate("a + nothere")
    with pytest.raises(ValueError):
        ne.evaluate("a + 300")  # a weak int out of int8's range, as NumPy
    with pytest.raises(ValueError, match="broadcast"):
        ne.evaluate("a + b", {"a": a, "b": da.ones(3, chunks=2)})
    with pytest.raises(np.exceptions.AxisError):
        ne.evaluate("sum(a, axis=2)")
    with pytest.raises(SyntaxError, match="whole expression"):
        ne.evaluate("a - sum(a, axis=0)")
    e = da.ones((0, 3), chunks=2)
    with pytest.raises(ValueError, match="zero-size array to reduction operation minimum"):
        ne.evaluate("min(e)")
    with pytest.raises(ValueError, match="zero-size array to reduction operation maximum"):
        ne.evaluate("max(e, axis=0)")
    with pytest.raises(ValueError, match="attempt to get argmax of an empty sequence"):
        ne.evaluate("argmax(e)")
    assert ne.evaluate("max(e, axis=1)").shape == (0,)


def test_out_is_an_error_pointing_to_store_and_to_zarr(client):
    a = da.ones(10, chunks=4)
    for out in (np.empty(10), da.zeros(10, chunks=5)):
        with pytest.raises(ValueError, match="immutable") as info:
            ne.evaluate("2*a", out=out)
        assert "store" in str(info.value) and "to_zarr" in str(info.value)
    with pytest.raises(ValueError, match="immutable"):
        ne.evaluate("2*x", {"x": np.ones(10)}, out=da.zeros(10, chunks=5))


def test_results_written_with_store_chunk_by_chunk(client, tmp_path):
    """The documented way to write a result (out= is refused): da.store into an array-like
    target. Here a .npy memmap that each worker opens, so nothing goes through the client."""

    class NpyTarget:
        def __init__(self, path):
            self.path = path

        def __setitem__(self, region, chunk):
            m = np.lib.format.open_memmap(self.path, mode="r+")
            m[region] = chunk
            m.flush()

    a = da.random.default_rng(4).random(1000, chunks=100)  # made on the workers
    (x,) = compute(a)
    path = str(tmp_path / "r.npy")
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=x.shape).flush()
    # A nested reduction too: its 0-d result must reach the elementwise tasks as a scalar.
    r = ne.evaluate("a - mean(a)")
    (computed,) = compute(r)
    da.store(r, NpyTarget(path), lock=False)
    assert_exact(np.load(path), computed, "stored = computed")
    # The same from persisted chunks: mean's 0-d result then often comes from the other
    # worker, unpickled from a message buffer, unaligned (it used to become a (1,) array).
    ap = client.persist(a)
    distributed.wait(ap, timeout=TIMEOUT)
    da.store(ne.evaluate("a - mean(a)", {"a": ap}), NpyTarget(path), lock=False)
    assert_exact(np.load(path), computed, "stored from persisted = computed")
    want = x - np.mean(x)
    np.testing.assert_allclose(computed, want, rtol=0, atol=2 * float_sum_tol(x, x.size) / x.size)


def test_the_graph_holds_one_small_compiled_object(client):
    a = da.ones((60, 50), chunks=(6, 5))
    expr = "where(a > 0.5, sin(a)**2, a*(a - 7.25))"
    r = ne.evaluate(expr)
    assert r.numblocks == (10, 10)
    graph = pickle.dumps(dict(r.__dask_graph__()))
    assert graph.count(b"sin(a)**2") == 1  # one kernel for 100 tasks, pickled once
    from ndexpr.dask import _Kernel

    kernel = next(
        t.func for t in r.__dask_graph__().values() if isinstance(getattr(t, "func", None), _Kernel)
    )
    blob = pickle.dumps(kernel)
    assert len(blob) < 1000
    assert pickle.loads(blob) is pickle.loads(blob)  # the process's cached (compiled) kernel


# ---------------------------------------------------------------------------------------------
# Elementwise


def test_elementwise_broadcasting_mixed_operands(client):
    rng = np.random.default_rng(1)
    a = da.from_array(rand(rng, (37, 29), "float64"), chunks=(8, 7))
    b = da.from_array(rand(rng, (29,), "float32"), chunks=11)  # other chunks, broadcast
    c = da.from_array(rand(rng, (37, 1), "int16"), chunks=(5, 1))  # size-1 axis stretched
    n = rand(rng, (29,), "int32")  # a NumPy array
    k = 2.5  # a Python float: weak
    s = np.float32(1.5)  # a NumPy scalar: strong
    z = np.array(3, dtype=np.int64)  # a 0-d array: strong
    exprs = {
        "a*b + c": lambda: a_ * b_ + c_,
        "b*k - s": lambda: b_ * k - s,
        "where(a > b, c, n) * z": lambda: np.where(a_ > b_, c_, n) * z,
        "c // 3 + n % 7": lambda: c_ // 3 + n % 7,
        "(b + s) * k": lambda: (b_ + s) * k,
        "-c ** 2": lambda: -c_ ** 2,
        "b > s": lambda: b_ > s,
    }
    ns = {"a": a, "b": b, "c": c, "n": n, "k": k, "s": s, "z": z}
    results = [ne.evaluate(e, ns) for e in exprs]
    got = compute(*results, a, b, c)
    a_, b_, c_ = got[-3:]
    for (src, want), g in zip(exprs.items(), got):
        assert_exact(np.asarray(g), np.asarray(want()), src)
    assert ne.evaluate("b * k").dtype == np.float32  # NEP 50, as without Dask
    assert ne.evaluate("b * s").dtype == np.float32
    assert ne.evaluate("c + z").dtype == np.int64


def test_transcendental_elementwise_within_ulp(client):
    rng = np.random.default_rng(2)
    a = da.from_array(rand(rng, (500,), "float64") * 3, chunks=70)
    b = da.from_array(rand(rng, (500,), "float32"), chunks=128)
    r1 = ne.evaluate("sin(a)**2 + cos(a)**2")
    r2 = ne.evaluate("exp(b) - log1p(b)")
    r3 = ne.evaluate("arctan2(a, b) * sqrt(b)")
    g1, g2, g3, a_, b_ = compute(r1, r2, r3, a, b)
    assert_close(g1, np.sin(a_) ** 2 + np.cos(a_) ** 2, 8, "sin^2+cos^2")
    assert_close(g2, np.exp(b_) - np.log1p(b_), 8, "exp-log1p")
    assert_close(g3, np.arctan2(a_, b_) * np.sqrt(b_), 8, "arctan2*sqrt")


def test_re_evaluate_validate_and_numexpr_objects(client):
    a = da.arange(20, chunks=6, dtype=np.int32)
    r = ne.evaluate("a * 3")
    a = da.arange(30, chunks=7, dtype=np.int32)
    r2 = ne.re_evaluate()
    assert isinstance(r2, da.Array) and r2.shape == (30,)
    assert ne.validate("a + 1") is None
    assert isinstance(ne.validate("a + ", {"a": a}), SyntaxError)
    nex = ne.NumExpr("x*y + 1", signature=[("x", np.int64), ("y", np.float64)])
    r3 = nex(a, np.full(30, 0.5))  # int32 dask array cast (safely) to int64
    assert isinstance(r3, da.Array)
    g, g2, g3 = compute(r, r2, r3)
    np.testing.assert_array_equal(g, np.arange(20, dtype=np.int32) * 3)
    np.testing.assert_array_equal(g2, np.arange(30, dtype=np.int32) * 3)
    np.testing.assert_array_equal(g3, np.arange(30) * 0.5 + 1)


# ---------------------------------------------------------------------------------------------
# Reductions

KINDS = ["sum", "prod", "mean", "min", "max", "any", "all"]


def numpy_reduction(kind, x, axis):
    f = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "min": np.min, "max": np.max,
         "any": np.any, "all": np.all, "argmin": np.argmin, "argmax": np.argmax}[kind]
    with np.errstate(all="ignore"):
        return np.asarray(f(x, axis=axis))


def check_reduction(kind, got, want, terms, axis, what):
    got = np.asarray(got)
    inexact = want.dtype.kind in "fc" and kind in ("sum", "prod", "mean")
    if not inexact:
        assert_exact(got, want, what)
        return
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, got.shape)
    n = terms.size if axis is None else terms.shape[axis]
    if kind == "prod":
        # n roundings of relative size u each, in any order
        tol = 2 * n * np.finfo(want.real.dtype).eps * np.abs(want)
    else:
        abs_terms = np.abs(terms).astype(np.float64)
        total = abs_terms.sum(axis=axis)
        tol = 2 * max(n - 1, 1) * np.finfo(want.real.dtype).eps / 2 * total
        if kind == "mean":
            tol = tol / max(n, 1) + np.finfo(want.real.dtype).eps * np.abs(want)
    err = np.abs(got.astype(np.complex128) - want.astype(np.complex128))
    assert np.all(err <= tol), (what, got, want, np.max(err - tol))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "uint8", "bool", "complex128"])
def test_every_reduction_with_and_without_axis(client, dtype):
    """f(a*b) with a 2-D, b 1-D (broadcast, other chunks), along every axis and over all."""
    rng = np.random.default_rng(zlib_seed(dtype))
    a = da.from_array(rand(rng, (23, 19), dtype), chunks=(6, 5))
    b = da.from_array(rand(rng, (19,), dtype), chunks=7)
    if dtype == "float32" or dtype == "float64":
        # prod of 400 values near 1 stays finite
        a, b = (a - 0.5) * 0.2 + 0.95, (b - 0.5) * 0.2 + 0.95
    cases = []
    for kind in KINDS + ["argmin", "argmax"]:
        axes = [None] if kind.startswith("arg") else [None, 0, 1, -1, -2]
        if dtype == "complex128" and kind in ("min", "max"):
            axes = [None, 0]
        for axis in axes:
            src = "%s(a*b)" % kind if axis is None else "%s(a*b, axis=%d)" % (kind, axis)
            cases.append((kind, axis, src, ne.evaluate(src, {"a": a, "b": b})))
    got = compute(*[c[3] for c in cases], a, b)
    a_, b_ = got[-2:]
    terms = a_ * b_
    for (kind, axis, src, lazy), g in zip(cases, got):
        want = numpy_reduction(kind, terms, axis)
        assert lazy.dtype == want.dtype and lazy.shape == want.shape, (src, lazy.dtype, want.dtype)
        check_reduction(kind, g, want, terms, axis, "%s [%s]" % (src, dtype))


def zlib_seed(text):
    import zlib

    return zlib.crc32(text.encode())


def test_reductions_of_float16_and_small_ints_have_numpy_dtypes(client):
    rng = np.random.default_rng(5)
    h = da.from_array(rand(rng, (40, 10), "float16"), chunks=(9, 4))
    i = da.from_array(rand(rng, (40, 10), "int8"), chunks=(9, 4))
    cases = {
        "min(h)": np.min, "max(h, axis=0)": lambda x: np.max(x, axis=0), "argmax(h)": np.argmax,
        "sum(i)": np.sum, "sum(i, axis=1)": lambda x: np.sum(x, axis=1), "prod(i)": np.prod,
        "min(i, axis=0)": lambda x: np.min(x, axis=0), "any(i == 3)": None,
    }
    lazy = [ne.evaluate(src, {"h": h, "i": i}) for src in cases]
    got = compute(*lazy, h, i)
    h_, i_ = got[-2:]
    for (src, f), l_, g in zip(cases.items(), lazy, got):
        x = h_ if "h" in src else i_
        want = np.asarray(np.any(i_ == 3) if f is None else f(x))
        assert l_.dtype == want.dtype, src
        assert_exact(np.asarray(g), want, src)  # integer sums and prods wrap as NumPy's
    # float16 sums accumulate in float32 and round once; the mean of ints is float64
    s, m = compute(ne.evaluate("sum(h)"), ne.evaluate("mean(i, axis=0)"))
    assert s.dtype == np.float16 and m.dtype == np.float64
    assert abs(float(s) - float(np.sum(h_.astype(np.float32)))) <= float(np.spacing(s))
    np.testing.assert_allclose(m, i_.mean(axis=0), rtol=1e-14)


def test_nan_propagation_and_first_nan_index(client):
    x = np.linspace(0, 1, 100)
    x[37], x[81] = np.nan, np.nan
    d = da.from_array(x, chunks=15)
    y = np.tile(np.array([3, 1, 4, 1, 5, 9, 2, 6, 9, 1], dtype=np.int16), (6, 4))
    e = da.from_array(y, chunks=(4, 7))
    srcs = ["min(d)", "max(d)", "sum(d)", "argmin(d)", "argmax(d)", "any(d > 2)",
            "argmin(d*0 + 1)", "argmax(-abs(d - 0.5))", "argmin(e)", "argmax(e)"]
    results = compute(*(ne.evaluate(s, {"d": d, "e": e}) for s in srcs))
    mn, mx, sm, amin, amax, anyv, ties_nan, near, tmin, tmax = results
    assert np.isnan(mn) and np.isnan(mx) and np.isnan(sm)
    assert amin == np.argmin(x) == 37 and amax == np.argmax(x) == 37
    assert bool(anyv) == bool(np.any(x > 2))
    assert ties_nan == np.argmin(x * 0 + 1) == 37
    assert near == np.argmax(-np.abs(x - 0.5))
    # ties across chunks: the first occurrence in C order, as NumPy
    assert tmin == np.argmin(y) and tmax == np.argmax(y)


def test_nested_full_reductions_two_stage(client):
    rng = np.random.default_rng(9)
    a = da.from_array(rand(rng, (31, 17), "float64") * 10 - 3, chunks=(7, 6))
    t = da.from_array(rand(rng, (17,), "bool"), chunks=5)
    i = da.from_array(rand(rng, (31, 17), "int32"), chunks=(10, 10))
    r1 = ne.evaluate("a - mean(a)")
    r2 = ne.evaluate("(a - min(a)) / (max(a) - min(a))")
    r3 = ne.evaluate("sum(a - mean(a))")
    r4 = ne.evaluate("mean(a - mean(a), axis=1)")
    r5 = ne.evaluate("any(t)**2 + i")  # a reduction's result is a NumPy scalar: int64
    r6 = ne.evaluate("i - sum(i) // 7 + argmax(a)")
    assert r5.dtype == np.int64
    g1, g2, g3, g4, g5, g6, a_, t_, i_ = compute(r1, r2, r3, r4, r5, r6, a, t, i)
    n = a_.size
    mean = np.mean(a_)
    # ndexpr's mean and NumPy's differ by at most both sums' bounds over n, and a rounding
    mean_tol = float_sum_tol(a_, n) / n + np.finfo(np.float64).eps * abs(mean)
    np.testing.assert_allclose(g1, a_ - mean, rtol=0, atol=2 * mean_tol)
    assert_exact(g2, (a_ - np.min(a_)) / (np.max(a_) - np.min(a_)), "min-max scaling")
    centred = a_ - mean
    assert abs(g3 - np.sum(centred)) <= 2 * n * mean_tol + float_sum_tol(centred, n)
    row_tol = 2 * mean_tol + float_sum_tol(centred, 17) / 17
    np.testing.assert_allclose(g4, np.mean(centred, axis=1), rtol=0, atol=row_tol)
    assert_exact(g5, np.any(t_) ** 2 + i_, "any(t)**2 + i")
    assert_exact(g6, i_ - np.sum(i_) // 7 + np.argmax(a_), "i - sum(i)//7 + argmax(a)")


# ---------------------------------------------------------------------------------------------
# Larger than a worker's memory


def test_workload_larger_than_worker_memory(client):
    """~1 GB of float64 generated lazily on the workers (200 MB each): ndexpr's fused sum runs
    chunk by chunk without the workers being killed; checked against NumPy chunk by chunk."""
    n = 125_000_000
    a = da.random.default_rng(0).random(n, chunks=2_500_000)
    assert a.nbytes >= 1e9 and a.nbytes > 4 * MEMORY_LIMIT
    before = client.run(os.getpid)
    t0 = time.perf_counter()
    (got,) = compute(ne.evaluate("sum(2*a + 48)"))
    (peak_elementwise,) = compute(ne.evaluate("sqrt(a) * 2 - 1").max())  # ndexpr, then Dask
    elapsed = time.perf_counter() - t0
    # The oracle: NumPy on each chunk (same lazily generated chunks), summed exactly.
    (parts,) = compute(a.map_blocks(
        lambda x: np.array([np.sum(2 * x + 48), np.max(np.sqrt(x) * 2 - 1)]),
        chunks=((2,) * a.numblocks[0],), dtype=np.float64,
    ))
    parts = parts.reshape(-1, 2)
    want = math.fsum(parts[:, 0])
    # 2*x + 48 is in [48, 50]: Σ|terms| <= 50 n
    assert abs(got - want) <= 2 * (n - 1) * (np.finfo(np.float64).eps / 2) * 50 * n
    assert peak_elementwise == parts[:, 1].max()
    assert client.run(os.getpid) == before, "a worker was restarted"
    assert len(client.scheduler_info()["workers"]) == 2
    assert elapsed < 60, elapsed
