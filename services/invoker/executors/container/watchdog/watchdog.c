/*
 * hayate-watchdog: entrypoint of a warm hayate container.
 *
 *   hayate-watchdog --socket PATH [--max-conns N] [--spares N] -- CMD [ARGS...]
 *
 * Listens on a unix stream socket (unlinked first, mode 0666). A connection
 * carries invocations one after the other, each a request frame in, CMD run
 * once (a fresh process) with the request's args appended and exactly the
 * request's environment, a response frame out; the client may keep it open
 * for the next request, or close it. A bad frame ends the connection.
 *
 * Wire format (all integers little-endian):
 *
 *   request   "HYQ1" u32 timeout_ms (0 = none) u32 max_output_bytes
 *             u32 max_stderr_bytes u32 argc u32 envc u32 input_len
 *             argc x (u32 len, bytes)          extra args
 *             envc x (u32 len, bytes "K=V")    environment
 *             input_len bytes                  stdin
 *   ping      "HYP1"  -> answered with "HYP1" (no spawn: the socket's round trip)
 *   response  "HYR1" u32 outcome i32 exit_code i32 signal u64 startup_ns
 *             u64 exec_ns u32 stdout_len u32 stderr_len, stdout, stderr
 *
 * outcome    0 exited, 1 timeout, 2 stdout limit exceeded, 3 spawn failed,
 *            4 killed by a signal, 5 bad request frame.
 * exit_code  the exit status; 128+signal when killed by a signal (signal is
 *            then set, e.g. 9 after a timeout); 127 (not found) or 126 when
 *            CMD could not be spawned; -1 for a bad frame.
 * limits     max_output_bytes / max_stderr_bytes of 0 mean the defaults,
 *            6 MiB / 64 KiB. More stdout than allowed kills the process group
 *            (outcome 2, stdout holds the first max_output_bytes); stderr beyond
 *            its limit is dropped and does not change the outcome.
 * timings    startup_ns: the request readable (accept(), or poll() on a kept
 *            connection) -> exec succeeded, or a process spawned ahead released;
 *            exec_ns: from there -> reaped, or to its exit stop when answered
 *            from there (see "Exit stop"). A timeout counts from the same point.
 * CMD env    exactly the request's entries, plus PATH=/usr/local/bin:/usr/bin:/bin
 *            when they hold no PATH. CMD itself is looked up in the watchdog's PATH.
 *
 * Processes: every invocation runs in its own process group (pgid = its pid);
 * when it exits, times out or floods stdout, the whole group is SIGKILLed, so
 * nothing it started survives it (unless it left the group). A handler
 * process serves one connection at a time, request after request: reads the
 * frame, spawns CMD (vfork+exec, which reports exec errors),
 * writes the input and reads stdout/stderr with poll() (no deadlock whatever
 * the sizes), and answers. After answering, it spawns the next process ahead
 * with the same args and env, and lets it run until it blocks reading its
 * stdin (see "Pre-spawn" and "Run-ahead" below): the next request with
 * exactly those only feeds it; any other gets it killed and a fresh spawn.
 * Handlers are pre-forked and
 * reused, since fork() is slow in VMs: up to --spares (default 2) wait idle
 * in poll()+accept() on the shared listening socket; the main process forks
 * more when none is idle, up to --max-conns (default 256) at once (more
 * connections wait in the backlog: a client keeps at most that many open);
 * surplus handlers exit when their connection closes. If no handler can be forked (the
 * container's pids limit), the main process answers the connection itself:
 * outcome 3 with the fork error. A client that closes its connection early
 * aborts its invocation (SIGKILL to the group).
 *
 * As PID 1 the main process reaps every child (elsewhere it makes itself a
 * subreaper). SIGTERM/SIGINT: stop accepting, unlink the socket, exit when
 * the invocations in flight are done; a second signal aborts them and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
#define DEFAULT_SPARES 2
#define MAX_STRINGS 65536 /* argc, envc */
#define MAX_STRING_LEN (1u << 20)
#define MAX_STRINGS_TOTAL (8u << 20)
#define IO_TIMEOUT_S 30          /* reading a request / writing a response */
#ifndef CALLS_PER_HANDLER
#define CALLS_PER_HANDLER 10000 /* then the handler retires (bounds any leak) */
#endif
#define BUF_KEEP (64u << 10)     /* output buffer kept between invocations */
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

enum {
    OUT_EXITED = 0,
    OUT_TIMEOUT = 1,
    OUT_OUTPUT_LIMIT = 2,
    OUT_SPAWN_FAILED = 3,
    OUT_SIGNALED = 4,
    OUT_BAD_REQUEST = 5,
};

static const char *prog = "hayate-watchdog";
static int my_calls; /* requests this handler served (it retires past CALLS_PER_HANDLER) */
static char **cmd_argv; /* CMD [ARGS...] */
static int cmd_argc;
static int term_requested; /* a handler got SIGTERM: abort and exit */

/* ------------------------------------------------------------------------ */
/* Helpers */

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

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
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
/* Buffered reading of the request frame */

typedef struct {
    int fd;
    unsigned char buf[65536];
    size_t pos, len;
} reader;

static reader rd;

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
                size_t take = (size_t)got < n ? (size_t)got : n;
                memcpy(d, r->buf, take);
                r->pos = take;
                r->len = (size_t)got;
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
/* Responses */

static unsigned char scratch_linger[16384];

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

/* A response whose stderr is a message. */
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

/* After answering before the whole request was read (a bad frame): read and
 * drop the rest until the client closes (at most LINGER_MS), so that its
 * writes do not fail with EPIPE before it has read the answer. */
#define LINGER_MS 2000

static void linger(int conn) {
    shutdown(conn, SHUT_WR);
    uint64_t end = now_ns() + LINGER_MS * 1000000ull;
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end) return;
        struct pollfd p = {conn, POLLIN, 0};
        int n = poll(&p, 1, (int)((end - t) / 1000000) + 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        ssize_t r = recv(conn, scratch_linger, sizeof scratch_linger, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return;
    }
}

/* ------------------------------------------------------------------------ */
/* Output buffers: grow on demand, never beyond the limit */

typedef struct {
    unsigned char *data;
    size_t len, cap, limit;
    int exceeded; /* more than limit bytes were produced */
} outbuf;

static unsigned char scratch[65536];

/* Read what fd has into b. Returns 1 on EOF or error (fd done), 0 when it
 * would block. Bytes beyond the limit are read, dropped, and mark the buffer
 * exceeded; with stop_when_exceeded it returns at once when that happens. */
