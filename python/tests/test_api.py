"""numexpr's documented behaviours, kept: frame lookup, local/global dicts, out=, casting, order,
re_evaluate, validate, NumExpr objects, disassemble, thread settings, exceptions; and how Python
values become operands (weak Python numbers, strong NumPy scalars, zero-copy reads)."""

import os
import pickle
import threading
import time
import tracemalloc

import numpy as np
import pytest

import ndexpr as ne

GA = np.arange(5.0)  # a global, shadowed by locals in some tests
GONLY = np.full(5, 10.0)


# --------------------------------------------------------------------------------------------
# Variable lookup


def test_frame_lookup_locals_shadow_globals():
    # an unbound local is not in the frame's locals: the global is used
    assert np.array_equal(ne.evaluate("GA + 1"), globals()["GA"] + 1)
    GA = np.ones(5)  # noqa: N806 - a local shadowing the global
    assert np.array_equal(ne.evaluate("GA + 1"), np.full(5, 2.0))
    assert np.array_equal(ne.evaluate("GA + GONLY"), np.full(5, 11.0))


def test_frame_lookup_sees_closure_variables():
    x = np.arange(3.0)

    def inner():
        x  # noqa: B018 - referenced, so a free variable of inner (as Python's rules make it)
        return ne.evaluate("x * 2")

    assert np.array_equal(inner(), [0.0, 2.0, 4.0])


def test_local_dict_takes_precedence_over_global_dict():
    a = np.zeros(3)  # noqa: F841 - must not be seen: local_dict replaces the frame's locals
    r = ne.evaluate("a + b", local_dict={"a": np.ones(3)}, global_dict={"a": np.full(3, 5.0), "b": 2.0})
    assert np.array_equal(r, np.full(3, 3.0))


def test_local_dict_replaces_frame_locals_but_not_globals():
    b = np.ones(5)  # noqa: F841
    with pytest.raises(KeyError):
        ne.evaluate("a + b", local_dict={"a": np.ones(5)})
    # The caller's globals are still searched when only local_dict is given (numexpr's rule).
    r = ne.evaluate("a + GONLY", local_dict={"a": np.ones(5)})
    assert np.array_equal(r, np.full(5, 11.0))
    # global_dict replaces the frame's globals.
    with pytest.raises(KeyError):
        ne.evaluate("a + GONLY", local_dict={"a": 1.0}, global_dict={})


def test_missing_variable_is_a_key_error_naming_it():
    b = np.ones(3)  # noqa: F841
    with pytest.raises(KeyError) as info:
        ne.evaluate("2*bb + 48")
    e = info.value
    assert isinstance(e, ne.VariableNotFoundError)
    assert e.args[0] == "bb" and e.name == "bb"
    assert str(e) == (
        "unknown variable `bb`: not found in the local or global variables\n"
        "  2*bb + 48\n"
        "    ^^\n"
        "help: did you mean `b`?"
    )
    e2 = pickle.loads(pickle.dumps(e))
    assert e2.args == e.args and str(e2) == str(e)


def test_frame_depth_for_wrappers():
    def wrapper(ex):
        # numexpr's convention: one more level than evaluate's default of 3
        return ne.evaluate(ex, _frame_depth=4)

    q = np.arange(3.0)  # noqa: F841
    assert np.array_equal(wrapper("q * 3"), [0.0, 3.0, 6.0])


def test_expression_must_be_a_string():
    with pytest.raises(ValueError, match="string"):
        ne.evaluate(b"a + 1", local_dict={"a": 1.0})


# --------------------------------------------------------------------------------------------
# Python values as operands


def test_python_numbers_are_weak_numpy_scalars_strong():
    a = np.ones(4, np.float32)
    k = 2.5
    assert ne.evaluate("a * k").dtype == np.float32  # NumPy 2: weak Python float
    k = np.float64(2.5)
    assert ne.evaluate("a * k").dtype == np.float64  # strong NumPy scalar
    k = np.array(2.5)
    assert ne.evaluate("a * k").dtype == np.float64  # 0-d arrays are strong too
    i8 = np.arange(4, dtype=np.int8)
    n = 3
    assert ne.evaluate("i8 + n").dtype == np.int8
    t = True
    assert ne.evaluate("i8 + t").dtype == np.int8
    z = 1j
    assert ne.evaluate("a * z").dtype == np.complex64


