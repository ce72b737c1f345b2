/* biosnn C runtime: bs_events.c - shared by the adaptive and Rosenbrock drivers: dense
   output, every upward crossing inside a step (the algorithm of biosnn.solvers.events),
   reset and refractoriness, recording from the interpolant, breakpoints, the PI
   controller and Hairer's initial step.
   Needs: bs_common.h and the model (bs_threshold, bs_crossing, bs_reset, bs_refcond,
   bs_reftime, CROSS_AFFINE, CROSS_PARAMS). */
/* y(t + theta*h) = y + hk * sum_s K_s * sum_j dense[s,j] theta^(j+1) */
static void bs_dense_eval(const bs_args *a, int64_t ns, double hk, const double *y,
                          double K[][NS], double theta, double *out) {
    const int64_t Q = a->q;
    double w[BS_SMAX];
    for (int64_t s = 0; s < ns; ++s) {
        double acc = 0.0, th = theta;
        for (int64_t j = 0; j < Q; ++j) { acc += a->dense[s * Q + j] * th; th *= theta; }
        w[s] = acc;
    }
    for (int k = 0; k < NS; ++k) {
        double acc = 0.0;
        for (int64_t s = 0; s < ns; ++s) acc += w[s] * K[s][k];
        out[k] = y[k] + hk * acc;
    }
}

typedef struct {            /* one accepted step, as the event code sees it */
    const bs_args *a; int64_t i; double t, h, hk, tn; int64_t ns;
    const double *y, *yn; double (*K)[NS]; double *p; int r; int64_t *nrhs;
} bs_step;

/* event state of one instance (wb, wunk: bs_wstage, computed at the first use) */
typedef struct {
    int ref, th_prev; double ref_end;
    int wb_ok; double wb[BS_SMAX], wunk, ha[BS_SMAX], hb[BS_SMAX], hc[BS_SMAX];
} bs_ev;

static double bs_event_fn(const bs_step *S, double theta, int boolean) {
    double yt[NS];
    const double tt = S->t + theta * S->h;
    bs_dense_eval(S->a, S->ns, S->hk, S->y, S->K, theta, yt);
    if (S->a->n_stim) bs_stim(S->a, S->i, tt, S->t, S->p);
    return boolean ? (double)bs_threshold(tt, yt, S->p) : bs_crossing(tt, yt, S->p);
}

/* Every upward crossing inside an accepted step (biosnn.solvers.events, "Crossings
   inside a step"; the NumPy driver runs the same algorithm). */
#define BS_QMAX 8            /* largest degree of a dense output + 1 */
#define BS_MAXDEPTH 50       /* bisection depth of bs_first_up */
#define BS_NSAMP 8           /* samples per step for thresholds that are not affine */
#define BS_MAXSP 16          /* spikes per step (a polynomial of degree 7 has <= 4) */
#if defined(__GNUC__)        /* the rare paths stay out of the per-step code */
#define BS_COLD __attribute__((noinline, cold))
#else
#define BS_COLD
#endif

/* Illinois on the crossing function in [lo, hi] (theta), flo <= 0 < fhi, to
   |dt| <= 1e-12*max(1, |t|) */
static double bs_illinois(const bs_step *S, double lo, double hi, double flo, double fhi) {
    const double tol = 1e-12 * fmax(1.0, fabs(S->t + S->h)) / S->h;
    int side = 0;
    for (int it = 0; it < 200 && hi - lo > tol; ++it) {
        double m = hi - fhi * (hi - lo) / (fhi - flo);
        if (!(m > lo && m < hi)) m = 0.5 * (lo + hi);
        const double fm = bs_event_fn(S, m, 0);
        if (fm > 0.0) { hi = m; fhi = fm; if (side == 1) flo *= 0.5; side = 1; }
        else { lo = m; flo = fm; if (side == -1) fhi *= 0.5; side = -1; }
    }
    return hi;
}

/* bisection of the boolean condition in [lo, hi] (false at lo, true at hi) */
static double bs_bisect(const bs_step *S, double lo, double hi) {
    const double tol = 1e-12 * fmax(1.0, fabs(S->t + S->h)) / S->h;
    for (int it = 0; it < 200 && hi - lo > tol; ++it) {
        const double m = 0.5 * (lo + hi);
        if (bs_event_fn(S, m, 1) != 0.0) hi = m; else lo = m;
    }
    return hi;
}

