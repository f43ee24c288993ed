/* C peers of benchmarks/kernels/*.dx, built by benchmarks/kernels.py with
   gcc -O3 -march=native -fopenmp -shared -fPIC (strict FP: no -ffast-math).

   Every kernel has the signature  void k_NAME(const long *d, void *const *in, void *out):
   d holds the sizes named in kernels.py, in the inputs in order, out is preallocated.
   `#pragma omp parallel for` marks the loops a Dex `for` runs in parallel;
   reductions (`sum`, `fold`, state) stay sequential, in Dex's order.
   Dex's Float `/` is `divide(1.0, s) .* v`, so `v / s` is written `(1.0f / s) * v`. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <omp.h>

#define IN(T, k) ((const T *)in[k])

void set_threads(int n) { omp_set_num_threads(n); }

static inline float maxf(float a, float b) { return a > b ? a : b; }   /* Dex `max`/`max_by` */

/* --- map.dx --- */
void k_saxpy_f32(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0), *y = IN(float, 1); float *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) o[i] = 2.5f * x[i] + y[i];
}

void k_daxpy_f64(const long *d, void *const *in, void *out) {
  const double *x = IN(double, 0), *y = IN(double, 1); double *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) o[i] = 2.5 * x[i] + y[i];
}

void k_transc_f32(const long *d, void *const *in, void *out) {
  const float *u = IN(float, 0); float *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) o[i] = expf(sinf(u[i])) + logf(1.5f + cosf(u[i]));
}

void k_transc_f64(const long *d, void *const *in, void *out) {
  const double *u = IN(double, 0); double *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) o[i] = exp(sin(u[i])) + log(1.5 + cos(u[i]));
}

/* --- reduce.dx --- */
void k_sum_f32(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0); float s = 0.0f;
  for (long i = 0; i < d[0]; i++) s += x[i];
  *(float *)out = s;
}

void k_dot_f32(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0), *y = IN(float, 1); float s = 0.0f;
  for (long i = 0; i < d[0]; i++) s += x[i] * y[i];
  *(float *)out = s;
}

void k_max_f32(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0); float m = x[0];
  for (long i = 0; i < d[0]; i++) m = maxf(m, x[i]);
  *(float *)out = m;
}

void k_argmax_f32(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0); uint32_t best = 0; float bv = x[0];
  for (long i = 0; i < d[0]; i++)
    if (!(bv > x[i])) { best = (uint32_t)i; bv = x[i]; }   /* ties: the later wins */
  *(uint32_t *)out = best;
}

void k_meanvar_f32(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0); long n = d[0]; float s = 0.0f, v = 0.0f;
  for (long i = 0; i < n; i++) s += x[i];
  float mu = (1.0f / (float)n) * s;
  for (long i = 0; i < n; i++) v += (x[i] - mu) * (x[i] - mu);
  ((float *)out)[0] = mu;
  ((float *)out)[1] = (1.0f / (float)n) * v;
}

/* --- rowscols.dx --- */
void k_rowsum(const long *d, void *const *in, void *out) {
  const float *a = IN(float, 0); float *o = out; long rows = d[0], cols = d[1];
  #pragma omp parallel for
  for (long i = 0; i < rows; i++) {
    float s = 0.0f;
    for (long j = 0; j < cols; j++) s += a[i * cols + j];
    o[i] = s;
  }
}

void k_colsum(const long *d, void *const *in, void *out) {   /* rows outer: contiguous */
  const float *a = IN(float, 0); float *o = out; long rows = d[0], cols = d[1];
  #pragma omp parallel for
  for (long jb = 0; jb < cols; jb += 256) {
    long je = jb + 256 < cols ? jb + 256 : cols;
    for (long j = jb; j < je; j++) o[j] = 0.0f;
    for (long i = 0; i < rows; i++)
      for (long j = jb; j < je; j++) o[j] += a[i * cols + j];
  }
}

void k_rowmax(const long *d, void *const *in, void *out) {
  const float *a = IN(float, 0); float *o = out; long rows = d[0], cols = d[1];
  #pragma omp parallel for
  for (long i = 0; i < rows; i++) {
    float m = a[i * cols];
    for (long j = 0; j < cols; j++) m = maxf(m, a[i * cols + j]);
    o[i] = m;
  }
}

