/* biosnn C runtime: bs_prelude.h - headers and attribute macros of every kernel.
   First in each translation unit; needs nothing before it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#if defined(__GNUC__)
#define BS_INLINE inline __attribute__((always_inline))
#else
#define BS_INLINE inline
#endif
/* the lane functions get clones picked at load time (ifunc): x86-64-v3 (AVX2 and FMA;
   the kernel unit is compiled with -ffp-contract=fast, so there a*b + c is one fused
   multiply-add, rounded once) and the portable default (SSE2, no FMA).  The two agree
   to a few ulp, not bit for bit; one machine always picks the same clone.  GCC before
   12 cannot dispatch on x86-64-v3: AVX2 clone without FMA. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12     && defined(__linux__) && !defined(BS_NO_CLONES)
#define BS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8     && defined(__linux__) && !defined(BS_NO_CLONES)
#define BS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BS_CLONES
#endif
#if defined(__GNUC__)
#define BS_HIDDEN __attribute__((visibility("hidden")))
#else
#define BS_HIDDEN
#endif
/* functions of the kernel unit (lane functions, steppers): not exported from the
   library, callable from the driver unit, with their clones */
#define BS_KERNEL BS_HIDDEN BS_CLONES
#ifndef BS_NOINLINE
#if defined(__GNUC__)
#define BS_NOINLINE __attribute__((noinline))
#else
#define BS_NOINLINE
#endif
#endif
#ifndef BS_PIECE
#if defined(__GNUC__)
#define BS_PIECE static __attribute__((noinline)) BS_CLONES
#else
#define BS_PIECE static
#endif
#endif
