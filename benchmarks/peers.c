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
