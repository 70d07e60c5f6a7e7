//! Run-time choice of the instruction set the kernels run with.
//!
//! The binary is built for baseline x86-64 (SSE2), yet most machines it meets have AVX2+FMA or
//! AVX-512. `wide` (and any `cfg(target_feature)` code) fixes its SIMD width when it is
//! compiled, so it cannot use them; instead every kernel is one generic loop (see [`super::drive`])
//! instantiated once per level inside a `#[target_feature(enable = ...)]` entry point, where LLVM
//! vectorises it for that level's registers. [`Level`] maps a loop to its entry point;
//! [`lookup_for`] gives the kernel table of one level, and [`active`] is the level chosen once at
//! start-up: the best the CPU has, or `NDEXPR_ISA=sse2|avx2|avx512` (for tests and benchmarks;
//! a level the CPU lacks falls back to the best it has, with a warning on stderr).
//!
//! The levels compute identical results for every exact operation: Rust never contracts
//! `a*b + c` into a fused multiply-add, and the explicit `mul_add` of the `fma` function is
//! correctly rounded at every level (a libm call without FMA hardware, one instruction with
//! it). The float math functions are the exception: at the levels with FMA ([`Isa::has_fma`])
//! the drivers call [`super::drive::Map1::apply_fma`], whose polynomials and exact products
//! use it (and sin/cos a shorter algorithm), so they round differently from the baseline,
//! within the same error bound; AVX2 and AVX-512 agree with each other bit for bit.

use super::drive::{Map1, Map2, Map3};
use super::KernelFn;
use std::sync::OnceLock;

/// An instruction-set level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Whatever the compile target guarantees (SSE2 on x86-64, NEON on aarch64).
    Baseline,
    /// x86-64-v3: AVX2, FMA, BMI1/2, F16C.
    Avx2,
    /// x86-64-v4: AVX-512 F/BW/CD/DQ/VL on top of AVX2.
    Avx512,
}

impl Isa {
    /// Every level, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Baseline, Isa::Avx2, Isa::Avx512];

    /// The name `NDEXPR_ISA` and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline if cfg!(target_arch = "x86_64") => "sse2",
            Isa::Baseline if cfg!(target_arch = "aarch64") => "neon",
            Isa::Baseline => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The level called `name` (`sse2`, `neon` and `scalar` all mean the baseline).
    pub fn from_name(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "sse2" | "neon" | "scalar" | "baseline" => Some(Isa::Baseline),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether the level's math functions use fused multiply-adds (see `math::dd`): they then
    /// round differently from the baseline's, within the same bound.
    pub fn has_fma(self) -> bool {
        matches!(self, Isa::Avx2 | Isa::Avx512)
    }

    /// Whether this CPU can run the level.
    pub fn supported(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("bmi1")
                    && is_x86_feature_detected!("bmi2")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512cd")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best level this CPU supports.
    pub fn detect() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|l| l.supported())
            .unwrap_or(Isa::Baseline)
    }
}

/// The level kernels run with: chosen on first use, from `NDEXPR_ISA` or [`Isa::detect`].
pub fn active() -> Isa {
    static ACTIVE: OnceLock<Isa> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let best = Isa::detect();
        let Ok(wanted) = std::env::var("NDEXPR_ISA") else {
            return best;
        };
        match Isa::from_name(&wanted) {
            Some(level) if level.supported() => level,
            Some(level) => {
                eprintln!(
                    "ndexpr: NDEXPR_ISA={wanted}: this CPU lacks {}; using {}",
                    level.name(),
                    best.name()
                );
                best
            }
            None => {
                eprintln!(
                    "ndexpr: NDEXPR_ISA={wanted} is not one of sse2, avx2, avx512; using {}",
                    best.name()
                );
                best
            }
        }
    })
}

/// The kernel loops of one level: each method returns the loop instantiated for `A`, the
/// operation and the scalar mask, compiled for the level.
pub trait Level {
    fn k1<A: Copy, M: Map1<A>, const SA: bool>() -> KernelFn;
    fn k2<A: Copy, M: Map2<A>, const SA: bool, const SB: bool>() -> KernelFn;
    #[allow(clippy::type_complexity)]
    fn k3<
        A: Copy,
        B: Copy,
        C: Copy,
        M: Map3<A, B, C>,
        const SA: bool,
        const SB: bool,
        const SC: bool,
    >() -> KernelFn;
    /// The fused-chain kernel ([`super::chain::run`]) for elements `A`, in the level's vectors.
    fn chain<A: super::vector::Lanes>() -> KernelFn;
}

