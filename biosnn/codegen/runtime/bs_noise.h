/* biosnn C runtime: bs_noise.h - counter-based normal random numbers, the same bits as
   biosnn.solvers.noise (tests/codegen/test_c_runtime.py checks the text against
   biosnn.solvers.noise.C_SOURCE, which is printed from the NumPy constants).
   Needs: bs_prelude.h. */
static inline uint64_t bs_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline double bs_log_unit(double u) {
    uint64_t bits; memcpy(&bits, &u, sizeof bits);
    int64_t k = (int64_t)(bits >> 52) - 1023;
    uint64_t mb = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
    double m; memcpy(&m, &mb, sizeof m);
    if (m > 1.4142135623730951) { m = m * 0.5; k += 1; }
    double kd = (double)k, f = m - 1.0, s = f / (2.0 + f), z = s * s;
    double r = z * (0.6666666666666666 + z*(0.4 + z*(0.2857142857142857 + z*(0.2222222222222222 + z*(0.18181818181818182 + z*(0.15384615384615385 + z*(0.13333333333333333 + z*(0.11764705882352941 + z*(0.10526315789473684 + z*(0.09523809523809523 + z*(0.08695652173913043 + z*0.08)))))))))));
    double hfsq = 0.5 * f * f;
    return kd * 0.6931471803691238 - ((hfsq - (s * (hfsq + r) + kd * 1.9082149292705877e-10)) - f);
}
static inline double bs_cos_2pi(double u) {
    double w = 4.0 * u;
    double q = (w + 6755399441055744.0) - 6755399441055744.0;
    double th = (w - q) * 1.5707963267948966, z = th * th;
    double c = 1.0 + z * (-0.5 + z*(0.041666666666666664 + z*(-0.001388888888888889 + z*(2.48015873015873e-05 + z*(-2.755731922398589e-07 + z*(2.08767569878681e-09 + z*(-1.1470745597729725e-11 + z*(4.779477332387385e-14 + z*(-1.5619206968586225e-16 + z*4.110317623312165e-19)))))))));
    double sn = th + (th * z) * (-0.16666666666666666 + z*(0.008333333333333333 + z*(-0.0001984126984126984 + z*(2.7557319223985893e-06 + z*(-2.505210838544172e-08 + z*(1.6059043836821613e-10 + z*(-7.647163731819816e-13 + z*(2.8114572543455206e-15 + z*(-8.22063524662433e-18 + z*1.9572941063391263e-20)))))))));
    switch ((int64_t)q & 3) { case 0: return c; case 1: return -sn; case 2: return -c; }
    return sn;
}
static inline double bs_normal(uint64_t key, uint64_t step, uint64_t stream) {
    uint64_t x = key ^ (step * 0xD1B54A32D192ED03ULL) ^ (stream * 0x8CB92BA72F3D8DD7ULL);
    uint64_t a = bs_mix64(x), b = bs_mix64(x ^ 0x9E3779B97F4A7C15ULL);
    double u1 = ((double)(a >> 11) + 1.0) * 0x1.0p-53;
    double u2 = ((double)(b >> 11) + 1.0) * 0x1.0p-53;
    return sqrt(-2.0 * bs_log_unit(u1)) * bs_cos_2pi(u2);
}