static int drain_fd(int fd, outbuf *b, int stop_when_exceeded) {
    for (;;) {
        unsigned char *dst = scratch;
        size_t room = sizeof scratch;
        if (b->len < b->limit) {
            if (b->len == b->cap) {
                size_t ncap = b->cap ? b->cap * 2 : BUF_KEEP;
                if (ncap > b->limit) ncap = b->limit;
                unsigned char *p = realloc(b->data, ncap);
                if (!p) {
                    b->limit = b->len; /* out of memory: keep what we have */
                    continue;
                }
                b->data = p;
                b->cap = ncap;
            }
            dst = b->data + b->len;
            room = (b->cap < b->limit ? b->cap : b->limit) - b->len;
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

/* Keep a small buffer for the next invocation, release a big one. */
static void outbuf_reset(outbuf *b) {
    if (b->cap > BUF_KEEP) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
    b->len = 0;
    b->exceeded = 0;
}

/* ------------------------------------------------------------------------ */
/* One invocation */

/* Per-handler state kept across invocations. The pipes for the next
 * invocation are made ahead of time, after the previous answer was sent. */
/* A process of CMD spawned ahead for the next invocation: exec'd with its own
 * pipes, blocked reading its stdin (or doing whatever CMD does before that). */
typedef struct {
    pid_t pid; /* 0: none */
    int fd_in, fd_out, fd_err;
    int running;       /* let go to run ahead to its stdin (see run-ahead) */
    int looked;        /* where it waits was looked at */
    uint64_t deadline; /* of that look */
} prespawned;

typedef struct {
    int pin[2], pout[2], perr[2]; /* [0] read end, [1] write end; -1 unset */
    int sfd;                      /* signalfd: SIGCHLD, SIGTERM */
    outbuf out, err;
    prespawned pre;
    /* The args and env of the last request: the next process is spawned ahead
     * with these, and used only by a request with exactly the same. */
    char **tmpl_args, **tmpl_envs;
    uint32_t tmpl_argc, tmpl_envc;
    int tmpl_set;
    int prespawn_next;            /* spawn one ahead after this invocation */
    int dead_streak;              /* pre-spawned processes found dead before their input */
    int no_run_ahead;             /* a run-ahead failed: processes wait at their first instruction */
    int respawn;                  /* spawn ahead again: the last one's run-ahead failed */
} handler_state;

static void close_pipes(handler_state *hs) {
    for (int k = 0; k < 2; k++) {
        close_fd(&hs->pin[k]);
        close_fd(&hs->pout[k]);
        close_fd(&hs->perr[k]);
    }
}

/* Make the three pipes (all close-on-exec: the child's dup2 onto 0/1/2
 * clears the flag on the child's copies). 0, or -1 with errno. */
static int make_pipes(handler_state *hs) {
    if (hs->pin[0] >= 0) return 0;
    if (pipe2(hs->pin, O_CLOEXEC) == 0 && pipe2(hs->pout, O_CLOEXEC) == 0 &&
        pipe2(hs->perr, O_CLOEXEC) == 0)
        return 0;
    int e = errno;
    close_pipes(hs);
    errno = e;
    return -1;
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

typedef struct {
    uint32_t timeout_ms, max_out, max_err, argc, envc, input_len;
    char **args, **envs;
    unsigned char *input;
} request;

static void free_request(request *q) {
    free_strings(q->args, q->argc);
    free_strings(q->envs, q->envc);
    free(q->input);
    memset(q, 0, sizeof *q);
}

/* The child of one invocation, as run_invocation follows it. */
typedef struct {
    pid_t pid;
    int fd_in, fd_out, fd_err; /* our ends of its stdin, stdout, stderr; -1 once closed */
    size_t in_off;             /* bytes of the input written so far */
    uint64_t t_exec, t_end;
    uint64_t deadline;         /* 0: none */
    int reaped, status;        /* waitpid saw it exit, with this status */
    int client_gone;           /* nothing to answer: hung up, or the watchdog is stopping */
    int stopped;               /* spawned ahead, still stopped before its first instruction */
    int at_exit;               /* in its exit stop, alone: status is its exit status, not reaped */
    result res;
} child_run;

/* argv = CMD ARGS... + the request's args; envp = its env (+ PATH when it has
 * none). The vectors borrow their strings from cmd_argv, args and envs. 0, or
 * -1 when out of memory. */
static int exec_vectors(char **args, uint32_t argc, char **envs, uint32_t envc,
                        char ***argv_out, char ***envp_out) {
    char **argv = calloc((size_t)cmd_argc + argc + 1, sizeof(char *));
    char **envp = calloc((size_t)envc + 2, sizeof(char *));
    if (!argv || !envp) {
        free(argv);
        free(envp);
        return -1;
    }
    for (int i = 0; i < cmd_argc; i++) argv[i] = cmd_argv[i];
    for (uint32_t i = 0; i < argc; i++) argv[cmd_argc + i] = args[i];
    int has_path = 0;
    for (uint32_t i = 0; i < envc; i++) {
        envp[i] = envs[i];
        if (strncmp(envs[i], "PATH=", 5) == 0) has_path = 1;
    }
    if (!has_path) envp[envc] = (char *)DEFAULT_PATH;
    *argv_out = argv;
    *envp_out = envp;
    return 0;
}

static int vfork_exec(handler_state *hs, char **argv, char **envp, int traceme, pid_t *pid_out);

/* Spawn CMD with hs's pipes as its stdin, stdout and stderr, in its own
 * process group, with default signal handling (vfork_exec, as a process
 * spawned ahead but untraced: glibc's posix_spawn resets every signal's
 * handler, ≈64 system calls, where the watchdog has 4). Sets c's pid, t_exec
 * and our pipe ends (ours to close either way). Returns 0 or the errno of
 * fork or exec (the child then reaped). */
static int spawn_child(handler_state *hs, char **argv, char **envp, child_run *c) {
    int rc = vfork_exec(hs, argv, envp, 0, &c->pid);
    c->t_exec = now_ns();
    close_fd(&hs->pin[0]);
    close_fd(&hs->pout[1]);
    close_fd(&hs->perr[1]);
    c->fd_in = hs->pin[1];
    c->fd_out = hs->pout[0];
    c->fd_err = hs->perr[0];
    hs->pin[1] = hs->pout[0] = hs->perr[0] = -1; /* ours now; closed by close_child_fds */
    return rc;
}

static void close_child_fds(child_run *c) {
    close_fd(&c->fd_in);
    close_fd(&c->fd_out);
    close_fd(&c->fd_err);
}

/* ------------------------------------------------------------------------ */
/* Pre-spawn: after an invocation, the handler spawns the next process of CMD
 * ahead, with the args and env of that invocation, so that the next request
 * with the same args and env only hands it over: the spawn (clone, exec:
 * ≈0.5-1.3 ms for a static binary on this VM) leaves the critical path.
 *
 * The process is stopped at its first instruction: it asks to be traced
 * (PTRACE_TRACEME) before its execve, so the kernel stops it with SIGTRAP once
 * the new program is loaded, before any of its code runs. From there it is
 * let go to run ahead to its stdin (see "Run-ahead" below), unless run-ahead
 * failed in this handler: then it stays stopped and the hand-off is a
 * PTRACE_DETACH, so what it does from its first instruction counts against
 * its invocation's timeout. Either way no fork bomb or busy loop runs between
 * calls unbounded. It is a fresh process per invocation as before, only
 * exec'd earlier.
 *
 * One that died before its hand-off (killed from outside) is reaped and
 * dropped, never used; after DEAD_STREAK_MAX such deaths in a row the handler
 * stops spawning ahead. A request with other args or env gets it killed and a
 * fresh spawn; spawning ahead resumes once two requests in a row agree. A
 * handler kills its pre-spawned process before it exits; if the handler dies,
 * the kernel detaches it: it runs, reads EOF on its stdin and ends (reaped by
 * the main process). */
#define DEAD_STREAK_MAX 3

/* ------------------------------------------------------------------------ */
/* Exit stop: a process spawned ahead stays traced (not detached) when it is
 * let go, with PTRACE_O_TRACEEXIT, so the kernel stops it at the start of its
 * exit, before its address space is torn down (≈0.4 ms for a static glibc
 * program on this VM, against ≈0.1 ms from its input to its output). If it is
 * alone there (one thread, no child), all it wrote is in its pipes and its
 * exit status is known (PTRACE_GETEVENTMSG): the answer is sent from the stop,
 * and the process is let go to finish its exit and reaped after. Otherwise it
 * is let go and followed to its end as any other.
 *
 * Traced, it sees no difference but two: exec stops (PTRACE_O_TRACEEXEC, so a
 * program that execs another is not sent SIGTRAP) and signal-delivery stops
 * let it go at once with the same signal; and a stop signal (SIGSTOP, SIGTSTP)
 * does not keep it stopped, as a group-stop of a traced process is let go
 * too. A process spawned for its call (other args or env) is not traced. */
#define TRACE_OPTIONS (PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC)

/* Whether wait status st is a traced process's exit stop. */
static int is_exit_stop(int st) {
    return WIFSTOPPED(st) && (st >> 8) == (SIGTRAP | (PTRACE_EVENT_EXIT << 8));
}

/* Let a traced process go on from any stop but its exit stop: an event stop
 * (exec) and a group-stop without a signal, a signal-delivery stop with its
 * signal. */
static void resume_tracee(pid_t pid, int st) {
    long sig = 0;
    siginfo_t si;
    if ((st >> 16) == 0 && ptrace(PTRACE_GETSIGINFO, pid, NULL, &si) == 0) sig = WSTOPSIG(st);
    ptrace(PTRACE_CONT, pid, NULL, (void *)sig);
}

/* Wait for pid's end and reap it: its wait status. A traced process stops on
 * its way (its exit stop, even when SIGKILLed): let go each time. */
static int reap_tracee(pid_t pid) {
    int st = 0;
    for (;;) {
        if (waitpid(pid, &st, 0) < 0) {
            if (errno == EINTR) continue;
            return st;
        }
        if (!WIFSTOPPED(st)) return st;
        ptrace(PTRACE_CONT, pid, NULL, NULL);
    }
}

/* End a traced process whose exit stop was seen (SIGKILL does not end that
 * stop): its group killed, the process let go and reaped. Its wait status. */
static int end_exit_stop(pid_t pid) {
    kill(-pid, SIGKILL);
    ptrace(PTRACE_CONT, pid, NULL, NULL);
    return reap_tracee(pid);
}

/* Let a traced process in a stop run, traced to its exit stop; detached
 * when its options cannot be set (then it is followed to its end). A failure
 * to let it go means it died: its wait status tells. */
static void let_go_traced(pid_t pid) {
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)TRACE_OPTIONS) == 0)
        ptrace(PTRACE_CONT, pid, NULL, NULL);
    else
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
}

/* Kill the pre-spawned process's group, reap it (unless already reaped) and
 * close our ends of its pipes. */
static void drop_prespawned(handler_state *hs, int reaped) {
    prespawned *p = &hs->pre;
    if (p->pid <= 0) return;
    kill(-p->pid, SIGKILL);
    if (!reaped) reap_tracee(p->pid);
    close_fd(&p->fd_in);
    close_fd(&p->fd_out);
    close_fd(&p->fd_err);
    p->pid = 0;
}

static int same_strings(char **a, uint32_t na, char **b, uint32_t nb) {
    if (na != nb) return 0;
    for (uint32_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0) return 0;
    return 1;
}

/* Whether q has exactly the args and env of the template. */
static int matches_template(const handler_state *hs, const request *q) {
    return hs->tmpl_set && same_strings(hs->tmpl_args, hs->tmpl_argc, q->args, q->argc) &&
           same_strings(hs->tmpl_envs, hs->tmpl_envc, q->envs, q->envc);
}

/* After an invocation of q (matched: it had the template's args and env):
 * decide whether to spawn ahead, and make q's args and env the template
 * (taken from q). */
static void learn_template(handler_state *hs, request *q, int matched) {
    hs->prespawn_next = matched || !hs->tmpl_set;
    if (matched) return;
    free_strings(hs->tmpl_args, hs->tmpl_argc);
    free_strings(hs->tmpl_envs, hs->tmpl_envc);
    hs->tmpl_args = q->args;
    hs->tmpl_argc = q->argc;
    hs->tmpl_envs = q->envs;
    hs->tmpl_envc = q->envc;
    hs->tmpl_set = 1;
    q->args = q->envs = NULL;
    q->argc = q->envc = 0;
}

/* Spawn CMD with hs's pipes as stdin, stdout, stderr; own process group;
 * empty signal mask, default dispositions; with traceme, stopped at its first
 * instruction (see above), else running once exec'd. vfork: the child shares
 * our memory until its execve, so it reports an exec error through err. 0 or
 * an errno (the child then reaped). */
static int vfork_exec(handler_state *hs, char **argv, char **envp, int traceme, pid_t *pid_out) {
    volatile int err = 0;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old); /* no signal handler may run in the vfork child */
    pid_t pid = vfork();
    if (pid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        const int reset[] = {SIGPIPE, SIGCHLD, SIGTERM, SIGINT};
        for (size_t k = 0; k < sizeof reset / sizeof reset[0]; k++) sigaction(reset[k], &dfl, NULL);
        if (setpgid(0, 0) < 0 || dup2(hs->pin[0], 0) < 0 || dup2(hs->pout[1], 1) < 0 ||
            dup2(hs->perr[1], 2) < 0 || (traceme && ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)) {
            err = errno;
            _exit(127);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvpe(argv[0], argv, envp);
        err = errno;
        _exit(127);
    }
    int e = pid < 0 ? errno : err;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) return e;
    int st;
    if (!traceme && !e) { /* exec'd: running */
        *pid_out = pid;
        return 0;
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (e) return e; /* reaped above */
    if (!WIFSTOPPED(st)) return ECHILD;
    *pid_out = pid;
    return 0;
}

static int spawn_stopped(handler_state *hs, char **argv, char **envp, pid_t *pid_out) {
    return vfork_exec(hs, argv, envp, 1, pid_out);
}

/* ------------------------------------------------------------------------ */
/* Run-ahead: once exec'd, the process spawned ahead is let go (detached) to
 * run its start-up until it blocks reading its stdin, which stays empty until
 * its call. On the call it only reads its input: the start-up of a static
 * glibc program (its system calls and page faults) was about 0.9 ms of the
 * 1.45 ms its call took from its first instruction on this VM.
 *
 * What a program does before it reads its stdin therefore happens before its
 * call, inside its container (no network, its own files): a clock read there
 * sees the time of the spawn. Every RUN_AHEAD_MS after the spawn, until it
 * waits in a read of fd 0, the handler looks where it is (/proc/PID/syscall,
 * schedstat, status, task/PID/children): sleeping in any other system call, busy past
 * RUN_AHEAD_MS of CPU, another thread or a child process (either could run on
 * while it waits), or an exit before its call gets it killed and
 * run-ahead turned off for this handler: its next processes wait stopped at
 * their first instruction, as above. So a busy loop or a program that does
 * not read its stdin costs at most about RUN_AHEAD_MS of CPU ahead, once. A
 * call that comes before then takes it over as it is. */
#define RUN_AHEAD_MS 20

/* Read a small /proc file of pid into buf (NUL-terminated); its length or -1. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n >= 0) buf[n] = 0;
    return n;
}

enum { AHEAD_READS_STDIN, AHEAD_ON_ITS_WAY, AHEAD_ELSEWHERE };

/* Whether pid is alone: one thread and no child process, so that nothing of
 * it runs while that thread sleeps. */
static int alone(pid_t pid) {
    char buf[2048], what[48];
    snprintf(what, sizeof what, "task/%d/children", (int)pid);
    if (read_proc(pid, what, buf, 2) != 0) return 0; /* a child, or not known */
    if (read_proc(pid, "status", buf, sizeof buf) <= 0) return 0;
    const char *threads = strstr(buf, "\nThreads:");
    return threads != NULL && atoi(threads + 9) == 1;
}

/* Where a process running ahead is: waiting in a read of its stdin (fd 0),
 * alone (then it is quiescent until its input comes); on its way there
 * (running, or waiting to run, with less than RUN_AHEAD_MS of CPU used: a
 * loaded machine is not held against it); or elsewhere (sleeping in another
 * system call, busy past RUN_AHEAD_MS of CPU, or with other threads or child
 * processes, which could run on while it waits). */
static int where_ahead(pid_t pid) {
    char buf[256];
    if (!alone(pid)) return AHEAD_ELSEWHERE;
    long nr = -1;
    unsigned long arg0 = 1;
    if (read_proc(pid, "syscall", buf, sizeof buf) <= 0) return AHEAD_ELSEWHERE;
    int in_call = sscanf(buf, "%ld %lx", &nr, &arg0) == 2 && nr >= 0;
    if (in_call) return (nr == SYS_read || nr == SYS_readv) && arg0 == 0 ? AHEAD_READS_STDIN : AHEAD_ELSEWHERE;
    unsigned long long cpu_ns = 0;
    if (read_proc(pid, "schedstat", buf, sizeof buf) <= 0 || sscanf(buf, "%llu", &cpu_ns) != 1) return AHEAD_ELSEWHERE;
    return cpu_ns < RUN_AHEAD_MS * 1000000ull ? AHEAD_ON_ITS_WAY : AHEAD_ELSEWHERE;
}

/* The process spawned ahead failed its run-ahead: killed (unless reaped),
 * and this handler's next one waits at its first instruction. */
static void run_ahead_failed(handler_state *hs, int reaped) {
    drop_prespawned(hs, reaped);
    hs->no_run_ahead = 1;
    hs->respawn = 1;
}

/* Whether the pre-spawned process still waits (stopped, or running ahead
 * towards its stdin); drops it when it died, left its stop (a signal from
 * outside: reported as a new stop), or failed its run-ahead. */
static int prespawned_alive(handler_state *hs) {
    prespawned *p = &hs->pre;
    if (p->pid <= 0) return 0;
    int st;
    pid_t w = waitpid(p->pid, &st, WNOHANG);
    if (w == 0) {
        if (!p->running || p->looked || now_ns() < p->deadline) return 1;
        int where = where_ahead(p->pid);
        if (where == AHEAD_READS_STDIN) p->looked = 1;
        if (where == AHEAD_ON_ITS_WAY) p->deadline = now_ns() + RUN_AHEAD_MS * 1000000ull;
        if (where != AHEAD_ELSEWHERE) return 1;
        run_ahead_failed(hs, 0);
        return 0;
    }
    if (p->running && w == p->pid && WIFSTOPPED(st)) {
        if (!is_exit_stop(st)) {
            resume_tracee(p->pid, st); /* an exec, a signal: it runs on ahead */
            return 1;
        }
        st = end_exit_stop(p->pid);
    }
    if (p->running && w == p->pid && WIFEXITED(st)) { /* ended without waiting for its input */
        run_ahead_failed(hs, 1);
        return 0;
    }
    hs->dead_streak++;
    drop_prespawned(hs, w == p->pid && !WIFSTOPPED(st));
    return 0;
}

/* Let the process just spawned ahead (at its exec stop) run ahead. */
static void start_run_ahead(handler_state *hs) {
    prespawned *p = &hs->pre;
    if (hs->no_run_ahead) return;
    let_go_traced(p->pid);
    p->running = 1;
    p->deadline = now_ns() + RUN_AHEAD_MS * 1000000ull;
}

/* poll's timeout while waiting for a request: until the look at a process
 * running ahead, else none. */
static int run_ahead_wait_ms(const handler_state *hs) {
    const prespawned *p = &hs->pre;
    if (p->pid <= 0 || !p->running || p->looked) return -1;
    uint64_t t = now_ns();
    return t >= p->deadline ? 0 : (int)((p->deadline - t + 999999) / 1000000);
}

/* Spawn the next process ahead with the template's args and env (off any
 * invocation's critical path: the previous answer is sent), and let it run
 * its start-up ahead (run_ahead). */
static void prespawn(handler_state *hs) {
    if (!hs->prespawn_next || !hs->tmpl_set || hs->pre.pid > 0 || hs->dead_streak >= DEAD_STREAK_MAX)
        return;
    char **argv, **envp;
    if (exec_vectors(hs->tmpl_args, hs->tmpl_argc, hs->tmpl_envs, hs->tmpl_envc, &argv, &envp) < 0)
        return;
    pid_t pid = 0;
    if (make_pipes(hs) == 0) {
        int rc = spawn_stopped(hs, argv, envp, &pid);
        close_fd(&hs->pin[0]);
        close_fd(&hs->pout[1]);
        close_fd(&hs->perr[1]);
        if (rc == 0) {
            set_nonblock(hs->pin[1]);
            set_nonblock(hs->pout[0]);
            set_nonblock(hs->perr[0]);
            hs->pre = (prespawned){pid, hs->pin[1], hs->pout[0], hs->perr[0], 0, 0, 0};
            hs->pin[1] = hs->pout[0] = hs->perr[0] = -1;
            start_run_ahead(hs);
        } else {
            close_pipes(hs);
            hs->dead_streak++; /* the invocation spawns the usual way and reports why */
        }
    }
    free(argv);
    free(envp);
}

/* Between calls: take in what the pre-spawned process did (see
 * prespawned_alive), and spawn the next one ahead, stopped at its first
 * instruction, when its run-ahead failed. */
static void tend_prespawned(handler_state *hs) {
    prespawned_alive(hs);
    if (!hs->respawn) return;
    hs->respawn = 0;
    prespawn(hs);
}

/* Hand the pre-spawned process to the invocation in c, when it is alive: one
 * stopped at its first instruction stays stopped (c->stopped) until
 * run_invocation has written its input and detaches it; one let go to run
 * ahead waits on its stdin (or is on its way there). */
static int take_prespawned(handler_state *hs, child_run *c) {
    if (!prespawned_alive(hs)) return 0;
    hs->dead_streak = 0;
    c->stopped = !hs->pre.running;
    c->pid = hs->pre.pid;
    c->fd_in = hs->pre.fd_in;
    c->fd_out = hs->pre.fd_out;
    c->fd_err = hs->pre.fd_err;
    c->t_exec = now_ns();
    hs->pre = (prespawned){0, -1, -1, -1, 0, 0, 0};
    return 1;
}

/* Write what the pipe takes of the rest of the input; close the child's
 * stdin (EOF) once all is written or the child stopped reading. */
static void feed_stdin(child_run *c, const request *q) {
    while (c->in_off < q->input_len) {
        ssize_t w = write(c->fd_in, q->input + c->in_off, q->input_len - c->in_off);
        if (w > 0) {
            c->in_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        c->in_off = q->input_len; /* EPIPE: the child stopped reading, fine */
    }
    if (c->in_off >= q->input_len) close_fd(&c->fd_in);
}

/* Whether the signalfd holds a SIGTERM (SIGCHLD only wakes the loop up). */
static int sigterm_pending(int sfd) {
    struct signalfd_siginfo si;
    int term = 0;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM) term = 1;
    return term;
}

/* poll's timeout: until the deadline (-1: none), at most 20 ms when there is
 * no signalfd to wake up on SIGCHLD. */
static int poll_wait_ms(const child_run *c, int sfd) {
    int wait_ms = -1;
    if (c->deadline) {
        uint64_t t = now_ns();
        uint64_t left = t >= c->deadline ? 0 : (c->deadline - t + 999999) / 1000000;
        wait_ms = left > INT_MAX ? INT_MAX : (int)left;
    }
    if (sfd < 0 && (wait_ms < 0 || wait_ms > 20)) wait_ms = 20;
    return wait_ms;
}

/* At the child's exit stop: whether it is alone there (then all it wrote is
 * in its pipes), with its exit status taken as the wait status it will have.
 * If so it stays stopped until end_exit_stop. */
static int exit_stop_settles(child_run *c) {
    unsigned long code = 0;
    if (ptrace(PTRACE_GETEVENTMSG, c->pid, NULL, &code) < 0 || !alone(c->pid)) return 0;
    c->status = (int)code;
    c->at_exit = 1;
    c->t_end = now_ns();
    return 1;
}

/* Quiet window: once its whole input is in, a child's stdout and stderr are
 * not watched until it exits (SIGCHLD, or its exit stop) or QUIET_US pass;
 * what it wrote is read then. A short run so wakes its handler once (at its
 * end) instead of twice (its output, then its end): on this VM a wake-up of a
 * process that sleeps costs 0.1-0.4 ms of CPU. A pipe holds 64 KiB: a child
 * that writes more waits at most QUIET_US for its first read. */
#define QUIET_US 1000

/* Whether c's pipes go unwatched at time t (see "Quiet window"), and until when. */
static int quiet_until(const child_run *c, int sfd, uint64_t t, uint64_t *until) {
    if (sfd < 0 || c->fd_in >= 0) return 0;
    *until = c->t_exec + QUIET_US * 1000ull;
    return t < *until;
}

/* Follow the child until it exits, feeding its stdin and collecting its
 * stdout and stderr; kill its process group instead when it passes its
 * deadline or the output limit, when the client hangs up, when the watchdog
 * gets SIGTERM, or when poll fails. The connection is only watched for
 * hang-up. */
static void supervise(int conn, const request *q, handler_state *hs, child_run *c) {
    for (;;) {
        struct pollfd p[5];
        int np = 0, i_in = -1, i_out = -1, i_err = -1, i_sig = -1, i_conn;
        uint64_t t = now_ns(), quiet_end = 0;
        int quiet = quiet_until(c, hs->sfd, t, &quiet_end);
        if (c->fd_in >= 0) {
            i_in = np;
            p[np++] = (struct pollfd){c->fd_in, POLLOUT, 0};
        }
        if (c->fd_out >= 0 && !quiet) {
            i_out = np;
            p[np++] = (struct pollfd){c->fd_out, POLLIN, 0};
        }
        if (c->fd_err >= 0 && !quiet) {
            i_err = np;
            p[np++] = (struct pollfd){c->fd_err, POLLIN, 0};
        }
        if (hs->sfd >= 0) {
            i_sig = np;
            p[np++] = (struct pollfd){hs->sfd, POLLIN, 0};
        }
        i_conn = np;
        p[np++] = (struct pollfd){conn, 0, 0}; /* POLLHUP: the client went away */

        int wait_ms = poll_wait_ms(c, hs->sfd);
        uint64_t wait_ns = wait_ms < 0 ? UINT64_MAX : (uint64_t)wait_ms * 1000000ull;
        if (quiet && quiet_end - t < wait_ns) wait_ns = quiet_end - t;
        struct timespec ts = {(time_t)(wait_ns / 1000000000ull), (long)(wait_ns % 1000000000ull)};
        int n = ppoll(p, (nfds_t)np, wait_ns == UINT64_MAX ? NULL : &ts, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            logmsg("%s: poll: %s", prog, strerror(errno));
            kill(-c->pid, SIGKILL);
            return;
        }
        if (i_in >= 0 && p[i_in].revents) feed_stdin(c, q);
        if (i_out >= 0 && p[i_out].revents) {
            if (drain_fd(c->fd_out, &hs->out, 1)) close_fd(&c->fd_out);
            if (hs->out.exceeded) {
                kill(-c->pid, SIGKILL);
                c->res.outcome = OUT_OUTPUT_LIMIT;
                return;
            }
        }
        if (i_err >= 0 && p[i_err].revents) {
            if (drain_fd(c->fd_err, &hs->err, 0)) close_fd(&c->fd_err);
        }
        if (p[i_conn].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            kill(-c->pid, SIGKILL);
            c->client_gone = 1;
            return;
        }
        if (i_sig >= 0 && p[i_sig].revents && sigterm_pending(hs->sfd)) {
            /* forced shutdown of the watchdog */
            kill(-c->pid, SIGKILL);
            c->client_gone = 1;
            term_requested = 1;
            return;
        }
        int st;
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            if (!WIFSTOPPED(st)) {
                c->status = st;
                c->reaped = 1;
                c->t_end = now_ns();
                return;
            }
            if (is_exit_stop(st) && exit_stop_settles(c)) return;
            resume_tracee(c->pid, st);
        }
        if (c->deadline && now_ns() >= c->deadline) {
            kill(-c->pid, SIGKILL);
            c->res.outcome = OUT_TIMEOUT;
            return;
        }
    }
}

