/* upper: copy stdin to stdout with ASCII letters upper-cased, in chunks. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(void) {
    static char buf[65536];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("upper: read");
            return 1;
        }
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c >= 'a' && c <= 'z') buf[i] = (char)(c - 'a' + 'A');
        }
        if (write_all(1, buf, (size_t)n) < 0) {
            perror("upper: write");
            return 1;
        }
    }
    return 0;
}
