/*
 * hayate-watchdog: entrypoint of a warm hayate container.
 *
 *   hayate-watchdog --socket PATH [--max-conns N] -- CMD [ARGS...]
 *
 * Listens on a unix stream socket. Every accepted connection is served by a
 * forked handler process (invocations run concurrently): it reads one request
 * frame, spawns CMD with the request's args appended and exactly the request's
 * environment, in its own process group, feeds the input on stdin while
 * collecting stdout and stderr, and writes one response frame.
 *
 * Wire format (all integers little-endian):
 *
 *   request   "HYQ1" u32 timeout_ms (0 = none) u32 max_output_bytes
 *             u32 max_stderr_bytes u32 argc u32 envc u32 input_len
 *             argc x (u32 len, bytes)          extra args
 *             envc x (u32 len, bytes "K=V")    environment
 *             input_len bytes                  stdin
 *   ping      "HYP1"            -> answered with "HYP1", then close
 *   response  "HYR1" u32 outcome i32 exit_code i32 signal u64 startup_ns
 *             u64 exec_ns u32 stdout_len u32 stderr_len, stdout, stderr
 *
 * outcome: 0 exited, 1 timeout, 2 stdout limit exceeded, 3 spawn failed,
 *          4 killed by a signal, 5 bad request frame.
 * exit_code: the exit status; 128+signal when killed by a signal; 126/127
 *            when CMD could not be spawned (127 = not found); -1 for 5.
 * max_output_bytes / max_stderr_bytes of 0 mean the defaults, 6 MiB / 64 KiB.
 * startup_ns: accept() -> exec succeeded; exec_ns: exec -> child reaped.
 *
 * As PID 1 it reaps every child (and is a subreaper when not PID 1), and on
 * SIGTERM/SIGINT stops accepting, unlinks the socket and exits once the
 * invocations in flight are done; a second signal exits at once, aborting them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAGIC "HYQ1"
#define PING_MAGIC "HYP1"
#define RESP_MAGIC "HYR1"
#define REQ_HEADER_LEN 28
#define RESP_HEADER_LEN 40

#define DEFAULT_MAX_OUTPUT (6u << 20)
#define DEFAULT_MAX_STDERR (64u << 10)
#define DEFAULT_MAX_CONNS 256
#define MAX_STRINGS 65536           /* argc, envc */
#define MAX_STRING_LEN (1u << 20)   /* one arg or env entry */
#define MAX_STRINGS_TOTAL (8u << 20)
#define IO_TIMEOUT_S 30             /* reading a request / writing a response */
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

enum {
    OUT_EXITED = 0,
    OUT_TIMEOUT = 1,
    OUT_OUTPUT_LIMIT = 2,
    OUT_SPAWN_FAILED = 3,
    OUT_SIGNALED = 4,
    OUT_BAD_REQUEST = 5,
};

extern char **environ;

static const char *prog = "hayate-watchdog";
static char **cmd_argv;  /* CMD [ARGS...] */
static int cmd_argc;

/* ------------------------------------------------------------------------ */