/* After supervise: wait for a child we killed (SIGKILL is prompt), or end
 * whatever a child that exited left running in its group (it could hold the
 * pipes open and would outlive the invocation). */
static void reap(child_run *c) {
    if (!c->reaped) {
        c->status = reap_tracee(c->pid);
        c->t_end = now_ns();
    } else {
        kill(-c->pid, SIGKILL);
    }
}

/* All the child wrote is in the pipes now: read until EOF or it would block
 * (a process that left the group may still hold a pipe open). */
static void drain_rest(child_run *c, handler_state *hs) {
    if (c->fd_out >= 0 && c->res.outcome != OUT_OUTPUT_LIMIT) {
        drain_fd(c->fd_out, &hs->out, 1);
        if (hs->out.exceeded && c->res.outcome == OUT_EXITED) c->res.outcome = OUT_OUTPUT_LIMIT;
    }
    if (c->fd_err >= 0) drain_fd(c->fd_err, &hs->err, 0);
}

/* Exit code, signal and outcome from the wait status; run time. */
static void settle_result(child_run *c) {
    c->res.exec_ns = c->t_end - c->t_exec;
    if (WIFEXITED(c->status)) {
        c->res.exit_code = WEXITSTATUS(c->status);
    } else if (WIFSIGNALED(c->status)) {
        c->res.signal = WTERMSIG(c->status);
        c->res.exit_code = 128 + c->res.signal;
        if (c->res.outcome == OUT_EXITED) c->res.outcome = OUT_SIGNALED;
    }
}

