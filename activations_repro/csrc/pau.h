/* One precision of the Padé activation unit (PAU, Molina et al. 2020), in its "safe" form A (the authors' default):
       y = P(x)/Q(x),   P(x) = a_0 + a_1 x + ... + a_m x^m,   Q(x) = 1 + |b_1| |x| + ... + |b_n| |x|^n   (Q >= 1)
   with one set of coefficients per layer. kernels.c includes this file for float and for double, with T, BIG and NAME set.
   The caller passes bn[k-1] = |b_k|. The backward, with g = dL/dy, w = 1/Q and s = sign(x):
       dL/dx = g w (P'(x) - y s Q'(|x|)),   dL/da_j = sum g w x^j,   dL/db_k = -sign(b_k) sum g w y |x|^k
   (the caller applies -sign(b_k)). P, P', Q and Q' by Horner's rule.

   Elements are taken CHUNK at a time, and every polynomial step is a loop over the chunk: the loops marked "vectorised" are
   straight-line SIMD code whatever the degrees. The coefficients' sums are kept in LANES running sums per coefficient and
   added in a fixed order, over pieces of BLOCK elements that do not depend on the number of threads: with no fused
   multiply-add (-ffp-contract=off) the results are the same to the bit on any CPU and for any thread count. */

/* adds v[0..len) into the LANES running sums s, lane i % LANES */
static inline void NAME(pau_lanes)(const T* restrict v, int64_t len, T* restrict s) {
  int64_t i = 0;
  for (; i + LANES <= len; i += LANES)  /* vectorised */
    for (int l = 0; l < LANES; l++) s[l] += v[i + l];
  for (; i < len; i++) s[i % LANES] += v[i];
}

/* one step of Horner's rule over the chunk: p = p*x + c */
static inline void NAME(pau_step)(T* restrict p, const T* restrict x, T c, int64_t len) {
  for (int64_t i = 0; i < len; i++) p[i] = p[i]*x[i] + c;  /* vectorised */
}

/* y = P/Q over len (<= CHUNK) elements */
static void NAME(pau_fwd_chunk)(const T* restrict x, T* restrict y, const T* restrict a, int m, const T* restrict bn, int n,
                                int64_t len) {
  T p[CHUNK], q[CHUNK], ax[CHUNK];
  for (int64_t i = 0; i < len; i++) {  /* vectorised */
    p[i] = a[m];
    q[i] = bn[n - 1];
    ax[i] = ABS(x[i]);
  }
  for (int j = m - 1; j >= 0; j--) NAME(pau_step)(p, x, a[j], len);
  for (int k = n - 2; k >= 0; k--) NAME(pau_step)(q, ax, bn[k], len);
  for (int64_t i = 0; i < len; i++) y[i] = p[i]/(q[i]*ax[i] + 1);  /* vectorised */
}

/* the backward over len (<= CHUNK) elements; the coefficients' terms into the running sums sa[(m+1)*LANES], sb[n*LANES] */
static void NAME(pau_bwd_chunk)(const T* restrict g, const T* restrict x, T* restrict gx, const T* restrict a, int m,
                                const T* restrict bn, int n, int64_t len, T* restrict sa, T* restrict sb) {
  T p[CHUNK], dp[CHUNK], q[CHUNK], dq[CHUNK], ax[CHUNK], r[CHUNK], t[CHUNK];
  for (int64_t i = 0; i < len; i++) {  /* vectorised */
    p[i] = a[m];
    dp[i] = m*a[m];
    q[i] = bn[n - 1];
    dq[i] = n*bn[n - 1];
    ax[i] = ABS(x[i]);
  }
  for (int j = m - 1; j >= 0; j--) NAME(pau_step)(p, x, a[j], len);
  for (int j = m - 1; j >= 1; j--) NAME(pau_step)(dp, x, j*a[j], len);
  for (int k = n - 2; k >= 0; k--) NAME(pau_step)(q, ax, bn[k], len);
  for (int k = n - 1; k >= 1; k--) NAME(pau_step)(dq, ax, k*bn[k - 1], len);
  for (int64_t i = 0; i < len; i++) {  /* vectorised */
    T w = 1/(q[i]*ax[i] + 1), y = p[i]*w, s = (T)(x[i] > 0) - (T)(x[i] < 0);
    gx[i] = g[i]*w*(dp[i] - y*s*dq[i]);
    r[i] = g[i]*w;                      /* dL/da_j's term: r x^j */
    t[i] = r[i]*y;                      /* dL/db_k's term (before -sign(b_k)): t |x|^k */
  }
  NAME(pau_lanes)(r, len, sa);
  for (int j = 1; j <= m; j++) {
    for (int64_t i = 0; i < len; i++) r[i] *= x[i];  /* vectorised */
    NAME(pau_lanes)(r, len, sa + j*LANES);
  }
  for (int k = 1; k <= n; k++) {
    for (int64_t i = 0; i < len; i++) t[i] *= ax[i];  /* vectorised */
    NAME(pau_lanes)(t, len, sb + (k - 1)*LANES);
  }
}

void NAME(ar_pau_fwd)(const T* x, T* y, const T* a, int m, const T* bn, int n, int64_t len, int nt) {
  int64_t pieces = (len + BLOCK - 1)/BLOCK;
  #pragma omp parallel for schedule(static) num_threads(nt) if(nt > 1)
  for (int64_t q = 0; q < pieces; q++)
    for (int64_t i = q*BLOCK; i < len && i < (q + 1)*BLOCK; i += CHUNK)
      NAME(pau_fwd_chunk)(x + i, y + i, a, m, bn, n, len - i < CHUNK ? len - i : CHUNK);
}

/* ga[m+1] = dL/da, gb[n] = sum g w y |x|^k (dL/db_k = -sign(b_k) gb[k-1]); returns 0, or 1 if no memory for the sums */
int NAME(ar_pau_bwd)(const T* g, const T* x, T* gx, const T* a, int m, const T* bn, int n, T* ga, T* gb, int64_t len,
                     int nt) {
  int64_t pieces = (len + BLOCK - 1)/BLOCK, width = (int64_t)(m + 1 + n)*LANES;
  for (int j = 0; j <= m; j++) ga[j] = 0;
  for (int k = 0; k < n; k++) gb[k] = 0;
  if (len == 0) return 0;
  T* part = calloc(pieces*width, sizeof(T));
  if (!part) return 1;
  #pragma omp parallel for schedule(static) num_threads(nt) if(nt > 1)
  for (int64_t q = 0; q < pieces; q++)
    for (int64_t i = q*BLOCK; i < len && i < (q + 1)*BLOCK; i += CHUNK)
      NAME(pau_bwd_chunk)(g + i, x + i, gx + i, a, m, bn, n, len - i < CHUNK ? len - i : CHUNK, part + q*width,
                          part + q*width + (m + 1)*LANES);
  for (int64_t q = 0; q < pieces; q++)
    for (int c = 0; c <= m + n; c++) {
      T s = 0;
      for (int l = 0; l < LANES; l++) s += part[q*width + c*LANES + l];
      if (c <= m) ga[c] += s; else gb[c - m - 1] += s;
    }
  free(part);
  return 0;
}
