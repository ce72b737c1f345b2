/* biosnn C runtime: bs_fixed.c - the driver unit of the fixed-step family: exact and
   stochastic steppers, events, blocks, OpenMP threads and bs_run.  Compiled at -O1, ISO C.
   Needs: bs_fixed.h, bs_common.h, bs_noise.h and the model's scalar functions. */
static void bs_vload(const bs_args *a, bs_work *W) {
    for (int l = 0; l < BS_B; ++l) {
        const int64_t i = bs_lane_i(W, l);
        for (int k = 0; k < NS; ++k) W->Y[k * BS_B + l] = a->y0[k * a->n + i];
        for (int k = 0; k < NP; ++k)
            W->P[k * BS_B + l] = W->Pl[l][k] = a->params[k * a->n + i];
    }
}

/* exact propagator (per lane) */
static void bs_vstep_exact(const bs_args *a, bs_work *W) {
    const int M = NS + 1;
    for (int l = 0; l < BS_B; ++l) {
        const double *P = a->prop + (a->prop_ncols == 1 ? 0 : bs_lane_i(W, l)) * M * M;
        for (int k = 0; k < NS; ++k) {
            double acc = P[k * M + NS];
            for (int j = 0; j < NS; ++j) acc += P[k * M + j] * W->Y[j * BS_B + l];
            W->YN[k * BS_B + l] = acc;
        }
    }
    bs_vhold(W, W->YN, W->Y);
}

/* Wiener increments dW_k = sqrt(dt) z(key, step, i*NN + k) per lane */
static void bs_vdw(const bs_args *a, bs_work *W, int64_t step) {
    const double sdt = sqrt(a->dt);
    for (int l = 0; l < BS_B; ++l) {
        const int64_t i = bs_lane_i(W, l);
        for (int k = 0; k < NN; ++k)
            W->DW[k * BS_B + l] = sdt * bs_normal(a->key, (uint64_t)step, (uint64_t)(i * NN + k));
    }
}

/* out = y + f*h + sum_k G[s,k] dW_k  (h = dt; G, f already weighted by the caller) */
static BS_INLINE void bs_vsde_update(const double *Y, const double *F, const double *G,
                                     const double *DW, double h, double *out) {
    for (int s = 0; s < NS; ++s) {
#pragma omp simd
        for (int l = 0; l < BS_B; ++l) {
            double acc = F[s * BS_B + l] * h;
            for (int k = 0; k < NN; ++k)
                acc += G[(s * NN + k) * BS_B + l] * DW[k * BS_B + l];
            out[s * BS_B + l] = Y[s * BS_B + l] + acc;
        }
    }
}

static void bs_vstep_em(const bs_args *a, bs_work *W, int64_t step, double t) {
    bs_vrhs(a, W, t, W->Y, W->K[0]);
    bs_g_v(t, W->Y, W->P, W->G0);
    bs_vdw(a, W, step);
    bs_vsde_update(W->Y, W->K[0], W->G0, W->DW, a->dt, W->YN);
    bs_vhold(W, W->YN, W->Y);
}

static void bs_vstep_sheun(const bs_args *a, bs_work *W, int64_t step, double t) {
    const double dt = a->dt;
    double *F0 = W->K[0], *F1 = W->K[1], *FM = W->K[2];
    bs_vrhs(a, W, t, W->Y, F0);
    bs_g_v(t, W->Y, W->P, W->G0);
    bs_vdw(a, W, step);
    bs_vsde_update(W->Y, F0, W->G0, W->DW, dt, W->YT);
    bs_vhold(W, W->YT, W->Y);
    bs_vrhs(a, W, t + dt, W->YT, F1);
    bs_g_v(t + dt, W->YT, W->P, W->G1);
    /* 0.5*(f0 + f1)*dt and 0.5*(G0 + G1)*dW, as the scalar driver */
#pragma omp simd
    for (int j = 0; j < NS * BS_B; ++j) FM[j] = 0.5 * (F0[j] + F1[j]);
#pragma omp simd
    for (int j = 0; j < NS * NN * BS_B; ++j) W->G1[j] = 0.5 * (W->G0[j] + W->G1[j]);
    bs_vsde_update(W->Y, FM, W->G1, W->DW, dt, W->YN);
    bs_vhold(W, W->YN, W->Y);
}