/* Bernstein coefficients on [0, 1] of sum_j m[j] theta^j (degree q) */
static void bs_bernstein(int q, const double *m, double *c) {
    for (int i = 0; i <= q; ++i) {
        double acc = 0.0, r = 1.0;              /* r = C(i, j)/C(q, j) */
        for (int j = 0; j <= i; ++j) {
            acc = acc + r * m[j];
            if (j < i) r = r * (i - j) / (q - j);
        }
        c[i] = acc;
    }
}

/* de Casteljau at tau: coefficients on [0, tau] (left) and [tau, 1] (right), either NULL */
static void bs_split(int q, const double *c, double tau, double *left, double *right) {
    double w[BS_QMAX + 1];
    memcpy(w, c, (size_t)(q + 1) * sizeof(double));
    if (left) left[0] = w[0];
    if (right) right[q] = w[q];
    for (int r = 1; r <= q; ++r) {
        for (int i = 0; i <= q - r; ++i) w[i] = (1.0 - tau) * w[i] + tau * w[i + 1];
        if (left) left[r] = w[0];
        if (right) right[q - r] = w[q - r];
    }
}

/* bracket [*ra, *rb] of the first upward crossing after lo of the polynomial with
   Bernstein coefficients c on [lo, hi]: left-first bisection with Descartes' rule of
   signs (events.first_upcrossing); 0 if there is none */
static int bs_first_up(int q, const double *c, double lo, double hi, int armed, double tol,
                       double *ra, double *rb) {
    double sc[BS_MAXDEPTH + 2][BS_QMAX + 1], sa[BS_MAXDEPTH + 2], sb[BS_MAXDEPTH + 2];
    int sd[BS_MAXDEPTH + 2], top = 1;
    memcpy(sc[0], c, (size_t)(q + 1) * sizeof(double));
    sa[0] = lo; sb[0] = hi; sd[0] = 0;
    while (top > 0) {
        --top;
        double w[BS_QMAX + 1];
        memcpy(w, sc[top], (size_t)(q + 1) * sizeof(double));
        const double a = sa[top], b = sb[top];
        const int depth = sd[top];
        int changes = 0;
        for (int i = 0; i < q; ++i) changes += (w[i] > 0.0) != (w[i + 1] > 0.0);
        const int p0 = w[0] > 0.0, pq = w[q] > 0.0;
        if (p0 && armed) { *ra = a; *rb = a; return 1; }   /* only at lo */
        if (changes == 0) {
            if (!p0) armed = 1;
            continue;
        }
        if (changes == 1) {
            if (!p0) { *ra = a; *rb = b; return 1; }
            armed = 1;
            continue;
        }
        if (b - a <= tol || depth >= BS_MAXDEPTH) {
            if (!p0) armed = 1;
            if (pq && armed) { *ra = a; *rb = b; return 1; }
            if (!pq) armed = 1;
            continue;
        }
        const double m = 0.5 * (a + b);
        bs_split(q, w, 0.5, sc[top + 1], sc[top]);       /* left on top: popped first */
        sa[top] = m; sb[top] = b; sd[top] = depth + 1;
        sa[top + 1] = a; sb[top + 1] = m; sd[top + 1] = depth + 1;
        top += 2;
    }
    return 0;
}

/* crossing along the dense output from stages 0..n-1 (slopes sig): Bernstein
   coefficients, end coefficients the crossing at the two end states */
static void bs_cross_bern(const bs_args *a, const double *sig, int64_t n, double g0,
                          double g1, double *c) {
    const int q = (int)a->q;
    double mono[BS_QMAX + 1];
    mono[0] = g0;
    for (int j = 0; j < q; ++j) {
        double acc = 0.0;
        for (int64_t s = 0; s < n; ++s) acc += a->dense[s * q + j] * sig[s];
        mono[j + 1] = acc;
    }
    bs_bernstein(q, mono, c);
    c[0] = g0; c[q] = g1;
}

