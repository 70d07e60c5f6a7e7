"""Time ndexpr beside numexpr, NumPy and numba on the bench suite; print a table of medians (ms)
and each ndexpr time as a ratio of the best peer's.

    python python/bench/compare.py [--repeat 11] [--sizes 1e3,2.4e5,1e7] [--dtypes f64,f32]
                                   [--markdown] [--quick]

The suite is `ndexpr bench --suite`'s: twelve expressions at 10^3, 2.4x10^5 and 10^7 elements,
float64 and float32, plus the seed's `2*s+48` over a 400x600 array, contiguous and the strided
view `randn(400, 12000)[:, ::20]`. Inputs are uniform in [0.5, 1.5) (every function is defined
there), generated from one seed, identical for every engine.

Each engine runs in a process of its own (engines' thread pools interfere when they share one),
with its default number of threads; NumPy uses one. Two modes:

- "new": the engine allocates its result (fresh memory costs page faults: reported apart);
- "out=": the result goes into a preallocated array (numexpr's and ndexpr's `out=`, numba's
  loop writing into an output argument). NumPy cannot evaluate a whole expression into `out`
  without temporaries, so it has no "out=" column; full reductions return a scalar and have no
  "out=" row.

numexpr and numba are optional: an engine that cannot be imported is skipped with a note. numba
runs `@njit(parallel=True)` loops written from the same expressions (compilation excluded:
each function is called once before timing). numexpr 2.14 has no `mean` and allows `sum` only
at the root: `a - mean(a)` is timed for it as NumPy's `a.mean()` then `evaluate('a - m')`.

Run it with an installed ndexpr, from outside the python/ folder (or it imports the folder).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

SUITE = [
    "2*a+48",
    "a*b+c",
    "2*a+3*b-c",
    "sin(a)**2+cos(b)**2",
    "exp(-a)*log1p(b)",
    "where(a>b,a,b)",
    "sqrt(a**2+b**2)",
    "a**3+4*a**2-2*a+1",
    "arctan2(a,b)",
    "tanh(a)",
    "sum(a*b)",
    "a - mean(a)",
]
SEED = "2*s+48"
ENGINES = ("ndexpr", "numexpr", "numba", "numpy")
PEERS = ("numexpr", "numba", "numpy")
DTYPES = {"f64": np.float64, "f32": np.float32}


def names_of(src):
    return sorted(set(re.findall(r"\b[a-cs]\b", src)))


def cases(sizes, dtypes):
    """(label, src, size label, dtype label, namespace) for every timed case."""
    for dname in dtypes:
        dt = DTYPES[dname]
        for size in sizes:
            n = int(float(size))
            rng = np.random.default_rng(0)
            data = {k: (rng.random(n) + 0.5).astype(dt) for k in "abc"}
            for src in SUITE:
                yield src, src, size, dname, {k: data[k] for k in names_of(src)}
    rng = np.random.default_rng(1)
    wide = rng.standard_normal((400, 12000))
    yield "2*s+48 seed, 400x600 contiguous", SEED, "2.4e5", "f64", {"s": wide[:, :600].copy()}
    yield "2*s+48 seed, 400x600 view [:, ::20]", SEED, "2.4e5", "f64", {"s": wide[:, ::20]}


# ---------------------------------------------------------------------------------------------
# One function per engine: (src, namespace) -> (fn_new, fn_out or None, out array or None).

NP_FUNCS = {f: getattr(np, f) for f in
            ("sin", "cos", "exp", "log1p", "where", "sqrt", "arctan2", "tanh", "sum", "mean")}


def is_reduction(src):
    return src.startswith("sum(")


def result_shape_dtype(src, ns):
    r = eval(src, {"__builtins__": {}}, {**NP_FUNCS, **{k: v[:1] if v.ndim == 1 else v[:1, :1]
                                                        for k, v in ns.items()}})
    shape = np.broadcast_shapes(*(v.shape for v in ns.values()))
    return shape, np.asarray(r).dtype


def numpy_fns(src, ns):
    env = {"__builtins__": {}}
    scope = {**NP_FUNCS, **ns}
    code = compile(src, "<expr>", "eval")
    return (lambda: eval(code, env, scope)), None


def ndexpr_fns(src, ns, lib):
    """numexpr's API: `evaluate`, with `out=` unless the result is a scalar."""
    if is_reduction(src):
        return (lambda: lib.evaluate(src, local_dict=ns)), None
    shape, dtype = result_shape_dtype(src, ns)
    out = np.empty(shape, dtype)
    return (lambda: lib.evaluate(src, local_dict=ns)), \
        (lambda: lib.evaluate(src, local_dict=ns, out=out))