/* Spawn CMD for request q and run it to the end. Returns 0 when a response
 * was sent or is due, -1 when the client is gone (nothing to send). */
static int run_invocation(int conn, uint64_t t_accept, request *q, handler_state *hs) {
    child_run c;
    memset(&c, 0, sizeof c);
    int matched = matches_template(hs, q);
    if (!matched || !take_prespawned(hs, &c)) {
        drop_prespawned(hs, 0); /* spawned for other args or env */
        char **argv, **envp;
        if (exec_vectors(q->args, q->argc, q->envs, q->envc, &argv, &envp) < 0) {
            send_error(conn, OUT_SPAWN_FAILED, 126, now_ns() - t_accept, "%s: out of memory\n",
                       prog);
            return 0;
        }
        if (make_pipes(hs) < 0) {
            int e = errno;
            free(argv);
            free(envp);
            send_error(conn, OUT_SPAWN_FAILED, 126, now_ns() - t_accept, "%s: pipe: %s\n", prog,
                       strerror(e));
            return 0;
        }
        int rc = spawn_child(hs, argv, envp, &c);
        if (rc != 0) {
            close_child_fds(&c);
            send_error(conn, OUT_SPAWN_FAILED, rc == ENOENT ? 127 : 126, c.t_exec - t_accept,
                       "%s: cannot spawn %s: %s\n", prog, argv[0], strerror(rc));
            free(argv);
            free(envp);
            return 0;
        }
        free(argv);
        free(envp);
        set_nonblock(c.fd_in);
        set_nonblock(c.fd_out);
        set_nonblock(c.fd_err);
    }
    learn_template(hs, q, matched);

    c.res = (result){OUT_EXITED, 0, 0, c.t_exec - t_accept, 0};
    hs->out.limit = q->max_out;
    hs->err.limit = q->max_err;
    feed_stdin(&c, q); /* what the pipe takes now, without a poll first; closes it when done */
    /* Spawned ahead and stopped: it runs from its first instruction now.
     * Should it have died since take_prespawned, supervise reaps it and
     * reports how. */
    if (c.stopped) let_go_traced(c.pid);
    c.deadline = q->timeout_ms ? c.t_exec + (uint64_t)q->timeout_ms * 1000000ull : 0;

    supervise(conn, q, hs, &c);
    if (!c.at_exit) reap(&c); /* one at its exit stop is answered from there (see "Exit stop") */
    if (!c.client_gone) drain_rest(&c, hs);
    close_child_fds(&c);
    if (c.client_gone) return -1;
    settle_result(&c);
    send_response(conn, &c.res, hs->out.data, hs->out.len, hs->err.data, hs->err.len);
    if (c.at_exit) end_exit_stop(c.pid); /* then let go and reaped */
    return 0;
}

