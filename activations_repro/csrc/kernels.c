/* The CPU kernels of activations_repro: the learnable activations (chapter 02, scaled_negative.h): f(v) = v/(1 + p|v|)
   for v < 0 and v otherwise, its gradient, and the per-channel sums for dL/da, for float and double tensors; and the kernel
   output's Gaussian Nadaraya-Watson estimate with its gradient (chapter 03, nadaraya_watson.h), for float tensors; and the
   Padé activation unit (pau.h), for float and double tensors, and the learnable Swish (swish.h), for float tensors: the
   peers of chapter 02.
   activations_repro.kernels builds this file with KERNEL_FLAGS, among them -ffp-contract=off: no fused multiply-add,
   so that every CPU rounds every operation the same way and the results are the same to the bit on any of them. */
#include <stdint.h>
#include <stdlib.h>
#include <float.h>
#include <math.h>
#include <string.h>

#define LANES 16       /* running sums of a reduction: a fixed order of additions, whatever the vector width */
#define BLOCK 16384    /* elements in a piece of work */
#define CHUNK 256      /* elements a polynomial's steps go over at once (pau.h) */

#define T float
#define U uint32_t
#define BIG FLT_MAX
#define TWOK 0x1p126f   /* 2^K: the largest power of two below BIG/2 */
#define NAME(f) f##_f32
#define ABS fabsf
#include "scaled_negative.h"
#include "pau.h"
#undef T
#undef U
#undef BIG
#undef TWOK
#undef NAME
#undef ABS

#define T double
#define U uint64_t
#define BIG DBL_MAX
#define TWOK 0x1p1022
#define NAME(f) f##_f64
#define ABS fabs
#include "scaled_negative.h"
#include "pau.h"

#include "nadaraya_watson.h"
#include "swish.h"