/* per stage, the largest |Bernstein coefficient| of its dense weight (a bound of
   |w_s(theta)| on [0, 1]), their sum over the stages after a->s, and the weights of the
   cubic Hermite slope at c_s (H'(c_s) = ha*dg + hb*d0 + hc*d1); once per instance */
static void bs_wstage(const bs_args *a, bs_ev *E) {
    const int q = (int)a->q;
    double mono[BS_QMAX + 1], c[BS_QMAX + 1];
    E->wunk = 0.0;
    for (int64_t s = 0; s < a->s_total; ++s) {
        mono[0] = 0.0;
        for (int j = 0; j < q; ++j) mono[j + 1] = a->dense[s * q + j];
        bs_bernstein(q, mono, c);
        double big = 0.0;
        for (int i = 0; i <= q; ++i) big = fmax(big, fabs(c[i]));
        E->wb[s] = big;
        if (s >= a->s) E->wunk += big;
        const double x = a->c[s];            /* Hermite slope weights at c_s */
        E->ha[s] = 6.0 * x * (1.0 - x);
        E->hb[s] = (1.0 - x) * (1.0 - 3.0 * x);
        E->hc[s] = x * (3.0 * x - 2.0);
    }
    E->wb_ok = 1;
}

/* end of the refractory period of a spike at ts in a step without reset (-inf: none
   that blocks a later crossing of the same step) */
static double bs_until(const bs_args *a, const bs_step *S, double ts) {
    if (!(HAS_REF && REF_BY_TIME)) return -INFINITY;
    if (a->n_stim) bs_stim(a, S->i, S->tn, S->t, S->p);
    return ts + bs_reftime(S->p);
}

static double bs_theta_time(const bs_step *S, double th) {
    return th < 1.0 ? S->t + th * S->h : S->tn;
}

/* the exact search on the Bernstein coefficients c of a step (see bs_affine_spikes) */
static BS_COLD int bs_poly_search(const bs_args *a, bs_step *S, int armed, const double *c,
                                  double *out) {
    const int q = (int)a->q;
    const double tol = 1e-12 * fmax(1.0, fabs(S->tn)) / S->h;
    double cur[BS_QMAX + 1], lo = 0.0, until = -INFINITY;
    memcpy(cur, c, (size_t)(q + 1) * sizeof(double));
    int n = 0;
    while (n < BS_MAXSP) {
        double ra, rb, th;
        if (!bs_first_up(q, cur, lo, 1.0, armed, tol, &ra, &rb)) break;
        if (ra == rb) th = ra;
        else {
            double flo = bs_event_fn(S, ra, 0), fhi = bs_event_fn(S, rb, 0);
            if (flo > 0.0) flo = 0.0;
            if (!(fhi > 0.0)) fhi = DBL_MIN;
            th = bs_illinois(S, ra, rb, flo, fhi);
        }
        const double ts = bs_theta_time(S, th);
        if (ts >= until) {
            out[n++] = th;
            if (HAS_RESET || (HAS_REF && !REF_BY_TIME)) break;
            until = bs_until(a, S, ts);
        }
        if (rb >= 1.0) break;
        bs_split(q, c, rb, NULL, cur);
        lo = rb; armed = 0;
    }
    return n;
}

/* affine crossing: exact search on the polynomial P after a screen (see
   biosnn.solvers.events): without extra stages |P - g0| <= sum_s wb_s |sig_s|; DOP853,
   before its extra stages, P - H = sum_s w_s e_s with H the cubic Hermite interpolant
   of the crossing and e_s = sig_s - H'(c_s), the unknown |e_s| taken <= 2 max known */