def numexpr_fns(src, ns, lib):
    if src == "a - mean(a)":
        # numexpr has no mean: NumPy's (timed with each call), then numexpr for the rest.
        a = ns["a"]
        out = np.empty_like(a)

        def call(**kw):
            return lib.evaluate("a - m", local_dict={"a": a, "m": a.mean()}, **kw)
        return call, (lambda: call(out=out))
    return ndexpr_fns(src, ns, lib)


def numba_source(src, names, ndim):
    """A @njit(parallel=True) kernel writing `src` element by element into `out`."""
    idx = "[i]" if ndim == 1 else "[i, j]"
    body = src
    m = re.fullmatch(r"where\((\w)>(\w),(\w),(\w)\)", src)
    if m:
        body = "%s if %s > %s else %s" % (m[3], m[1], m[2], m[4])
    body = re.sub(r"\b([a-cs])\b", lambda v: v[1] + idx, body)
    body = re.sub(r"\b(sin|cos|exp|log1p|sqrt|arctan2|tanh)\(", r"np.\1(", body)
    args = ", ".join(names)
    if ndim == 1:
        loop = "    for i in prange(out.shape[0]):\n        out[i] = %s\n" % body
    else:
        loop = ("    for i in prange(out.shape[0]):\n        for j in range(out.shape[1]):\n"
                "            out[i, j] = %s\n" % body)
    return "def kernel(%s, out):\n%s    return out\n" % (args, loop)


def numba_fns(src, ns, numba):
    njit, scope = numba.njit(parallel=True), {"np": np, "prange": numba.prange}
    names = names_of(src)
    args = [ns[k] for k in names]
    if src == "sum(a*b)":
        exec("def kernel(a, b):\n    s = 0.0\n    for i in prange(a.shape[0]):\n"
             "        s += a[i] * b[i]\n    return s\n", scope)
        k = njit(scope["kernel"])
        k(*args)
        return (lambda: k(*args)), None
    if src == "a - mean(a)":
        exec("def kernel(a, out):\n    s = 0.0\n    for i in prange(a.shape[0]):\n"
             "        s += a[i]\n    m = s / a.shape[0]\n    for i in prange(a.shape[0]):\n"
             "        out[i] = a[i] - m\n    return out\n", scope)
    else:
        exec(numba_source(src, names, args[0].ndim), scope)
    k = njit(scope["kernel"])
    shape, dtype = result_shape_dtype(src, ns)
    out = np.empty(shape, dtype)
    k(*args, out)
    return (lambda: k(*args, np.empty(shape, dtype))), (lambda: k(*args, out))


# ---------------------------------------------------------------------------------------------
# Timing, in the engine's own process.

def median_ms(fn, repeat):
    """Median over `repeat` samples; each sample averages enough calls to last >= 2 ms."""
    fn()
    t = time.perf_counter()
    fn()
    once = time.perf_counter() - t
    calls = max(1, min(10_000, int(2e-3 / max(once, 1e-7))))
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t) / calls)
    return statistics.median(samples) * 1e3


