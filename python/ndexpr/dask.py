"""ndexpr on Dask: the same expression, chunk by chunk, over arrays bigger than one machine.

``ndexpr.evaluate`` hands the call to this module when any variable is a ``dask.array.Array``
(the check looks at the value's type only, so ``import ndexpr`` never imports Dask). The
result is then a *lazy* Dask array: nothing is read or computed until ``.compute()``,
``.persist()``, ``.store()`` or ``.to_zarr()``, and every task runs ndexpr on one chunk::

    import dask.array as da
    import ndexpr as ne

    a = da.random.default_rng(0).random(10**8, chunks=10**7)
    b = da.ones(10**8, chunks=5 * 10**6)
    c = ne.evaluate("where(a > b, sin(a)**2, 0)")   # a dask array; nothing computed yet
    c.sum().compute()
    ne.evaluate("sum(a*b)").compute()               # a 0-d dask array until computed
    ne.evaluate("a - mean(a)")                      # two stages: mean(a), then a - that

Elementwise expressions
    One ``dask.array.blockwise`` layer over the operands broadcast as NumPy does (right-aligned,
    size-1 axes stretched); operands chunked differently are first brought to common chunks by
    Dask's ``unify_chunks``. NumPy arrays are wrapped with ``dask.array.asarray`` and take part
    like Dask ones; Python numbers stay Python numbers (weak scalars, NEP 50: ``k = 2.0`` times a
    float32 dask array is float32) and NumPy scalars and 0-d arrays keep their dtype, exactly as
    in the NumPy path. The result's dtype and shape are known before anything runs (the
    expression is compiled for the operands' dtypes on the spot, so errors — syntax, unknown
    variables, no loop for the dtypes, shapes that don't broadcast — are raised by
    ``evaluate`` itself, not at compute time), and are given to Dask (``dtype``, ``meta``).

Reductions
    ``sum prod mean min max any all`` with or without ``axis``, and ``argmin``/``argmax``, become
    Dask tree reductions (``dask.array.reduction``) whose per-chunk step is an ndexpr fused
    reduction: ``sum(a*b)`` evaluates ``sum(a*b)`` on each chunk (never holding ``a*b``), and
    the per-chunk partials are combined by Dask's tree. ``axis`` is the axis of the broadcast
    operands, negative counting from the end, as in NumPy and Dask. Partials are kept in the
    dtype NumPy accumulates in (float32 for float16, float64 for the mean of integers) and the
    result has NumPy 2's dtype. ``mean`` is the sum of the chunks' sums over the element count;
    ``argmin``/``argmax`` combine (value, flat index) pairs and return the first occurrence
    (the first NaN if any), as NumPy. Float sums are associated differently from NumPy's
    pairwise sum (per chunk, then Dask's tree), so the last bits may differ; the error bound
    is of the same kind. ``min``/``max``/``argmin``/``argmax`` of nothing raise NumPy's
    ``ValueError`` when ``evaluate`` is called.

    Full reductions inside a larger expression (``a - mean(a)``, ``(a - min(a)) / (max(a) -
    min(a))``) are computed first, each as its own tree reduction giving a 0-d Dask array, and
    the rest of the expression reads them as operands: a two-stage graph. Such an inner result
    is read exactly as in the NumPy path (a NumPy scalar of its dtype). Note that Dask then
    reads the operands twice (once per stage); for inputs generated on the fly this means
    computing them twice, or keeping them in memory if you ``persist()`` them first.

Writing results: ``out=`` is not accepted with Dask operands (Dask arrays are immutable; a
``ValueError`` says so). Write the lazy result instead, chunk by chunk, without ever holding it
whole::

    c = ne.evaluate("2*a + 48")
    c.to_zarr("result.zarr")                 # Zarr store (pip install zarr)
    c.store(target)                          # any array-like with __setitem__: np.memmap,
                                             # h5py/zarr dataset, or a NumPy array
    c.compute()                              # or bring it to the client as a NumPy array

Inside a task, ndexpr uses the thread count of the process (``ndexpr.set_num_threads``,
``NDEXPR_NUM_THREADS``, then ``NUMEXPR_NUM_THREADS``/``OMP_NUM_THREADS``, as numexpr): Dask's
worker processes are started with ``OMP_NUM_THREADS=1``, so each task uses one thread and Dask
runs chunks in parallel.

The compiled program is part of the graph as one small object (the expression, the operand
dtypes and the constants); each worker process compiles it the first time a task uses it and
keeps it in a per-process cache, so chunks never re-parse the expression.

Install with the extra: ``pip install ./python[dask]`` (``dask[array,distributed]``).
"""