/* --- linalg.dx --- */
void k_matvec(const long *d, void *const *in, void *out) {
  const float *a = IN(float, 0), *v = IN(float, 1); float *o = out; long m = d[0], k = d[1];
  #pragma omp parallel for
  for (long i = 0; i < m; i++) {
    float s = 0.0f;
    for (long j = 0; j < k; j++) s += a[i * k + j] * v[j];
    o[i] = s;
  }
}

void k_matmul(const long *d, void *const *in, void *out) {   /* ikj */
  const float *a = IN(float, 0), *b = IN(float, 1); float *c = out; long n = d[0];
  #pragma omp parallel for
  for (long i = 0; i < n; i++) {
    float *ci = c + i * n;
    for (long j = 0; j < n; j++) ci[j] = 0.0f;
    for (long l = 0; l < n; l++) {
      float ail = a[i * n + l];
      const float *bl = b + l * n;
      for (long j = 0; j < n; j++) ci[j] += ail * bl[j];
    }
  }
}

/* --- transpose.dx --- */
void k_transpose(const long *d, void *const *in, void *out) {   /* out: cols x rows */
  const float *a = IN(float, 0); float *o = out; long rows = d[0], cols = d[1];
  #pragma omp parallel for
  for (long j = 0; j < cols; j++)
    for (long i = 0; i < rows; i++) o[j * rows + i] = a[i * cols + j];
}

void k_scale2d(const long *d, void *const *in, void *out) {
  const float *a = IN(float, 0); float *o = out; long rows = d[0], cols = d[1];
  #pragma omp parallel for
  for (long i = 0; i < rows; i++)
    for (long j = 0; j < cols; j++) o[i * cols + j] = 2.0f * a[i * cols + j];
}

/* --- stencil.dx --- */
void k_stencil1d(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0); float *o = out; long n = d[0];
  #pragma omp parallel for
  for (long i = 0; i < n; i++) {
    long l = i > 0 ? i - 1 : 0, r = i + 1 < n ? i + 1 : n - 1;
    o[i] = 0.25f * x[l] + 0.5f * x[i] + 0.25f * x[r];
  }
}

void k_stencil2d(const long *d, void *const *in, void *out) {
  const float *t = IN(float, 0); float *o = out; long g = d[0];
  #pragma omp parallel for
  for (long i = 0; i < g; i++) {
    long up = i > 0 ? i - 1 : 0, dn = i + 1 < g ? i + 1 : g - 1;
    for (long j = 0; j < g; j++) {
      long l = j > 0 ? j - 1 : 0, r = j + 1 < g ? j + 1 : g - 1;
      o[i * g + j] = 0.2f * (t[i * g + j] + t[up * g + j] + t[dn * g + j] + t[i * g + l] + t[i * g + r]);
    }
  }
}

/* --- scan.dx --- */
void k_cumsum(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0); float *o = out; float s = 0.0f;
  for (long i = 0; i < d[0]; i++) { s += x[i]; o[i] = s; }
}

void k_runmax(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0); float *o = out; float m = -1.0f;
  for (long i = 0; i < d[0]; i++) { m = maxf(m, x[i]); o[i] = m; }
}

/* --- histogram.dx: private bins per thread --- */
void k_histogram(const long *d, void *const *in, void *out) {
  const float *x = IN(float, 0); int32_t *bins = out;
  memset(bins, 0, 256 * sizeof(int32_t));
  #pragma omp parallel
  {
    int32_t local[256] = {0};
    #pragma omp for nowait
    for (long i = 0; i < d[0]; i++) local[(uint32_t)(x[i] * 256.0f)]++;
    #pragma omp critical
    for (int k = 0; k < 256; k++) bins[k] += local[k];
  }
}

