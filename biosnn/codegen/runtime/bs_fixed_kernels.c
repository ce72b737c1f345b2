/* biosnn C runtime: bs_fixed_kernels.c - the kernel unit of the fixed-step family: the
   steppers that call the model's lane functions and the per-step checks (bs_vend).
   Compiled at -O2 -ffp-contract=fast with an x86-64-v3 clone.
   Needs: bs_fixed.h, bs_vmath.h and the model's lane functions. */
/* out = y + dt * sum_{m<s} coef[m] K[m] over all lane entries (the scalar order) */
static BS_INLINE void bs_vcombine(double *restrict out, const double *restrict Y, double dt,
                                  const double *restrict coef, int64_t s,
                                  double (*restrict K)[NS * BS_B]) {
    double acc[NS * BS_B];
    if (s == 0) {
#pragma omp simd
        for (int j = 0; j < NS * BS_B; ++j) out[j] = Y[j] + dt * 0.0;
        return;
    }
    const double c0 = coef[0];
#pragma omp simd
    for (int j = 0; j < NS * BS_B; ++j) acc[j] = c0 * K[0][j];
    for (int64_t m = 1; m < s; ++m) {
        const double c = coef[m];
        const double *restrict Km = K[m];
#pragma omp simd
        for (int j = 0; j < NS * BS_B; ++j) acc[j] += c * Km[j];
    }
#pragma omp simd
    for (int j = 0; j < NS * BS_B; ++j) out[j] = Y[j] + dt * acc[j];
}

/* generic explicit RK step (tableau a->c, a->A, a->b) */
BS_KERNEL void bs_vstep_rk(const bs_args *a, bs_work *W, double t) {
    const int64_t S = a->s, ST = a->s_total;
    const double dt = a->dt;
    for (int64_t s = 0; s < S; ++s) {
        bs_vcombine(W->YT, W->Y, dt, a->A + s * ST, s, W->K);
        bs_vrhs(a, W, t + a->c[s] * dt, W->YT, W->K[s]);
    }
    bs_vcombine(W->YN, W->Y, dt, a->b, S, W->K);
}

/* y <- y + (A y + B) expm1(A dt)/A with A, B at the step start (dt where A = 0); the
   rates and the update are two lane loops (one fused loop spills registers and was
   measured no faster).  The update goes state by state: when |A dt| <= ln2/2 on every
   lane (gates always, the voltage between spikes) only the phi1 polynomial is
   evaluated; otherwise bs_vee picks per lane.  Both give a lane the same bits (the same
   expression on the same path), so a lane never depends on its neighbours. */
BS_KERNEL void bs_vstep_expeuler(const bs_args *a, bs_work *W, double t) {
    const double dt = a->dt;
    double *A = W->K[0], *B = W->K[1], *YN = W->YN;
    const double *Y = W->Y;
    bs_vstim(a, W, t, t);
    bs_expeuler_v(t, Y, W->P, A, B);
    for (int k = 0; k < NS; ++k) {
        const double *restrict Ak = A + k * BS_B, *restrict Bk = B + k * BS_B,
            *restrict Yk = Y + k * BS_B;
        double *restrict Nk = YN + k * BS_B;
        double big = 0.0;               /* max |A dt| (a NaN lane is NaN on either path) */
#pragma omp simd reduction(max:big)
        for (int l = 0; l < BS_B; ++l) {
            const double x = fabs(Ak[l] * dt);
            big = x > big ? x : big;
        }
        if (big <= BS_PHI1_X) {
#pragma omp simd
            for (int l = 0; l < BS_B; ++l)
                Nk[l] = Yk[l] + (Ak[l] * Yk[l] + Bk[l]) * (dt * bs_phi1_poly(Ak[l] * dt));
        } else {
#pragma omp simd
            for (int l = 0; l < BS_B; ++l) Nk[l] = bs_vee(Yk[l], Ak[l], Bk[l], dt);
        }
    }
    bs_vhold(W, YN, Y);
}

/* the per-step checks of the driver, vectorised here (the driver unit is scalar, -O1):
   bit 0 - some entry of YN is not finite (x*0 is NaN iff x is not finite, and a NaN
   survives any order of additions); bit 1 - some lane's threshold condition (TH, at
   the step end) became true */
BS_KERNEL int bs_vend(double tn, const bs_work *W, int *TH) {
    double acc = 0.0;
#pragma omp simd reduction(+:acc)
    for (int j = 0; j < NS * BS_B; ++j) acc += W->YN[j] * 0.0;
    int flags = acc == 0.0 ? 0 : 1;
    if (HAS_THRESHOLD) {
        bs_threshold_v(tn, W->YN, W->P, TH);
        int up = 0;
#pragma omp simd reduction(|:up)
        for (int l = 0; l < BS_B; ++l) up |= TH[l] & !W->th_prev[l];
        flags |= up ? 2 : 0;
    }
    return flags;
}
