"""Coefficients of float64 arctan's polynomial (`AT8` in src/kernels/math/atan.rs).

atan(u) ~ u + u^3 P(u^2) on |u| <= H, P with K coefficients, minimax for the relative error
of atan(u): a Remez exchange on a dense grid in z = u^2, in 60-digit mpmath. Each coefficient
is rounded to float64 in turn (lowest degree first) and the others refitted, so the printed
bound is that of the float64 coefficients, evaluated exactly on a grid of 20001 points.

    python3 tools/atan_minimax.py [H] [K]      (default 0.41422 11; needs mpmath; ~1.5 min)
"""

import sys

import mpmath as mp
from remez import remez as shared_remez

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
    """Minimax P on z in [0, zmax] (the grid's first point just off 0, where the weight
    vanishes)."""
    grid = [zmax * (1 - mp.cos(mp.pi * i / (n - 1))) / 2 for i in range(n)]
    grid[0] = zmax * mp.mpf(10) ** -30
    return shared_remez(grid, k, target, weight, fixed, iters, first=grid[0])


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
