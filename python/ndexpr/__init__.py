"""ndexpr: fast evaluation of NumPy-style array expressions given as strings.

A drop-in for numexpr's API (``evaluate``, ``re_evaluate``, ``validate``, ``NumExpr``,
``disassemble``, the thread settings) on top of the ndexpr engine, written in Rust: the string is
parsed by ndexpr's own grammar (nothing is ever passed to Python's ``eval``), typed with NumPy 2's
rules, compiled to register bytecode and run block by block over the arrays, on several threads,
with the GIL released.

    >>> import numpy as np, ndexpr as ne
    >>> a = np.arange(4.0); b = np.ones(4)
    >>> ne.evaluate("2*a + 3*b")
    array([3., 5., 7., 9.])

Differences from numexpr, all in NumPy 2's favour: results have the dtype NumPy 2 gives
(``float32_array * 2.0`` is float32, ``abs(int32)`` is int32), every numeric dtype is supported
(bool, int8..int64, uint8..uint64, float16/32/64, complex64/128), Python numbers are weak scalars
(NEP 50) and NumPy scalars strong, and integer division by zero gives 0 instead of crashing.
The ``optimization`` and ``truediv`` options are accepted and ignored (``/`` is always true
division, as in Python 3 and NumPy). Reductions are fused with the expression: ``sum prod mean
min max any all`` over every element or along one ``axis`` (``sum(a*b, axis=-1)``, at the root
only), ``argmin``/``argmax`` over every element, and full reductions anywhere (``a - mean(a)``).
String operations are not supported.

Dask arrays are accepted too: when any variable is a ``dask.array.Array``, ``evaluate`` returns a
lazy Dask array computed chunk by chunk by ndexpr (see ``ndexpr.dask``; ``pip install
ndexpr[dask]``). Dask is imported only then.
"""

from __future__ import annotations

import difflib
import os
import sys

import numpy as np

from . import _ndexpr

__version__ = _ndexpr.__version__

__all__ = [
    "evaluate",
    "re_evaluate",
    "validate",
    "NumExpr",
    "disassemble",
    "set_num_threads",
    "get_num_threads",
    "detect_number_of_cores",
    "ncores",
    "nthreads",
    "use_vml",
    "VariableNotFoundError",
    "__version__",
]

_CONTEXT = (
    ("optimization", ("none", "moderate", "aggressive")),
    ("truediv", (False, True, "auto")),
)


def _check_context(kwargs):
    """numexpr's compile options: checked as numexpr does, then ignored."""
    for name, allowed in _CONTEXT:
        if name in kwargs:
            value = kwargs.pop(name)
            if value not in allowed:
                raise ValueError("'%s' must be one of %s" % (name, allowed))
    if kwargs:
        raise ValueError("Unknown keyword argument '%s'" % next(iter(kwargs)))


class VariableNotFoundError(KeyError):
    """A variable of the expression has no value (a ``KeyError``, as numexpr raises).

    ``args[0]`` (and ``name``) is the variable's name, as in numexpr; ``str()`` gives the
    expression with a caret under the variable.
    """

    def __init__(self, name, message=None):
        KeyError.__init__(self, name)
        self.name = name
        self.message = message if message is not None else "unknown variable `%s`" % name

    def __str__(self):
        return self.message

    def __reduce__(self):
        return (type(self), (self.name, self.message))


# Expression source -> tuple of (name, start, end) of its variables, first use first.
_names_cache = {}
_NAMES_CACHE_SIZE = 256


def _names(ex):
    try:
        return _names_cache[ex]
    except KeyError:
        pass
    except TypeError:  # unhashable: not a string
        pass
    if not isinstance(ex, str):
        raise ValueError("must specify expression as a string")
    found = tuple(_ndexpr.variable_names(ex))
    if len(_names_cache) >= _NAMES_CACHE_SIZE:
        _names_cache.clear()
    _names_cache[ex] = found
    return found