static int bs_affine_spikes(const bs_args *a, bs_step *S, bs_ev *E, int armed,
                            int (*dense_ready)(bs_step *), double *out) {
    const int q = (int)a->q;
    const int64_t known = a->s, total = a->s_total;
    double zero[NS] = {0.0}, sig[BS_SMAX], c[BS_QMAX + 1];
    if (!E->wb_ok) bs_wstage(a, E);
    if (a->n_stim) bs_stim(a, S->i, S->t, S->t, S->p);
    const double g0 = bs_crossing(S->t, S->y, S->p), gz = bs_crossing(S->t, zero, S->p);
    if (a->n_stim) bs_stim(a, S->i, S->tn, S->t, S->p);
    const double g1 = bs_crossing(S->tn, S->yn, S->p);
    if (a->n_stim) bs_stim(a, S->i, S->t, S->t, S->p);
    const int up = g1 > 0.0;
    double pmax, pmin, dev = 0.0;
    if (known == total) {
        for (int64_t s = 0; s < known; ++s) {
            sig[s] = S->hk * (bs_crossing(S->t, S->K[s], S->p) - gz);
            dev += E->wb[s] * fabs(sig[s]);
        }
        pmax = g0 + dev; pmin = g0 - dev;
    } else {
        const int64_t last = known - 1;
        sig[0] = S->hk * (bs_crossing(S->t, S->K[0], S->p) - gz);
        sig[last] = S->hk * (bs_crossing(S->t, S->K[last], S->p) - gz);
        const double d0 = sig[0], d1 = sig[last], dg = g1 - g0;
        double r = 0.0;
        for (int64_t s = 0; s < known; ++s) {
            if (s > 0 && s < last) sig[s] = S->hk * (bs_crossing(S->t, S->K[s], S->p) - gz);
            double e = sig[s] - (E->ha[s] * dg + E->hb[s] * d0 + E->hc[s] * d1);
            e = e < 0.0 ? -e : e;
            dev += E->wb[s] * e;
            if (e > r) r = e;
        }
        dev += 2.0 * r * E->wunk;
        const double b1 = g0 + d0 / 3.0, b2 = g1 - d1 / 3.0;
        double hmax = g0 > b1 ? g0 : b1, hmin = g0 < b1 ? g0 : b1;
        if (b2 > hmax) hmax = b2;
        if (b2 < hmin) hmin = b2;
        if (g1 > hmax) hmax = g1;
        if (g1 < hmin) hmin = g1;
        pmax = hmax + dev; pmin = hmin - dev;
    }
    if ((pmax <= 0.0 && !up) || (!armed && pmin > 0.0 && up)) return 0;
    if (known < total) {                     /* the extra stages of the interpolant */
        dense_ready(S);
        if (a->n_stim) bs_stim(a, S->i, S->t, S->t, S->p);
        for (int64_t s = known; s < total; ++s)
            sig[s] = S->hk * (bs_crossing(S->t, S->K[s], S->p) - gz);
    }
    bs_cross_bern(a, sig, total, g0, g1, c);
    double cmax = c[0], cmin = c[0];
    for (int i = 1; i <= q; ++i) { cmax = fmax(cmax, c[i]); cmin = fmin(cmin, c[i]); }
    if (!(cmax > 0.0) || !(armed || cmin <= 0.0)) return 0;
    dense_ready(S);
    return bs_poly_search(a, S, armed, c, out);
}

/* other thresholds: samples at theta = i/BS_NSAMP, located between two samples */
static BS_COLD int bs_sampled_spikes(const bs_args *a, bs_step *S, int armed,
                             int (*dense_ready)(bs_step *), double *out) {
    double v[BS_NSAMP + 1], yt[NS];
    dense_ready(S);
    for (int i = 0; i <= BS_NSAMP; ++i) {
        double tt;
        const double *yy;
        if (i == 0) { tt = S->t; yy = S->y; }
        else if (i == BS_NSAMP) { tt = S->tn; yy = S->yn; }
        else {
            const double th = (double)i / BS_NSAMP;
            tt = S->t + th * S->h;
            bs_dense_eval(a, S->ns, S->hk, S->y, S->K, th, yt);
            yy = yt;
        }
        if (a->n_stim) bs_stim(a, S->i, tt, S->t, S->p);
        v[i] = HAS_CROSSING ? bs_crossing(tt, yy, S->p)
                            : (bs_threshold(tt, yy, S->p) ? 1.0 : -1.0);
    }
    int n = 0;
    double until = -INFINITY;
    for (int i = 0; i <= BS_NSAMP && n < BS_MAXSP; ++i) {
        if (!(v[i] > 0.0)) { armed = 1; continue; }
        if (!armed) continue;
        armed = 0;
        double th = 0.0;
        if (i > 0) {
            const double lo = (double)(i - 1) / BS_NSAMP;
            const double hi = i == BS_NSAMP ? 1.0 : (double)i / BS_NSAMP;
            th = HAS_CROSSING ? bs_illinois(S, lo, hi, v[i - 1] > 0.0 ? 0.0 : v[i - 1], v[i])
                              : bs_bisect(S, lo, hi);
        }
        const double ts = bs_theta_time(S, th);
        if (ts < until) continue;
        out[n++] = th;
        if (HAS_RESET || (HAS_REF && !REF_BY_TIME)) break;
        until = bs_until(a, S, ts);
    }
    return n;
}

