/* primes: print the number of primes <= N (argv[1], else stdin text, else 10000). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_n(const char *s, unsigned long *out) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    if (*s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno) return -1;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    unsigned long n = 10000;
    if (argc > 1) {
        if (parse_n(argv[1], &n) < 0) {
            fprintf(stderr, "primes: bad N '%s'\n", argv[1]);
            return 2;
        }
    } else {
        char buf[64];
        size_t len = 0;
        for (;;) {
            ssize_t r = read(0, buf + len, sizeof buf - 1 - len);
            if (r < 0) {
                if (errno == EINTR) continue;
                break;
            }
            if (r == 0) break;
            len += (size_t)r;
            if (len >= sizeof buf - 1) break;
        }
        buf[len] = 0;
        size_t i = 0;
        while (i < len && strchr(" \t\r\n", buf[i])) i++;
        if (i < len && parse_n(buf + i, &n) < 0) {
            fprintf(stderr, "primes: bad N on stdin\n");
            return 2;
        }
    }
    if (n > 2000000000UL) {
        fprintf(stderr, "primes: N too large (max 2000000000)\n");
        return 2;
    }
    unsigned long count = 0;
    if (n >= 2) {
        /* Sieve of Eratosthenes over all numbers 0..n. */
        unsigned char *composite = calloc(n + 1, 1);
        if (!composite) {
            fprintf(stderr, "primes: out of memory\n");
            return 1;
        }
        for (unsigned long i = 2; i * i <= n; i++)
            if (!composite[i])
                for (unsigned long j = i * i; j <= n; j += i) composite[j] = 1;
        for (unsigned long i = 2; i <= n; i++) count += !composite[i];
        free(composite);
    }
    printf("%lu\n", count);
    return 0;
}
