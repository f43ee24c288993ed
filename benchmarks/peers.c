/* C peers for benchmarks/run.py: gcc -O3 -march=native -fopenmp -shared -fPIC */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <omp.h>

void set_threads(int n) { omp_set_num_threads(n); }

/* B1: C ikj matmul */
void matmul_ikj(const float *a, const float *b, float *c, long n) {
  #pragma omp parallel for
  for (long i = 0; i < n; i++) {
    float *ci = c + i * n;
    for (long j = 0; j < n; j++) ci[j] = 0.0f;
    for (long k = 0; k < n; k++) {
      float aik = a[i * n + k];
      const float *bk = b + k * n;
      for (long j = 0; j < n; j++) ci[j] += aik * bk[j];
    }
  }
}

/* B2: Mandelbrot, same fixed-iteration formulation as b2_mandelbrot.dx */
void mandel(double *out, long npix) {
  #pragma omp parallel for schedule(dynamic)
  for (long i = 0; i < npix; i++)
    for (long j = 0; j < npix; j++) {
      double cr = -2.0 + 2.5 * (double)j / (double)npix, ci = -1.25 + 2.5 * (double)i / (double)npix;
      double zr = 0, zi = 0, c = 0;
      for (int k = 0; k < 256; k++) {
        double zr2 = zr * zr, zi2 = zi * zi;
        c += (zr2 + zi2 <= 4.0) ? 1.0 : 0.0;
        double nzr = zr2 - zi2 + cr;
        zi = 2.0 * zr * zi + ci;
        zr = nzr;
      }
      out[i * npix + j] = c;
    }
}

/* B3: fused sum(exp(-x*x)*y), strict (no reassociation) per thread */
float fused(const float *x, const float *y, long n) {
  float total = 0.0f;
  #pragma omp parallel for reduction(+:total)
  for (long i = 0; i < n; i++) total += expf(-x[i] * x[i]) * y[i];
  return total;
}

/* B8: histogram with private bins */
void histogram(const int64_t *xs, long n, int64_t *bins) {
  memset(bins, 0, 256 * sizeof(int64_t));
  #pragma omp parallel
  {
    int64_t local[256] = {0};
    #pragma omp for nowait
    for (long i = 0; i < n; i++) local[xs[i] & 255]++;
    #pragma omp critical
    for (int k = 0; k < 256; k++) bins[k] += local[k];
  }
}

/* B10: a small sum */
float small_sum(const float *x, long n) {
  float s = 0.0f;
  for (long i = 0; i < n; i++) s += x[i];
  return s;
}

/* B10: the kernel alone, `reps` times in C (its time without any call overhead);
   the asm barrier makes every repetition read x again. */
float small_sum_reps(const float *x, long n, long reps) {
  float s = 0.0f;
  for (long r = 0; r < reps; r++) {
    __asm__ volatile("" : : "r"(x) : "memory");
    s += small_sum(x, n);
  }
  return s;
}

/* B4: hotspot stencil, clamped borders, same formula as b4_hotspot.dx */
void hotspot(const float *t0, const float *p, float *out, float *tmp, long n, long steps) {
  memcpy(out, t0, sizeof(float) * n * n);
  float *a = out, *b = tmp;
  for (long s = 0; s < steps; s++) {
    #pragma omp parallel for
    for (long i = 0; i < n; i++) {
      long up = i > 0 ? i - 1 : 0, dn = i + 1 < n ? i + 1 : n - 1;
      for (long j = 0; j < n; j++) {
        long l = j > 0 ? j - 1 : 0, r = j + 1 < n ? j + 1 : n - 1;
        float c = a[i * n + j];
        b[i * n + j] = c + 0.5f * (p[i * n + j] + (a[dn * n + j] + a[up * n + j] - 2.0f * c) * 0.1f
                        + (a[i * n + r] + a[i * n + l] - 2.0f * c) * 0.1f + (80.0f - c) * 0.0001f);
      }
    }
    float *t = a; a = b; b = t;
  }
  if (a != out) memcpy(out, a, sizeof(float) * n * n);
}

