/* The kernel output's Gaussian Nadaraya-Watson estimate (chapter 03 of activations_repro), float32, leave-one-out, and its
   gradient in closed form. kernels.c includes this file once.

   For row b and output column k, with index u = u[b,k], the anchors' indices a_j = aT[k,j] and targets y_j = yT[k,j]:
       z_j = (a_j - u)/h,  t_j = z_j^2,  w_j = exp(-t_j/2 + min_j t_j/2) / S,  S = sum_j exp(-t_j/2 + min_j t_j/2)
       G = sum_j w_j y_j,  leaving out j = self[b] (the row's own anchor slot, -1 for none)
   and the backward, with q_j = w_j (y_j - G) z_j and g = dL/dG:
       dL/du = g sum_j q_j / h,   dL/da_j = -sum_b g q_j / h,   dL/dh = sum g sum_j q_j z_j / h.

   The exponential is computed here (e_neg) rather than by the C library: the same operations on every instruction set,
   no fused multiply-add (-ffp-contract=off), and sums kept in LANES running sums added in a fixed order, so the result is
   the same to the bit on any CPU and for any number of threads. Each loop marked "vectorised" compiles to SIMD code. */

#include <string.h>

/* The floor of e_neg's argument, read once per call: a clamp to a constant the compiler knows becomes a branch (gcc 12),
   to a value it does not know, a vector select. */
static volatile float E_FLOOR = -87.0f;

/* e^x for x <= 0 (Cephes' expf: x = n ln2 + r, a degree-6 polynomial in r, 2^n from the exponent bits), for x >= fl =
   E_FLOOR; below, e^fl (1.6e-38: nothing beside the largest weight, which is 1) */
