/* One precision of the kernels: kernels.c includes this file for float and for double, with T, U (the unsigned integer
   of T's width), BIG and NAME set.

   For an input v and the constants of its channel, p = 1/c and lim = min(BIG, c*2^K) (2^K: the largest power of two
   below BIG/2):
       n = v clamped to [-lim, 0]      -inf, and any v below -lim, give the saturation -c without overflow (p|n| <= 2^K)
       q = 1 + p|n|
       f = n/q for v <= 0, v otherwise (so -0.0 stays -0.0)
   the backward's dL/dv = g*w*w with w = 1/q (1 for v >= 0) and, per channel, S = sum g*u*f (Exponential) or sum g*u*u
   (Rational) with u = p*f, and dL/da = -S or -sign(a)*S. The caller passes e^-a or 1/|a| per channel; p and lim are
   computed here.

   Every value is computed for every element, and the sign of v only selects between values already computed: each loop
   marked "vectorised" compiles to straight-line SIMD code, so its cost does not depend on the signs of the data.
   (A value computed inside one arm of a ?: would be a branch: the compiler may not compute it speculatively.) */

static inline T NAME(denominator)(T v, T p, T lim, T* n) {
  T m = v < -lim ? -lim : v;
  U b;                                    /* m > 0 ? 0 : m, as a bit mask: compilers turn that ?: into a jump where */
  memcpy(&b, &m, sizeof b);               /* the loop runs scalar (a remainder, or fewer channels than a vector has) */
  b &= (U)(m > 0) - 1;                    /* m > 0: every bit cleared (+0); otherwise, NaN too, m as it is */
  memcpy(&m, &b, sizeof b);
  *n = m;
  return 1 + p*-m;
}

/* v > 0 ? v : f, as a bit mask (no jump): -0.0 stays -0.0 (as in torch.relu), NaN stays NaN */
static inline T NAME(select)(T v, T f) {
  U bv, bf, keep = (U)(v > 0) - 1;        /* v > 0: no bit of f kept; otherwise every bit */
  memcpy(&bv, &v, sizeof bv);
  memcpy(&bf, &f, sizeof bf);
  bv = (bv & ~keep) | (bf & keep);
  memcpy(&v, &bv, sizeof bv);
  return v;
}

/* forward over len consecutive elements that share one parameter */
static void NAME(fwd_run)(const T* restrict x, T* restrict y, T p, T lim, int64_t len) {
  for (int64_t i = 0; i < len; i++) {  /* vectorised */
    T n, q = NAME(denominator)(x[i], p, lim, &n), f = n/q;
    y[i] = NAME(select)(x[i], f);
  }
}

/* forward over the C channels of one position, consecutive in memory (e.g. channels-last): a parameter each */
static void NAME(fwd_across)(const T* restrict x, T* restrict y, const T* restrict p, const T* restrict lim, int64_t C) {
  for (int64_t k = 0; k < C; k++) {  /* vectorised */
    T n, q = NAME(denominator)(x[k], p[k], lim[k], &n), f = n/q;
    y[k] = NAME(select)(x[k], f);
  }
}

/* backward over len consecutive elements that share one parameter; returns their sum for dL/da, added in a fixed order
   (LANES running sums, whatever the width of the CPU's vectors) */
static T NAME(bwd_run)(const T* restrict g, const T* restrict x, T* restrict gx, T p, T lim, int rational,
                       int64_t len) {
  T s[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= len; i += LANES) {
    for (int j = 0; j < LANES; j++) {  /* vectorised */
      T n, w = 1/NAME(denominator)(x[i + j], p, lim, &n), f = n*w, u = p*f;
      gx[i + j] = g[i + j]*w*w;
      s[j] += g[i + j]*u*(rational ? u : f);
    }
  }
  for (; i < len; i++) {
    T n, w = 1/NAME(denominator)(x[i], p, lim, &n), f = n*w, u = p*f;
    gx[i] = g[i]*w*w;
    s[i % LANES] += g[i]*u*(rational ? u : f);
  }
  T total = 0;
  for (int j = 0; j < LANES; j++) total += s[j];
  return total;
}

/* backward over the C channels of one position; adds each channel's term for dL/da to sums[k] */
static void NAME(bwd_across)(const T* restrict g, const T* restrict x, T* restrict gx, const T* restrict p,
                             const T* restrict lim, int rational, T* restrict sums, int64_t C) {
  for (int64_t k = 0; k < C; k++) {  /* vectorised */
    T n, w = 1/NAME(denominator)(x[k], p[k], lim[k], &n), f = n*w, u = p[k]*f;
    gx[k] = g[k]*w*w;
    sums[k] += g[k]*u*(rational ? u : f);
  }
}

/* The work: x read as outer x C x inner, one parameter per C. It is cut into pieces that do not depend on the number of
   threads (at most BLOCK elements of one row, or BLOCK/C positions of channels-last data), and the pieces' sums are added
   in their order at the end: the threads change the speed, never the result. */
