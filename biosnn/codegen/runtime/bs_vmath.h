/* biosnn C runtime: bs_vmath.h - SIMD-friendly exp, expm1, x/expm1(x) and phi1 of the
   fixed-step lane functions (kernel unit).
   Needs: bs_prelude.h. */
/* ---------------------------------------------------------------------------------
   SIMD-friendly exp and expm1 (used by the lane functions bs_*_v).
   Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2 (ln2 split in a high part with
   trailing zeros, so k*LN2HI is exact); expm1(r) by its Taylor polynomial to degree 13
   (truncation < 2e-17 relative,
   evaluated by Estrin's scheme); 2^k from exponent bits.  Branch-free (selects, bit
   casts through memcpy), so loops calling them vectorize; IEEE operations only, so the
   result does not depend on the vector width.  Out-of-range arguments are clamped
   (overflow -> inf, underflow -> 0 / -1), NaN propagates.  Accuracy: <= 2 ulp (tested
   against libm in tests/codegen/test_c_vecmath.py).
   --------------------------------------------------------------------------------- */
#define BS_LOG2E 1.4426950408889634
#define BS_LN2HI 6.93147180369123816490e-01
#define BS_LN2LO 1.90821492927058770002e-10
#define BS_SHIFT 6755399441055744.0          /* 1.5*2^52: x + S - S rounds to integer */

static inline double bs_pow2i(double k) {   /* 2^k, k integer-valued in [-1022, 1024] */
    double d = k + 4503599627371519.0;      /* 2^52 + 1023: low bits hold k + 1023 */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    u <<= 52;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* T(r) = sum_{k=0..11} r^k/(k+2)!, so that expm1(r) = r + r^2 T(r) and
   expm1(r)/r = 1 + r T(r) to degree 13 and 12, |r| <= ln2/2 (truncation < 2e-17
   relative); by Estrin's scheme: short dependency chains, so the vectorized loops are
   not latency bound (30% faster than Horner) */
static inline double bs_expm1_tail(double r, double r2) {
    const double r4 = r2 * r2, r8 = r4 * r4;
    const double p2 = 1.0 / 2 + r * (1.0 / 6), p4 = 1.0 / 24 + r * (1.0 / 120),
        p6 = 1.0 / 720 + r * (1.0 / 5040), p8 = 1.0 / 40320 + r * (1.0 / 362880),
        p10 = 1.0 / 3628800 + r * (1.0 / 39916800),
        p12 = 1.0 / 479001600 + r * (1.0 / 6227020800.0);
    const double q2 = p2 + r2 * p4, q6 = p6 + r2 * p8, q10 = p10 + r2 * p12;
    return (q2 + r4 * q6) + r8 * q10;
}

static inline double bs_expm1_poly(double r) {   /* expm1(r), |r| <= ln2/2 */
    const double r2 = r * r;
    return r + r2 * bs_expm1_tail(r, r2);
}

static inline double bs_vexp(double x) {
    const double xc = x > 709.9 ? 709.9 : (x < -745.5 ? -745.5 : x);
    const double k = (xc * BS_LOG2E + BS_SHIFT) - BS_SHIFT;
    const double r = (xc - k * BS_LN2HI) - k * BS_LN2LO;
    const double k1 = (k * 0.5 + BS_SHIFT) - BS_SHIFT, k2 = k - k1;
    return ((1.0 + bs_expm1_poly(r)) * bs_pow2i(k1)) * bs_pow2i(k2);
}

static inline double bs_vexpm1(double x) {
    /* 2^k (1 + q) - 1 = 2 (h q + (h - 1/2)), h = 2^(k-1); exact q for k = 0 */
    const double xc = x > 709.9 ? 709.9 : (x < -45.0 ? -45.0 : x);
    const double k = (xc * BS_LOG2E + BS_SHIFT) - BS_SHIFT;
    const double r = (xc - k * BS_LN2HI) - k * BS_LN2LO;
    const double h = bs_pow2i(k - 1.0);
    return 2.0 * (h * bs_expm1_poly(r) + (h - 0.5));
}

static inline double bs_vxexpm1(double x) {  /* x/(exp(x) - 1), as bs_xexpm1 */
    const double r = x / bs_vexpm1(x);
    return fabs(x) < 1e-05 ? 1.0 - x * (0.5 - x / 12.0) : r;
}

/* phi1(x) = expm1(x)/x for |x| <= ln2/2 by its Taylor polynomial to degree 12
   (truncation < 1.3e-17 relative), as 1 + x T(x) (the rounding errors of T are scaled
   by |x T| / phi1 < 0.16): the exponential-Euler factor expm1(A dt)/A = dt phi1(A dt)
   without range reduction and without a division */
#define BS_PHI1_X 0.34657359027997264      /* ln2/2 */
static inline double bs_phi1_poly(double x) {
    return 1.0 + x * bs_expm1_tail(x, x * x);
}

/* expm1(A dt)/A (dt at A = 0): dt phi1(A dt) for |A dt| <= ln2/2, else by bs_vexpm1 */
static inline double bs_vee_h(double A, double dt) {
    const double x = A * dt;
    const double hs = dt * bs_phi1_poly(x);
    const double hl = bs_vexpm1(x) / A;
    return fabs(x) <= BS_PHI1_X ? hs : hl;
}

/* one exponential-Euler update y + (A y + B) expm1(A dt)/A */
static inline double bs_vee(double y, double A, double B, double dt) {
    return y + (A * y + B) * bs_vee_h(A, dt);
}