static void logmsg(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void put_u64(unsigned char *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static void set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Write everything (blocking fd); 0 or -1 (errno set). */
static int write_full_iov(int fd, struct iovec *iov, int iovcnt) {
    while (iovcnt > 0) {
        ssize_t w = writev(fd, iov, iovcnt);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Buffered reading of the request frame from the connection. */

typedef struct {
    int fd;
    unsigned char buf[65536];
    size_t pos, len;
} reader;

/* Read exactly n bytes; 0 on success, -1 on EOF/error/timeout. */
static int read_exact(reader *r, void *dst, size_t n) {
    unsigned char *d = dst;
    size_t avail = r->len - r->pos;
    if (avail) {
        size_t take = avail < n ? avail : n;
        memcpy(d, r->buf + r->pos, take);
        r->pos += take;
        d += take;
        n -= take;
    }
    while (n > 0) {
        ssize_t got;
        if (n >= sizeof r->buf) {
            got = read(r->fd, d, n); /* large: straight into the destination */
            if (got > 0) {
                d += got;
                n -= (size_t)got;
                continue;
            }
        } else {
            got = read(r->fd, r->buf, sizeof r->buf);
            if (got > 0) {
                r->pos = 0;
                r->len = (size_t)got;
                size_t take = (size_t)got < n ? (size_t)got : n;
                memcpy(d, r->buf, take);
                r->pos = take;
                d += take;
                n -= take;
                continue;
            }
        }
        if (got == 0) return -1;
        if (errno == EINTR) continue;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Response. */

typedef struct {
    uint32_t outcome;
    int32_t exit_code;
    int32_t signal;
    uint64_t startup_ns;
    uint64_t exec_ns;
} result;

static void send_response(int fd, const result *res, const unsigned char *out, size_t out_len,
                          const unsigned char *err, size_t err_len) {
    unsigned char h[RESP_HEADER_LEN];
    memcpy(h, RESP_MAGIC, 4);
    put_u32(h + 4, res->outcome);
    put_u32(h + 8, (uint32_t)res->exit_code);
    put_u32(h + 12, (uint32_t)res->signal);
    put_u64(h + 16, res->startup_ns);
    put_u64(h + 24, res->exec_ns);
    put_u32(h + 32, (uint32_t)out_len);
    put_u32(h + 36, (uint32_t)err_len);
    struct iovec iov[3] = {
        {h, sizeof h},
        {(void *)out, out_len},
        {(void *)err, err_len},
    };
    if (write_full_iov(fd, iov, 3) < 0 && errno != EPIPE && errno != ECONNRESET)
        logmsg("%s: writing response: %s", prog, strerror(errno));
}

static void send_error(int fd, uint32_t outcome, int32_t exit_code, uint64_t startup_ns,
                       const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    result res = {outcome, exit_code, 0, startup_ns, 0};
    send_response(fd, &res, NULL, 0, (const unsigned char *)msg, (size_t)n);
}

/* ------------------------------------------------------------------------ */
/* Output buffers: grow on demand, never beyond the limit. */

typedef struct {
    unsigned char *data;
    size_t len, cap, limit;
    int exceeded; /* more than limit bytes were produced */
} outbuf;

/* Read what is available from fd into b; returns 1 on EOF/error (fd done),
 * 0 when it would block. Bytes beyond the limit are read and dropped, and
 * mark the buffer as exceeded. */
static unsigned char scratch[65536];

static int drain_fd(int fd, outbuf *b, int stop_when_exceeded) {
    for (;;) {
        unsigned char *dst;
        size_t room;
        if (b->len < b->limit) {
            if (b->len == b->cap) {
                size_t ncap = b->cap ? b->cap * 2 : 65536;
                if (ncap > b->limit) ncap = b->limit;
                unsigned char *p = realloc(b->data, ncap);
                if (!p) { /* treat as full: keep what we have */
                    b->limit = b->len;
                    continue;
                }
                b->data = p;
                b->cap = ncap;
            }
            dst = b->data + b->len;
            room = (b->cap < b->limit ? b->cap : b->limit) - b->len;
        } else {
            dst = scratch;
            room = sizeof scratch;
        }
        ssize_t r = read(fd, dst, room);
        if (r > 0) {
            if (dst == scratch) {
                b->exceeded = 1;
                if (stop_when_exceeded) return 0;
            } else {
                b->len += (size_t)r;
            }
            continue;
        }
        if (r == 0) return 1;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return 1;
    }
}

/* ------------------------------------------------------------------------ */
/* One invocation, in a handler process. */

/* What a handler can set up before it has a connection (a spare does it while
 * idle, off the critical path): pipes, signalfd, and memory it will touch. */
typedef struct {
    int pin[2], pout[2], perr[2]; /* [0] read end, [1] write end, -1 if unset */
    int sfd;
    outbuf out, err;
} prepared;

static int prepare(prepared *pp) {
    /* All close-on-exec; the child's ends are dup2()ed onto 0/1/2 by
     * posix_spawn (which clears the flag). */
    if (pipe2(pp->pin, O_CLOEXEC) < 0) return -1;
    if (pipe2(pp->pout, O_CLOEXEC) < 0) return -1;
    if (pipe2(pp->perr, O_CLOEXEC) < 0) return -1;
    /* SIGCHLD (and SIGTERM from the main process on forced shutdown) come
     * through a signalfd; both are blocked already (inherited mask). */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    pp->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    return 0;
}

/* Fault in the pages a handler is going to use (a fresh fork shares them
 * copy-on-write; page faults are slow in VMs). */
static void __attribute__((noinline)) touch_stack(void) {
    volatile char pad[96 * 1024];
    for (size_t i = 0; i < sizeof pad; i += 4096) pad[i] = 0;
}

static void free_strings(char **v, uint32_t n) {
    if (!v) return;
    for (uint32_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Read n length-prefixed strings into a NULL-terminated vector *out.
 * Returns 0, -1 when the connection ended (no answer possible), or -2 for a
 * bad frame with the reason in why. */
static int read_strings(reader *r, uint32_t n, size_t *total, char ***out, char *why,
                        size_t whylen, const char *what) {
    char **v = calloc((size_t)n + 1, sizeof(char *));
    if (!v) {
        snprintf(why, whylen, "out of memory reading %s", what);
        return -2;
    }
    for (uint32_t i = 0; i < n; i++) {
        unsigned char lb[4];
        if (read_exact(r, lb, 4) < 0) {
            free_strings(v, i);
            return -1;
        }
        uint32_t len = get_u32(lb);
        *total += len;
        if (len > MAX_STRING_LEN || *total > MAX_STRINGS_TOTAL) {
            snprintf(why, whylen, "%s %u too long (%u bytes)", what, i, len);
            free_strings(v, i);
            return -2;
        }
        v[i] = malloc((size_t)len + 1);
        if (!v[i]) {
            snprintf(why, whylen, "out of memory reading %s", what);
            free_strings(v, i);
            return -2;
        }
        if (read_exact(r, v[i], len) < 0) {
            free_strings(v, i + 1);
            return -1;
        }
        v[i][len] = 0;
        if (memchr(v[i], 0, len)) {
            snprintf(why, whylen, "%s %u contains a NUL byte", what, i);
            free_strings(v, i + 1);
            return -2;
        }
    }
    *out = v;
    return 0;
}

static reader rd;

static void warm_up(prepared *pp) {
    touch_stack();
    memset(rd.buf, 0, sizeof rd.buf);
    memset(scratch, 0, sizeof scratch);
    pp->out.data = malloc(65536);
    pp->err.data = malloc(65536);
    if (pp->out.data) {
        memset(pp->out.data, 0, 65536);
        pp->out.cap = 65536;
    }
    if (pp->err.data) {
        memset(pp->err.data, 0, 65536);
        pp->err.cap = 65536;
    }
    free(malloc(4096)); /* heap set up */
    (void)now_ns();
}

static int handle_connection(int conn, uint64_t t_accept, prepared *pp) {
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    rd.fd = conn;
    rd.pos = rd.len = 0;

    unsigned char hdr[REQ_HEADER_LEN];
    if (read_exact(&rd, hdr, 4) < 0) return 0;
    if (memcmp(hdr, PING_MAGIC, 4) == 0) {
        struct iovec iov = {PING_MAGIC, 4};
        write_full_iov(conn, &iov, 1);
        return 0;
    }
    if (memcmp(hdr, REQ_MAGIC, 4) != 0) {
        send_error(conn, OUT_BAD_REQUEST, -1, 0, "%s: bad request frame: unknown magic", prog);
        return 0;
    }
    if (read_exact(&rd, hdr + 4, REQ_HEADER_LEN - 4) < 0) return 0;
    uint32_t timeout_ms = get_u32(hdr + 4);
    uint32_t max_out = get_u32(hdr + 8);
    uint32_t max_err = get_u32(hdr + 12);
    uint32_t argc = get_u32(hdr + 16);
    uint32_t envc = get_u32(hdr + 20);
    uint32_t input_len = get_u32(hdr + 24);
    if (!max_out) max_out = DEFAULT_MAX_OUTPUT;
    if (!max_err) max_err = DEFAULT_MAX_STDERR;

    if (argc > MAX_STRINGS || envc > MAX_STRINGS) {
        send_error(conn, OUT_BAD_REQUEST, -1, 0, "%s: bad request frame: %u args, %u env entries",
                   prog, argc, envc);
        return 0;
    }

    char why[256];
    size_t total = 0;
    char **args = NULL, **envs = NULL;
    int rs = read_strings(&rd, argc, &total, &args, why, sizeof why, "arg");
    if (rs == 0) rs = read_strings(&rd, envc, &total, &envs, why, sizeof why, "env entry");
    if (rs == -1) return 0;
    if (rs == -2) {
        send_error(conn, OUT_BAD_REQUEST, -1, 0, "%s: bad request frame: %s", prog, why);
        return 0;
    }

    unsigned char *input = NULL;
    if (input_len) {
        input = malloc(input_len);
        if (!input) {
            send_error(conn, OUT_BAD_REQUEST, -1, 0,
                       "%s: bad request frame: cannot buffer %u bytes of input", prog, input_len);
            return 0;
        }
        if (read_exact(&rd, input, input_len) < 0) return 0;
    }

    /* argv = CMD ARGS... + request args; envp = request env (+ PATH). */
    char **argv = calloc((size_t)cmd_argc + argc + 1, sizeof(char *));
    char **envp = calloc((size_t)envc + 2, sizeof(char *));
    if (!argv || !envp) {
        send_error(conn, OUT_SPAWN_FAILED, 126, now_ns() - t_accept, "%s: out of memory\n", prog);
        return 0;
    }
    for (int i = 0; i < cmd_argc; i++) argv[i] = cmd_argv[i];
    for (uint32_t i = 0; i < argc; i++) argv[cmd_argc + i] = args[i];
    int has_path = 0;
    for (uint32_t i = 0; i < envc; i++) {
        envp[i] = envs[i];
        if (strncmp(envs[i], "PATH=", 5) == 0) has_path = 1;
    }
    if (!has_path) envp[envc] = (char *)DEFAULT_PATH;

    if (pp->pin[0] < 0 && prepare(pp) < 0) {
        int e = errno;
        send_error(conn, OUT_SPAWN_FAILED, 126, now_ns() - t_accept, "%s: pipe: %s\n", prog,
                   strerror(e));
        return 0;
    }
    int *pin = pp->pin, *pout = pp->pout, *perr = pp->perr;
    int sfd = pp->sfd;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    posix_spawnattr_init(&attr);
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGCHLD);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setpgroup(&attr, 0); /* own process group: pgid = pid */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);

    pid_t pid;
    /* glibc's posix_spawn returns once the child has exec'd (or failed to). */
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
    uint64_t t_exec = now_ns();
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    if (rc != 0) {
        send_error(conn, OUT_SPAWN_FAILED, rc == ENOENT ? 127 : 126, t_exec - t_accept,
                   "%s: cannot execute %s: %s\n", prog, argv[0], strerror(rc));
        return 0;
    }

    result res = {OUT_EXITED, 0, 0, t_exec - t_accept, 0};
    outbuf out = pp->out, err = pp->err; /* maybe pre-allocated */
    out.limit = max_out;
    err.limit = max_err;
    int fd_in = pin[1], fd_out = pout[0], fd_err = perr[0];
    size_t in_off = 0;
    set_nonblock(fd_in);
    set_nonblock(fd_out);
    set_nonblock(fd_err);
    if (input_len == 0) {
        close(fd_in);
        fd_in = -1;
    }

    uint64_t deadline = timeout_ms ? t_exec + (uint64_t)timeout_ms * 1000000ull : 0;
    int reaped = 0, status = 0, killed = 0, client_gone = 0;
    uint64_t t_end = 0;

    while (!reaped) {
        struct pollfd p[5];
        int np = 0, i_in = -1, i_out = -1, i_err = -1, i_sig = -1, i_conn;
        if (fd_in >= 0) { i_in = np; p[np++] = (struct pollfd){fd_in, POLLOUT, 0}; }
        if (fd_out >= 0) { i_out = np; p[np++] = (struct pollfd){fd_out, POLLIN, 0}; }
        if (fd_err >= 0) { i_err = np; p[np++] = (struct pollfd){fd_err, POLLIN, 0}; }
        if (sfd >= 0) { i_sig = np; p[np++] = (struct pollfd){sfd, POLLIN, 0}; }
        i_conn = np;
        p[np++] = (struct pollfd){conn, 0, 0}; /* POLLHUP: the client went away */

        int wait_ms = -1;
        if (deadline) {
            uint64_t t = now_ns();
            if (t >= deadline) {
                wait_ms = 0;
            } else {
                uint64_t left = (deadline - t + 999999) / 1000000;
                wait_ms = left > INT_MAX ? INT_MAX : (int)left;
            }
        }
        if (sfd < 0 && wait_ms < 0) wait_ms = 50; /* no signalfd: poll for the exit */
        else if (sfd < 0 && wait_ms > 50) wait_ms = 50;

        int n = poll(p, (nfds_t)np, wait_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            logmsg("%s: poll: %s", prog, strerror(errno));
            break;
        }
        if (deadline && now_ns() >= deadline && !reaped) {
            if (waitpid(pid, &status, WNOHANG) == pid) { /* exited just in time */
                reaped = 1;
                t_end = now_ns();
                break;
            }
            kill(-pid, SIGKILL);
            killed = 1;
            res.outcome = OUT_TIMEOUT;
            break;
        }
        if (i_in >= 0 && p[i_in].revents) {
            while (in_off < input_len) {
                ssize_t w = write(fd_in, input + in_off, input_len - in_off);
                if (w > 0) {
                    in_off += (size_t)w;
                    continue;
                }
                if (w < 0 && errno == EINTR) continue;
                if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                in_off = input_len; /* EPIPE and friends: the child stopped reading */
            }
            if (in_off >= input_len) {
                close(fd_in);
                fd_in = -1;
            }
        }
        if (i_out >= 0 && p[i_out].revents) {
            if (drain_fd(fd_out, &out, 1)) {
                close(fd_out);
                fd_out = -1;
            }
            if (out.exceeded) {
                kill(-pid, SIGKILL);
                killed = 1;
                res.outcome = OUT_OUTPUT_LIMIT;
                break;
            }
        }
        if (i_err >= 0 && p[i_err].revents) {
            if (drain_fd(fd_err, &err, 0)) {
                close(fd_err);
                fd_err = -1;
            }
        }
        if (p[i_conn].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            kill(-pid, SIGKILL);
            killed = 1;
            client_gone = 1;
            break;
        }
        if (i_sig >= 0 && p[i_sig].revents) {
            struct signalfd_siginfo si;
            int term = 0;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                if (si.ssi_signo == SIGTERM) term = 1;
            if (term) { /* forced shutdown of the watchdog */
                kill(-pid, SIGKILL);
                killed = 1;
                client_gone = 1;
                break;
            }
        }
        if (sfd < 0 || (i_sig >= 0 && p[i_sig].revents)) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                reaped = 1;
                t_end = now_ns();
            }
        }
    }

    if (!reaped) {
        /* Killed by us: SIGKILL is prompt. */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        t_end = now_ns();
    } else {
        /* The child is gone: take its last output, and end whatever it left
         * behind in its process group (which could hold the pipes open). */
        kill(-pid, SIGKILL);
    }
    if (client_gone) return 0;

    /* Everything the child wrote is in the pipes now: read until EOF or it
     * would block (a stray process outside the group may hold a pipe open). */
    if (fd_out >= 0 && res.outcome != OUT_OUTPUT_LIMIT) {
        drain_fd(fd_out, &out, 1);
        if (out.exceeded && !killed) res.outcome = OUT_OUTPUT_LIMIT;
    }
    if (fd_err >= 0) drain_fd(fd_err, &err, 0);

    res.exec_ns = t_end - t_exec;
    if (WIFEXITED(status)) {
        res.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res.signal = WTERMSIG(status);
        res.exit_code = 128 + res.signal;
        if (res.outcome == OUT_EXITED) res.outcome = OUT_SIGNALED;
    }
    send_response(conn, &res, out.data, out.len, err.data, err.len);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Main process.
 *
 * Every connection is served by its own handler process, but the fork is
 * kept off the critical path: the main process keeps --spares idle handlers
 * (default 2) blocked in accept() on the shared listening socket. A handler
 * that accepts a connection tells the main process (its pid on a pipe),
 * serves that one connection and exits; the main process forks a replacement
 * meanwhile. At most --max-conns handlers (idle + busy) exist at once; more
 * connections wait in the listen backlog. When no handler can be forked
 * (e.g. the container's pids limit is reached) the main process accepts the
 * connection itself and answers "spawn failed" with the fork error. */

typedef struct {
    pid_t pid;
    int busy;
} slot;

static slot *handlers;
static int n_handlers, n_idle;
static int max_conns = DEFAULT_MAX_CONNS, spares = 2;

static void noop_handler(int sig) { (void)sig; }

static void usage(void) {
    fprintf(stderr,
            "usage: %s --socket PATH [--max-conns N] [--spares N] -- CMD [ARGS...]\n"
            "  --max-conns N  invocations served at once (default %d)\n"
            "  --spares N     idle pre-forked handlers (default 2)\n",
            prog, DEFAULT_MAX_CONNS);
    exit(2);
}

static void remove_handler(pid_t pid) {
    for (int i = 0; i < n_handlers; i++)
        if (handlers[i].pid == pid) {
            if (!handlers[i].busy) n_idle--;
            handlers[i] = handlers[--n_handlers];
            return;
        }
}

static void mark_busy(pid_t pid) {
    for (int i = 0; i < n_handlers; i++)
        if (handlers[i].pid == pid) {
            if (!handlers[i].busy) {
                handlers[i].busy = 1;
                n_idle--;
            }
            return;
        }
}

/* Reap every child: handlers, and as PID 1 / subreaper, orphans. */
static void reap_all(void) {
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p <= 0) {
            if (p < 0 && errno == EINTR) continue;
            return;
        }
        remove_handler(p);
    }
}

/* A spare handler: wait for one connection, serve it, exit. */
static void spare_main(int lfd, int notify_wr) {
    prepared pp = {{-1, -1}, {-1, -1}, {-1, -1}, -1, {0}, {0}};
    if (prepare(&pp) < 0) { /* retried after accept, where it can be reported */
        for (int k = 0; k < 2; k++) {
            if (pp.pin[k] >= 0) close(pp.pin[k]);
            if (pp.pout[k] >= 0) close(pp.pout[k]);
            if (pp.perr[k] >= 0) close(pp.perr[k]);
        }
        pp.pin[0] = pp.pin[1] = pp.pout[0] = pp.pout[1] = pp.perr[0] = pp.perr[1] = -1;
    }
    warm_up(&pp);
    int conn;
    for (;;) {
        conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (conn >= 0) break;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        _exit(0); /* EINVAL: the listener was shut down (draining) */
    }
    uint64_t t_accept = now_ns();
    close(lfd);
    pid_t me = getpid();
    ssize_t w = write(notify_wr, &me, sizeof me); /* atomic: < PIPE_BUF */
    (void)w;
    close(notify_wr);
    _exit(handle_connection(conn, t_accept, &pp));
}

/* The main process could not fork a handler: answer from here, best effort,
 * without blocking. */
static void refuse(int conn, uint64_t t_accept, int e) {
    set_nonblock(conn);
    char discard[4096];
    while (read(conn, discard, sizeof discard) > 0) {
    }
    send_error(conn, OUT_SPAWN_FAILED, 126, now_ns() - t_accept, "%s: fork: %s\n", prog,
               strerror(e));
    shutdown(conn, SHUT_WR);
    while (read(conn, discard, sizeof discard) > 0) {
    }
}

int main(int argc, char **argv) {
    const char *sock_path = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            sock_path = argv[++i];
        } else if (strcmp(argv[i], "--max-conns") == 0 && i + 1 < argc) {
            max_conns = atoi(argv[++i]);
            if (max_conns < 1) usage();
        } else if (strcmp(argv[i], "--spares") == 0 && i + 1 < argc) {
            spares = atoi(argv[++i]);
            if (spares < 1) usage();
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
        } else {
            fprintf(stderr, "%s: unknown argument '%s'\n", prog, argv[i]);
            usage();
        }
    }
    if (!sock_path || i >= argc) usage();
    cmd_argv = argv + i;
    cmd_argc = argc - i;
    if (spares > max_conns) spares = max_conns;

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(sock_path) >= sizeof addr.sun_path) {
        fprintf(stderr, "%s: socket path too long: %s\n", prog, sock_path);
        return 2;
    }
    strcpy(addr.sun_path, sock_path);

    /* fds 0-2 must exist, so that pipes never land on them. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) break;

    if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1);

    /* Signals: real (no-op) handlers, so that as PID 1 they are not dropped,
     * blocked and read through a signalfd. SIGPIPE ignored: EPIPE instead. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = noop_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
        return 1;
    }
    int notify[2];
    if (pipe2(notify, O_CLOEXEC) < 0) {
        fprintf(stderr, "%s: pipe: %s\n", prog, strerror(errno));
        return 1;
    }
    set_nonblock(notify[0]);

    /* Blocking listener: the spares block in accept(). The main process only
     * accepts when there is no spare, so it never competes with one. */
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
        return 1;
    }
    unlink(sock_path);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "%s: bind %s: %s\n", prog, sock_path, strerror(errno));
        return 1;
    }
    chmod(sock_path, 0666);
    if (listen(lfd, 1024) < 0) {
        fprintf(stderr, "%s: listen: %s\n", prog, strerror(errno));
        return 1;
    }
    handlers = calloc((size_t)max_conns, sizeof(slot));
    if (!handlers) return 1;

    int draining = 0, fork_errno = 0;
    for (;;) {
        /* Top up the spares. */
        fork_errno = 0;
        while (!draining && n_idle < spares && n_handlers < max_conns) {
            pid_t pid = fork();
            if (pid == 0) {
                close(sfd);
                close(notify[0]);
                spare_main(lfd, notify[1]);
            }
            if (pid < 0) {
                fork_errno = errno;
                break;
            }
            handlers[n_handlers++] = (slot){pid, 0};
            n_idle++;
        }

        /* With no spare because fork fails, answer connections ourselves. */
        int take = !draining && n_idle == 0 && fork_errno && n_handlers < max_conns;
        struct pollfd p[3] = {{sfd, POLLIN, 0}, {notify[0], POLLIN, 0}, {lfd, POLLIN, 0}};
        int np = take ? 3 : 2;
        int wait_ms = fork_errno ? 100 : -1; /* retry the fork */
        if (poll(p, (nfds_t)np, wait_ms) < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
            return 1;
        }
        if (p[1].revents) {
            pid_t pids[64];
            ssize_t r;
            while ((r = read(notify[0], pids, sizeof pids)) > 0)
                for (size_t k = 0; k < (size_t)r / sizeof(pid_t); k++) mark_busy(pids[k]);
        }
        if (p[0].revents) {
            struct signalfd_siginfo si;
            int stop = 0;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) stop = 1;
            reap_all();
            if (stop) {
                if (draining) { /* second signal: abort what is running */
                    for (int k = 0; k < n_handlers; k++) kill(handlers[k].pid, SIGTERM);
                    return 0;
                }
                draining = 1;
                /* wakes the spares blocked in accept() (EINVAL): they exit */
                shutdown(lfd, SHUT_RDWR);
                close(lfd);
                unlink(sock_path);
            }
        }
        if (draining && n_handlers == 0) return 0;
        if (np == 3 && (p[2].revents & POLLIN)) {
            int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (conn >= 0) {
                uint64_t t_accept = now_ns();
                pid_t pid = fork(); /* one more try */
                if (pid == 0) {
                    close(sfd);
                    close(notify[0]);
                    close(lfd);
                    prepared pp = {{-1, -1}, {-1, -1}, {-1, -1}, -1, {0}, {0}};
                    _exit(handle_connection(conn, t_accept, &pp));
                }
                if (pid > 0) {
                    handlers[n_handlers++] = (slot){pid, 1};
                } else {
                    int e = errno;
                    logmsg("%s: fork: %s", prog, strerror(e));
                    refuse(conn, t_accept, e);
                }
                close(conn);
            }
        }
    }
}
