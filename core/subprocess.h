/* Runs a command as a child process on the libev loop, without blocking it: standard output and standard error
 * are read through ev_io watchers, the exit is reaped with ev_child, and a timer kills the process group when it
 * runs too long.
 *
 * The child gets /dev/null as standard input, default signal dispositions and an empty signal mask, its own
 * process group (so a kill also reaches what a shell script started), and no file descriptor of ours above 2.
 *
 * ev_child only works on libev's default loop, so `loop` must be ev_default_loop(). */
#ifndef FLINKOP_SUBPROCESS_H
#define FLINKOP_SUBPROCESS_H

#include <stddef.h>

struct ev_loop;
struct subprocess;

struct subprocess_opts {
    const char *file;              /* run as posix_spawnp does: searched in $PATH unless it holds a '/' */
    const char *const *argv;       /* NULL-terminated; argv[0] is what the child sees as its name */
    const char *const *envp;       /* NULL-terminated "NAME=value" lines: the child's whole environment */
    double timeout_s;              /* killed (SIGKILL to its process group) after this long; must be > 0 */
    size_t max_stdout;             /* bytes of standard output kept; more makes stdout_truncated. 0 = 1 MiB */
    size_t max_stderr;             /* bytes of standard error kept; the rest is read and dropped. 0 = 4 KiB */
};

/* How it ended; borrowed for the duration of the done callback. */
struct subprocess_result {
    int exited;                    /* 1 when it exited by itself: exit_status is valid */
    int exit_status;
    int signal;                    /* the signal that ended it, 0 when it exited */
    int timed_out;                 /* 1 when we killed it for running past timeout_s */
    const char *out;               /* standard output, NUL-terminated (at most max_stdout bytes) */
    size_t out_len;
    int stdout_truncated;          /* it wrote more than max_stdout bytes */
    const char *err;               /* standard error, NUL-terminated (at most max_stderr bytes) */
    size_t err_len;
};

typedef void (*subprocess_done_fn)(void *ud, const struct subprocess_result *r);

/* Starts the child. done is called exactly once from the loop, after the child has been reaped and both of its
 * output streams are closed (or, after a timeout kill, as soon as it has been reaped), unless the run is cancelled
 * first; the handle is freed when done returns. Returns NULL with "FILE: why" in err when the child cannot be
 * started (FILE not found or not executable, no memory, not the default loop); done is not called then. */
struct subprocess *subprocess_start(struct ev_loop *loop, const struct subprocess_opts *o, subprocess_done_fn done,
                                    void *ud, char *err, size_t errlen);

/* Kills the child's process group, reaps it and frees the handle; done is not called. Safe from inside any
 * callback except this run's own done (where the handle is already going away). */
void subprocess_cancel(struct subprocess *p);

#endif