/* B5: k-means, private per-thread sums */
void kmeans(const float *x, const float *c0, float *c, long n, long d, long k, long iters) {
  memcpy(c, c0, sizeof(float) * k * d);
  int *assign = malloc(sizeof(int) * n);
  float *sums = malloc(sizeof(float) * k * d), *counts = malloc(sizeof(float) * k);
  for (long it = 0; it < iters; it++) {
    #pragma omp parallel for
    for (long p = 0; p < n; p++) {
      float best = INFINITY; int bj = 0;
      for (long j = 0; j < k; j++) {
        float s = 0.0f;
        for (long q = 0; q < d; q++) { float t = x[p * d + q] - c[j * d + q]; s += t * t; }
        if (s < best) { best = s; bj = (int)j; }
      }
      assign[p] = bj;
    }
    memset(sums, 0, sizeof(float) * k * d); memset(counts, 0, sizeof(float) * k);
    #pragma omp parallel
    {
      float *ls = calloc(k * d, sizeof(float)), *lc = calloc(k, sizeof(float));
      #pragma omp for nowait
      for (long p = 0; p < n; p++) {
        int j = assign[p]; lc[j] += 1.0f;
        for (long q = 0; q < d; q++) ls[j * d + q] += x[p * d + q];
      }
      #pragma omp critical
      { for (long t = 0; t < k * d; t++) sums[t] += ls[t]; for (long t = 0; t < k; t++) counts[t] += lc[t]; }
      free(ls); free(lc);
    }
    for (long j = 0; j < k; j++)
      for (long q = 0; q < d; q++) c[j * d + q] = sums[j * d + q] / (counts[j] > 1.0f ? counts[j] : 1.0f);
  }
  free(assign); free(sums); free(counts);
}

/* B7: RK4 on Lorenz-63, one system per iteration */
static inline void lorenz(double x, double y, double z, double *dx, double *dy, double *dz) {
  const double sigma = 10.0, rho = 28.0, beta = 8.0 / 3.0;
  *dx = sigma * (y - x); *dy = x * (rho - z) - y; *dz = x * y - beta * z;
}
void rk4(const double *x0, double *out, long m, long steps) {
  const double dt = 1.0 / 100.0, sixth = 1.0 / 6.0;
  #pragma omp parallel for
  for (long p = 0; p < m; p++) {
    double x = x0[p], y = 1.0, z = (double)1.05f;
    for (long t = 0; t < steps; t++) {
      double ax, ay, az, bx, by, bz, cx, cy, cz, ex, ey, ez;
      lorenz(x, y, z, &ax, &ay, &az);
      lorenz(x + 0.5 * dt * ax, y + 0.5 * dt * ay, z + 0.5 * dt * az, &bx, &by, &bz);
      lorenz(x + 0.5 * dt * bx, y + 0.5 * dt * by, z + 0.5 * dt * bz, &cx, &cy, &cz);
      lorenz(x + dt * cx, y + dt * cy, z + dt * cz, &ex, &ey, &ez);
      x += dt * sixth * (ax + 2.0 * bx + 2.0 * cx + ex);
      y += dt * sixth * (ay + 2.0 * by + 2.0 * cy + ey);
      z += dt * sixth * (az + 2.0 * bz + 2.0 * cz + ez);
    }
    out[p] = x + y + z;
  }
}

/* B9: pathfinder, rows in sequence, columns in parallel */
void pathfinder(const int32_t *w, int32_t *out, int32_t *tmp, long rows, long cols) {
  memcpy(out, w, sizeof(int32_t) * cols);
  int32_t *a = out, *b = tmp;
  for (long r = 1; r < rows; r++) {
    #pragma omp parallel for
    for (long c = 0; c < cols; c++) {
      int32_t m = a[c];
      if (c > 0 && a[c - 1] < m) m = a[c - 1];
      if (c + 1 < cols && a[c + 1] < m) m = a[c + 1];
      b[c] = w[r * cols + c] + m;
    }
    int32_t *t = a; a = b; b = t;
  }
  if (a != out) memcpy(out, a, sizeof(int32_t) * cols);
}