/* Serve one request of the connection: read the frame, run, answer. Returns
 * 1 when the connection may carry another request (the answer was sent), 0
 * when it is done (closed, bad frame, client gone). */
static int serve_request(int conn, uint64_t t_accept, handler_state *hs) {
    unsigned char hdr[REQ_HEADER_LEN];
    if (read_exact(&rd, hdr, 4) < 0) return 0;
    if (memcmp(hdr, PING_MAGIC, 4) == 0) {
        struct iovec iov = {PING_MAGIC, 4};
        return write_full_iov(conn, &iov, 1) == 0;
    }
    if (memcmp(hdr, REQ_MAGIC, 4) != 0) {
        send_error(conn, OUT_BAD_REQUEST, -1, 0, "%s: bad request frame: unknown magic\n", prog);
        linger(conn);
        return 0;
    }
    if (read_exact(&rd, hdr + 4, REQ_HEADER_LEN - 4) < 0) return 0;

    request q;
    memset(&q, 0, sizeof q);
    q.timeout_ms = get_u32(hdr + 4);
    q.max_out = get_u32(hdr + 8);
    q.max_err = get_u32(hdr + 12);
    uint32_t argc = get_u32(hdr + 16), envc = get_u32(hdr + 20);
    q.input_len = get_u32(hdr + 24);
    if (!q.max_out) q.max_out = DEFAULT_MAX_OUTPUT;
    if (!q.max_err) q.max_err = DEFAULT_MAX_STDERR;
    if (argc > MAX_STRINGS || envc > MAX_STRINGS) {
        send_error(conn, OUT_BAD_REQUEST, -1, 0,
                   "%s: bad request frame: %u args, %u env entries\n", prog, argc, envc);
        linger(conn);
        return 0;
    }

    char why[256];
    size_t total = 0;
    int rs = read_strings(&rd, argc, &total, &q.args, why, sizeof why, "arg");
    if (rs == 0) q.argc = argc;
    if (rs == 0) rs = read_strings(&rd, envc, &total, &q.envs, why, sizeof why, "env entry");
    if (rs == 0) q.envc = envc;
    if (rs == 0 && q.input_len) {
        q.input = malloc(q.input_len);
        if (!q.input) {
            snprintf(why, sizeof why, "cannot buffer %u bytes of input", q.input_len);
            rs = -2;
        } else if (read_exact(&rd, q.input, q.input_len) < 0) {
            rs = -1;
        }
    }
    if (rs == -2) {
        send_error(conn, OUT_BAD_REQUEST, -1, 0, "%s: bad request frame: %s\n", prog, why);
        linger(conn);
    }
    int more = rs == 0 && run_invocation(conn, t_accept, &q, hs) == 0;
    free_request(&q);
    outbuf_reset(&hs->out);
    outbuf_reset(&hs->err);
    return more;
}

