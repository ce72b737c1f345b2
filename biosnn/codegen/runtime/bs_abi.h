/* biosnn C runtime: bs_abi.h - the interface with Python: status codes, the stop flag
   and bs_args, the argument struct of bs_run.  The ctypes mirror is
   biosnn.codegen.c_abi.ARG_FIELDS (tests/codegen/test_c_runtime.py checks that they agree).
   Needs: bs_prelude.h. */
enum { BS_OK = 0, BS_FULL = 1, BS_BLOWUP = 2, BS_MAXSTEPS = 3, BS_UNDERFLOW = 4,
       BS_SINGULAR = 5, BS_NOMEM = 6, BS_STOP = 7 };
/* the argument of bs_run; every field is an input or an output of a run, so nothing
   that changes between runs (parameters, y0, dt, tolerances, tableau, stimuli, seed)
   recompiles */
typedef struct {
    int64_t n;
    int64_t i_start;
    int64_t method;
    double t0;
    double t1;
    double dt;
    double rtol;
    double atol;
    int64_t n_steps;
    int64_t record_every;
    double record_dt;
    int64_t n_rec;
    int64_t n_record;
    int64_t *record_states;
    double *y0;
    double *params;
    double *y_rec;
    double *y_final;
    int64_t n_stim;
    int64_t *stim_param;
    int64_t *stim_kind;
    int64_t *stim_ntimes;
    int64_t *stim_ncols;
    int64_t *stim_toff;
    int64_t *stim_voff;
    double *stim_times;
    double *stim_values;
    int64_t n_bp;
    double *bp;
    uint64_t key;
    int64_t max_steps;
    double *prop;
    int64_t prop_ncols;
    int64_t s;
    int64_t s_total;
    int64_t q;
    int64_t fsal;
    int64_t has_low;
    double *c;
    double *A;
    double *b;
    double *b_err;
    double *b_err_low;
    double *dense;
    double *ros_d;
    double *ros_C;
    double gamma;
    double safety;
    double fac_min;
    double fac_max;
    double beta1;
    double beta2;
    double expo_rej;
    int64_t spike_cap;
    int64_t n_spikes;
    int64_t *spike_index;
    double *spike_time;
    int64_t *stats;
    int64_t fail_instance;
    int64_t fail_var;
    double fail_time;
    int64_t n_threads;
    int64_t spike_need;
    double *stash;
    int64_t stash_n;
    int64_t *stop;              /* Ctrl-C: the drivers return BS_STOP once *stop != 0 */
} bs_args;

/* Ctrl-C: Python sets *stop from another thread; read once per step (biosnn/_interrupt.py) */
#define BS_STOPPED(a) ((a)->stop && *(volatile const int64_t *)(a)->stop)
