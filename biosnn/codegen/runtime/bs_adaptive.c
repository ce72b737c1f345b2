/* biosnn C runtime: bs_adaptive.c - embedded Runge-Kutta steps with PI control (rk23,
   rk45, dop853: the tableau is data in bs_args) and bs_instance of the adaptive family.
   Needs: bs_events.c, bs_serial.c. */
/* yt = y + h * sum_{l<s} coef[l] K[l]: the stage loop outside, the states inside (NS is a
   constant, so that loop unrolls); per state the same additions in the same order as
   a sum over l */
static BS_INLINE void bs_stage(const double *y, double h, const double *coef, int64_t s,
                               double K[][NS], double *yt) {
    double acc[NS] = {0.0};
    for (int64_t l = 0; l < s; ++l) {
        const double c = coef[l];
        for (int k = 0; k < NS; ++k) acc[k] += c * K[l][k];
    }
    for (int k = 0; k < NS; ++k) yt[k] = y[k] + h * acc[k];
}

/* extra (dense-output) stages of an accepted step, computed once and only if needed */
static int bs_rk_dense(bs_step *S) {
    const bs_args *a = S->a;
    const int64_t S0 = a->s, ST = a->s_total;
    if (S->ns >= ST) return 0;
    double yt[NS];
    for (int64_t s = S0; s < ST; ++s) {
        bs_stage(S->y, S->h, a->A + s * ST, s, S->K, yt);
        bs_rhs(a, S->i, S->t + a->c[s] * S->h, S->t, yt, S->p, S->r, S->K[s]);
    }
    *S->nrhs += ST - S0;
    S->ns = ST;
    return 0;
}

/* one embedded RK step of size h from (t, y): stages 0..s-1, yn, error norm */
static double bs_rk_try(const bs_args *a, int64_t i, double t, double h, const double *y,
                        double *p, int r, double K[][NS], double *yn) {
    const int64_t S0 = a->s, ST = a->s_total;
    double yt[NS], e[NS], el[NS], sb[NS] = {0.0}, se[NS] = {0.0}, sl[NS] = {0.0};
    for (int64_t s = 1; s < S0; ++s) {
        bs_stage(y, h, a->A + s * ST, s, K, yt);
        bs_rhs(a, i, t + a->c[s] * h, t, yt, p, r, K[s]);
    }
    for (int64_t s = 0; s < S0; ++s) {          /* per state: the order of a sum over s */
        const double cb = a->b[s], ce = a->b_err[s];
        for (int k = 0; k < NS; ++k) { sb[k] += cb * K[s][k]; se[k] += ce * K[s][k]; }
    }
    if (a->has_low)
        for (int64_t s = 0; s < S0; ++s) {
            const double cl = a->b_err_low[s];
            for (int k = 0; k < NS; ++k) sl[k] += cl * K[s][k];
        }
    for (int k = 0; k < NS; ++k) { yn[k] = y[k] + h * sb[k]; e[k] = h * se[k]; el[k] = h * sl[k]; }
    if (!a->has_low) return bs_rms(e, y, yn, a->rtol, a->atol);
    double e5 = 0.0, e3 = 0.0;
    for (int k = 0; k < NS; ++k) {
        const double sc = a->atol + a->rtol * fmax(fabs(y[k]), fabs(yn[k]));
        e5 += (e[k] / sc) * (e[k] / sc);
        e3 += (el[k] / sc) * (el[k] / sc);
    }
    const double den = e5 + 0.01 * e3;
    return den > 0.0 ? e5 / sqrt(NS * den) : (e5 == e5 ? 0.0 : NAN);
}

static int bs_instance(bs_args *a, int64_t i) {
    double y[NS], yn[NS], p[NPA], K[BS_SMAX][NS];
    const int64_t S0 = a->s;
    double t = a->t0, h, log_prev = 0.0;
    int64_t nrhs = 0, nacc = 0, nrej = 0, kr = 0, jb = 0, bad = 0;
    int have_k0 = 0, rej = 0;
    bs_ev E = {.ref_end = -INFINITY};
    bs_load(a, i, y, p);
    memcpy(yn, y, sizeof yn);
    if (a->n_stim) bs_stim(a, i, t, t, p);
    if (HAS_THRESHOLD) E.th_prev = bs_threshold(t, y, p);
    if (a->n_record) bs_record(a, i, 0, y);
    kr = a->n_record ? 1 : a->n_rec;
    if (a->dt > 0.0) h = fmin(a->dt, a->t1 - a->t0);
    else { h = bs_initial_step(a, i, t, bs_next_stop(a, &jb, t, &E) - t, y, p, K[0], &nrhs); have_k0 = 1; }
    while (t < a->t1) {
        if (nacc + nrej >= a->max_steps) return bs_fail(a, i, t, -1, BS_MAXSTEPS);
        if (BS_STOPPED(a)) return bs_fail(a, i, t, -1, BS_STOP);
        const double stop = bs_next_stop(a, &jb, t, &E);
        const int hit = h >= (stop - t) * (1.0 - 4.0 * DBL_EPSILON);
        const double hs = hit ? stop - t : h;
        if (!(hs >= 10.0 * DBL_EPSILON * fmax(1.0, fabs(t)))) {
            if (!hit) return bs_fail(a, i, t, bs_worst(a, y, yn), BS_UNDERFLOW);
            t = stop; have_k0 = 0;            /* a sliver below resolution: step onto it */
            bs_ref_update(a, i, &E, t, t, y, p);
            continue;
        }
        if (!have_k0) { bs_rhs(a, i, t, t, y, p, E.ref, K[0]); ++nrhs; have_k0 = 1; }
        const double en = bs_rk_try(a, i, t, hs, y, p, E.ref, K, yn);
        nrhs += S0 - 1;
        if (!(en <= 1.0)) {
            ++nrej; rej = 1;
            h = hs * bs_reject_factor(a, en);
            if (!(h >= 10.0 * DBL_EPSILON * fmax(1.0, fabs(t)))) {
                if (!bs_finite(yn, &bad)) return bs_fail(a, i, t + hs, bad, BS_BLOWUP);
                return bs_fail(a, i, t, bs_worst(a, y, yn), BS_UNDERFLOW);
            }
            continue;
        }
        ++nacc;
        const double tn = hit ? stop : t + hs;
        if (!bs_finite(yn, &bad)) return bs_fail(a, i, tn, bad, BS_BLOWUP);
        bs_step St = {a, i, t, hs, hs, tn, S0, y, yn, K, p, E.ref, &nrhs};
        int restart = 0;
        const int rej_before = rej;
        const int st = bs_accept(a, &St, &E, &kr, &t, y, &restart, bs_rk_dense);
        rej = 0;
        if (st != BS_OK) return st;
        const int64_t npt = a->fsal - 1;
        if (!restart && !hit && a->fsal && npt < St.ns) {
            memcpy(K[0], K[npt], sizeof K[0]);
            have_k0 = 1;
        } else have_k0 = 0;
        h = hs * bs_pi(a, en, &log_prev, rej_before);
    }
    while (kr < a->n_rec) bs_record(a, i, kr++, y);
    bs_store(a, i, y, nrhs, nacc, nrej, 0);
    return BS_OK;
}