/* Wait for the next request on a kept connection. 1 when it has bytes to
 * read; 0 when it closed, the watchdog is draining (listener hung up) or got
 * SIGTERM. A pre-spawned process that dies meanwhile is reaped. */
static int await_request(int conn, int lfd, handler_state *hs) {
    if (rd.len > rd.pos) return 1; /* sent before the previous answer */
    for (;;) {
        struct pollfd p[3] = {{conn, POLLIN, 0}, {lfd, 0, 0}, {hs->sfd, POLLIN, 0}};
        int n = poll(p, hs->sfd >= 0 ? 3 : 2, run_ahead_wait_ms(hs));
        if (n < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        if (n == 0 || p[2].revents) {
            if (n > 0 && sigterm_pending(hs->sfd)) {
                term_requested = 1;
                return 0;
            }
            tend_prespawned(hs); /* SIGCHLD: its death; or time to look at it running ahead */
        }
        if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) return 0; /* draining */
        if (p[0].revents & POLLIN) return 1;              /* a request, or EOF */
        if (p[0].revents) return 0;
    }
}

/* Serve a connection's requests, one after the other, until it closes: the
 * invoker keeps its connections (no connect and accept per call). After each
 * answer, the next process is spawned ahead. */
static void serve_connection(int conn, int lfd, uint64_t t_accept, handler_state *hs) {
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    rd.fd = conn;
    rd.pos = rd.len = 0;
    if (lfd >= 0) { /* a client may connect ahead of its first request */
        if (!await_request(conn, lfd, hs)) return;
        t_accept = now_ns();
    }
    for (;;) {
        int more = serve_request(conn, t_accept, hs);
        if (term_requested || lfd < 0) return; /* lfd < 0: a one-shot handler */
        prespawn(hs); /* off the critical path: the answer is sent */
        make_pipes(hs);
        if (!more || !await_request(conn, lfd, hs)) return;
        t_accept = now_ns();
        my_calls++;
    }
}

