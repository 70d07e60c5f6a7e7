"""Time ndexpr against numexpr and NumPy on the issue's seed expressions; print medians (ms).

    python bench/compare.py [--repeat 15] [--engine ndexpr|numexpr|numpy]

Each engine runs in its own process (thread pools of different engines interfere when they
share one), with its default thread count. "new" allocates the result each call; "out=" writes
into a preallocated array. Run it from outside the python/ folder or with an installed ndexpr.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

N = 10_000_000


def cases():
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(N) for _ in range(3))
    s = rng.standard_normal((400, 12000))[:, ::20]
    return [
        ("2*a+48  (1e7 f64)", "2*a+48", {"a": a}),
        ("a*b+c  (1e7 f64)", "a*b+c", {"a": a, "b": b, "c": c}),
        ("sin(a)**2+cos(b)**2  (1e7 f64)", "sin(a)**2+cos(b)**2", {"a": a, "b": b}),
        ("2*s+48  (s = randn(400,12000)[:, ::20])", "2*s+48", {"s": s}),
    ]


def numpy_eval(src, ns, out=None):
    funcs = {"sin": np.sin, "cos": np.cos}
    r = eval(src, {"__builtins__": {}}, {**funcs, **ns})
    if out is not None:
        out[...] = r
        return out
    return r


def time_engine(engine, repeat):
    if engine == "ndexpr":
        import ndexpr as lib
    elif engine == "numexpr":
        import numexpr as lib
    results = {}
    for label, src, ns in cases():
        shape = np.broadcast_shapes(*(v.shape for v in ns.values()))
        out = np.empty(shape)
        for mode in ("new", "out="):
            kw = {"out": out} if mode == "out=" else {}
            if engine == "numpy":
                fn = lambda: numpy_eval(src, ns, **kw)  # noqa: E731
            else:
                fn = lambda: lib.evaluate(src, local_dict=ns, **kw)  # noqa: E731
            fn()
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            results[label + " " + mode] = statistics.median(times) * 1e3
    return results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--engine")
    args = p.parse_args()
    if args.engine:
        print(json.dumps(time_engine(args.engine, args.repeat)))
        return
    table = {}
    for engine in ("ndexpr", "numexpr", "numpy"):
        r = subprocess.run([sys.executable, __file__, "--engine", engine, "--repeat", str(args.repeat)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("%s: skipped (%s)" % (engine, r.stderr.strip().splitlines()[-1:]))
            continue
        table[engine] = json.loads(r.stdout)
    engines = list(table)
    rows = list(next(iter(table.values())))
    import ndexpr

    print("median ms over %d runs; %d cores; ndexpr threads %d, isa %s"
          % (args.repeat, os.cpu_count(), ndexpr.get_num_threads(), ndexpr.isa()))
    print("%-50s" % "case" + "".join("%12s" % e for e in engines))
    for row in rows:
        print("%-50s" % row + "".join("%12.3f" % table[e][row] for e in engines))


if __name__ == "__main__":
    main()
