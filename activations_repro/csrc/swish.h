/* The learnable Swish (Ramachandran et al. 2017), the peer of chapter 02, for float tensors: with z = a x and s = sigmoid(z),
       y = x s,   dL/dx = g s (1 + z (1 - s)),   dL/da = sum g x^2 s (1 - s)   (per channel, as in scaled_negative.h)
   one a per layer or per channel, read as outer x C x inner like the activations' kernels (their `pieces`). The
   exponential is nadaraya_watson.h's e_neg, computed here: the same bits on every CPU. kernels.c includes this file once. */

/* sigmoid(z) from e = e^-|z|: 1/(1 + e) for z >= 0, e/(1 + e) otherwise, the choice a bit mask (no jump) */
static inline float sw_sigmoid(float z, float fl) {
  float e = e_neg(-fabsf(z), fl), r = 1.0f/(1.0f + e), er = e*r;
  uint32_t br, be, pick = (uint32_t)0 - (uint32_t)(z >= 0);   /* z >= 0: every bit of r */
  memcpy(&br, &r, sizeof br);
  memcpy(&be, &er, sizeof be);
  br = (br & pick) | (be & ~pick);
  memcpy(&r, &br, sizeof br);
  return r;
}

static void sw_fwd_run(const float* restrict x, float* restrict y, float a, int64_t len, float fl) {
  for (int64_t i = 0; i < len; i++) y[i] = x[i]*sw_sigmoid(a*x[i], fl);  /* vectorised */
}

static void sw_fwd_across(const float* restrict x, float* restrict y, const float* restrict a, int64_t C, float fl) {
  for (int64_t k = 0; k < C; k++) y[k] = x[k]*sw_sigmoid(a[k]*x[k], fl);  /* vectorised */
}

/* the backward of len elements that share one a; returns their term of dL/da, in LANES running sums */
static float sw_bwd_run(const float* restrict g, const float* restrict x, float* restrict gx, float a, int64_t len,
                        float fl) {
  float s[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= len; i += LANES) {
    for (int j = 0; j < LANES; j++) {  /* vectorised */
      float z = a*x[i + j], sg = sw_sigmoid(z, fl), d = sg - sg*sg;
      gx[i + j] = g[i + j]*(sg + z*d);
      s[j] += g[i + j]*x[i + j]*x[i + j]*d;
    }
  }
  for (; i < len; i++) {
    float z = a*x[i], sg = sw_sigmoid(z, fl), d = sg - sg*sg;
    gx[i] = g[i]*(sg + z*d);
    s[i % LANES] += g[i]*x[i]*x[i]*d;
  }
  float total = 0;
  for (int j = 0; j < LANES; j++) total += s[j];
  return total;
}

static void sw_bwd_across(const float* restrict g, const float* restrict x, float* restrict gx, const float* restrict a,
                          float* restrict sums, int64_t C, float fl) {
  for (int64_t k = 0; k < C; k++) {  /* vectorised */
    float z = a[k]*x[k], sg = sw_sigmoid(z, fl), d = sg - sg*sg;
    gx[k] = g[k]*(sg + z*d);
    sums[k] += g[k]*x[k]*x[k]*d;
  }
}

void ar_swish_fwd_f32(const float* x, float* y, const float* a, int64_t outer, int64_t C, int64_t inner, int nt) {
  int64_t per_row, rows, n;
  float fl = E_FLOOR;
  if (outer*C*inner == 0) return;
  pieces_f32(outer, C, inner, &per_row, &rows, &n);
  #pragma omp parallel for schedule(static) num_threads(nt) if(nt > 1)
  for (int64_t q = 0; q < n; q++) {
    if (inner > 1) {
      int64_t row = q/per_row, lo = (q % per_row)*BLOCK, at = row*inner + lo;
      sw_fwd_run(x + at, y + at, a[row % C], inner - lo < BLOCK ? inner - lo : BLOCK, fl);
    } else {
      for (int64_t o = q*rows; o < outer && o < (q + 1)*rows; o++) sw_fwd_across(x + o*C, y + o*C, a, C, fl);
    }
  }
}

/* sums[C] = dL/da; returns 0, or 1 if the buffer of the pieces' sums could not be allocated */
int ar_swish_bwd_f32(const float* g, const float* x, const float* a, float* gx, float* sums, int64_t outer, int64_t C,
                     int64_t inner, int nt) {
  int64_t per_row, rows, n, width = inner > 1 ? 1 : C;
  float fl = E_FLOOR;
  for (int64_t k = 0; k < C; k++) sums[k] = 0;
  if (outer*C*inner == 0) return 0;
  pieces_f32(outer, C, inner, &per_row, &rows, &n);
  float* part = calloc(n*width + 1, sizeof(float));
  if (!part) return 1;
  #pragma omp parallel for schedule(static) num_threads(nt) if(nt > 1)
  for (int64_t q = 0; q < n; q++) {
    if (inner > 1) {
      int64_t row = q/per_row, lo = (q % per_row)*BLOCK, at = row*inner + lo;
      part[q] = sw_bwd_run(g + at, x + at, gx + at, a[row % C], inner - lo < BLOCK ? inner - lo : BLOCK, fl);
    } else {
      for (int64_t o = q*rows; o < outer && o < (q + 1)*rows; o++)
        sw_bwd_across(g + o*C, x + o*C, gx + o*C, a, part + q*C, C, fl);
    }
  }
  for (int64_t q = 0; q < n; q++) {
    if (inner > 1) sums[(q/per_row) % C] += part[q];
    else for (int64_t k = 0; k < C; k++) sums[k] += part[q*C + k];
  }
  free(part);
  return 0;
}