static int64_t bs_rhs_per_step(const bs_args *a) {
    switch (a->method) {
    case 1: case 3: return 1;
    case 2: return 0;
    case 4: return 2;
    default: return a->s;
    }
}

static void bs_vstep(const bs_args *a, bs_work *W, int64_t st, double t) {
    switch (a->method) {
    case 1: bs_vstep_expeuler(a, W, t); break;
    case 2: bs_vstep_exact(a, W); break;
    case 3: bs_vstep_em(a, W, st, t); break;
    case 4: bs_vstep_sheun(a, W, st, t); break;
    default: bs_vstep_rk(a, W, t);
    }
}

/* spike time by linear interpolation of the crossing function over the step */
static double bs_lin_cross(const bs_args *a, int64_t i, double t, const double *y,
                           double tn, const double *yn, double *p) {
    if (!HAS_CROSSING) return tn;
    if (a->n_stim) bs_stim(a, i, t, t, p);
    const double h0 = bs_crossing(t, y, p);
    if (a->n_stim) bs_stim(a, i, tn, tn, p);
    const double h1 = bs_crossing(tn, yn, p);
    if (!(h1 != h0)) return tn;
    double ts = t + (tn - t) * h0 / (h0 - h1);
    return ts < t ? t : (ts > tn ? tn : ts);
}

static int bs_push(bs_bres *R, int lane, double ts) {
    if (R->ns == R->cap) {
        const int64_t cap = R->cap ? 2 * R->cap : 64;
        int64_t *ln = realloc(R->lane, cap * sizeof *ln);
        if (ln) R->lane = ln;
        double *tm = realloc(R->tim, cap * sizeof *tm);
        if (tm) R->tim = tm;
        if (!ln || !tm) return 1;
        R->cap = cap;
    }
    R->lane[R->ns] = lane; R->tim[R->ns] = ts; R->ns += 1;
    return 0;
}

static void bs_gather(const double *X, int l, double *x) {
    for (int k = 0; k < NS; ++k) x[k] = X[k * BS_B + l];
}

/* threshold, spike, reset and refractoriness of lane l at the end of the step; th is
   the threshold condition at the step end (bs_threshold_v, stimuli at tn) */
static int bs_vevents(const bs_args *a, bs_work *W, bs_bres *R, int l, int th, double t,
                      double tn) {
    const int spike = th && !W->th_prev[l] && !W->r[l];
    const int cond_ref = HAS_REF && !REF_BY_TIME && W->ref[l];
    W->th_prev[l] = th;
    if (!spike && !cond_ref) return BS_OK;          /* the common case: nothing to do */
    double y[NS], yn[NS];
    double *p = W->Pl[l];
    const int64_t i = bs_lane_i(W, l);
    bs_gather(W->YN, l, yn);
    if (spike) {
        bs_gather(W->Y, l, y);
        const double ts = bs_lin_cross(a, i, t, y, tn, yn, p);
        if (l < W->nl && bs_push(R, l, ts)) return BS_NOMEM;
        if (a->n_stim) bs_stim(a, i, tn, tn, p);
        bs_reset(tn, yn, p);
        for (int k = 0; k < NS; ++k) W->YN[k * BS_B + l] = yn[k];
        if (HAS_REF) { W->ref[l] = 1; W->ref_end[l] = ts + bs_reftime(p); }
        W->th_prev[l] = bs_threshold(tn, yn, p);
    }
    /* condition-based: checked at every step end, the spike step included */
    if (HAS_REF && !REF_BY_TIME && W->ref[l] && !bs_refcond(tn, yn, p)) W->ref[l] = 0;
    return BS_OK;
}

/* events of all lanes at the step end: TH is the threshold condition per lane (stimuli
   at tn), up whether a lane's condition became true (bs_vend) */
static int bs_vevents_all(const bs_args *a, bs_work *W, bs_bres *R, double t, double tn,
                          const int *TH, int up) {
    const int busy = up || (HAS_REF && !REF_BY_TIME);   /* condition-based: every lane */
    if (!busy) {                            /* no upward crossing: the common case */
        memcpy(W->th_prev, TH, BS_B * sizeof *TH);
        return BS_OK;
    }
    for (int l = 0; l < BS_B; ++l) {
        if (l < W->nl && W->dead[l]) continue;
        if (bs_vevents(a, W, R, l, TH[l], t, tn) != BS_OK) {
            R->status = BS_NOMEM; R->fail_i = W->i0 + l; R->fail_time = tn;
            return BS_NOMEM;
        }
    }
    return BS_OK;
}