def test_python_number_out_of_range_and_huge():
    i8 = np.arange(4, dtype=np.int8)
    n = 300
    with pytest.raises(ValueError, match="300"):
        ne.evaluate("i8 + n")  # NumPy 2 refuses too (OverflowError there)
    n = 2**200
    with pytest.raises(OverflowError):
        ne.evaluate("i8 + n")


def test_scalar_only_expression_gives_0d_array():
    x, y = 2.0, np.float32(3)
    r = ne.evaluate("x * y + 1")
    assert isinstance(r, np.ndarray) and r.shape == () and r.dtype == np.float32 and r == 7


def test_lists_and_other_array_likes():
    r = ne.evaluate("a + 1", local_dict={"a": [1, 2, 3]})
    assert r.dtype == np.int64 and list(r) == [2, 3, 4]


@pytest.mark.parametrize(
    "value",
    [np.array(["x"]), np.array([object()]), np.zeros(3, np.longdouble),
     np.zeros(3, "datetime64[s]"), "text", None],
)
def test_unsupported_values_are_type_errors(value):
    with pytest.raises(TypeError, match="`v`"):
        ne.evaluate("v + 1", local_dict={"v": value})


def test_structured_unaligned_big_endian_inputs_are_converted():
    rec = np.zeros(10, dtype=[("p", "u1"), ("v", "<f8")])
    rec["v"] = np.arange(10.0)
    big = np.arange(10.0).astype(">f8")
    buf = np.zeros(81, np.uint8)
    una = buf[1:].view("<f8")
    una[:] = np.arange(10.0)
    assert not una.flags.aligned and rec["v"].strides == (9,)
    r = ne.evaluate("v + b + u", local_dict={"v": rec["v"], "b": big, "u": una})
    assert np.array_equal(r, 3 * np.arange(10.0)) and r.dtype == np.float64


def _traced_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_unaligned_and_big_endian_0d_arrays_stay_scalars():
    """A 0-d array that must be copied (big-endian, unaligned: e.g. unpickled from a network
    buffer) is still a 0-d strong scalar: the result keeps NumPy's shape."""
    raw = bytearray(b"\0" + np.float64(2.5).tobytes())
    unaligned = np.frombuffer(raw, dtype=np.float64, offset=1, count=1).reshape(())
    big = np.array(2.5, dtype=">f8")
    for y in (unaligned, big):
        got = ne.evaluate("y * 2", {"y": y})
        assert got.shape == () and got == 5.0, (y.dtype, y.flags.aligned, got)
        nex = ne.NumExpr("a + y", signature=[("a", np.float64), ("y", np.float64)])
        assert np.array_equal(nex(np.ones(3), y), np.full(3, 3.5))


def test_well_formed_inputs_are_read_in_place_others_copied():
    """NumPy reports its allocations to tracemalloc: evaluating into `out` allocates nothing
    through NumPy when the inputs are read in place, and a copy of a big-endian input shows."""
    n = 1_000_000
    base = np.arange(3 * n, dtype=np.float64)
    views = {"c": base[:n], "rev": base[::-3], "bcast": np.broadcast_to(base[:1], (n,)),
             "fortran": np.asfortranarray(base[:n].reshape(1000, 1000)).ravel(order="K")}
    out = np.empty(n)
    for name, v in views.items():
        peak = _traced_peak(lambda: ne.evaluate("v * 2", local_dict={"v": v}, out=out))
        assert peak < 100_000, (name, peak)
        assert np.array_equal(out, v * 2)
    big = base[:n].astype(">f8")
    peak = _traced_peak(lambda: ne.evaluate("v * 2", local_dict={"v": big}, out=out))
    assert peak >= 8 * n
    assert np.array_equal(out, base[:n] * 2)


# --------------------------------------------------------------------------------------------
# out=


def test_out_is_written_and_returned():
    a = np.arange(6.0)
    out = np.empty(6)
    r = ne.evaluate("a * 2", out=out)
    assert r is out and np.array_equal(out, a * 2)


def test_out_aliasing_an_input_updates_in_place():
    a = np.arange(6.0)
    b = np.ones(6)
    r = ne.evaluate("a * 2 + b", out=a)
    assert r is a and np.array_equal(a, np.arange(6.0) * 2 + 1)
    # a strided view of an array, updated in place through the view
    m = np.arange(20.0).reshape(4, 5)
    v = m[:, ::-2]
    ne.evaluate("v * 10", out=v)
    expect = np.arange(20.0).reshape(4, 5)
    expect[:, ::-2] *= 10
    assert np.array_equal(m, expect)


