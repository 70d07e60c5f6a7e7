"""Coefficients of float64 arctan's polynomial (`AT8` in src/kernels/math/atan.rs).

atan(u) ~ u + u^3 P(u^2) on |u| <= H, P with K coefficients, minimax for the relative error
of atan(u): a Remez exchange on a dense grid in z = u^2, in 60-digit mpmath. Each coefficient
is rounded to float64 in turn (lowest degree first) and the others refitted, so the printed
bound is that of the float64 coefficients, evaluated exactly on a grid of 20001 points.

    python3 tools/atan_minimax.py [H] [K]      (default 0.41422 11; needs mpmath; ~1.5 min)
"""

import sys

import mpmath as mp

mp.mp.dps = 60


def target(z):
    """P(z) = (atan u - u) / u^3."""
    if z == 0:
        return mp.mpf(-1) / 3
    u = mp.sqrt(z)
    return (mp.atan(u) - u) / (u * z)


def weight(z):
    """An error in P(z) times this is the relative error of atan u."""
    if z == 0:
        return mp.mpf(0)
    u = mp.sqrt(z)
    return u**3 / mp.atan(u)


def remez(zmax, k, fixed, iters=20, n=3000):
    free = [i for i in range(k) if i not in fixed]
    m = len(free)
    grid = [zmax * (1 - mp.cos(mp.pi * i / (n - 1))) / 2 for i in range(n)]
    grid[0] = zmax * mp.mpf(10) ** -30
    ref = [grid[int((n - 1) * (1 - mp.cos(mp.pi * j / m)) / 2)] for j in range(m + 1)]
    ref[0] = grid[0]
    c = None
    for _ in range(iters):
        a = mp.matrix(m + 1, m + 1)
        b = mp.matrix(m + 1, 1)
        for j, z in enumerate(ref):
            for col, i in enumerate(free):
                a[j, col] = z**i
            a[j, m] = (-1) ** j / weight(z)
            b[j] = target(z) - sum(v * z**i for i, v in fixed.items())
        sol = mp.lu_solve(a, b)
        c = [None] * k
        for col, i in enumerate(free):
            c[i] = sol[col]
        for i, v in fixed.items():
            c[i] = v
        errs = [(sum(c[i] * z**i for i in range(k)) - target(z)) * weight(z) for z in grid]
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


def main():
    h = mp.mpf(sys.argv[1] if len(sys.argv) > 1 else "0.41422")
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 11
    fixed = {}
    for i in range(k):
        c = remez(h * h, k, dict(fixed))
        fixed[i] = mp.mpf(float(c[i]))
    c = [fixed[i] for i in range(k)]
    worst = 0
    for j in range(1, 20001):
        u = h * j / 20000
        a = mp.atan(u)
        worst = max(worst, abs(u + u**3 * sum(c[i] * (u * u) ** i for i in range(k)) - a) / a)
    print(f"|u| <= {h}, {k} coefficients: max relative error 2^{float(mp.log(worst, 2)):.2f}")
    for v in c:
        print(f"    {float(v)!r},")


if __name__ == "__main__":
    main()
