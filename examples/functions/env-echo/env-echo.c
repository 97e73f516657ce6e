/* env-echo: test helper. Prints argv[1..] one per line, "--", the sorted
 * HAYATE_TEST_* environment variables, then echoes stdin; writes "stderr-line"
 * to stderr and exits with $EXIT_CODE (default 0). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) printf("%s\n", argv[i]);
    printf("--\n");

    size_t count = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "HAYATE_TEST_", 12) == 0) count++;
    char **vars = malloc((count ? count : 1) * sizeof(char *));
    if (!vars) return 1;
    size_t k = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "HAYATE_TEST_", 12) == 0) vars[k++] = *e;
    qsort(vars, count, sizeof(char *), cmp_str);
    for (size_t i = 0; i < count; i++) printf("%s\n", vars[i]);
    free(vars);
    fflush(stdout);

    static char buf[65536];
    for (;;) {
        size_t n = fread(buf, 1, sizeof buf, stdin);
        if (n > 0 && fwrite(buf, 1, n, stdout) != n) return 1;
        if (n < sizeof buf) break;
    }
    fflush(stdout);

    fputs("stderr-line\n", stderr);
    fflush(stderr);

    const char *code = getenv("EXIT_CODE");
    return code ? atoi(code) : 0;
}
