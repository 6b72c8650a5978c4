/* Test scaffolding shared by unit tests that need files on disk: a private directory under /tmp, shell commands run
 * inside it, and the EC certificates the TLS tests make there. Header-only (static functions) because each test
 * program is built from one source file. */
#ifndef FLINKOP_TESTS_SCRATCH_DIR_H
#define FLINKOP_TESTS_SCRATCH_DIR_H

#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/flinkop-WHAT-XXXXXX into dir (len bytes). Returns 0, or -1 when it cannot. */
static inline int scratch_dir_make(char *dir, size_t len, const char *what)
{
    snprintf(dir, len, "/tmp/flinkop-%s-XXXXXX", what);
    return mkdtemp(dir) ? 0 : -1;
}

/* Runs the shell command `cmd` inside dir, its output discarded. Returns 0 when it exited 0, else -1. */
static inline int scratch_dir_run(const char *dir, const char *cmd)
{
    char line[4096];
    if (snprintf(line, sizeof line, "cd '%s' && ( %s ) >/dev/null 2>&1", dir, cmd) >= (int)sizeof line)
        return -1;
    return system(line) == 0 ? 0 : -1;
}

/* Makes NAME.key and a self-signed NAME.crt for CN=cn in dir (EC P-256, valid one day). Returns 0, or -1 when
 * openssl failed or is missing. */
static inline int scratch_dir_self_signed(const char *dir, const char *name, const char *cn)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s.key -out %s.crt "
             "-days 1 -subj /CN=%s",
             name, name, cn);
    return scratch_dir_run(dir, cmd);
}

/* Removes dir and everything in it. Returns 0, or -1 when rm failed. */
static inline int scratch_dir_remove(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