def _missing(ex, name, start, end, dicts):
    one_line = ex.replace("\n", " ").replace("\r", " ")
    message = "unknown variable `%s`: not found in the local or global variables\n  %s\n  %s%s" % (
        name,
        one_line,
        " " * start,
        "^" * max(end - start, 1),
    )
    candidates = set()
    for d in dicts:
        try:
            candidates.update(k for k in d.keys() if isinstance(k, str) and not k.startswith("__"))
        except Exception:  # an exotic mapping: no suggestion
            pass
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    if close:
        message += "\nhelp: did you mean `%s`?" % close[0]
    return VariableNotFoundError(name, message)


def _get_args(ex, spans, local_dict, global_dict, depth):
    """The values of the expression's variables: `local_dict` first, then `global_dict`; either
    missing one is the frame `depth` levels above this function's caller (numexpr's rule)."""
    if local_dict is None or global_dict is None:
        frame = sys._getframe(depth)
        if local_dict is None:
            local_dict = frame.f_locals
        if global_dict is None:
            global_dict = frame.f_globals
        del frame
    names = []
    values = []
    for name, start, end in spans:
        try:
            value = local_dict[name]
        except KeyError:
            try:
                value = global_dict[name]
            except KeyError:
                raise _missing(ex, name, start, end, (local_dict, global_dict)) from None
        names.append(name)
        values.append(value)
    return names, values


# The last expression evaluated or validated in this thread, for re_evaluate(), is kept by the
# extension (a thread-local there; `out` as a weak reference).
_remember = _ndexpr.remember


def _is_dask(value):
    """Whether `value` comes from Dask (checked on its type's module, so that NumPy-only use
    never imports Dask)."""
    return type(value).__module__.partition(".")[0] == "dask"


def _run(ex, names, values, out, order, casting):
    """Evaluates with NumPy, or builds a lazy Dask graph when any operand (or `out`) is Dask's."""
    for value in values:
        if type(value) is not np.ndarray and _is_dask(value):
            break
    else:
        if out is None or not _is_dask(out):
            return _ndexpr.evaluate_values(ex, names, values, out, order, casting)
    from . import dask as _dask

    if out is not None:
        raise ValueError(_dask._OUT_MESSAGE)
    return _dask.evaluate(ex, names, values, None, order, casting)


# numexpr's `evaluate` is written in Rust (`_ndexpr.evaluate`, its docstring there): at 1,000
# elements a call costs ~2 us, and a Python function around the extension took ~1 us of it.
evaluate = _ndexpr.evaluate


# numexpr's `re_evaluate`, also in Rust (see `evaluate`).
re_evaluate = _ndexpr.re_evaluate


def _evaluate_dask(ex, local_dict, global_dict, out, order, casting):
    """The path of a call with a Dask operand (the extension's fast path answered
    NotImplemented): names resolved in Python, then a lazy Dask array."""
    names, values = _get_args(ex, _names(ex), local_dict, global_dict, 0)
    return _run(ex, names, values, out, order, casting)


def validate(
    ex,
    local_dict=None,
    global_dict=None,
    out=None,
    order="K",
    casting="same_kind",
    _frame_depth=2,
    sanitize=None,
    **kwargs,
):
    """Check (and compile) `ex` for the current values of its variables without evaluating it.

    Returns ``None`` on success, after which ``re_evaluate()`` runs it; otherwise returns (does
    not raise) the exception ``evaluate`` would raise while compiling.
    """
    try:
        _check_context(dict(kwargs))
        if order not in ("K", "A", "C", "F"):
            raise ValueError("order must be one of 'C', 'F', 'A', or 'K' (got %r)" % (order,))
        if casting not in ("no", "equiv", "safe", "same_kind", "unsafe"):
            raise ValueError(
                "casting must be one of 'no', 'equiv', 'safe', 'same_kind', or 'unsafe'"
            )
        spans = _names(ex)
        names, values = _get_args(ex, spans, local_dict, global_dict, _frame_depth)
        if any(_is_dask(v) for v in values) or _is_dask(out):
            # Builds the graph (compiling and checking shapes) without computing anything.
            _run(ex, names, values, out, order, casting)
        else:
            _ndexpr.compile(ex, names, values)
        _remember(ex, out, order, casting)
    except Exception as e:
        return e
    return None