/* ------------------------------------------------------------------------ */
/* Handlers and the main process
 *
 * Handler slots live in a shared anonymous mapping so that handlers and the
 * main process agree on how many are idle without a round trip:
 *   FREE -> IDLE (main forks a handler into the slot)
 *   IDLE -> BUSY (the handler accepted a connection)
 *   BUSY -> IDLE (done, and fewer than --spares are idle) or it exits
 *   any  -> FREE (main reaps the handler)
 * The main process forks handlers only when none is idle (told through the
 * notify pipe by the handler that took the last one, or seen after reaping).
 */

enum { SLOT_FREE = 0, SLOT_IDLE = 1, SLOT_BUSY = 2 };

static _Atomic int *slot_state; /* shared */
static pid_t *slot_pid;         /* main process only */
static int max_conns = DEFAULT_MAX_CONNS, spares = DEFAULT_SPARES;
static int n_handlers;

static int count_idle(void) {
    int n = 0;
    for (int i = 0; i < max_conns; i++)
        n += atomic_load_explicit(&slot_state[i], memory_order_relaxed) == SLOT_IDLE;
    return n;
}

static void noop_handler(int sig) { (void)sig; }

static void usage(void) {
    fprintf(stderr,
            "usage: %s --socket PATH [--max-conns N] [--spares N] -- CMD [ARGS...]\n"
            "  --max-conns N  invocations served at once (default %d)\n"
            "  --spares N     idle pre-forked handlers kept ready (default %d)\n",
            prog, DEFAULT_MAX_CONNS, DEFAULT_SPARES);
    exit(2);
}

/* Fault in the pages a handler uses (a fresh fork shares them copy-on-write),
 * before it has a connection. */
static void __attribute__((noinline)) touch_stack(void) {
    volatile char pad[96 * 1024];
    for (size_t i = 0; i < sizeof pad; i += 4096) pad[i] = 0;
}

static void handler_init(handler_state *hs) {
    memset(hs, 0, sizeof *hs);
    for (int k = 0; k < 2; k++) hs->pin[k] = hs->pout[k] = hs->perr[k] = -1;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    hs->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC); /* -1: poll timer fallback */
    make_pipes(hs); /* retried, and then reported, per invocation */
}

/* Whether this handler retires. */
static int my_retire;

/* A handler ends: its pre-spawned process with it. */
static void __attribute__((noreturn)) handler_exit(handler_state *hs, int code) {
    drop_prespawned(hs, 0);
    _exit(code);
}

/* A handler: accept and serve connections one at a time until told to go. */
static void handler_main(int slot, int lfd, int notify_wr) {
    handler_state hs;
    handler_init(&hs);
    touch_stack();
    memset(rd.buf, 0, sizeof rd.buf);
    memset(scratch, 0, sizeof scratch);

    while (!my_retire) {
        int conn = -1;
        while (conn < 0) {
            struct pollfd p[2] = {{lfd, POLLIN, 0}, {hs.sfd, POLLIN, 0}};
            int n = poll(p, hs.sfd >= 0 ? 2 : 1, run_ahead_wait_ms(&hs));
            if (n == 0) tend_prespawned(&hs); /* time to look at a process running ahead */
            if (n < 0) {
                if (errno == EINTR) continue;
                handler_exit(&hs, 1);
            }
            if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) handler_exit(&hs, 0); /* draining */
            if (p[1].revents) {
                struct signalfd_siginfo si;
                while (read(hs.sfd, &si, sizeof si) == (ssize_t)sizeof si)
                    if (si.ssi_signo == SIGTERM) handler_exit(&hs, 0);
                tend_prespawned(&hs); /* SIGCHLD: reap a pre-spawned process that died */
            }
            if (p[0].revents & POLLIN) {
                conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* blocking socket */
                if (conn < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                    errno != ECONNABORTED)
                    handler_exit(&hs, 0);
            }
        }
        uint64_t t_accept = now_ns();
        atomic_store(&slot_state[slot], SLOT_BUSY);
        my_calls++;
        if (count_idle() == 0) { /* none left accepting: the main process forks more */
            char c = 0;
            ssize_t w = write(notify_wr, &c, 1);
            (void)w;
        }

        serve_connection(conn, lfd, t_accept, &hs);
        close(conn);
        if (term_requested) handler_exit(&hs, 0);
        /* Back to accepting while fewer than --spares do; else retire. */
        my_retire = my_calls >= CALLS_PER_HANDLER || count_idle() >= spares;
        if (!my_retire) atomic_store(&slot_state[slot], SLOT_IDLE);
    }
    handler_exit(&hs, 0);
}

