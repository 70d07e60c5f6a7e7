"""Coefficients of the native float32 polynomials (src/kernels/math/native.rs).

Each polynomial P(t) = c0 + c1 t + ... approximates a function's tail, minimax for the relative
error of the function it feeds: a Remez exchange on a dense grid, in 40-digit mpmath. Each
coefficient is rounded to float32 in turn (lowest degree first) and the others refitted, so the
printed bound is that of the float32 coefficients, evaluated exactly on a grid of 20001 points.

    python3 tools/f32_minimax.py NAME [K]      (NAME: expm1, log1p, sin, cos, tan; needs mpmath)

- expm1: expm1(r) = r + r^2 P(r), |r| <= ln(2)/2 (+ 2^-12 for the reduction's rounding).
- log1p: log(1 + f) = f - f^2/2 + f^3 P(f), f in [sqrt(1/2) - 1, sqrt(2) - 1].
- sin: sin r = r + r^3 P(r^2), |r| <= pi/4 + 0.07 (see `trig` below), t = r^2.
- cos: cos r = 1 - r^2/2 + r^4 P(r^2), |r| <= pi/4 + 0.07, t = r^2.
"""

import struct
import sys

import mpmath as mp
from remez import remez as shared_remez

mp.mp.dps = 40


def f32(x):
    """x rounded to the nearest float32, as an mpf."""
    return mp.mpf(struct.unpack("f", struct.pack("f", float(x)))[0])


def case(name):
    """(a, b, target P(t), weight: error in P times this is the relative error, reference
    function of t, approximation from P)."""
    pad = mp.mpf(2) ** -12
    if name == "expm1":
        h = mp.log(2) / 2 + pad

        def target(t):
            return mp.mpf(1) / 2 if t == 0 else (mp.expm1(t) - t) / t**2

        return (-h, h, target, lambda t: t**2 / mp.expm1(t) if t else mp.mpf(0),
                mp.expm1, lambda t, p: t + t * t * p)
    if name == "log1p":
        a, b = mp.sqrt(mp.mpf(1) / 2) - 1, mp.sqrt(2) - 1

        def target(t):
            return mp.mpf(1) / 3 if t == 0 else (mp.log1p(t) - t + t * t / 2) / t**3

        return (a, b, target, lambda t: t**3 / mp.log1p(t) if t else mp.mpf(0),
                mp.log1p, lambda t, p: t - t * t / 2 + t**3 * p)
    # The float32 quotient x (2/pi) can misplace the rounding to k by 0.041 at |x| = 1.6e6
    # (the float32 2/pi is 2.6e-8 low): |r| <= (1/2 + 0.041) pi/2 < pi/4 + 0.07.
    trig = (mp.pi / 4 + mp.mpf("0.07")) ** 2
    if name == "sin":
        zmax = trig

        def target(z):
            if z == 0:
                return mp.mpf(-1) / 6
            r = mp.sqrt(z)
            return (mp.sin(r) - r) / (r * z)

        def weight(z):
            if z == 0:
                return mp.mpf(0)
            r = mp.sqrt(z)
            return r * z / mp.sin(r)

        return (0, zmax, target, weight, lambda z: mp.sin(mp.sqrt(z)),
                lambda z, p: mp.sqrt(z) + mp.sqrt(z) * z * p)
    if name == "cos":
        zmax = trig

        def target(z):
            if z == 0:
                return mp.mpf(1) / 24
            r = mp.sqrt(z)
            return (mp.cos(r) - 1 + z / 2) / z**2

        return (0, zmax, target, lambda z: z**2 / mp.cos(mp.sqrt(z)),
                lambda z: mp.cos(mp.sqrt(z)), lambda z, p: 1 - z / 2 + z * z * p)
    raise SystemExit(f"unknown function {name}")


def remez(a, b, k, target, weight, fixed, iters=12, n=1500):
    """Minimax P on [a, b], on a Chebyshev-spaced grid kept off t = 0 (where the weights
    vanish)."""
    grid = [a + (b - a) * (1 - mp.cos(mp.pi * i / (n - 1))) / 2 for i in range(n)]
    grid = [t for t in grid if abs(t) > (b - a) * mp.mpf(10) ** -20]
    return shared_remez(grid, k, target, weight, fixed, iters)


def main():
    name = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    a, b, target, weight, ref, approx = case(name)
    a, b = mp.mpf(a), mp.mpf(b)
    fixed = {}
    for i in range(k):
        c = remez(a, b, k, target, weight, dict(fixed))
        fixed[i] = f32(c[i])
    c = [fixed[i] for i in range(k)]
    worst = 0
    for j in range(20001):
        t = a + (b - a) * j / 20000
        if t == 0:
            continue
        p = sum(c[i] * t**i for i in range(k))
        v = ref(t)
        worst = max(worst, abs(approx(t, p) - v) / abs(v))
    print(f"{name} on [{float(a):.6f}, {float(b):.6f}], {k} coefficients: "
          f"max relative error 2^{float(mp.log(worst, 2)):.2f}")
    for v in c:
        print(f"    {float(v)!r},  // {struct.unpack('I', struct.pack('f', float(v)))[0]:#010x}")


if __name__ == "__main__":
    main()
