/* biosnn C runtime: bs_common.h - what every driver does at the end of an instance:
   store its final state and counters, or report a failure.
   Needs: bs_abi.h and the model's NS. */
static void bs_store(bs_args *a, int64_t i, const double *y, int64_t nrhs, int64_t nacc,
                     int64_t nrej, int64_t njac) {
    for (int k = 0; k < NS; ++k) a->y_final[k * a->n + i] = y[k];
    a->stats[4 * i] = nacc; a->stats[4 * i + 1] = nrej;
    a->stats[4 * i + 2] = nrhs; a->stats[4 * i + 3] = njac;
}

static int bs_fail(bs_args *a, int64_t i, double t, int64_t var, int status) {
    a->fail_instance = i; a->fail_time = t; a->fail_var = var;
    return status;
}