from __future__ import annotations

import functools
import numbers
import threading

import numpy as np

import dask.array as da
from dask.base import tokenize

from . import _ndexpr

__all__ = ["evaluate"]

_OUT_MESSAGE = (
    "out= cannot be used with Dask operands: Dask arrays are immutable, and the result is a "
    "new lazy Dask array. Write it chunk by chunk instead: result.store(target) (a NumPy array "
    "or memmap, an h5py or zarr dataset: anything with __setitem__), result.to_zarr(url), or "
    "result.compute() for a NumPy array (see help(ndexpr.dask))"
)


# ---------------------------------------------------------------------------------------------
# What a task runs: a compiled expression, cached per process.

# token -> kernel, in every process that unpickled (or built) one: the workers' cache.
_KERNELS = {}
_KERNELS_MAX = 512
_KERNELS_LOCK = threading.Lock()


def _cached_kernel(cls, token, state):
    """Unpickling a kernel: the process's cached one (already compiled) if it has it."""
    kernel = _KERNELS.get(token)
    if kernel is None:
        kernel = cls.__new__(cls)
        kernel._setup(token, state)
        with _KERNELS_LOCK:
            if len(_KERNELS) >= _KERNELS_MAX:
                _KERNELS.clear()
            kernel = _KERNELS.setdefault(token, kernel)
    return kernel


class _Kernel:
    """One ndexpr program applied to one chunk (the function of a Dask task).

    `texts` are the expressions run on the chunk (one; two for argmin/argmax), over the
    variables `names`: those in `consts` (Python numbers, NumPy scalars, 0-d arrays) are
    compiled in, the others are the chunk arguments, in order. Pickled as its token and state
    (a few strings and scalars); the compiled programs are made on first use in each process
    and cached there (`_KERNELS`).

    `mode`: ``'map'`` returns the expression's value; ``'keep'`` a reduction's value with the
    reduced axes kept (as Dask's partials are), `extra` being ``(axes, ndim)``.
    """

    def __init__(self, texts, names, consts, arrays, order, mode, extra):
        # The chunks' dtypes and dimensions are part of the identity: the same text over other
        # dtypes is another program.
        sig = tuple((x.dtype.str, x.ndim) for x in arrays)
        state = (tuple(texts), tuple(names), consts, sig, order, mode, extra)
        token = "%s-%s" % (type(self).__name__, tokenize(*state))
        self._setup(token, state)
        with _KERNELS_LOCK:
            _KERNELS.setdefault(token, self)

    def _setup(self, token, state):
        self.token = token
        self.texts, self.names, self.consts, self.sig, self.order, self.mode, self.extra = state
        self._programs = None

    def __reduce__(self):
        state = (
            self.texts, self.names, self.consts, self.sig, self.order, self.mode, self.extra
        )
        return (_cached_kernel, (type(self), self.token, state))

    def __repr__(self):
        return "ndexpr(%s)" % "; ".join(self.texts)

    def _values(self, chunks):
        it = iter(chunks)
        return [self.consts[n] if n in self.consts else next(it) for n in self.names]

    def _run(self, values):
        programs = self._programs
        if programs is None:
            # First use in this process: compile (ndexpr's own cache is keyed by the source and
            # the dtypes, so a racing thread compiling too costs nothing but time).
            names = list(self.names)
            programs = self._programs = [_ndexpr.compile(t, names, values) for t in self.texts]
        return [p.run(values, None, self.order, "same_kind") for p in programs]

    def __call__(self, *chunks):
        (result,) = self._run(self._values(chunks))
        if self.mode == "keep":
            axes, ndim = self.extra
            shape = list(result.shape)
            for axis in axes:
                shape.insert(axis, 1)
            result = result.reshape(shape)
        return result