/* spikes (thetas, in order) of the accepted step S of a non-refractory instance */
static int bs_find_spikes(const bs_args *a, bs_step *S, bs_ev *E,
                          int (*dense_ready)(bs_step *), double *out) {
    const int armed = !E->th_prev;
    int affine = CROSS_AFFINE;
    if (affine && a->n_stim) {               /* a linear stimulus on one of its params */
        static const int par[NPA] = CROSS_PARAMS;
        for (int64_t s = 0; s < a->n_stim; ++s)
            if (a->stim_kind[s] != 0 && par[a->stim_param[s]]) affine = 0;
    }
    if (affine) return bs_affine_spikes(a, S, E, armed, dense_ready, out);
    return bs_sampled_spikes(a, S, armed, dense_ready, out);
}

/* record every t0 + k*record_dt <= tend (+ tolerance) of this step from the interpolant */
static int64_t bs_record_step(bs_args *a, const bs_step *S, int64_t kr, double tend) {
    const double tol = 1e-12 * fmax(1.0, fabs(tend));
    double yt[NS];
    while (kr < a->n_rec) {
        const double tr = a->t0 + kr * a->record_dt;
        if (tr > tend + tol) break;
        if (tr >= S->tn) bs_record(a, S->i, kr, S->yn);
        else {
            const double theta = (tr - S->t) / S->h;
            bs_dense_eval(a, S->ns, S->hk, S->y, S->K, theta > 0.0 ? theta : 0.0, yt);
            bs_record(a, S->i, kr, yt);
        }
        ++kr;
    }
    return kr;
}


/* refractoriness at the end (te, ye) of a step that started at t_s0: time-based ends at
   ref_end, condition-based while the condition holds. Returns 1 if it just ended. */
static int bs_ref_update(const bs_args *a, int64_t i, bs_ev *E, double te, double t_s0,
                         const double *ye, double *p) {
    if (!HAS_REF || !E->ref) return 0;
    int holds;
    if (REF_BY_TIME) holds = te < E->ref_end - 1e-12 * fmax(1.0, fabs(te));
    else {
        if (a->n_stim) bs_stim(a, i, te, t_s0, p);
        holds = bs_refcond(te, ye, p);
    }
    if (!holds) { E->ref = 0; return 1; }
    return 0;
}

/* events and records of the accepted step S; advances (*t, y). With reset statements a
   spike ends the step at the spike time (reset state, restart); without, it continues. */
static int bs_accept(bs_args *a, bs_step *S, bs_ev *E, int64_t *kr, double *t, double *y,
                     int *restart, int (*dense_ready)(bs_step *)) {
    int spiked = 0, th = 0, nsp = 0;
    double theta = 1.0, te = S->tn, ye[NS], sp[BS_MAXSP];
    memcpy(ye, S->yn, sizeof ye);
    if (HAS_THRESHOLD) {
        if (!E->ref) nsp = bs_find_spikes(a, S, E, dense_ready, sp);
        if (a->n_stim) bs_stim(a, S->i, S->tn, S->t, S->p);
        th = bs_threshold(S->tn, S->yn, S->p);
        if (nsp) { theta = sp[0]; spiked = 1; }
    }
    const double ts = theta < 1.0 ? S->t + theta * S->h : S->tn;
    if (spiked && HAS_RESET && theta < 1.0) {
        te = ts;
        bs_dense_eval(a, S->ns, S->hk, S->y, S->K, theta, ye);
    }
    if (*kr < a->n_rec && a->t0 + *kr * a->record_dt <= te + 1e-12 * fmax(1.0, fabs(te))) {
        dense_ready(S);
        *kr = bs_record_step(a, S, *kr, te);
    }
    if (spiked) {
        for (int k = 0; k < nsp; ++k)
            if (bs_spike(a, S->i, bs_theta_time(S, sp[k]))) return BS_FULL;
        if (a->n_stim) bs_stim(a, S->i, te, S->t, S->p);
        if (HAS_RESET) {
            bs_reset(te, ye, S->p);
            th = bs_threshold(te, ye, S->p);
            *restart = 1;
        }
        if (HAS_REF) {
            E->ref = 1;
            E->ref_end = bs_theta_time(S, sp[nsp - 1]) + bs_reftime(S->p);
            *restart = 1;
        }
    }
    if (HAS_THRESHOLD) E->th_prev = th;
    if (bs_ref_update(a, S->i, E, te, S->t, ye, S->p)) *restart = 1;
    memcpy(y, ye, sizeof ye);
    *t = te;
    return BS_OK;
}

