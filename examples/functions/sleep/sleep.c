/* sleep: wait argv[1] milliseconds (default 1000), then print "slept".
 *
 * Natively this uses nanosleep(). Under WASI, nanosleep() goes through
 * poll_oneoff, which some runtimes (e.g. @wasmer/wasi 1.x in Node) do not
 * implement (the call traps with "unreachable"), so the WASI build busy-waits
 * on CLOCK_MONOTONIC instead: it really takes that long, burning CPU. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long ms = 1000;
    if (argc > 1) {
        char *end;
        ms = strtol(argv[1], &end, 10);
        if (*end || ms < 0) {
            fprintf(stderr, "sleep: bad milliseconds '%s'\n", argv[1]);
            return 2;
        }
    }
#ifdef __wasi__
    const long long deadline = now_ns() + (long long)ms * 1000000LL;
    volatile unsigned long spins = 0;
    while (now_ns() < deadline) spins++;
#else
    const long long deadline = now_ns() + (long long)ms * 1000000LL;
    for (;;) {
        long long left = deadline - now_ns();
        if (left <= 0) break;
        struct timespec req = {(time_t)(left / 1000000000LL), (long)(left % 1000000000LL)};
        if (nanosleep(&req, NULL) != 0 && errno != EINTR) break;
    }
#endif
    printf("slept\n");
    return 0;
}
