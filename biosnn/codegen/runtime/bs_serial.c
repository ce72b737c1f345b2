/* biosnn C runtime: bs_serial.c - the adaptive and Rosenbrock families run instance
   after instance: load an instance, its drift with stimuli and refractory holding,
   finiteness, recording, spikes, the RMS error norm, and bs_run.
   Needs: bs_common.h, bs_stim.h and the model (NS, NP, bs_held, bs_f); bs_instance is
   defined by bs_adaptive.c or bs_rodas.c. */
static void bs_load(const bs_args *a, int64_t i, double *y, double *p) {
    for (int k = 0; k < NS; ++k) y[k] = a->y0[k * a->n + i];
    for (int k = 0; k < NP; ++k) p[k] = a->params[k * a->n + i];
}

/* drift with stimulus lookup and refractory holding */
static void bs_rhs(const bs_args *a, int64_t i, double t, double ts, const double *y,
                   double *p, int ref, double *dy) {
    if (a->n_stim) bs_stim(a, i, t, ts, p);
    bs_f(t, y, p, dy);
    if (ref) for (int k = 0; k < NS; ++k) if (bs_held[k]) dy[k] = 0.0;
}

static int bs_finite(const double *y, int64_t *bad) {
    for (int k = 0; k < NS; ++k) if (!isfinite(y[k])) { *bad = k; return 0; }
    return 1;
}

static void bs_record(bs_args *a, int64_t i, int64_t k, const double *y) {
    for (int64_t r = 0; r < a->n_record; ++r)
        a->y_rec[(r * a->n + i) * a->n_rec + k] = y[a->record_states[r]];
}

/* the state that changed most (relative to the tolerance) in the last trial step */
static int64_t bs_worst(const bs_args *a, const double *y, const double *yn) {
    int64_t worst = 0;
    double big = -1.0;
    for (int k = 0; k < NS; ++k) {
        const double d = fabs(yn[k] - y[k]) / (a->atol + a->rtol * fabs(y[k]));
        if (!(d <= big)) { big = d; worst = k; }
    }
    return worst;
}

static int bs_spike(bs_args *a, int64_t i, double ts) {
    if (a->n_spikes >= a->spike_cap) return 1;
    a->spike_index[a->n_spikes] = i;
    a->spike_time[a->n_spikes] = ts;
    a->n_spikes += 1;
    return 0;
}

static double bs_rms(const double *e, const double *y0, const double *y1, double rtol,
                     double atol) {
    double acc = 0.0;
    for (int k = 0; k < NS; ++k) {
        const double sc = atol + rtol * fmax(fabs(y0[k]), fabs(y1[k]));
        const double q = e[k] / sc;
        acc += q * q;
    }
    return sqrt(acc / NS);
}

/* one instance after the other; on a full spike buffer roll back that instance */
static int bs_instance(bs_args *a, int64_t i);
int bs_run(bs_args *a) {
    for (int64_t i = a->i_start; i < a->n; ++i) {
        const int64_t n0 = a->n_spikes;
        const int st = bs_instance(a, i);
        if (st != BS_OK) {
            if (st == BS_FULL) a->n_spikes = n0;
            a->fail_instance = i;
            return st;
        }
    }
    return BS_OK;
}