def time_engine(engine, repeat, sizes, dtypes):
    lib = None
    if engine == "ndexpr":
        import ndexpr as lib
    elif engine == "numexpr":
        import numexpr as lib
    elif engine == "numba":
        import numba as lib
    results, failures = {}, []
    warm = False
    for label, src, size, dname, ns in cases(sizes, dtypes):
        key = "%s|%s|%s" % (label, size, dname)
        make = {"numpy": lambda: numpy_fns(src, ns), "numba": lambda: numba_fns(src, ns, lib),
                "numexpr": lambda: numexpr_fns(src, ns, lib),
                "ndexpr": lambda: ndexpr_fns(src, ns, lib)}[engine]
        try:
            new, into = make()
            if not warm:
                # These machines are VMs: an idle vCPU takes tens of milliseconds to get a
                # physical core back, and until then a second thread barely runs (measured:
                # the first ~20 ms of 2*a+48 at 2.4e5 ran at one-thread speed in ndexpr). Each
                # engine first runs its first case for 0.3 s, so no engine's first row
                # measures the hypervisor.
                t = time.perf_counter()
                while time.perf_counter() - t < 0.3:
                    new()
                warm = True
            results[key + "|new"] = median_ms(new, repeat)
            if into is not None:
                results[key + "|out="] = median_ms(into, repeat)
        except Exception as e:  # a peer that cannot run a case leaves its cell empty
            failures.append("%s: %s: %s" % (key, type(e).__name__, str(e).splitlines()[0]))
    threads = {"ndexpr": lambda: lib.get_num_threads(), "numexpr": lambda: lib.get_num_threads(),
               "numba": lambda: lib.get_num_threads(), "numpy": lambda: 1}[engine]()
    return {"results": results, "threads": threads, "failures": failures,
            "version": np.__version__ if engine == "numpy" else lib.__version__}


def fmt(ms):
    if ms is None:
        return "—"
    return "%.3g" % ms if ms < 100 else "%.0f" % ms


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=11)
    p.add_argument("--sizes", default="1e3,2.4e5,1e7")
    p.add_argument("--dtypes", default="f64,f32")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--quick", action="store_true", help="10^3 and 2.4x10^5 only, 3 rounds")
    p.add_argument("--engine", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.sizes, args.repeat = "1e3,2.4e5", 3
    sizes, dtypes = args.sizes.split(","), args.dtypes.split(",")
    if args.engine:
        print(json.dumps(time_engine(args.engine, args.repeat, sizes, dtypes)))
        return
    table, notes = {}, []
    for engine in ENGINES:
        r = subprocess.run([sys.executable, __file__, "--engine", engine, "--repeat",
                            str(args.repeat), "--sizes", args.sizes, "--dtypes", args.dtypes],
                           capture_output=True, text=True)
        if r.returncode != 0:
            why = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
            notes.append("%s skipped: %s" % (engine, why))
            continue
        table[engine] = json.loads(r.stdout)
    if "ndexpr" not in table:
        sys.exit("\n".join(notes))
    engines = list(table)
    peers = [e for e in engines if e in PEERS]
    print("median ms per call (%d samples); %d cores; %s" % (
        args.repeat, os.cpu_count(),
        ", ".join("%s %s (%d thr)" % (e, table[e]["version"], table[e]["threads"])
                  for e in engines)))
    import ndexpr
    print("ndexpr kernels: %s" % ndexpr.isa())
    for e in engines:
        notes += ["%s could not run %s" % (e, f) for f in table[e]["failures"]]
    for n in notes:
        print(n)
    head = ["case", "n", "dtype", "mode"] + engines + ["best peer", "ndexpr ÷ best"]
    rows = []
    ratios = []
    for key in table["ndexpr"]["results"]:
        label, size, dname, mode = key.split("|")
        vals = {e: table[e]["results"].get(key) for e in engines}
        peer_vals = {e: vals[e] for e in peers if vals[e] is not None}
        best = min(peer_vals, key=peer_vals.get) if peer_vals else None
        ratio = vals["ndexpr"] / peer_vals[best] if best else None
        if ratio is not None:
            ratios.append(ratio)
        rows.append([label, size, dname, mode] + [fmt(vals[e]) for e in engines]
                    + [best or "—", "%.2f" % ratio if ratio is not None else "—"])
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            r = ["`%s`" % r[0]] + r[1:]
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
        for r in [head] + rows:
            print("  ".join(str(c).ljust(w) if i < 4 else str(c).rjust(w)
                            for i, (c, w) in enumerate(zip(r, widths))))
    if ratios:
        print("ndexpr ÷ best peer: median %.2f, worst %.2f, faster than every peer on %d of %d rows"
              % (statistics.median(ratios), max(ratios), sum(r <= 1 for r in ratios),
                 len(ratios)))


if __name__ == "__main__":
    main()