/* next stop: t1, the next stimulus breakpoint, the end of refractoriness */
static double bs_next_stop(const bs_args *a, int64_t *jb, double t, const bs_ev *E) {
    double stop = a->t1;
    while (*jb < a->n_bp && a->bp[*jb] <= t + 1e-12 * fmax(1.0, fabs(t))) ++*jb;
    if (*jb < a->n_bp && a->bp[*jb] < stop) stop = a->bp[*jb];
    if (E->ref && REF_BY_TIME && E->ref_end > t + 1e-12 * fmax(1.0, fabs(t))
        && E->ref_end < stop) stop = E->ref_end;
    return stop;
}

/* PI step-size factor after an accepted step: safety * en^-beta1 * en_prev^beta2 as one
   exp of logs; *log_prev keeps log(max(en_prev, 1e-4)) (log(1) = 0 at the start), so a
   step costs one log and one exp instead of two pow */
static double bs_pi(const bs_args *a, double en, double *log_prev, int rejected_before) {
    const double le = en > 0.0 ? log(en) : -INFINITY;
    double fac = en > 0.0 ? a->safety * exp(a->beta2 * *log_prev - a->beta1 * le)
                          : a->fac_max;
    fac = fmin(a->fac_max, fmax(a->fac_min, fac));
    if (rejected_before) fac = fmin(fac, 1.0);
    *log_prev = fmax(le, -9.210340371976182);     /* log(1e-4) */
    return fac;
}

static double bs_reject_factor(const bs_args *a, double en) {
    if (!(en == en)) return a->fac_min;
    return fmin(1.0, fmax(a->fac_min, a->safety * pow(en, -a->expo_rej)));
}

/* Hairer's initial step (Hairer, Norsett & Wanner I, II.4); f0 receives f(t, y) */
static double bs_initial_step(const bs_args *a, int64_t i, double t, double span,
                              const double *y, double *p, double *f0, int64_t *nrhs) {
    double y1[NS], f1[NS], d0 = 0.0, d1 = 0.0, d2 = 0.0;
    bs_rhs(a, i, t, t, y, p, 0, f0);
    for (int k = 0; k < NS; ++k) {
        const double sc = a->atol + a->rtol * fabs(y[k]);
        d0 += (y[k] / sc) * (y[k] / sc);
        d1 += (f0[k] / sc) * (f0[k] / sc);
    }
    d0 = sqrt(d0 / NS); d1 = sqrt(d1 / NS);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    h0 = fmin(h0, span);
    for (int k = 0; k < NS; ++k) y1[k] = y[k] + h0 * f0[k];
    bs_rhs(a, i, t + h0, t, y1, p, 0, f1);
    *nrhs += 2;
    for (int k = 0; k < NS; ++k) {
        const double sc = a->atol + a->rtol * fabs(y[k]);
        d2 += ((f1[k] - f0[k]) / sc) * ((f1[k] - f0[k]) / sc);
    }
    d2 = sqrt(d2 / NS) / h0;
    const double dm = fmax(d1, d2);
    const double h1 = dm <= 1e-15 ? fmax(1e-6, 1e-3 * h0) : pow(0.01 / dm, a->expo_rej);
    return fmin(fmin(100.0 * h0, isfinite(h1) ? h1 : 1e-6), span);
}