/* non-finite lanes become dead (first bad state and time kept); returns live lanes.
   Called only when bs_vend found a non-finite entry. */
static int bs_vcheck(bs_work *W, bs_bres *R, double tn, int live) {
    for (int l = 0; l < W->nl; ++l) {
        if (W->dead[l]) continue;
        for (int k = 0; k < NS; ++k) {
            if (isfinite(W->YN[k * BS_B + l])) continue;
            W->dead[l] = 1; --live;
            if (R->status == BS_OK || W->i0 + l < R->fail_i) {
                R->status = BS_BLOWUP; R->fail_i = W->i0 + l; R->fail_var = k;
                R->fail_time = tn;
            }
            break;
        }
    }
    return live;
}

static void bs_vrecord(bs_args *a, const bs_work *W, int64_t k) {
    for (int l = 0; l < W->nl; ++l)
        for (int64_t r = 0; r < a->n_record; ++r)
            a->y_rec[(r * a->n + W->i0 + l) * a->n_rec + k] =
                W->Y[a->record_states[r] * BS_B + l];
}

/* spikes of the block: stable order by lane (then time, the push order) */
static int bs_sort_lanes(bs_bres *R, int64_t i0) {
    if (R->ns == 0) return BS_OK;
    int64_t *ln = malloc(R->ns * sizeof *ln);
    double *tm = malloc(R->ns * sizeof *tm);
    if (!ln || !tm) { free(ln); free(tm); return BS_NOMEM; }
    int64_t at = 0;
    for (int l = 0; l < BS_B; ++l)
        for (int64_t j = 0; j < R->ns; ++j)
            if (R->lane[j] == l) { ln[at] = i0 + l; tm[at] = R->tim[j]; ++at; }
    free(R->lane); free(R->tim);
    R->lane = ln; R->tim = tm; R->cap = R->ns;
    return BS_OK;
}

static void bs_block_run(bs_args *a, bs_work *W, bs_bres *R) {
    const int64_t N = a->n_steps, every = a->record_every;
    const double t0 = a->t0, dt = a->dt;
    double yl[NS];
    int live = W->nl;
    bs_vload(a, W);
    bs_vstim(a, W, t0, t0);
    for (int l = 0; l < BS_B; ++l) {
        W->ref[l] = 0; W->dead[l] = 0; W->ref_end[l] = -INFINITY; W->th_prev[l] = 0;
        bs_gather(W->Y, l, yl);
        if (HAS_THRESHOLD) W->th_prev[l] = bs_threshold(t0, yl, W->Pl[l]);
    }
    if (a->n_record) bs_vrecord(a, W, 0);
    for (int64_t st = 0; st < N && live > 0; ++st) {
        const double t = t0 + st * dt, tn = t0 + (st + 1) * dt;
        if (BS_STOPPED(a)) { R->status = BS_STOP; R->fail_i = W->i0; R->fail_time = t; return; }
        if (HAS_REF) {                  /* locals: the driver unit is built at -O1 */
            int any_r = 0;
            for (int l = 0; l < BS_B; ++l) {
                int r = 0;
                if (W->ref[l]) {
                    r = REF_BY_TIME ? (t + 0.5 * dt < W->ref_end[l]) : 1;
                    if (!r) W->ref[l] = 0;
                }
                W->r[l] = r;
                any_r |= r;
            }
            W->any_r = any_r;
        }
        bs_vstep(a, W, st, t);
        int TH[BS_B];
        if (HAS_THRESHOLD) bs_vstim(a, W, tn, tn);      /* the threshold sees tn's stimuli */
        const int flags = bs_vend(tn, W, TH);
        if (flags & 1) live = bs_vcheck(W, R, tn, live);
        if (HAS_THRESHOLD && bs_vevents_all(a, W, R, t, tn, TH, flags & 2) != BS_OK) return;
        memcpy(W->Y, W->YN, sizeof W->Y);
        if (a->n_record && (st + 1) % every == 0) bs_vrecord(a, W, (st + 1) / every);
    }
    if (R->status != BS_OK) return;
    const int64_t nrhs = N * bs_rhs_per_step(a);
    for (int l = 0; l < W->nl; ++l) {
        bs_gather(W->Y, l, yl);
        bs_store(a, W->i0 + l, yl, nrhs, N, 0, 0);
    }
    if (bs_sort_lanes(R, W->i0) != BS_OK) { R->status = BS_NOMEM; R->fail_i = W->i0; }
}

