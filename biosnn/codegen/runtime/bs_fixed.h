/* biosnn C runtime: bs_fixed.h - what the two units of the fixed-step family share: the
   lane functions of the model (defined in the kernel unit), the block work area, lane
   stimuli and refractory holding, the steppers of the kernel unit.
   Needs: bs_stim.h and the model's defines (NS, NPA, NNA, BS_B, BS_SMAX, bs_held). */
/* lane functions of the model (generated, kernel unit) */
BS_HIDDEN void bs_f_v(double t, const double *restrict Y, const double *restrict P, double *restrict O);
BS_HIDDEN void bs_g_v(double t, const double *restrict Y, const double *restrict P, double *restrict O);
BS_HIDDEN void bs_expeuler_v(double t, const double *restrict Y, const double *restrict P, double *restrict A, double *restrict B);
BS_HIDDEN void bs_threshold_v(double t, const double *restrict Y, const double *restrict P, int *restrict TH);

/* ---------------------------------------------------------------------------------
   Fixed-step family: instances in blocks of BS_B lanes, structure of arrays.

   Lane l of a block holds instance i0 + l; every per-instance quantity of a block is a
   lane array X[k*BS_B + l] (state k, parameter k, stage k, noise k), so the model
   functions bs_*_v are `omp simd` loops over the lanes that the compiler vectorizes
   (with bs_vexp/bs_vexpm1 instead of libm).

   Two compilation units: the kernel unit (lane functions, the steppers that call them
   and bs_vend, -O2 -ffp-contract=fast, with their x86-64-v3 clone) and the driver unit
   (everything else, -O1, ISO C), compiled in parallel and linked into one library;
   this common part declares what they share.

   All lanes of a block step in lock step (same t); stimuli, noise, events, reset,
   refractoriness, recording and blow-up checks are done per lane in scalar code with
   the same formulas as the instance-by-instance drivers.  A partial last block pads
   its lanes with copies of its first instance (same stimulus column, noise stream and
   events, so they mirror it exactly); padded lanes write nothing.

   Blocks are independent: OpenMP threads take them in any order (n_threads).  Each block
   collects its spikes in its own growing list (sorted by lane, then time, at its end);
   bs_run merges the lists in block order, so the output does not depend on the thread
   count.  Blow-up: the lowest failing instance is reported (as an instance-by-instance
   run would).  If the merged spikes do not fit the caller's buffer, they are kept in
   a->stash, a->spike_need says how many are needed, and BS_FULL is returned with
   fail_instance = n: the caller grows the buffer and calls again, which only copies.
   --------------------------------------------------------------------------------- */

typedef struct {                /* the lane arrays of one block */
    double Y[NS * BS_B], YN[NS * BS_B], YT[NS * BS_B];
    double P[NPA * BS_B], Pl[BS_B][NPA];    /* parameters: lanes (SoA) and per lane */
    double K[BS_SMAX][NS * BS_B];
    double G0[NS * NNA * BS_B], G1[NS * NNA * BS_B], DW[NNA * BS_B];
    int r[BS_B], any_r;                      /* refractory in the current step */
    int ref[BS_B], th_prev[BS_B], dead[BS_B];
    double ref_end[BS_B];
    int64_t i0; int nl;                     /* first instance, number of real lanes */
} bs_work;

typedef struct {                /* result of one block */
    int status; int64_t fail_i, fail_var; double fail_time;
    int64_t ns, cap; int64_t *lane; double *tim;
} bs_bres;

static inline int64_t bs_lane_i(const bs_work *W, int l) {
    return W->i0 + (l < W->nl ? l : 0);
}

/* stimulus values at (t, ts) into the per-lane and the lane-array parameters */
static void bs_vstim(const bs_args *a, bs_work *W, double t, double ts) {
    if (!a->n_stim) return;
    for (int l = 0; l < BS_B; ++l) {
        bs_stim(a, bs_lane_i(W, l), t, ts, W->Pl[l]);
        for (int64_t s = 0; s < a->n_stim; ++s) {
            const int64_t k = a->stim_param[s];
            W->P[k * BS_B + l] = W->Pl[l][k];
        }
    }
}

/* refractory lanes: held states keep their value (D: drift zeroed / YN: copied) */
static void bs_vhold(const bs_work *W, double *D, const double *keep) {
    if (!W->any_r) return;
    for (int k = 0; k < NS; ++k) {
        if (!bs_held[k]) continue;
        for (int l = 0; l < BS_B; ++l)
            if (W->r[l]) D[k * BS_B + l] = keep ? keep[k * BS_B + l] : 0.0;
    }
}

static BS_INLINE void bs_vrhs(const bs_args *a, bs_work *W, double t, const double *Yin,
                              double *D) {
    bs_vstim(a, W, t, t);
    bs_f_v(t, Yin, W->P, D);
    bs_vhold(W, D, 0);
}

/* defined in the kernel unit, called from the driver unit */
BS_HIDDEN void bs_vstep_rk(const bs_args *a, bs_work *W, double t);
BS_HIDDEN void bs_vstep_expeuler(const bs_args *a, bs_work *W, double t);
BS_HIDDEN int bs_vend(double tn, const bs_work *W, int *TH);
