/* A child process on the loop (see subprocess.h): posix_spawnp, two non-blocking pipes read by ev_io, ev_child
 * for the exit, an ev_timer for the timeout. */
#define _GNU_SOURCE /* pipe2 and posix_spawn_file_actions_addclosefrom_np (glibc 2.34) */
#include "subprocess.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strutil.h"

#define SUBPROCESS_DEFAULT_MAX_STDOUT ((size_t)1 << 20)
#define SUBPROCESS_DEFAULT_MAX_STDERR ((size_t)4 << 10)

/* One output stream of the child: what was kept of it and whether it is still open. */
struct stream {
    ev_io io;
    char *buf;
    size_t len, max;
    int open, truncated;
};

struct subprocess {
    struct ev_loop *loop;
    pid_t pid;
    int reaped, exit_status, signal, timed_out;
    struct stream out, err;
    ev_child child;
    ev_timer timer;
    subprocess_done_fn done;
    void *ud;
};

static void stream_close(struct subprocess *p, struct stream *s)
{
    if (!s->open)
        return;
    ev_io_stop(p->loop, &s->io);
    close(s->io.fd);
    s->open = 0;
}

/* Frees everything; the child must have been reaped. */
static void subprocess_free(struct subprocess *p)
{
    stream_close(p, &p->out);
    stream_close(p, &p->err);
    ev_child_stop(p->loop, &p->child);
    ev_timer_stop(p->loop, &p->timer);
    free(p->out.buf);
    free(p->err.buf);
    free(p);
}

/* Reports once the child is reaped and its streams are closed; after a timeout kill, the streams may still be held
 * open by a process that left the group, so being reaped is enough then. */
static void maybe_finish(struct subprocess *p)
{
    if (!p->reaped || (!p->timed_out && (p->out.open || p->err.open)))
        return;
    struct subprocess_result r = {
        .exited = p->signal == 0,
        .exit_status = p->exit_status,
        .signal = p->signal,
        .timed_out = p->timed_out,
        .out = p->out.buf,
        .out_len = p->out.len,
        .stdout_truncated = p->out.truncated,
        .err = p->err.buf,
        .err_len = p->err.len,
    };
    p->done(p->ud, &r);
    subprocess_free(p);
}

/* Reads what is there; keeps up to s->max bytes and drops the rest so the child never blocks on a full pipe. */
static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct subprocess *p = w->data;
    struct stream *s = w == &p->out.io ? &p->out : &p->err;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(w->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            stream_close(p, s);
            maybe_finish(p);
            return;
        }
        size_t keep = s->max - s->len < (size_t)n ? s->max - s->len : (size_t)n;
        memcpy(s->buf + s->len, chunk, keep);
        s->len += keep;
        s->buf[s->len] = '\0';
        if (keep < (size_t)n)
            s->truncated = 1;
    }
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct subprocess *p = w->data;
    ev_child_stop(loop, w);
    p->reaped = 1;
    if (WIFSIGNALED(w->rstatus))
        p->signal = WTERMSIG(w->rstatus);
    else
        p->exit_status = WEXITSTATUS(w->rstatus);
    /* What is left in the pipes is read before the streams report end of file, so nothing is lost here. */
    maybe_finish(p);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct subprocess *p = w->data;
    p->timed_out = 1;
    kill(-p->pid, SIGKILL);
    maybe_finish(p);
}

static int stream_init(struct subprocess *p, struct stream *s, int fd, size_t max)
{
    s->max = max;
    s->buf = malloc(max + 1);
    if (!s->buf)
        return -1;
    s->buf[0] = '\0';
    ev_io_init(&s->io, on_readable, fd, EV_READ);
    s->io.data = p;
    ev_io_start(p->loop, &s->io);
    s->open = 1;
    return 0;
}

/* posix_spawnp with stdin from /dev/null, stdout and stderr into the pipes, nothing else inherited. */
static int spawn(pid_t *pid, const struct subprocess_opts *o, int out_fd, int err_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return rc;
    if ((rc = posix_spawnattr_init(&attr))) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if (!rc) rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!rc) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                      POSIX_SPAWN_SETSIGDEF);
    if (!rc) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (!rc) rc = posix_spawnattr_setsigmask(&attr, &none);
    /* Dispositions we ignore (SIGPIPE) would otherwise be inherited across exec. */
    if (!rc) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (!rc) rc = posix_spawnp(pid, o->file, &fa, &attr, (char *const *)o->argv, (char *const *)o->envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

struct subprocess *subprocess_start(struct ev_loop *loop, const struct subprocess_opts *o, subprocess_done_fn done,
                                    void *ud, char *err, size_t errlen)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (!ev_is_default_loop(loop)) {
        strutil_errf(err, errlen, "%s: child processes need libev's default loop", o->file);
        return NULL;
    }
    if (o->timeout_s <= 0 || !o->argv || !o->argv[0]) {
        strutil_errf(err, errlen, "%s: no timeout or no argv", o->file);
        return NULL;
    }
    struct subprocess *p = calloc(1, sizeof *p);
    if (!p) {
        strutil_errf(err, errlen, "%s: out of memory", o->file);
        return NULL;
    }
    p->loop = loop;
    p->done = done;
    p->ud = ud;
    if (pipe2(out, O_CLOEXEC | O_NONBLOCK) || pipe2(errp, O_CLOEXEC | O_NONBLOCK)) {
        strutil_errf(err, errlen, "%s: pipe: %s", o->file, strerror(errno));
        goto fail;
    }
    int rc = spawn(&p->pid, o, out[1], errp[1]);
    if (rc) {
        strutil_errf(err, errlen, "%s: %s", o->file, rc == ENOENT ? "not found" : strerror(rc));
        goto fail;
    }
    close(out[1]);
    close(errp[1]);
    out[1] = errp[1] = -1;
    /* The child cannot be reaped before this watcher exists: libev reaps from the loop, which is not running. */
    ev_child_init(&p->child, on_child, p->pid, 0);
    p->child.data = p;
    ev_child_start(loop, &p->child);
    ev_timer_init(&p->timer, on_timeout, o->timeout_s, 0.);
    p->timer.data = p;
    ev_timer_start(loop, &p->timer);
    if (stream_init(p, &p->out, out[0], o->max_stdout ? o->max_stdout : SUBPROCESS_DEFAULT_MAX_STDOUT) ||
        stream_init(p, &p->err, errp[0], o->max_stderr ? o->max_stderr : SUBPROCESS_DEFAULT_MAX_STDERR)) {
        if (!p->out.open)
            close(out[0]);
        if (!p->err.open)
            close(errp[0]);
        subprocess_cancel(p);
        strutil_errf(err, errlen, "%s: out of memory", o->file);
        return NULL;
    }
    return p;
fail:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    free(p);
    return NULL;
}

void subprocess_cancel(struct subprocess *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        kill(-p->pid, SIGKILL);
        /* SIGKILL cannot be caught, so this wait is short. libev may have reaped it already (ECHILD). */
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    subprocess_free(p);
}
