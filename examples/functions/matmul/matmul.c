/* matmul: multiply two deterministic N x N float matrices (argv[1], default 128)
 * and print the sum of the result. i-k-j loop order with restrict pointers so the
 * inner loop auto-vectorises.
 *
 * The entries are small multiples of 1/4, so every product and partial sum is
 * exact in float (and the final sum exact in double) for N <= 8192: the
 * checksum is the same whatever the summation order, vector width or FMA
 * contraction, i.e. identical for the WASM and the native AVX2 build. */
#include <stdio.h>
#include <stdlib.h>

static void matmul(size_t n, const float *restrict a, const float *restrict b, float *restrict c) {
    for (size_t i = 0; i < n * n; i++) c[i] = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float *restrict ci = c + i * n;
        for (size_t k = 0; k < n; k++) {
            const float aik = a[i * n + k];
            const float *restrict bk = b + k * n;
            for (size_t j = 0; j < n; j++) ci[j] += aik * bk[j];
        }
    }
}

int main(int argc, char **argv) {
    long n = 128;
    if (argc > 1) {
        char *end;
        n = strtol(argv[1], &end, 10);
        if (*end || n <= 0 || n > 8192) {
            fprintf(stderr, "matmul: bad N '%s' (1..8192)\n", argv[1]);
            return 2;
        }
    }
    size_t sz = (size_t)n;
    float *a = malloc(sz * sz * sizeof(float));
    float *b = malloc(sz * sz * sizeof(float));
    float *c = malloc(sz * sz * sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "matmul: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < sz; i++)
        for (size_t j = 0; j < sz; j++) {
            a[i * sz + j] = (float)((i * j) % 7) * 0.25f;
            b[i * sz + j] = (float)((i + 2 * j) % 5) * 0.25f;
        }
    matmul(sz, a, b, c);
    double sum = 0.0;
    for (size_t i = 0; i < sz * sz; i++) sum += c[i];
    printf("%.3f\n", sum);
    free(a);
    free(b);
    free(c);
    return 0;
}