static void bs_block(bs_args *a, int64_t i0, int nl, bs_bres *R) {
    bs_work *W = calloc(1, sizeof *W);
    R->status = BS_OK;
    if (!W) { R->status = BS_NOMEM; R->fail_i = i0; R->fail_time = a->t0; return; }
    W->i0 = i0; W->nl = nl;
    bs_block_run(a, W, R);
    free(W);
}

/* merged spikes that did not fit: a->stash = (index, time) pairs */
static int bs_unstash(bs_args *a) {
    if (a->n_spikes + a->stash_n > a->spike_cap) {
        a->spike_need = a->n_spikes + a->stash_n;
        a->fail_instance = a->n;
        return BS_FULL;
    }
    for (int64_t j = 0; j < a->stash_n; ++j) {
        a->spike_index[a->n_spikes + j] = (int64_t)a->stash[2 * j];
        a->spike_time[a->n_spikes + j] = a->stash[2 * j + 1];
    }
    a->n_spikes += a->stash_n;
    free(a->stash); a->stash = NULL; a->stash_n = 0;
    return BS_OK;
}

/* block results in block order: the first failure, else the spikes */
static int bs_merge(bs_args *a, bs_bres *R, int64_t nb) {
    int64_t total = 0;
    for (int64_t b = 0; b < nb; ++b) {
        if (R[b].status != BS_OK)
            return bs_fail(a, R[b].fail_i, R[b].fail_time, R[b].fail_var, R[b].status);
        total += R[b].ns;
    }
    if (a->n_spikes + total <= a->spike_cap) {
        for (int64_t b = 0; b < nb; ++b) {
            memcpy(a->spike_index + a->n_spikes, R[b].lane, R[b].ns * sizeof(int64_t));
            memcpy(a->spike_time + a->n_spikes, R[b].tim, R[b].ns * sizeof(double));
            a->n_spikes += R[b].ns;
        }
        return BS_OK;
    }
    double *stash = malloc(2 * total * sizeof *stash);
    if (!stash) return bs_fail(a, a->i_start, a->t0, -1, BS_NOMEM);
    int64_t at = 0;
    for (int64_t b = 0; b < nb; ++b)
        for (int64_t j = 0; j < R[b].ns; ++j, ++at) {
            stash[2 * at] = (double)R[b].lane[j];
            stash[2 * at + 1] = R[b].tim[j];
        }
    a->stash = stash; a->stash_n = total;
    return bs_unstash(a);
}

int bs_run(bs_args *a) {
    if (a->stash) return bs_unstash(a);
    const int64_t i0 = a->i_start, nb = (a->n - i0 + BS_B - 1) / BS_B;
    if (nb <= 0) return BS_OK;
    bs_bres *R = calloc(nb, sizeof *R);
    if (!R) return bs_fail(a, i0, a->t0, -1, BS_NOMEM);
    int64_t first_bad = nb;
    const int nt = a->n_threads > 1 ? (int)a->n_threads : 1;
    (void)nt;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && nb > 1)
    for (int64_t b = 0; b < nb; ++b) {
        int64_t fb;
#pragma omp atomic read
        fb = first_bad;
        if (b > fb) { R[b].status = BS_OK; continue; }  /* an earlier block failed */
        const int64_t s = i0 + b * BS_B;
        bs_block(a, s, (int)(a->n - s < BS_B ? a->n - s : BS_B), &R[b]);
        if (R[b].status != BS_OK) {
#pragma omp critical(bs_first_bad)
            if (b < first_bad) first_bad = b;
        }
    }
    const int st = bs_merge(a, R, nb);
    for (int64_t b = 0; b < nb; ++b) { free(R[b].lane); free(R[b].tim); }
    free(R);
    return st;
}