# numexpr's signature types: Python's `float` means float32 there (and `int`, absent from
# numexpr's table, is taken as NumPy's default integer).
_SIGNATURE_TYPES = {bool: np.dtype(np.bool_), float: np.dtype(np.float32), complex: np.dtype(np.complex128), int: np.dtype(np.int64)}


def _signature_dtype(t):
    try:
        return _SIGNATURE_TYPES[t]
    except (KeyError, TypeError):
        return np.dtype(t)


def _as_input(value, dtype, name):
    """A positional argument of a NumExpr call, converted to the signature's dtype with 'safe'
    casting (as numexpr's interpreter does)."""
    if type(value) is np.ndarray and value.dtype == dtype:
        return value
    if isinstance(value, (bool, int, float, complex)) and not isinstance(value, np.generic):
        # A Python number takes the signature's dtype if its kind fits (a float does not go into
        # an integer, a complex only into a complex); out-of-range integers raise OverflowError.
        kinds = "biufc" if isinstance(value, bool) else "iufc" if isinstance(value, int) else (
            "fc" if isinstance(value, float) else "c")
        if dtype.kind not in kinds:
            raise TypeError(
                "argument `%s`: cannot cast the Python %s %r to %s (the signature's dtype) "
                "with casting rule 'safe'" % (name, type(value).__name__, value, dtype)
            )
        return np.asarray(value, dtype=dtype)
    return _cast_safely(np.asarray(value), dtype, name)


def _cast_safely(array, dtype, name):
    """`array` (NumPy or Dask, the latter cast lazily) as the signature's dtype, if the 'safe'
    rule allows it, as numexpr's interpreter casts its arguments."""
    if array.dtype != dtype:
        if not np.can_cast(array.dtype, dtype, "safe"):
            raise TypeError(
                "argument `%s`: cannot cast array data from %r to %r (the signature's dtype) "
                "according to the rule 'safe'" % (name, array.dtype, dtype)
            )
        array = array.astype(dtype)
    return array


class NumExpr:
    """A compiled expression, as numexpr's ``NumExpr(ex, signature)``.

    `signature` lists ``(name, type)`` pairs: the order of the positional arguments of calls and
    each variable's dtype (a NumPy dtype or type; as in numexpr, Python's ``float`` means
    float32, ``complex`` complex128 and ``bool`` bool). Without a signature the variables are
    float64, in alphabetical order. The names must be exactly the expression's variables.

    Calling it evaluates: ``nex(a, b, out=None, order='K', casting='safe')``; arguments of other
    dtypes are cast to the signature's when NumPy's 'safe' rule allows, as numexpr does. One
    object may be called from several threads at once.
    """

    def __init__(self, ex, signature=(), sanitize=None, **kwargs):
        _check_context(dict(kwargs))
        found = [name for name, _, _ in _names(ex)]
        if signature:
            sig = [(name, _signature_dtype(t)) for name, t in signature]
            if set(found) != {name for name, _ in sig}:
                raise ValueError(
                    "input names (%s) don't match those found in expression (%s)"
                    % ([name for name, _ in sig], set(found))
                )
        else:
            sig = [(name, np.dtype(np.float64)) for name in sorted(found)]
        self._compiled = _ndexpr.Compiled(ex, [(name, dt.name) for name, dt in sig])
        self._dtypes = [dt for _, dt in sig]
        self.input_names = tuple(name for name, _ in sig)
        self.signature = tuple(sig)

    @property
    def source(self):
        """The expression."""
        return self._compiled.source

    @property
    def dtype(self):
        """The result's dtype."""
        return np.dtype(self._compiled.dtype)

    def __call__(self, *args, out=None, order="K", casting="safe", ex_uses_vml=False):
        if len(args) != len(self._dtypes):
            raise ValueError(
                "number of inputs doesn't match program: expected %d (%s), got %d"
                % (len(self._dtypes), ", ".join(self.input_names), len(args))
            )
        if any(_is_dask(value) for value in args) or _is_dask(out):
            # Dask arrays are cast lazily (same 'safe' rule) and evaluated as by evaluate().
            values = [
                (_cast_safely if _is_dask(value) else _as_input)(value, dtype, name)
                for value, dtype, name in zip(args, self._dtypes, self.input_names)
            ]
            return _run(self.source, list(self.input_names), values, out, order, casting)
        values = [
            _as_input(value, dtype, name)
            for value, dtype, name in zip(args, self._dtypes, self.input_names)
        ]
        return self._compiled.run(values, out, order, casting)

    run = __call__

    def __repr__(self):
        return "NumExpr(%r, signature=%r)" % (
            self.source,
            [(name, dt.name) for name, dt in self.signature],
        )