class _ArgKernel(_Kernel):
    """argmin/argmax on one chunk: ``[argmin(x), min(x)]`` give the chunk's (value, index) pair;
    the index is made global (flat, C order, over the whole broadcast shape) from the block's
    position. `extra` is ``(offsets, shape, value dtype)``: each axis's chunk start offsets,
    the broadcast shape, and the dtype of the values compared."""

    def __call__(self, *chunks, block_id=None):
        offsets, shape, value_dtype = self.extra
        values = self._values(chunks)
        chunk_shape = np.broadcast_shapes(*(np.shape(c) for c in chunks))
        record = np.zeros((1,) * len(shape), dtype=[("v", value_dtype), ("i", np.int64)])
        if 0 in chunk_shape:
            record["i"] = -1  # nothing here; the combine step skips it
            return record
        local, value = self._run(values)
        position = np.unravel_index(int(local), chunk_shape)
        flat = 0
        for axis, n in enumerate(shape):
            flat = flat * n + offsets[axis][block_id[axis]] + int(position[axis])
        record["v"] = value
        record["i"] = flat
        return record


# ---------------------------------------------------------------------------------------------
# Combine and aggregate steps of the tree reductions (module functions, so Dask tokenizes them
# by name).


def _keep(x, axis=None, keepdims=True):
    """The chunk step of the tree: the partials were already made by ndexpr."""
    return x


def _fold(reduce, acc, x, axis=None, keepdims=False):
    return np.asarray(reduce(x, axis=axis, keepdims=keepdims, dtype=acc))


def _fold_cast(reduce, acc, result, x, axis=None, keepdims=False):
    return np.asarray(reduce(x, axis=axis, keepdims=keepdims, dtype=acc)).astype(result)


def _extreme(reduce, x, axis=None, keepdims=False):
    return np.asarray(reduce(x, axis=axis, keepdims=keepdims))


def _mean(acc, result, count, x, axis=None, keepdims=False):
    total = np.asarray(np.sum(x, axis=axis, keepdims=keepdims, dtype=acc))
    # As NumPy's mean: the sum divided by the count as an np.intp (float16's in float64, then
    # rounded once); the count of nothing gives NaN (NumPy also warns).
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.true_divide(total, np.intp(count))).astype(result)


def _arg_pick(kind, x):
    """The winning (value, index) record of a block of partials: NumPy's first NaN if any, else
    the smallest (argmin) or largest (argmax) value, first index among equals."""
    x = x.ravel()
    x = x[x["i"] >= 0]
    if x.size == 0:
        return None
    v, i = x["v"], x["i"]
    if v.dtype.kind in "fc":
        nan = np.isnan(v)
        if nan.any():
            return x[nan][np.argmin(i[nan])]
    best = v.min() if kind == "argmin" else v.max()
    ties = x[v == best]
    return ties[np.argmin(ties["i"])]


def _arg_combine(kind, x, axis=None, keepdims=True):
    out = np.zeros((1,) * x.ndim, dtype=x.dtype)
    winner = _arg_pick(kind, x)
    if winner is None:
        out["i"] = -1
    else:
        out[...] = winner
    return out


