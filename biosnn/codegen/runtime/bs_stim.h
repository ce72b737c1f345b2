/* biosnn C runtime: bs_stim.h - stimulus tables (docs/architecture.md, "Stimuli").
   Needs: bs_abi.h. */
/* stimulus tables: parameter values at time t (step or linear) */
static void bs_stim(const bs_args *a, int64_t i, double t, double ts, double *p) {
    for (int64_t s = 0; s < a->n_stim; ++s) {
        const double tt = a->stim_kind[s] == 0 ? ts : t;
        const double *T = a->stim_times + a->stim_toff[s];
        const double *V = a->stim_values + a->stim_voff[s];
        const int64_t m = a->stim_ntimes[s], nc = a->stim_ncols[s];
        const int64_t col = nc == 1 ? 0 : i;
        int64_t lo = 0, hi = m;
        while (lo < hi) { int64_t mid = (lo + hi) / 2; if (T[mid] <= tt) lo = mid + 1; else hi = mid; }
        const int64_t j = lo - 1;
        double v;
        if (j < 0) v = V[col];
        else if (a->stim_kind[s] == 0 || j >= m - 1) v = V[j * nc + col];
        else {
            const double w = (tt - T[j]) / (T[j + 1] - T[j]);
            v = V[j * nc + col] + w * (V[(j + 1) * nc + col] - V[j * nc + col]);
        }
        p[a->stim_param[s]] = v;
    }
}
