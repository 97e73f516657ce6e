/* wordcount: print "lines words bytes" of stdin, like wc in the C locale.
 * A word is a run of bytes between white space that holds at least one
 * printable character (GNU wc: non-printable bytes neither start nor end a
 * word), so binary input counts the same as `LC_ALL=C wc`. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int main(void) {
    static unsigned char buf[65536];
    size_t lines = 0, words = 0, bytes = 0;
    int in_word = 0;
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("wordcount: read");
            return 1;
        }
        if (n == 0) break;
        bytes += (size_t)n;
        for (ssize_t i = 0; i < n; i++) {
            unsigned char c = buf[i];
            if (c == '\n') lines++;
            if (is_space(c)) {
                in_word = 0;
            } else if (!in_word && c > ' ' && c < 0x7f) {
                in_word = 1;
                words++;
            }
        }
    }
    printf("%zu %zu %zu\n", lines, words, bytes);
    return 0;
}