def test_out_partially_overlapping_an_input_is_like_numpy():
    a = np.arange(10.0)
    want = a.copy()
    np.multiply(want[:-1], 2, out=want[1:])
    ne.evaluate("x * 2", local_dict={"x": a[:-1]}, out=a[1:])
    assert np.array_equal(a, want)


def test_strided_and_fortran_out():
    a = np.arange(12.0).reshape(3, 4)
    big = np.zeros((3, 12))
    out = big[:, ::3]
    ne.evaluate("a + 1", out=out)
    assert np.array_equal(big[:, ::3], a + 1) and np.count_nonzero(big[:, 1::3]) == 0
    f = np.zeros((3, 4), order="F")
    ne.evaluate("a + 1", out=f)
    assert np.array_equal(f, a + 1)


def test_out_broadcast_to_a_larger_shape():
    a = np.arange(4.0)
    out = np.zeros((3, 4))
    ne.evaluate("a * 2", out=out)
    assert np.array_equal(out, np.broadcast_to(a * 2, (3, 4)))


def test_out_casting_rules():
    a = np.arange(6.0)
    out32 = np.zeros(6, np.float32)
    ne.evaluate("a * 2", out=out32)  # same_kind, numexpr 2.14's default
    assert np.array_equal(out32, (a * 2).astype(np.float32))
    with pytest.raises(TypeError, match="safe"):
        ne.evaluate("a * 2", out=out32, casting="safe")
    outi = np.full(6, -1, np.int32)
    with pytest.raises(TypeError, match="same_kind"):
        ne.evaluate("a * 2", out=outi)
    assert np.all(outi == -1)  # untouched
    ne.evaluate("a * 2", out=outi, casting="unsafe")
    assert np.array_equal(outi, [0, 2, 4, 6, 8, 10])
    out64 = np.zeros(6)
    ne.evaluate("a * 2", out=out64, casting="no")
    i = np.arange(6, dtype=np.int16)
    ne.evaluate("i + 1", out=out64, casting="safe")  # int16 -> float64 is safe
    assert np.array_equal(out64, i + 1)
    with pytest.raises(ValueError, match="casting"):
        ne.evaluate("a * 2", out=out64, casting="sometimes")


def test_out_big_endian_and_unaligned():
    a = np.arange(6.0)
    big = np.zeros(6, ">f8")
    ne.evaluate("a * 2", out=big)
    assert np.array_equal(big, a * 2)
    with pytest.raises(TypeError):
        ne.evaluate("a * 2", out=np.zeros(6, ">f8"), casting="no")
    buf = np.zeros(49, np.uint8)
    una = buf[1:].view(np.float64)
    ne.evaluate("a * 3", out=una)
    assert np.array_equal(una, a * 3)


@pytest.mark.parametrize(
    "out, exc, match",
    [
        (np.zeros(5), ValueError, "shape"),
        (np.zeros((6, 2)), ValueError, "shape"),
        (np.broadcast_to(np.zeros(1), (6,)), ValueError, "read-only"),
        ([0.0] * 6, TypeError, "NumPy array"),
    ],
)
def test_out_errors_leave_out_untouched(out, exc, match):
    a = np.arange(6.0)
    before = np.array(out, copy=True)
    with pytest.raises(exc, match=match):
        ne.evaluate("a * 2", out=out)
    assert np.array_equal(np.asarray(out), before)


def test_error_found_in_the_values():
    # As with NumPy's own np.power(a, b, out=out), an error found in the values while running
    # (a negative integer exponent) is raised after the run: `out` may have been written.
    a = np.arange(6)
    out = np.full(6, 7, np.int64)
    with pytest.raises(ValueError, match="negative integer powers"):
        ne.evaluate("a ** b", local_dict={"a": a, "b": np.array([1, 1, 1, -1, 1, 1])}, out=out)


# --------------------------------------------------------------------------------------------
# order


def test_order():
    f = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    assert ne.evaluate("f + 1").flags.f_contiguous  # 'K' keeps Fortran order
    assert ne.evaluate("f + 1", order="A").flags.f_contiguous
    r = ne.evaluate("f + 1", order="C")
    assert r.flags.c_contiguous and np.array_equal(r, f + 1)
    c = np.arange(12.0).reshape(3, 4)
    r = ne.evaluate("c + 1", order="F")
    assert r.flags.f_contiguous and np.array_equal(r, c + 1)
    with pytest.raises(ValueError, match="order"):
        ne.evaluate("c + 1", order="Z")


