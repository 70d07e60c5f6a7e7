"""ndexpr inside Dask against plain Dask array arithmetic, on a local cluster.

    python python/bench/dask_compare.py [--n 1e8] [--chunk 1e7] [--repeat 5] [--workers 2]
                                        [--markdown]

The same expressions over float64 Dask arrays of `--n` elements in chunks of `--chunk`:
`ndexpr.evaluate(expr)` (one ndexpr call per chunk: no temporaries) against the same
expression written with Dask's operators and ufuncs (`2*a + 48`, `da.sin(a)**2 + ...`: Dask
fuses them into one task per chunk, but inside a task NumPy makes a temporary array per
operation), and `a.mean()`/`(a*b).sum()` for the reductions.

What is timed: the inputs (`a`, `b`, `c`, uniform in [0.5, 1.5)) are generated and persisted in
the workers' memory first, untimed. Then, per run, every chunk of an elementwise result is
computed on its worker and handed to `da.store` with a target that drops it (`Discard`: the
chunk is computed in full, then freed; nothing is sent to the client or kept), and a full
reduction is `compute()`d (the partials and the final scalar are all that move). Medians of
`--repeat` runs, after one warm-up run each.

Peak memory: the resident set size (RSS) of each worker process, sampled every 5 ms from this
process (psutil) during the timed runs; the table gives the largest RSS seen above the RSS the
worker had with the inputs persisted (the worst worker), i.e. what one task at a time needs on
top of the inputs: its result chunk plus the temporaries the engine made.

Each task runs one thread (Dask's workers set OMP_NUM_THREADS=1, which ndexpr follows as
numexpr does); Dask runs `--workers` tasks at a time.
"""

import argparse
import os
import statistics
import threading
import time

import numpy as np

import dask.array as da
import psutil
from distributed import Client, LocalCluster, wait

import ndexpr as ne

CASES = [
    ("2*a+48", lambda a, b, c: 2 * a + 48),
    ("a*b+c", lambda a, b, c: a * b + c),
    ("sin(a)**2+cos(b)**2", lambda a, b, c: da.sin(a) ** 2 + da.cos(b) ** 2),
    ("sum(a*b)", lambda a, b, c: (a * b).sum()),
    ("a - mean(a)", lambda a, b, c: a - a.mean()),
]


class Sampler:
    """Samples the RSS of some processes in a background thread; keeps the maximum of each."""

    def __init__(self, pids, period=0.005):
        self.procs = [psutil.Process(p) for p in pids]
        self.period = period
        self.peak = [0] * len(self.procs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for i, p in enumerate(self.procs):
                try:
                    self.peak[i] = max(self.peak[i], p.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class Discard:
    """A `da.store` target that drops what it is given (the chunk was computed in full)."""

    def __setitem__(self, key, value):
        pass


def run_once(result, client):
    """Computes `result` on the workers; returns the seconds it took."""
    t0 = time.perf_counter()
    if result.ndim == 0:
        result.compute()
    else:
        da.store(result, Discard(), lock=False)
    return time.perf_counter() - t0


def rss(pids):
    return [psutil.Process(p).memory_info().rss for p in pids]


def measure(make, client, pids, repeat):
    """Median seconds and peak extra RSS (bytes, worst worker) of computing make()."""
    run_once(make(), client)  # warm-up: imports, compilation, memory pools
    time.sleep(0.5)
    base = rss(pids)
    times = []
    with Sampler(pids) as s:
        for _ in range(repeat):
            times.append(run_once(make(), client))
            time.sleep(0.2)  # let released chunks go back
    extra = max(peak - b for peak, b in zip(s.peak, base))
    return statistics.median(times), extra, times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=float, default=1e8)
    parser.add_argument("--chunk", type=float, default=1e7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    n, chunk = int(args.n), int(args.chunk)

    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit=0,  # no limit: the bench measures memory, it does not police it
        silence_logs=40,
    )
    client = Client(cluster)
    try:
        pids = list(client.run(os.getpid).values())
        threads = client.run(ne.get_num_threads)
        rng = da.random.default_rng(42)
        a, b, c = (rng.random(n, chunks=chunk) + 0.5 for _ in range(3))
        a, b, c = client.persist([a, b, c])
        wait([a, b, c])
        print(
            "%d float64 elements in chunks of %d (%d chunks), %d worker processes x 1 thread "
            "(ndexpr threads per task: %s), inputs persisted (%.1f GB)"
            % (n, chunk, a.numblocks[0], args.workers, sorted(set(threads.values())),
               3 * a.nbytes / 1e9)
        )
        rows = []
        for src, plain in CASES:
            ns = {"a": a, "b": b, "c": c}
            t_ne, m_ne, all_ne = measure(lambda: ne.evaluate(src, ns), client, pids, args.repeat)
            t_da, m_da, all_da = measure(lambda: plain(a, b, c), client, pids, args.repeat)
            # Same answer (checked loosely: the association of float sums differs).
            x, y = ne.evaluate(src, ns), plain(a, b, c)
            if x.ndim == 0:
                assert np.isclose(x.compute(), y.compute(), rtol=1e-9), src
            else:
                assert bool(da.allclose(x, y, rtol=1e-12, atol=1e-12).compute()), src
            rows.append((src, t_ne, t_da, m_ne, m_da))
            print("  %-22s ndexpr %8.1f ms  dask %8.1f ms  (%.2fx)  peak +%.0f / +%.0f MB"
                  "   [runs ms: %s | %s]"
                  % (src, t_ne * 1e3, t_da * 1e3, t_da / t_ne, m_ne / 1e6, m_da / 1e6,
                     " ".join("%.0f" % (t * 1e3) for t in all_ne),
                     " ".join("%.0f" % (t * 1e3) for t in all_da)))
        if args.markdown:
            print()
            print("| expression | ndexpr in Dask (ms) | plain Dask (ms) | Dask / ndexpr "
                  "| peak worker memory, ndexpr | plain Dask |")
            print("|---|---|---|---|---|---|")
            for src, t_ne, t_da, m_ne, m_da in rows:
                print("| `%s` | %.0f | %.0f | %.2f× | +%.0f MB | +%.0f MB |"
                      % (src, t_ne * 1e3, t_da * 1e3, t_da / t_ne, m_ne / 1e6, m_da / 1e6))
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