/// Implements [`Level`] for `$level` with the loops of module `$loops`.
macro_rules! level_impl {
    ($level:ty, $($loops:ident)::+) => {
        impl Level for $level {
            fn k1<A: Copy, M: Map1<A>, const SA: bool>() -> KernelFn {
                $($loops)::+::k1::<A, M, SA>
            }
            fn k2<A: Copy, M: Map2<A>, const SA: bool, const SB: bool>() -> KernelFn {
                $($loops)::+::k2::<A, M, SA, SB>
            }
            fn k3<
                A: Copy,
                B: Copy,
                C: Copy,
                M: Map3<A, B, C>,
                const SA: bool,
                const SB: bool,
                const SC: bool,
            >() -> KernelFn {
                $($loops)::+::k3::<A, B, C, M, SA, SB, SC>
            }
            fn chain<A: super::vector::Lanes>() -> KernelFn {
                $($loops)::+::chain::<A>
            }
        }
    };
}

/// The compile target's own level: the loops as they are.
pub struct Baseline;
level_impl!(Baseline, baseline);

/// The entry points of one level: the generic loops with the level's fused-multiply-add flag
/// (`F` of `drive::k1`), under the level's attribute (`#[target_feature]` for the x86 levels).
macro_rules! entry_points {
    ($fma:literal, $vector:ident, #[$attr:meta]) => {
        use super::super::drive::{self, Map1, Map2, Map3};

        /// # Safety
        /// As [`super::KernelFn`]; the CPU must support the level (checked by `lookup_for`).
        #[$attr]
        pub unsafe fn k1<A: Copy, M: Map1<A>, const SA: bool>(
            n: usize,
            dst: *mut u8,
            args: &[*const u8; 3],
        ) {
            // SAFETY: forwarded contract.
            unsafe { drive::k1::<A, M, $fma, SA>(n, dst, args) }
        }

        /// # Safety
        /// As `k1`.
        #[$attr]
        pub unsafe fn k2<A: Copy, M: Map2<A>, const SA: bool, const SB: bool>(
            n: usize,
            dst: *mut u8,
            args: &[*const u8; 3],
        ) {
            // SAFETY: forwarded contract.
            unsafe { drive::k2::<A, M, $fma, SA, SB>(n, dst, args) }
        }

        /// # Safety
        /// As `k1`.
        #[$attr]
        pub unsafe fn k3<
            A: Copy,
            B: Copy,
            C: Copy,
            M: Map3<A, B, C>,
            const SA: bool,
            const SB: bool,
            const SC: bool,
        >(
            n: usize,
            dst: *mut u8,
            args: &[*const u8; 3],
        ) {
            // SAFETY: forwarded contract.
            unsafe { drive::k3::<A, B, C, M, SA, SB, SC>(n, dst, args) }
        }

        /// # Safety
        /// As [`super::super::chain::run`].
        #[$attr]
        pub unsafe fn chain<A: super::super::vector::Lanes>(
            n: usize,
            dst: *mut u8,
            args: &[*const u8; 3],
        ) {
            // SAFETY: forwarded contract; the level's vectors are `A::$vector`.
            unsafe { super::super::chain::run::<A::$vector>(n, dst, args) }
        }
    };
}

/// The compile target's loops, without fused multiply-add (an instruction only on x86-64 with
/// AVX2 and up, or on aarch64, where the baseline could use it but does not yet).
mod baseline {
    entry_points!(false, Baseline, #[inline(always)]);
}

/// Declares a level whose entry points enable `features` around the generic loops (which are
/// `#[inline(always)]`, so LLVM compiles a copy of each for the level). Every such level has
/// fused multiply-add ([`Isa::has_fma`]).
macro_rules! x86_level {
    ($(#[$doc:meta])* $level:ident, $module:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            entry_points!(true, $level, #[target_feature(enable = $features)]);
        }

        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        pub struct $level;

        #[cfg(target_arch = "x86_64")]
        level_impl!($level, $module);
    };
}

x86_level!(
    /// x86-64-v3.
    Avx2,
    avx2,
    "avx,avx2,fma,bmi1,bmi2,f16c,lzcnt,popcnt,sse3,ssse3,sse4.1,sse4.2"
);
x86_level!(
    /// x86-64-v4.
    Avx512,
    avx512,
    "avx,avx2,fma,bmi1,bmi2,f16c,lzcnt,popcnt,sse3,ssse3,sse4.1,sse4.2,avx512f,avx512bw,avx512cd,avx512dq,avx512vl"
);