# --------------------------------------------------------------------------------------------
# re_evaluate, validate


def test_re_evaluate_uses_fresh_values():
    a = np.arange(4.0)
    b = np.ones(4)
    ne.evaluate("a + 2*b")
    a = np.full(4, 10.0)
    assert np.array_equal(ne.re_evaluate(), np.full(4, 12.0))
    assert np.array_equal(ne.re_evaluate(local_dict={"a": np.zeros(4), "b": np.ones(4)}), np.full(4, 2.0))
    # other dtypes are fine too (compiled again)
    a = np.arange(4, dtype=np.int8)
    b = np.int8(1)
    r = ne.re_evaluate()
    assert r.dtype == np.int8 and list(r) == [2, 3, 4, 5]


def test_re_evaluate_keeps_out():
    a = np.arange(4.0)
    out = np.zeros(4)
    ne.evaluate("a * 3", out=out)
    a = np.ones(4)  # noqa: F841
    r = ne.re_evaluate()
    assert r is out and np.array_equal(out, np.full(4, 3.0))


def test_re_evaluate_without_evaluate_in_this_thread():
    errors = []

    def fresh_thread():
        try:
            ne.re_evaluate()
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=fresh_thread)
    t.start()
    t.join()
    assert len(errors) == 1 and "evaluate" in str(errors[0])


def test_validate():
    a = np.arange(3.0)
    assert ne.validate("a * 5") is None
    assert np.array_equal(ne.re_evaluate(), a * 5)
    e = ne.validate("a +* 5")
    assert isinstance(e, SyntaxError)
    assert isinstance(ne.validate("zz + 1"), KeyError)
    assert isinstance(ne.validate("a + 1", optimization="maybe"), ValueError)


# --------------------------------------------------------------------------------------------
# NumExpr objects, disassemble


def test_numexpr_object_positional_in_signature_order():
    nex = ne.NumExpr("2*a + b", signature=[("b", np.float32), ("a", np.float64)])
    assert nex.input_names == ("b", "a")
    r = nex(np.ones(3, np.float32), np.arange(3.0))
    assert r.dtype == np.float64 and list(r) == [1.0, 3.0, 5.0]
    # safe casts of arguments, as numexpr: int16 -> float32, Python numbers
    r = nex(np.ones(3, np.int16), 2.0)
    assert list(r) == [5.0, 5.0, 5.0]
    with pytest.raises(TypeError, match="safe"):
        nex(np.ones(3, np.float64), np.arange(3.0))
    with pytest.raises(ValueError, match="number of inputs"):
        nex(np.ones(3))
    out = np.zeros(3)
    assert nex(np.ones(3, np.float32), np.arange(3.0), out=out) is out
    assert nex.dtype == np.float64 and nex.source == "2*a + b"
    assert "NumExpr(" in repr(nex)


def test_numexpr_object_default_signature_and_types():
    nex = ne.NumExpr("b - a")
    assert nex.input_names == ("a", "b")  # sorted, float64
    assert list(nex(np.ones(2), np.full(2, 3.0))) == [2.0, 2.0]
    # numexpr's convention: Python's float means float32, complex complex128, bool bool
    nex = ne.NumExpr("x * 2", signature=[("x", float)])
    assert nex.dtype == np.float32
    with pytest.raises(ValueError, match="don't match"):
        ne.NumExpr("x + y", signature=[("x", float)])


def test_disassemble():
    nex = ne.NumExpr("a*2 + b", signature=[("a", np.float64), ("b", np.float32)])
    prog = ne.disassemble(nex)
    assert prog[-1] == ["ret", "r0"]
    # the multiply is fused into the add that is its only use (still rounded twice)
    assert any(ins[0] == "multiply_add.f64" and "a" in ins for ins in prog)
    assert all(isinstance(x, str) for ins in prog for x in ins)


# --------------------------------------------------------------------------------------------
# Options, threads, module attributes


def test_numexpr_options_accepted_and_checked():
    a = np.arange(3)
    r = ne.evaluate("a / 2", optimization="none", truediv=False)
    assert r.dtype == np.float64  # always true division
    with pytest.raises(ValueError, match="optimization"):
        ne.evaluate("a / 2", optimization="max")
    with pytest.raises(ValueError, match="Unknown keyword argument 'foo'"):
        ne.evaluate("a / 2", foo=1)
    ne.evaluate("a / 2", sanitize=True, disable_cache=True)


