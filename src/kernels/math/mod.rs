//! Vectorisable elementary functions for float32 and float64.
//!
//! Each function is straight-line scalar `f64` (in [`native`], `f32`) code over one element: no
//! branches (selects instead), no table lookups, no libm calls (`sqrt` is an instruction;
//! `floor`/`round` are replaced by the `1.5 * 2^52` trick of [`dd::round`]; exponents are read
//! and written through `to_bits`/`from_bits`), so that the kernel driver's loop `dst[i] =
//! f(src[i])` auto-vectorises at every instruction-set level. float32 at the levels with fused multiply-add computes exp,
//! expm1, log, log2, log10, log1p, sin, cos, tan, sinh, cosh and tanh in float32 itself
//! ([`native`]: 16 lanes per AVX-512 vector, 0.56-0.97 ulp over every float32); elsewhere, and
//! for the other functions, it converts to float64, evaluates float64 code and rounds once:
//! nearly always the correctly rounded float32 result. For the exponential and logarithm
//! families, sin/cos/tan and the arc tangent that code is [`single`]'s, which stops at float32's
//! precision (1.4-2.4x faster than the float64 functions); the others share the float64 code.
//!
//! Accuracy target: 2 ulp of the correctly rounded result over the whole domain, with C99's and
//! NumPy's special values; `tests/ulp.rs` measures it (README's table). Where a few ulp of
//! rounding error would otherwise pile up, intermediate values are double-doubles
//! (error-free transformations in [`dd`]: Knuth's two-sum, Dekker's fast two-sum and Dekker's
//! product with Veltkamp's split).
//!
//! **Fused multiply-add where the level has it.** The binary targets baseline x86-64, where
//! `f64::mul_add` is a slow libm call, and the kernels are compiled once per instruction-set
//! level from the same source. So every function takes a const parameter `F`: at the AVX2 and
//! AVX-512 levels (`F = true`) [`dd::mla`] is one fused instruction, [`dd::two_prod`] two
//! instead of Dekker's seventeen, [`dd::div_dd`] one division instead of two, and sin/cos take
//! a shorter road ([`trig::reduce_half_period`]); at SSE2 (`F = false`) they are the plain operations,
//! which LLVM never contracts on its own. The two kinds of level therefore round differently
//! (each within the bound, both measured); levels of one kind agree bit for bit.
//!
//! Algorithms and coefficient sources (all permissively licensed; no code copied from copyleft
//! sources):
//! - `exp`, `exp2`, `expm1`, `sinh`, `cosh`, `tanh` ([`exp`]): `k = round(x/ln 2)`, Cody-Waite
//!   reduction with fdlibm's two-piece `ln 2` (`e_exp.c`, Sun Microsystems, freely
//!   redistributable), `expm1(r)` from its Taylor series to degree 13 (truncation below
//!   `2^-57`) with `r + r^2/2` as a double-double, scaling by `2^k` in two exact steps (so
//!   subnormal results round once and `exp(709.78...)` is finite). `expm1`, `sinh`, `tanh` use
//!   `2^k (1 + q) - 1` as a double-double, `cosh` `(Y + 1/Y)/2`, both with corrected quotients.
//! - `log`, `log2`, `log10`, `log1p` ([`log`]): `x = 2^k (1 + f)`, `1 + f` in
//!   `[sqrt(2)/2, sqrt(2))`, `s = f/(2+f)` and fdlibm's degree-14 minimax `Lg1..Lg7`; the final
//!   sums and the split `1/ln 2`, `1/ln 10` constants follow musl's `log.c`, `log2.c`,
//!   `log10.c`, `log1p.c` (MIT; they are fdlibm's). `arcsinh`, `arccosh`, `arctanh` evaluate
//!   their arguments to `log1p` as double-doubles.
//! - `power`: `exp(y log|x|)` with `log|x|` as a double-double from the atanh series
//!   (`2s + 2s^3/3` exact to `2^-66`, Taylor terms to `s^25`), `y log|x|` by Dekker's product,
//!   and the `exp` core taking a double-double argument (the classic method of e.g. CRlibm and
//!   ARM optimized-routines, without their tables). Zero, infinite and NaN operands go to the
//!   driver's exact pass (`std`, i.e. C99 `pow`, as NumPy).
//! - `sin`, `cos`, `tan` ([`trig`]): `k = round(x 2/pi)`, reduction with fdlibm's three
//!   33-bit pieces of `pi/2` (`e_rem_pio2.c`) into a double-double `r`, fdlibm/musl's minimax
//!   kernels `__sin`/`__cos` (`k_sin.c`, `k_cos.c`) and a bitwise quadrant select; `tan` is the
//!   double-double quotient of the two kernels. With FMA, sin and cos reduce by `pi` (about
//!   `pi/2` for cos) with three FMA steps to `|r| <= pi/2` and evaluate sin's Taylor series
//!   to `r^21`, its cubic term in double-doubles. Arguments above [`trig::TRIG_MAX`] (`1.6e6`)
//!   go to the exact pass (glibc's Payne-Hanek reduction through `std`).
//! - `arctan2`, `arctan`, `arcsin`, `arccos` ([`atan`]): for `t = min(|y|,|x|)/max(...)` in
//!   `[0, 1]`, one reduction at `tan(pi/8)` (`t` above it shifted by `pi/4`) as one
//!   double-double quotient of the operands, an odd minimax polynomial of degree 23 generated
//!   for `|u| <= tan(pi/8)` (`tools/atan_minimax.py`), and the octant as an exact multiple of
//!   `pi/4` added by a fast two-sum; faithful (proved bound 0.89 ulp). float32 keeps fdlibm's
//!   `s_atan.c` reduction around `1/2` and `1` and its polynomial `aT`.
//!   `arcsin x = arctan2(x, sqrt(1-x^2))`, `arccos x = arctan2(sqrt(1-x^2), x)` with the root
//!   as a double-double.
//! - float32 at the FMA levels ([`native`]): the same reductions in float32 pairs, minimax
//!   polynomials with float32 coefficients (`tools/f32_minimax.py`), no division but in tan and
//!   the hyperbolic functions.
//! - `hypot`: power-of-two scaling, squares and sum as double-doubles, corrected `sqrt`.
//! - `cbrt`: exponent split by 3 in floating point, quadratic guess, two Halley steps, a last
//!   Newton step with a double-double residual.

// The coefficients are written as published (fdlibm's 21 digits), not truncated.
#![allow(clippy::excessive_precision)]

pub mod atan;
pub mod dd;
pub mod exp;
pub mod log;
pub mod native;
pub mod pow;
pub mod single;
pub mod trig;

pub use atan::{acos, asin, atan, atan2};
pub use exp::{cosh, exp, exp2, expm1, sinh, tanh};
pub use log::{acosh, asinh, atanh, log, log10, log1p, log2};
pub use pow::{cbrt, hypot, pow, pow_special, powi, small_int_exponent};
pub use trig::{cos, sin, tan, TRIG_MAX};