def disassemble(nex):
    """The bytecode of a ``NumExpr`` as a list of instructions, each a list
    ``[opcode, destination, operand, ...]`` of strings (numexpr's layout; ndexpr's opcodes name
    the operation and its dtype, e.g. ``'multiply.f64'``, and a final ``['ret', 'r0']`` gives
    the result register)."""
    compiled = nex._compiled if isinstance(nex, NumExpr) else nex
    program = []
    for line in compiled.disassemble().splitlines():
        line = line.strip()
        if not line:
            continue
        if " = " in line:
            dest, rest = line.split(" = ", 1)
            op, _, args = rest.partition(" ")
            program.append([op, dest] + [a for a in args.split(", ") if a])
        else:
            op, _, args = line.partition(" ")
            program.append([op] + [a for a in args.split(", ") if a])
    return program


def set_num_threads(nthreads):
    """Set the number of threads evaluations may use (0 restores the default: the number of
    cores, or ``NDEXPR_NUM_THREADS``); returns the previous number."""
    return _ndexpr.set_num_threads(int(nthreads))


def get_num_threads():
    """The number of threads evaluations may use."""
    return _ndexpr.get_num_threads()


def detect_number_of_cores():
    """The number of CPU cores of the machine."""
    return os.cpu_count() or 1


def isa():
    """The instruction set the kernels run with: ``'sse2'``, ``'avx2'``, ``'avx512'`` or
    ``'neon'`` (``NDEXPR_ISA`` forces a lower one)."""
    return _ndexpr.isa()


# numexpr's VML knobs: ndexpr has its own vector math, so there is no VML to configure.
use_vml = False


def get_vml_version():
    """Always ``None``: ndexpr does not use Intel's VML."""
    return None


def set_vml_accuracy_mode(mode):
    """Accepted for compatibility; does nothing (returns ``None``)."""
    return None


def set_vml_num_threads(nthreads):
    """Accepted for compatibility; does nothing."""
    return None


def print_versions():
    """Print the versions of ndexpr, NumPy and Python, and the thread and ISA settings."""
    print("ndexpr:   %s" % __version__)
    print("NumPy:    %s" % np.__version__)
    print("Python:   %s" % sys.version.replace("\n", " "))
    print("threads:  %d (cores: %d)" % (get_num_threads(), ncores))
    print("ISA:      %s" % isa())


def _init_threads():
    # numexpr's variables are honoured too when ndexpr's own is not set, in numexpr's order:
    # NUMEXPR_NUM_THREADS, then OMP_NUM_THREADS (which Dask's worker processes set to 1, so that
    # a task uses one thread while Dask runs tasks in parallel).
    if "NDEXPR_NUM_THREADS" not in os.environ:
        for var in ("NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS"):
            if os.environ.get(var, "") != "":
                try:
                    n = int(os.environ[var])
                except ValueError:
                    n = 0
                if n > 0:
                    set_num_threads(n)
                break
    return get_num_threads()


ncores = detect_number_of_cores()
nthreads = _init_threads()