def _arg_aggregate(kind, x, axis=None, keepdims=False):
    winner = _arg_pick(kind, x)
    index = np.int64(-1 if winner is None else winner["i"])
    shape = (1,) * x.ndim if keepdims else ()
    return np.full(shape, index, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Building the graph


class _Builder:
    """Turns an expression over Dask (and NumPy, and scalar) operands into a Dask array."""

    def __init__(self, env, order):
        self.env = dict(env)
        self.order = order
        # Names the builder adds (inner reductions' results, constants) may not shadow a user's.
        self.prefix = "_ndexpr"
        while any(name.startswith(self.prefix) for name in self.env):
            self.prefix += "_"
        self.memo = {}  # (function, argument text) -> placeholder name, for reductions reused

    def fresh(self, what):
        return "%s_%s%d" % (self.prefix, what, len(self.env))

    # -- expressions --------------------------------------------------------------------------

    def build(self, text):
        calls = _ndexpr.reductions(text)
        if len(calls) == 1 and calls[0][1]:
            func, _, _, _, a0, a1, axis = calls[0]
            return self.reduce(func, text[a0:a1], axis)
        text = self.substitute(text, calls)
        return self.elementwise(text)

    def substitute(self, text, calls):
        """`text` with each full reduction replaced by the 0-d Dask array holding its value,
        read as ``max(name)``: the maximum of one value is that value, and written as a
        reduction it is typed as one (a NumPy scalar: ``min(a)**0.5`` is ``np.power``,
        ``any(t)**2`` int64), exactly as the NumPy path types the original."""
        pieces = []
        last = 0
        for func, _, start, end, a0, a1, _ in sorted(calls, key=lambda c: c[2]):
            key = (func, text[a0:a1].strip())
            name = self.memo.get(key)
            if name is None:
                value = self.reduce(func, text[a0:a1], None)
                name = self.fresh("r")
                self.env[name] = value
                self.memo[key] = name
            pieces.append(text[last:start])
            pieces.append("max(%s)" % name)
            last = end
        pieces.append(text[last:])
        return "".join(pieces)

    def frame(self, text, extra_consts=None):
        """The operands of `text` (free of reductions but for placeholders): its variable names,
        the constants compiled in, the array operands made Dask arrays with common chunks, each
        with its block index, the broadcast shape and the chunks of each output axis."""
        names = [name for name, _, _ in _ndexpr.variable_names(text)]
        consts = dict(extra_consts or {})
        arrays = []
        for name in names:
            if name in consts:
                continue
            value = self.env[name]
            if isinstance(value, da.Array) or (isinstance(value, np.ndarray) and value.ndim):
                arrays.append((name, value))
            else:
                consts[name] = value
        names += [n for n in consts if n not in names]
        for name, value in arrays:
            if any(isinstance(n, float) and n != n for n in value.shape):
                raise ValueError(
                    "variable `%s` has unknown chunk sizes (shape %s): call "
                    "`.compute_chunk_sizes()` on it first" % (name, value.shape)
                )
        try:
            shape = np.broadcast_shapes(*(value.shape for _, value in arrays))
        except ValueError:
            raise ValueError(
                "operands could not be broadcast together: %s"
                % ", ".join("%s has shape %s" % (n, tuple(v.shape)) for n, v in arrays)
            ) from None
        ndim = len(shape)
        pairs = []
        for _, value in arrays:
            x = value if isinstance(value, da.Array) else da.asarray(value)
            pairs += [x, tuple(range(ndim - x.ndim, ndim))]
        chunkss, xs = da.core.unify_chunks(*pairs) if pairs else ({}, [])
        chunks = tuple(chunkss.get(i, (1,)) for i in range(ndim))
        args = []
        for x, ind in zip(xs, pairs[1::2]):
            args += [x, ind]
        return names, consts, args, shape, chunks

    def compile(self, text, names, consts):
        values = [consts[n] if n in consts else _template(self.env[n]) for n in names]
        return _ndexpr.compile(text, names, values)

    def eager(self, text, names, consts):
        """A value without array operands (`sum(2)`): computed now, it is one number."""
        values = [consts[n] for n in names]
        return da.asarray(_ndexpr.evaluate_values(text, names, values, None, "K", "same_kind"))

    def elementwise(self, text):
        names, consts, args, shape, chunks = self.frame(text)
        dtype = np.dtype(self.compile(text, names, consts).dtype)
        if not args:
            return self.eager(text, names, consts)
        ndim = len(shape)
        kernel = _Kernel([text], names, consts, args[::2], self.order, "map", None)
        return da.blockwise(
            kernel,
            tuple(range(ndim)),
            *args,
            name="ndexpr-" + tokenize(kernel.token, *args),
            dtype=dtype,
            meta=np.empty((0,) * ndim, dtype=dtype),
            align_arrays=False,
        )

    # -- reductions ---------------------------------------------------------------------------

    def reduce(self, func, arg, axis):
        """`func(arg)` or `func(arg, axis=axis)` as a Dask tree reduction."""
        arg = self.substitute(arg, _ndexpr.reductions(arg))
        names, consts, args, shape, chunks = self.frame(arg)
        value_dtype = np.dtype(self.compile(arg, names, consts).dtype)
        acc, result = (np.dtype(d) for d in _ndexpr.reduction_dtypes(func, value_dtype.name))
        ndim = len(shape)
        whole = "%s(%s)" % (func, arg) if axis is None else "%s(%s, axis=%d)" % (func, arg, axis)
        if not args:
            return self.eager(whole, names, consts)
        if axis is None:
            axes = tuple(range(ndim))
        else:
            if not -ndim <= axis < ndim:
                raise np.exceptions.AxisError(axis, ndim)
            axes = (axis % ndim,)
        if ndim == 0:
            return self.elementwise_reduction(whole, names, consts, args, result)
        extent = 1
        for a in axes:
            extent *= shape[a]
        if extent == 0 and func in ("min", "max"):
            raise ValueError(
                "zero-size array to reduction operation %s which has no identity"
                % ("minimum" if func == "min" else "maximum")
            )
        if extent == 0 and func in ("argmin", "argmax"):
            raise ValueError("attempt to get %s of an empty sequence" % func)
        out_ind = tuple(range(ndim))
        if func in ("argmin", "argmax"):
            return self.arg_reduction(func, arg, names, consts, args, shape, chunks, value_dtype)

        # The per-chunk step: ndexpr's fused reduction, its partial in the dtype NumPy
        # accumulates in (float16's sums in float32, integer means in float64).
        step = "sum" if func == "mean" else func
        if func in ("sum", "prod", "mean"):
            partial_dtype = acc
            if (func == "mean" and value_dtype != acc) or (func != "mean" and result != acc):
                one = self.fresh("one")
                consts[one] = np.ones((), dtype=acc)  # strong: x*one is x in `acc`, exactly
                names = names + [one]
                arg = "(%s)*%s" % (arg, one)
        else:
            partial_dtype = result
        text = "%s(%s)" % (step, arg) if axis is None else "%s(%s, axis=%d)" % (step, arg, axes[0])
        kernel = _Kernel([text], names, consts, args[::2], "K", "keep", (axes, ndim))
        partials = da.blockwise(
            kernel,
            out_ind,
            *args,
            name="ndexpr-%s-chunk-%s" % (func, tokenize(kernel.token, *args)),
            dtype=partial_dtype,
            meta=np.empty((0,) * ndim, dtype=partial_dtype),
            adjust_chunks={a: 1 for a in axes},
            align_arrays=False,
        )
        if func in ("sum", "prod"):
            fold = np.sum if func == "sum" else np.prod
            combine = functools.partial(_fold, fold, acc)
            aggregate = functools.partial(_fold_cast, fold, acc, result)
        elif func == "mean":
            combine = functools.partial(_fold, np.sum, acc)
            aggregate = functools.partial(_mean, acc, result, extent)
        else:
            fold = {"min": np.min, "max": np.max, "any": np.any, "all": np.all}[func]
            combine = aggregate = functools.partial(_extreme, fold)
        return da.reduction(
            partials,
            _keep,
            aggregate,
            axis=axes,
            keepdims=False,
            dtype=result,
            combine=combine,
            name="ndexpr-" + func,
            concatenate=True,
            meta=np.empty((0,) * (ndim - len(axes)), dtype=result),
        )

    def elementwise_reduction(self, whole, names, consts, args, result):
        """A reduction of 0-d operands only: one task computes it."""
        kernel = _Kernel([whole], names, consts, args[::2], "K", "map", None)
        return da.blockwise(
            kernel,
            (),
            *args,
            name="ndexpr-" + tokenize(kernel.token, *args),
            dtype=result,
            meta=np.empty((), dtype=result),
            align_arrays=False,
        )

    def arg_reduction(self, func, arg, names, consts, args, shape, chunks, value_dtype):
        """argmin/argmax: per chunk, ndexpr's argmin and min (the value there, NaN if any NaN)
        and the index made global; the tree keeps the winning pair."""
        extreme = "min" if func == "argmin" else "max"
        value = np.dtype(_ndexpr.reduction_dtypes(extreme, value_dtype.name)[1])
        offsets = tuple(tuple(int(o) for o in np.cumsum((0,) + c[:-1])) for c in chunks)
        kernel = _ArgKernel(
            ["%s(%s)" % (func, arg), "%s(%s)" % (extreme, arg)],
            names,
            consts,
            args[::2],
            "K",
            "arg",
            (offsets, tuple(int(n) for n in shape), value.str),
        )
        ndim = len(shape)
        arrays = args[::2]
        # The partials are (value, index) records, but declared int64 as Dask's own
        # arg_reduction declares its: the tree's layers take the result's dtype as their meta.
        partials = da.map_blocks(
            kernel,
            *arrays,
            name="ndexpr-%s-chunk-%s" % (func, tokenize(kernel.token, *arrays)),
            chunks=tuple((1,) * len(c) for c in chunks),
            dtype=np.int64,
            meta=np.empty((0,) * ndim, dtype=np.int64),
        )
        return da.reduction(
            partials,
            _keep,
            functools.partial(_arg_aggregate, func),
            axis=tuple(range(ndim)),
            keepdims=False,
            dtype=np.int64,
            combine=functools.partial(_arg_combine, func),
            name="ndexpr-" + func,
            concatenate=True,
            meta=np.empty((), dtype=np.int64),
        )


def _template(value):
    """A stand-in with the dtype and kind (array or 0-d) of an operand, to compile for it."""
    if isinstance(value, da.Array):
        return np.zeros((1,) * value.ndim, dtype=value.dtype)
    return value


def _operand(value):
    """A variable's value as the builder takes it: Dask arrays, NumPy arrays (0-d ones and
    NumPy scalars are constants, strong), Python numbers (weak constants)."""
    if isinstance(value, (da.Array, np.ndarray, np.generic, numbers.Number)):
        return value
    if type(value).__module__.partition(".")[0] == "dask":
        raise TypeError(
            "ndexpr evaluates Dask arrays (dask.array.Array), not %s.%s"
            % (type(value).__module__, type(value).__name__)
        )
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return value


def evaluate(ex, names, values, out=None, order="K", casting="same_kind"):
    """`ex` over these variables, some of them Dask arrays: a lazy Dask array (0-d for a full
    reduction). Called by ``ndexpr.evaluate``, which looks the variables up."""
    if out is not None:
        raise ValueError(_OUT_MESSAGE)
    if order not in ("K", "A", "C", "F", "k", "a", "c", "f"):
        raise ValueError("order must be one of 'C', 'F', 'A', or 'K' (got %r)" % (order,))
    if casting not in ("no", "equiv", "safe", "same_kind", "unsafe"):
        raise ValueError("casting must be one of 'no', 'equiv', 'safe', 'same_kind', or 'unsafe'")
    env = {name: _operand(value) for name, value in zip(names, values)}
    builder = _Builder(env, order.upper())
    # The whole expression is compiled first, for ndexpr's own errors (with the caret) before
    # anything is built, and for the result's dtype.
    expected = np.dtype(
        _ndexpr.compile(ex, list(names), [_template(env[n]) for n in names]).dtype
    )
    result = builder.build(ex)
    if result.dtype != expected:  # pragma: no cover - a bug in the graph builder
        raise RuntimeError(
            "ndexpr.dask: built a %s graph for an expression of dtype %s" % (result.dtype, expected)
        )
    return result
