/* biosnn C runtime: bs_rodas.c - Rosenbrock steps (rodas4) with the model's Jacobian and
   a dense LU, and bs_instance of the stiff family.
   Needs: bs_events.c, bs_serial.c and the model's bs_jac, bs_dfdt. */
/* in-place LU with partial pivoting of the NS x NS matrix M; 0 if singular */
static int bs_lu(double *M, int *piv) {
    for (int k = 0; k < NS; ++k) {
        int m = k;
        for (int r = k + 1; r < NS; ++r) if (fabs(M[r * NS + k]) > fabs(M[m * NS + k])) m = r;
        piv[k] = m;
        if (M[m * NS + k] == 0.0 || !isfinite(M[m * NS + k])) return 0;
        if (m != k) for (int c = 0; c < NS; ++c) {
            const double tmp = M[k * NS + c]; M[k * NS + c] = M[m * NS + c]; M[m * NS + c] = tmp;
        }
        const double inv = 1.0 / M[k * NS + k];
        for (int r = k + 1; r < NS; ++r) {
            const double f = (M[r * NS + k] *= inv);
            if (f != 0.0) for (int c = k + 1; c < NS; ++c) M[r * NS + c] -= f * M[k * NS + c];
        }
    }
    return 1;
}

static void bs_lusolve(const double *M, const int *piv, double *x) {
    for (int k = 0; k < NS; ++k) {
        if (piv[k] != k) { const double tmp = x[k]; x[k] = x[piv[k]]; x[piv[k]] = tmp; }
        for (int r = k + 1; r < NS; ++r) x[r] -= M[r * NS + k] * x[k];
    }
    for (int k = NS - 1; k >= 0; --k) {
        double acc = x[k];
        for (int c = k + 1; c < NS; ++c) acc -= M[k * NS + c] * x[c];
        x[k] = acc / M[k * NS + k];
    }
}

static int bs_rodas_dense(bs_step *S) { (void)S; return 0; }

/* Jacobian and df/dt at (t, y), rows of held states zeroed while refractory */
static void bs_jacobian(const bs_args *a, int64_t i, double t, const double *y, double *p,
                        int r, double *J, double *ft) {
    if (a->n_stim) bs_stim(a, i, t, t, p);
    bs_jac(t, y, p, J);
    bs_dfdt(t, y, p, ft);
    if (r) for (int k = 0; k < NS; ++k) if (bs_held[k]) {
        ft[k] = 0.0;
        for (int c = 0; c < NS; ++c) J[k * NS + c] = 0.0;
    }
}

/* one Rosenbrock step (Hairer & Wanner II, IV.7, (7.25)); U receives the u_i */
static int bs_ros_try(const bs_args *a, int64_t i, double t, double h, const double *y,
                      double *p, int r, const double *J, const double *ft, const double *f0,
                      double U[][NS], double *yn, double *en) {
    const int64_t S0 = a->s;
    double W[NS * NS], yt[NS], fx[NS], e[NS];
    int piv[NS];
    for (int k = 0; k < NS * NS; ++k) W[k] = -J[k];
    for (int k = 0; k < NS; ++k) W[k * NS + k] += 1.0 / (a->gamma * h);
    if (!bs_lu(W, piv)) return 0;
    for (int64_t s = 0; s < S0; ++s) {
        if (s == 0) memcpy(fx, f0, sizeof fx);
        else {
            for (int k = 0; k < NS; ++k) {
                double acc = 0.0;
                for (int64_t l = 0; l < s; ++l) acc += a->A[s * S0 + l] * U[l][k];
                yt[k] = y[k] + acc;
            }
            bs_rhs(a, i, t + a->c[s] * h, t, yt, p, r, fx);
        }
        for (int k = 0; k < NS; ++k) {
            double acc = 0.0;
            for (int64_t l = 0; l < s; ++l) acc += a->ros_C[s * S0 + l] * U[l][k];
            U[s][k] = fx[k] + acc / h + h * a->ros_d[s] * ft[k];
        }
        bs_lusolve(W, piv, U[s]);
    }
    for (int k = 0; k < NS; ++k) {
        double sb = 0.0, se = 0.0;
        for (int64_t s = 0; s < S0; ++s) { sb += a->b[s] * U[s][k]; se += a->b_err[s] * U[s][k]; }
        yn[k] = y[k] + sb; e[k] = se;
    }
    *en = bs_rms(e, y, yn, a->rtol, a->atol);
    return 1;
}

static int bs_instance(bs_args *a, int64_t i) {
    double y[NS], yn[NS], p[NPA], U[BS_SMAX][NS], J[NS * NS], ft[NS], f0[NS];
    const int64_t S0 = a->s;
    double t = a->t0, h, log_prev = 0.0;
    int64_t nrhs = 0, njac = 0, nacc = 0, nrej = 0, kr = 0, jb = 0, bad = 0;
    int have = 0, rej = 0;
    bs_ev E = {.ref_end = -INFINITY};
    bs_load(a, i, y, p);
    memcpy(yn, y, sizeof yn);
    if (a->n_stim) bs_stim(a, i, t, t, p);
    if (HAS_THRESHOLD) E.th_prev = bs_threshold(t, y, p);
    if (a->n_record) bs_record(a, i, 0, y);
    kr = a->n_record ? 1 : a->n_rec;
    if (a->dt > 0.0) h = fmin(a->dt, a->t1 - a->t0);
    else h = bs_initial_step(a, i, t, bs_next_stop(a, &jb, t, &E) - t, y, p, f0, &nrhs);
    while (t < a->t1) {
        if (nacc + nrej >= a->max_steps) return bs_fail(a, i, t, -1, BS_MAXSTEPS);
        if (BS_STOPPED(a)) return bs_fail(a, i, t, -1, BS_STOP);
        const double stop = bs_next_stop(a, &jb, t, &E);
        const int hit = h >= (stop - t) * (1.0 - 4.0 * DBL_EPSILON);
        const double hs = hit ? stop - t : h;
        if (!(hs >= 10.0 * DBL_EPSILON * fmax(1.0, fabs(t)))) {
            if (!hit) return bs_fail(a, i, t, bs_worst(a, y, yn), BS_UNDERFLOW);
            t = stop; have = 0;
            bs_ref_update(a, i, &E, t, t, y, p);
            continue;
        }
        if (!have) {
            bs_rhs(a, i, t, t, y, p, E.ref, f0);
            bs_jacobian(a, i, t, y, p, E.ref, J, ft);
            ++nrhs; ++njac; have = 1;
        }
        double en = NAN;
        if (!bs_ros_try(a, i, t, hs, y, p, E.ref, J, ft, f0, U, yn, &en)) en = NAN;
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
        bs_step St = {a, i, t, hs, 1.0, tn, S0, y, yn, U, p, E.ref, &nrhs};
        int restart = 0;
        const int rej_before = rej;
        const int st = bs_accept(a, &St, &E, &kr, &t, y, &restart, bs_rodas_dense);
        rej = 0;
        if (st != BS_OK) return st;
        have = 0;
        h = hs * bs_pi(a, en, &log_prev, rej_before);
    }
    while (kr < a->n_rec) bs_record(a, i, kr++, y);
    bs_store(a, i, y, nrhs, nacc, nrej, njac);
    return BS_OK;
}
