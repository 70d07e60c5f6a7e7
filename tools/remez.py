"""The Remez exchange shared by the coefficient tools (atan_minimax.py, f32_minimax.py).

`remez(grid, k, target, weight, fixed, iters)`: the coefficients c[0..k) of sum c_i t^i that
minimise max |sum c_i t^i - target(t)| weight(t) over the points of `grid` (sorted), with the
coefficients in `fixed` ({i: value}) held; the reference starts at Chebyshev-spaced grid points
(`first` replaces its first point), and each round moves it to the largest error of each run of
one sign. mpmath's working precision is the caller's.
"""

import mpmath as mp


def remez(grid, k, target, weight, fixed, iters, first=None):
    free = [i for i in range(k) if i not in fixed]
    m = len(free)
    n = len(grid)
    ref = [grid[int((n - 1) * (1 - mp.cos(mp.pi * j / m)) / 2)] for j in range(m + 1)]
    if first is not None:
        ref[0] = first
    c = None
    for _ in range(iters):
        mat = mp.matrix(m + 1, m + 1)
        rhs = mp.matrix(m + 1, 1)
        for j, t in enumerate(ref):
            for col, i in enumerate(free):
                mat[j, col] = t**i
            mat[j, m] = (-1) ** j / weight(t)
            rhs[j] = target(t) - sum(v * t**i for i, v in fixed.items())
        sol = mp.lu_solve(mat, rhs)
        c = [None] * k
        for col, i in enumerate(free):
            c[i] = sol[col]
        for i, v in fixed.items():
            c[i] = v
        errs = [(sum(c[i] * t**i for i in range(k)) - target(t)) * weight(t) for t in grid]
        # The new reference: the largest error of each run of one sign.
        peaks, i = [], 0
        while i < n:
            s, best = mp.sign(errs[i]), i
            while i < n and mp.sign(errs[i]) == s:
                if abs(errs[i]) > abs(errs[best]):
                    best = i
                i += 1
            peaks.append(best)
        while len(peaks) > m + 1:
            peaks.pop(0 if abs(errs[peaks[0]]) < abs(errs[peaks[-1]]) else -1)
        if len(peaks) < m + 1:
            break
        ref = [grid[j] for j in peaks]
    return c