/* Fork a handler into a free slot: an idle one (conn < 0), or a one-shot one
 * serving conn. 0 or an errno. */
static int spawn_handler(int lfd, int sfd, int notify[2], int conn, uint64_t t_accept) {
    int slot = -1;
    for (int i = 0; i < max_conns; i++)
        if (atomic_load(&slot_state[i]) == SLOT_FREE && slot_pid[i] == 0) {
            slot = i;
            break;
        }
    if (slot < 0) return EAGAIN;
    atomic_store(&slot_state[slot], conn < 0 ? SLOT_IDLE : SLOT_BUSY);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Outside a container (not PID 1), a handler must not outlive a main
         * process killed hard: it would keep the socket served and its
         * pre-spawned process waiting. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        close(sfd);
        close(notify[0]);
        if (conn < 0) handler_main(slot, lfd, notify[1]);
        close(lfd);
        close(notify[1]);
        handler_state hs;
        handler_init(&hs);
        serve_connection(conn, -1, t_accept, &hs);
        _exit(0);
    }
    if (pid < 0) {
        int e = errno;
        atomic_store(&slot_state[slot], SLOT_FREE);
        return e;
    }
    slot_pid[slot] = pid;
    n_handlers++;
    return 0;
}

/* Reap every child: handlers, and as PID 1 or subreaper, orphans. */
static void reap_all(void) {
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p <= 0) {
            if (p < 0 && errno == EINTR) continue;
            return;
        }
        for (int i = 0; i < max_conns; i++)
            if (slot_pid[i] == p) {
                slot_pid[i] = 0;
                atomic_store(&slot_state[i], SLOT_FREE);
                n_handlers--;
                break;
            }
    }
}

/* No handler could be forked: the main process answers the connection
 * itself, without blocking: the answer fits in the socket buffer, then the
 * connection lingers (read and dropped, see linger()) until the client
 * closes it or LINGER_MS pass. */
#define MAX_LINGER 32

static struct {
    int fd;
    uint64_t until;
} lingering[MAX_LINGER];
static int n_lingering;

static void linger_close(int k) {
    close(lingering[k].fd);
    lingering[k] = lingering[--n_lingering];
}

static void refuse(int conn, uint64_t t_accept, int e) {
    set_nonblock(conn);
    send_error(conn, OUT_SPAWN_FAILED, 126, now_ns() - t_accept, "%s: fork: %s\n", prog,
               strerror(e));
    shutdown(conn, SHUT_WR);
    if (n_lingering == MAX_LINGER) linger_close(0);
    lingering[n_lingering].fd = conn;
    lingering[n_lingering].until = now_ns() + LINGER_MS * 1000000ull;
    n_lingering++;
}

/* Read what the lingering connections sent; close the finished ones. */
static void linger_service(struct pollfd *p) {
    uint64_t t = now_ns();
    for (int k = n_lingering - 1; k >= 0; k--) {
        int done = t >= lingering[k].until;
        if (!done && p[k].revents) {
            for (;;) {
                ssize_t r = read(lingering[k].fd, scratch_linger, sizeof scratch_linger);
                if (r > 0) continue;
                if (r < 0 && errno == EINTR) continue;
                done = r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
                break;
            }
        }
        if (done) linger_close(k);
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

    /* Handlers live long: big buffers (inputs, outputs) must go back to the
     * system when freed, not stay in the heap (glibc would otherwise raise its
     * mmap threshold after the first big free, up to 32 MiB). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 512 * 1024);

    /* Signals: real (no-op) handlers, so that as PID 1 they are not dropped;
     * blocked, and read through signalfds. SIGPIPE ignored: EPIPE instead. */
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
    set_nonblock(notify[1]);

    slot_state = mmap(NULL, sizeof(int) * (size_t)max_conns, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    slot_pid = calloc((size_t)max_conns, sizeof(pid_t));
    if (slot_state == MAP_FAILED || !slot_pid) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }

    /* Non-blocking listener, shared by all handlers: each polls, then tries
     * accept() (EAGAIN when another one was faster). */
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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

    int draining = 0;
    for (;;) {
        /* When no handler is idle, fork up to --spares (never beyond
         * --max-conns). Not sooner: while one is idle, the busy ones go back
         * to idle when done, and a fork per invocation is what we avoid. */
        int fork_err = 0;
        if (!draining && count_idle() == 0) {
            int idle = 0;
            while (idle < spares && n_handlers < max_conns) {
                fork_err = spawn_handler(lfd, sfd, notify, -1, 0);
                if (fork_err) break;
                idle++;
            }
        }
        /* No idle handler because fork fails: answer connections ourselves. */
        int take = !draining && fork_err && count_idle() == 0 && n_handlers < max_conns;
        struct pollfd p[3 + MAX_LINGER] = {
            {sfd, POLLIN, 0}, {notify[0], POLLIN, 0}, {take ? lfd : -1, POLLIN, 0}};
        int wait_ms = fork_err ? 100 : -1; /* 100 ms: retry the fork */
        for (int k = 0; k < n_lingering; k++) {
            p[3 + k] = (struct pollfd){lingering[k].fd, POLLIN, 0};
            uint64_t t = now_ns();
            int ms = lingering[k].until > t ? (int)((lingering[k].until - t) / 1000000) + 1 : 0;
            if (wait_ms < 0 || ms < wait_ms) wait_ms = ms;
        }
        if (poll(p, (nfds_t)(3 + n_lingering), wait_ms) < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
            return 1;
        }
        if (n_lingering) linger_service(p + 3);
        if (p[1].revents) {
            char buf[256];
            while (read(notify[0], buf, sizeof buf) > 0) {
            }
        }
        if (p[0].revents) {
            struct signalfd_siginfo si;
            int stop = 0;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) stop = 1;
            reap_all();
            if (stop) {
                if (draining) { /* second signal: abort what is running */
                    for (int k = 0; k < max_conns; k++)
                        if (slot_pid[k]) kill(slot_pid[k], SIGTERM);
                    return 0;
                }
                draining = 1;
                /* Idle handlers see POLLHUP on the listener and exit; busy
                 * ones finish their invocation first. */
                shutdown(lfd, SHUT_RDWR);
                unlink(sock_path);
            }
        }
        if (draining && n_handlers == 0) return 0;
        if (take && (p[2].revents & POLLIN)) {
            int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (conn >= 0) {
                uint64_t t_accept = now_ns();
                int e = spawn_handler(lfd, sfd, notify, conn, t_accept); /* one more try */
                if (e) {
                    logmsg("%s: fork: %s", prog, strerror(e));
                    refuse(conn, t_accept, e); /* it keeps conn */
                } else {
                    close(conn);
                }
            }
        }
    }
}