def test_thread_settings():
    n0 = ne.get_num_threads()
    try:
        assert ne.set_num_threads(1) == n0
        assert ne.get_num_threads() == 1
        a = np.random.default_rng(0).standard_normal(2_000_000)
        one = ne.evaluate("sin(a)**2 + 1")
        assert ne.set_num_threads(3) == 1
        assert np.array_equal(ne.evaluate("sin(a)**2 + 1"), one)  # identical for any count
        with pytest.raises(ValueError):
            ne.set_num_threads(-1)
    finally:
        ne.set_num_threads(n0)
    assert ne.detect_number_of_cores() >= 1 and ne.ncores == ne.detect_number_of_cores()
    assert isinstance(ne.__version__, str) and ne.__version__.count(".") == 2
    assert ne.isa() in ("sse2", "avx2", "avx512", "neon", "baseline")
    assert ne.use_vml is False and ne.get_vml_version() is None


def test_numpy_use_never_imports_dask_and_threads_follow_numexpr_variables():
    """Dask is imported only for Dask operands (the check is on the operand's type module);
    NUMEXPR_NUM_THREADS, then OMP_NUM_THREADS (which Dask's workers set to 1) set the default
    thread count when NDEXPR_NUM_THREADS is not set, as in numexpr."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, ndexpr as ne\n"
        "a = np.ones(3)\n"
        "ne.evaluate('sum(a) + a*2'); ne.NumExpr('a+1')(a); ne.validate('a+1'); ne.re_evaluate()\n"
        "print('dask' in sys.modules, ne.get_num_threads())\n"
    )
    env = {k: v for k, v in os.environ.items() if "NUM_THREADS" not in k}
    for extra, threads in [({}, None), ({"OMP_NUM_THREADS": "1"}, 1),
                           ({"OMP_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "3"}, 3),
                           ({"OMP_NUM_THREADS": "1", "NDEXPR_NUM_THREADS": "2"}, 2)]:
        out = subprocess.run([sys.executable, "-c", code], env=dict(env, **extra),
                             capture_output=True, text=True, check=True).stdout.split()
        assert out[0] == "False", "importing or using ndexpr with NumPy imported dask"
        if threads is not None:
            assert int(out[1]) == threads, (extra, out)


# --------------------------------------------------------------------------------------------
# Exceptions


@pytest.mark.parametrize(
    "src, exc, first_line",
    [
        ("a +* 2", SyntaxError, "unexpected token '*', expected an expression"),
        ("(" * 300 + "a" + ")" * 300, SyntaxError, None),
        ("foo(a)", TypeError, "unknown function `foo`"),
        ("sin(a, a)", TypeError, "`sin` takes 1 argument but 2 were given"),
        ("a << 1.5", TypeError, None),
        ("a + s", ValueError, "operands could not be broadcast together: a has shape (4,)"),
        ("i8 + 300", ValueError, None),
        ("a.real", SyntaxError, None),
        ("a[0]", SyntaxError, None),
        ("__import__('os')", SyntaxError, None),
        ("lambda: 0", SyntaxError, None),
    ],
)
def test_errors_are_python_exceptions_with_caret(src, exc, first_line):
    ns = {"a": np.ones(4), "s": np.ones(3), "i8": np.ones(4, np.int8)}
    with pytest.raises(exc) as info:
        ne.evaluate(src, local_dict=ns)
    msg = str(info.value)
    if first_line:
        assert msg.splitlines()[0].startswith(first_line), msg
    if "broadcast" not in msg:
        assert "^" in msg, msg  # the caret diagnostic


def test_no_panic_reaches_python():
    rng = np.random.default_rng(1)
    alphabet = list("ab+-*/%()<>=!&|^~ .,0123456789ej") + ["sin", "where", "**", "//", "not ", " and "]
    a = np.ones(3)
    b = np.arange(3)
    for _ in range(2000):
        src = "".join(rng.choice(alphabet, int(rng.integers(1, 12))))
        try:
            ne.evaluate(src, local_dict={"a": a, "b": b})
        except (SyntaxError, KeyError, TypeError, ValueError, OverflowError, ZeroDivisionError):
            pass


# --------------------------------------------------------------------------------------------
# Threads


def _run_in_threads(work, errors, count=8):
    """Runs work(k) for k < count on as many Python threads at once; `errors` must stay empty."""
    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


def test_concurrent_evaluation_from_python_threads():
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(300_000) for _ in range(8)]
    exprs = ["2*x + 48", "sin(x)**2 + cos(x)**2", "where(x > 0, x, -x)", "x*x - 1", "exp(-x)*2"]
    want = {(i, e): ne.evaluate(e, local_dict={"x": x}) for i, x in enumerate(arrays) for e in exprs}
    nex = ne.NumExpr("x * 3 + 1")  # one compiled object shared by every thread
    errors = []

    def work(k):
        try:
            for rep in range(6):
                for i, x in enumerate(arrays):
                    e = exprs[(i + k + rep) % len(exprs)]
                    if not np.array_equal(ne.evaluate(e, local_dict={"x": x}), want[(i, e)]):
                        errors.append((k, i, e))
                    out = np.empty_like(x)
                    nex(x, out=out)
                    if not np.array_equal(out, x * 3 + 1):
                        errors.append((k, i, "nex"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    # Eight Python threads, as the issue asks; results must equal the one-at-a-time ones.
    _run_in_threads(work, errors)


def test_gil_is_released_during_evaluation():
    a = np.random.default_rng(3).standard_normal(4_000_000)
    done = threading.Event()
    count = 0

    def evaluate_a_lot():
        try:
            for _ in range(3):
                ne.evaluate("sin(a)**2 + cos(a)**2 + tanh(a)", local_dict={"a": a})
        finally:
            done.set()

    t = threading.Thread(target=evaluate_a_lot)
    t.start()
    start = time.perf_counter()
    while not done.is_set():
        count += 1
    elapsed = time.perf_counter() - start
    t.join()
    # The main thread kept running Python code while the evaluations ran.
    assert elapsed > 0.01 and count > 1000, (count, elapsed)


# --------------------------------------------------------------------------------------------
# Repeated calls: from the third call with the same layouts, a call runs an evaluation prepared
# for them (the general path's binding and planning skipped). Each case runs several times, with
# new data every time, against NumPy.


def _calls(n=4):
    return range(n)


def test_repeated_calls_use_new_data_every_time():
    rng = np.random.default_rng(11)
    for _ in _calls(5):
        a = rng.standard_normal(1000)
        b = rng.standard_normal(1000)
        c = rng.standard_normal(1000)
        assert np.array_equal(ne.evaluate("a*b + c"), a * b + c)
        assert np.array_equal(ne.evaluate("2*a + 48"), 2 * a + 48)
        assert np.array_equal(ne.evaluate("where(a > b, a, b)"), np.where(a > b, a, b))
        assert np.array_equal(ne.re_evaluate(), np.where(a > b, a, b))


def test_repeated_calls_follow_layout_dtype_and_number_changes():
    rng = np.random.default_rng(12)
    base = rng.standard_normal((40, 60))
    layouts = [
        base,
        base[::-1, ::-2],
        np.asfortranarray(base),
        base[:, 5],
        base.astype(np.float32),
        base.astype(np.int32),
        base[::3],
    ]
    for x in layouts:
        for k in (2.0, 2.0, 2.0, 3.0, 3, 3, True, 1 + 2j, 1 + 2j, 1 + 2j):
            got = ne.evaluate("x*k + x")
            want = x * k + x
            assert got.dtype == want.dtype, (x.dtype, k)
            assert got.shape == want.shape
            assert got.flags.f_contiguous == want.flags.f_contiguous
            np.testing.assert_array_equal(got, want)


def test_repeated_calls_with_broadcasting_and_empty_arrays():
    rng = np.random.default_rng(13)
    for shape_a, shape_b in [((30, 1), (1, 50)), ((0, 4), (4,)), ((1,), (7,)), ((513,), (1,))]:
        for _ in _calls():
            a = rng.standard_normal(shape_a)
            b = np.broadcast_to(rng.standard_normal(shape_b[-1:]), shape_b)
            np.testing.assert_array_equal(ne.evaluate("a - 3*b"), a - 3 * b)


def test_repeated_calls_into_out():
    rng = np.random.default_rng(14)
    out = np.empty(1000)
    strided = np.empty((1000, 3))[:, 1]
    for _ in _calls(5):
        a = rng.standard_normal(1000)
        b = rng.standard_normal(1000)
        r = ne.evaluate("a*b + 1", out=out)
        assert r is out
        np.testing.assert_array_equal(out, a * b + 1)
        ne.evaluate("a*b + 1", out=strided)
        np.testing.assert_array_equal(strided, a * b + 1)
        # Another dtype: cast by NumPy, every time.
        o32 = np.empty(1000, np.float32)
        ne.evaluate("a*b + 1", out=o32, casting="unsafe")
        np.testing.assert_array_equal(o32, (a * b + 1).astype(np.float32))


def test_repeated_calls_in_place_and_overlapping():
    rng = np.random.default_rng(15)
    for _ in _calls(5):
        a = rng.standard_normal(1001)
        want = 2 * a + 1
        ne.evaluate("2*a + 1", out=a)  # the output is the input: in place
        np.testing.assert_array_equal(a, want)
    for _ in _calls(5):
        buf = rng.standard_normal(1001)
        x = buf[:-1]
        want = x * x - 1  # as NumPy: computed before any element of the output is written
        ne.evaluate("x*x - 1", out=buf[1:])
        np.testing.assert_array_equal(buf[1:], want)


def test_repeated_reductions_use_new_data_every_time():
    # Reductions of the whole expression are prepared too: new data every call, full and
    # along an axis, into a new array or `out`, and an `out` inside an input.
    rng = np.random.default_rng(18)
    for dt in (np.float64, np.float32):
        for n in (1, 1000, 5001):
            for _ in _calls(5):
                a = rng.standard_normal(n).astype(dt)
                b = rng.standard_normal(n).astype(dt)
                r = ne.evaluate("sum(a*b)")
                assert r.dtype == dt and r.ndim == 0
                rtol = 1e-5 if dt == np.float32 else 1e-12
                np.testing.assert_allclose(r, np.sum(a * b), rtol=rtol)
                assert ne.evaluate("max(a - b)") == np.max(a - b)
                assert ne.evaluate("min(2*a + b)") == np.min(2 * a + b)
        for _ in _calls(5):
            x = rng.standard_normal((30, 40)).astype(dt)[::-1]
            for axis in (0, 1):
                want = np.max(x * x, axis=axis)
                np.testing.assert_array_equal(ne.evaluate(f"max(x*x, axis={axis})"), want)
    out = np.empty(())
    for _ in _calls(5):
        a = rng.standard_normal(1000)
        assert ne.evaluate("max(a)", out=out) is out
        assert out == np.max(a)
    buf = np.arange(100.0)
    for _ in _calls(5):
        want = np.max(buf[:50] * 2)
        ne.evaluate("max(x * 2)", local_dict={"x": buf[:50]}, out=buf[10:11].reshape(()))
        assert buf[10] == want


def test_repeated_calls_with_misaligned_data_of_the_same_layout():
    values = np.random.default_rng(16).standard_normal(500)
    raw = np.zeros(500 * 8 + 16, np.uint8)
    start = -raw.ctypes.data % 8  # the first 8-byte aligned byte
    for offset in (0, 0, 0, 1, 0, 3, 0, 8):
        buf = raw[start + offset : start + offset + 500 * 8]
        buf[:] = values.view(np.uint8)
        a = buf.view(np.float64)  # same dtype, shape and strides; aligned or not
        assert a.flags.aligned == (offset % 8 == 0)
        np.testing.assert_array_equal(ne.evaluate("a*2 - 1"), values * 2 - 1)


def test_repeated_calls_still_check_out():
    a = np.ones(100)
    out = np.empty(100)
    for _ in _calls():
        ne.evaluate("a + 1", out=out)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ne.evaluate("a + 1", out=out)
    with pytest.raises(ValueError, match="order"):
        ne.evaluate("a + 1", order="Q")
    with pytest.raises(ValueError):
        ne.evaluate("a + 1", casting="sometimes")


def test_repeated_calls_from_threads_at_once():
    rng = np.random.default_rng(17)
    xs = [rng.standard_normal(1000) for _ in range(8)]
    errors = []

    def work(k):
        try:
            for rep in range(200):
                x = xs[(k + rep) % len(xs)]
                y = x[::-1] if rep % 3 == 0 else x
                if not np.array_equal(ne.evaluate("2*y*y + 1"), 2 * y * y + 1):
                    errors.append((k, rep))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    _run_in_threads(work, errors)