static void NAME(pieces)(int64_t outer, int64_t C, int64_t inner, int64_t* per_row, int64_t* rows, int64_t* n) {
  *per_row = inner > 1 ? (inner + BLOCK - 1)/BLOCK : 1;
  *rows = inner > 1 ? 1 : (BLOCK/C > 0 ? BLOCK/C : 1);
  *n = inner > 1 ? outer*C*(*per_row) : (outer + *rows - 1)/(*rows);
}

/* p = min(praw, BIG) (Exponential: praw = e^-a, from the caller) or min(1/|a|, BIG) (Rational), and lim = min(BIG, 2^K/p),
   for each of the C channels, into pl[0..C) and pl[C..2C): the values of kernels.inverse_scale and clamp_bound (2^K/p is
   1/p scaled by a power of two, rounded once), computed here so that a call costs the caller at most the exponential.
   Returns the buffer (the caller frees it), or NULL without memory. */
static inline T NAME(below_big)(T v) {   /* v > BIG ? BIG : v, as a bit mask (no jump): NaN stays NaN */
  T big = BIG;
  U bv, bb, keep = (U)(v > BIG) - 1;      /* v > BIG: no bit of v kept */
  memcpy(&bv, &v, sizeof bv);
  memcpy(&bb, &big, sizeof bb);
  bv = (bv & keep) | (bb & ~keep);
  memcpy(&v, &bv, sizeof bv);
  return v;
}

static T* NAME(constants)(const T* praw, const T* a, int rational, int64_t C) {
  T* pl = malloc(2*C*sizeof(T));
  if (!pl) return NULL;
  for (int64_t k = 0; k < C; k++) {
    pl[k] = NAME(below_big)(rational ? 1/ABS(a[k]) : praw[k]);
    pl[C + k] = NAME(below_big)((1/pl[k])*TWOK);
  }
  return pl;
}

/* praw[C]: e^-a before any clamp (Exponential), a[C]: the parameters (Rational). Returns 0, or 1 without memory */
int NAME(ar_fwd)(const T* x, T* y, const T* praw, const T* a, int rational, int64_t outer, int64_t C, int64_t inner,
                 int nt) {
  int64_t per_row, rows, n;
  if (outer*C*inner == 0) return 0;       /* an empty tensor: nothing to read (its data pointer may be null) */
  T* pl = NAME(constants)(praw, a, rational, C);
  if (!pl) return 1;
  const T *p = pl, *lim = pl + C;
  NAME(pieces)(outer, C, inner, &per_row, &rows, &n);
  #pragma omp parallel for schedule(static) num_threads(nt) if(nt > 1)
  for (int64_t q = 0; q < n; q++) {
    if (inner > 1) {
      int64_t row = q/per_row, lo = (q % per_row)*BLOCK, k = row % C, at = row*inner + lo;
      NAME(fwd_run)(x + at, y + at, p[k], lim[k], inner - lo < BLOCK ? inner - lo : BLOCK);
    } else {
      for (int64_t o = q*rows; o < outer && o < (q + 1)*rows; o++) NAME(fwd_across)(x + o*C, y + o*C, p, lim, C);
    }
  }
  free(pl);
  return 0;
}

/* da[C] = dL/da: -S (Exponential) or -sign(a) S (Rational, a[C] its parameters) from the per-channel sums S. Returns 0, or 1
   if the buffers of the constants or the pieces' sums could not be allocated */
int NAME(ar_bwd)(const T* g, const T* x, const T* praw, const T* a, T* gx, T* da, int rational,
                 int64_t outer, int64_t C, int64_t inner, int nt) {
  int64_t per_row, rows, n, width = inner > 1 ? 1 : C;
  for (int64_t k = 0; k < C; k++) da[k] = 0;
  if (outer*C*inner == 0) return 0;
  NAME(pieces)(outer, C, inner, &per_row, &rows, &n);
  T* pl = NAME(constants)(praw, a, rational, C);
  T* part = calloc(n*width + 1, sizeof(T));
  if (!pl || !part) { free(pl); free(part); return 1; }
  const T *p = pl, *lim = pl + C;
  #pragma omp parallel for schedule(static) num_threads(nt) if(nt > 1)
  for (int64_t q = 0; q < n; q++) {
    if (inner > 1) {
      int64_t row = q/per_row, lo = (q % per_row)*BLOCK, k = row % C, at = row*inner + lo;
      part[q] = NAME(bwd_run)(g + at, x + at, gx + at, p[k], lim[k], rational, inner - lo < BLOCK ? inner - lo : BLOCK);
    } else {
      for (int64_t o = q*rows; o < outer && o < (q + 1)*rows; o++)
        NAME(bwd_across)(g + o*C, x + o*C, gx + o*C, p, lim, rational, part + q*C, C);
    }
  }
  for (int64_t q = 0; q < n; q++) {
    if (inner > 1) da[(q/per_row) % C] += part[q];
    else for (int64_t k = 0; k < C; k++) da[k] += part[q*C + k];
  }
  for (int64_t k = 0; k < C; k++) {
    int sign = rational ? (a[k] > 0) - (a[k] < 0) : 1;    /* an int difference: no jump on a float compare */
    da[k] = -(T)sign*da[k];
  }
  free(pl);
  free(part);
  return 0;
}