/* --- softmax.dx --- */
void k_softmax(const long *d, void *const *in, void *out) {
  const float *a = IN(float, 0); float *o = out; long rows = d[0], cols = d[1];
  #pragma omp parallel for
  for (long i = 0; i < rows; i++) {
    const float *x = a + i * cols; float *y = o + i * cols;
    float top = x[0], total = 0.0f;
    for (long j = 0; j < cols; j++) top = maxf(top, x[j]);
    for (long j = 0; j < cols; j++) { y[j] = expf(x[j] - top); total += y[j]; }
    float inv = 1.0f / total;
    for (long j = 0; j < cols; j++) y[j] = inv * y[j];
  }
}

/* --- nbody.dx --- */
void k_nbody(const long *d, void *const *in, void *out) {
  const float *pos = IN(float, 0), *mass = IN(float, 1); float *acc = out; long n = d[0];
  #pragma omp parallel for
  for (long i = 0; i < n; i++) {
    float ax = 0.0f, ay = 0.0f, az = 0.0f;
    for (long j = 0; j < n; j++) {
      float dx = pos[3 * j] - pos[3 * i], dy = pos[3 * j + 1] - pos[3 * i + 1],
            dz = pos[3 * j + 2] - pos[3 * i + 2];
      float r2 = dx * dx + dy * dy + dz * dz + 0.01f;
      float s = mass[j] * (1.0f / (r2 * sqrtf(r2)));
      ax += s * dx; ay += s * dy; az += s * dz;
    }
    acc[3 * i] = ax; acc[3 * i + 1] = ay; acc[3 * i + 2] = az;
  }
}

/* --- while.dx --- */
void k_collatz(const long *d, void *const *in, void *out) {
  int32_t *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) {
    int32_t v = (int32_t)(i + 1), steps = 0;
    while (v != 1) { v = v % 2 == 0 ? v / 2 : 3 * v + 1; steps++; }
    o[i] = steps;
  }
}

void k_newton(const long *d, void *const *in, void *out) {
  const float *z = IN(float, 0); float *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) {
    float r = z[i], next; int done;
    do {
      next = 0.5f * (r + (1.0f / r) * z[i]);
      done = fabsf(next - r) <= 0.0001f * next;
      r = next;
    } while (!done);
    o[i] = r;
  }
}

/* --- integer.dx --- */
void k_int_mod(const long *d, void *const *in, void *out) {   /* Dex `mod`: rem(rem(x, y) + y, y) */
  const int32_t *a = IN(int32_t, 0), *b = IN(int32_t, 1); int32_t *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) {
    int32_t v = a[i] * 31 + b[i] * b[i];
    o[i] = (v % 9973 + 9973) % 9973;
  }
}

void k_int_divmod(const long *d, void *const *in, void *out) {
  const int32_t *a = IN(int32_t, 0), *b = IN(int32_t, 1); int32_t *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) {
    int32_t y = b[i] + 13;
    o[i] = a[i] / (b[i] + 1) + ((a[i] * 7) % y + y) % y;
  }
}

void k_gather(const long *d, void *const *in, void *out) {
  const uint32_t *perm = IN(uint32_t, 0); const float *x = IN(float, 1); float *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) o[i] = x[perm[i]];
}

/* --- poly.dx --- */
void k_evalpoly(const long *d, void *const *in, void *out) {   /* acc = c[k] + x * acc */
  const float *x = IN(float, 0), *c = IN(float, 1); float *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) {
    float acc = 0.0f;
    for (int k = 0; k < 16; k++) acc = c[k] + x[i] * acc;
    o[i] = acc;
  }
}

void k_horner(const long *d, void *const *in, void *out) {   /* acc = acc * x + c[k] */
  const float *x = IN(float, 0), *c = IN(float, 1); float *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) {
    float acc = 0.0f;
    for (int k = 0; k < 16; k++) acc = acc * x[i] + c[k];
    o[i] = acc;
  }
}

/* --- threads.dx: the compute-bound map --- */
void k_compute_map(const long *d, void *const *in, void *out) {
  float *o = out;
  #pragma omp parallel for
  for (long i = 0; i < d[0]; i++) {
    float v = (1.0f / 1000000.0f) * (float)i;
    for (int k = 0; k < 50; k++) v = (1.0f / (1.0f + v * v)) * (v * v + 0.5f) - 0.25f * v;
    o[i] = v;
  }
}