static inline float e_neg(float x, float fl) {
  float c = x < fl ? fl : x;
  float n = (c*1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* round to nearest, |n| < 2^22 */
  float r = c - n*0.693359375f;
  r = r - n*-2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p*r + 1.3981999507e-3f;
  p = p*r + 8.3334519073e-3f;
  p = p*r + 4.1665795894e-2f;
  p = p*r + 1.6666665459e-1f;
  p = p*r + 5.0000001201e-1f;
  p = p*(r*r) + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float s;
  memcpy(&s, &bits, sizeof s);
  return p*s;
}

/* the smallest t_j = ((a_j - u)/h)^2 over a[0..len) into the running minima mn[LANES] */
static void nw_min_run(const float* restrict a, float u, float invh, int64_t len, float* restrict mn) {
  int64_t i = 0;
  for (; i + LANES <= len; i += LANES) {
    #pragma GCC unroll 1  /* unrolled in full first, gcc would vectorise it only as straight-line code */
    for (int j = 0; j < LANES; j++) {  /* vectorised */
      float z = (a[i + j] - u)*invh, t = z*z, m = mn[j];
      mn[j] = t < m ? t : m;
    }
  }
  for (; i < len; i++) {
    float z = (a[i] - u)*invh, t = z*z, m = mn[i % LANES];
    mn[i % LANES] = t < m ? t : m;
  }
}

/* the sums of the weights e_j and of e_j y_j over a[0..len), into s[LANES] and sy[LANES] */
static void nw_sum_run(const float* restrict a, const float* restrict y, float u, float invh, float half_min, float fl,
                       int64_t len, float* restrict s, float* restrict sy) {
  int64_t i = 0;
  for (; i + LANES <= len; i += LANES) {
    for (int j = 0; j < LANES; j++) {  /* vectorised */
      float z = (a[i + j] - u)*invh, e = e_neg(-0.5f*(z*z) + half_min, fl);
      s[j] += e;
      sy[j] += e*y[i + j];
    }
  }
  for (; i < len; i++) {
    float z = (a[i] - u)*invh, e = e_neg(-0.5f*(z*z) + half_min, fl);
    s[i % LANES] += e;
    sy[i % LANES] += e*y[i];
  }
}

/* the backward over a[0..len): adds -g q_j/h to da[j], and sum_j q_j and sum_j q_j z_j into sq[LANES], sqz[LANES] */
static void nw_grad_run(const float* restrict a, const float* restrict y, float u, float invh, float half_min, float fl,
                        float inv_s, float G, float c, int64_t len, float* restrict da, float* restrict sq, float* restrict sqz) {
  int64_t i = 0;
  for (; i + LANES <= len; i += LANES) {
    for (int j = 0; j < LANES; j++) {  /* vectorised */
      float z = (a[i + j] - u)*invh, w = e_neg(-0.5f*(z*z) + half_min, fl)*inv_s, q = w*(y[i + j] - G)*z;
      da[i + j] += c*q;
      sq[j] += q;
      sqz[j] += q*z;
    }
  }
  for (; i < len; i++) {
    float z = (a[i] - u)*invh, w = e_neg(-0.5f*(z*z) + half_min, fl)*inv_s, q = w*(y[i] - G)*z;
    da[i] += c*q;
    sq[i % LANES] += q;
    sqz[i % LANES] += q*z;
  }
}

static float lanes_total(const float* v) {
  float total = 0;
  for (int j = 0; j < LANES; j++) total += v[j];
  return total;
}

/* the anchors of row b other than its own (ex): [0, ex) and (ex, M) */
static void nw_ranges(int64_t ex, int64_t M, int64_t* before, int64_t* after) {
  *before = ex >= 0 && ex < M ? ex : M;
  *after = ex >= 0 && ex < M ? ex + 1 : M;
}

/* G[b,k] and the normaliser S[b,k] and half minimum hm[b,k] the backward needs, for B rows of K columns and M anchors */
void nw_fwd_f32(const float* u, const float* aT, const float* yT, float invh, const int64_t* self, float* G, float* S,
                float* hm, int64_t B, int64_t K, int64_t M, int nt) {
  float fl = E_FLOOR;
  #pragma omp parallel for schedule(static) num_threads(nt) if(nt > 1)
  for (int64_t p = 0; p < B*K; p++) {
    int64_t b = p/K, k = p % K, before, after;
    nw_ranges(self ? self[b] : -1, M, &before, &after);
    const float *a = aT + k*M, *y = yT + k*M;
    float mn[LANES], s[LANES] = {0}, sy[LANES] = {0};
    for (int j = 0; j < LANES; j++) mn[j] = INFINITY;
    nw_min_run(a, u[p], invh, before, mn);
    nw_min_run(a + after, u[p], invh, M - after, mn);
    float least = mn[0];
    for (int j = 1; j < LANES; j++) least = mn[j] < least ? mn[j] : least;
    hm[p] = 0.5f*least;
    nw_sum_run(a, y, u[p], invh, hm[p], fl, before, s, sy);
    nw_sum_run(a + after, y + after, u[p], invh, hm[p], fl, M - after, s, sy);
    S[p] = lanes_total(s);
    G[p] = lanes_total(sy)/S[p];
  }
}

/* du[b,k], daT[k,:] (written, not added to) and dL/dh into dh[0]; dh_k: a buffer of K floats for the columns' shares,
   added up in k order. The columns are split over the threads: each writes its own row of daT. */
void nw_bwd_f32(const float* gG, const float* u, const float* aT, const float* yT, float invh, const int64_t* self,
                const float* G, const float* S, const float* hm, float* du, float* daT, float* dh, float* dh_k,
                int64_t B, int64_t K, int64_t M, int nt) {
  float fl = E_FLOOR;
  #pragma omp parallel for schedule(static) num_threads(nt) if(nt > 1)
  for (int64_t k = 0; k < K; k++) {
    const float *a = aT + k*M, *y = yT + k*M;
    float* da = daT + k*M;
    for (int64_t j = 0; j < M; j++) da[j] = 0;
    float dhk = 0;
    for (int64_t b = 0; b < B; b++) {
      int64_t p = b*K + k, before, after;
      nw_ranges(self ? self[b] : -1, M, &before, &after);
      float sq[LANES] = {0}, sqz[LANES] = {0}, g = gG[p], c = -g*invh;
      nw_grad_run(a, y, u[p], invh, hm[p], fl, 1/S[p], G[p], c, before, da, sq, sqz);
      nw_grad_run(a + after, y + after, u[p], invh, hm[p], fl, 1/S[p], G[p], c, M - after, da + after, sq, sqz);
      du[p] = g*lanes_total(sq)*invh;
      dhk += g*lanes_total(sqz)*invh;
    }
    dh_k[k] = dhk;
  }
  float total = 0;
  for (int64_t k = 0; k < K; k++) total += dh_k[k];
  dh[0] = total;
}
