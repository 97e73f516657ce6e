/* temp-alert: the sensor example of docs/triggers.md, run by a subject trigger on sensors.*.temp.
 *
 * stdin: one temperature reading, a decimal number ("21.5").
 * The sensor id is the second token of HAYATE_SUBJECT (sensors.<id>.temp), the unit the message's "Unit"
 * header (HAYATE_HEADER_UNIT, default C). The threshold is argv[1], else $THRESHOLD, else 30.
 * stderr: one line per reading ("sensor 7: 31.5 C (threshold 30)"), seen by `hayate logs -f`.
 * stdout: when the reading is over the threshold, an alert as one JSON line, which a trigger with
 * --result-subject publishes; nothing otherwise (so nothing is published).
 * Exit 2 on a reading that is not a number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The second dot-separated token of a subject, into out (at most size-1 chars); "?" when missing. */
static void sensor_of(const char *subject, char *out, size_t size) {
    const char *start = subject ? strchr(subject, '.') : NULL;
    if (!start) {
        snprintf(out, size, "?");
        return;
    }
    start++;
    size_t len = strcspn(start, ".");
    if (len >= size) len = size - 1;
    memcpy(out, start, len);
    out[len] = '\0';
}

int main(int argc, char **argv) {
    char input[64] = {0};
    size_t n = fread(input, 1, sizeof input - 1, stdin);
    input[n] = '\0';
    char *end;
    double reading = strtod(input, &end);
    while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t') end++;
    if (n == 0 || *end != '\0') {
        fprintf(stderr, "not a reading: \"%s\"\n", input);
        return 2;
    }
    const char *limit = argc > 1 ? argv[1] : getenv("THRESHOLD");
    double threshold = limit ? atof(limit) : 30.0;
    const char *unit = getenv("HAYATE_HEADER_UNIT");
    if (!unit || !*unit) unit = "C";
    char sensor[64];
    sensor_of(getenv("HAYATE_SUBJECT"), sensor, sizeof sensor);

    fprintf(stderr, "sensor %s: %.1f %s (threshold %.1f)\n", sensor, reading, unit, threshold);
    if (reading > threshold) {
        printf("{\"sensor\":\"%s\",\"reading\":%.1f,\"unit\":\"%s\",\"threshold\":%.1f}\n", sensor, reading, unit, threshold);
        fprintf(stderr, "ALERT sensor %s over threshold\n", sensor);
    }
    return 0;
}
