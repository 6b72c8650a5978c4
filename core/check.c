#include "check.h"

#include <string.h>

struct check_tally {
    FILE *out;
    int passed;
};

static void report_line(void *ud, const char *line)
{
    struct check_tally *t = ud;
    t->passed += strncmp(line, "ok - ", 5) == 0;
    fprintf(t->out, "%s\n", line);
}

int check_run(const char *script_dir, const struct policy_limits *limits, FILE *out)
{
    char err[2048];
    struct policy_files files = {0};
    if (policy_files_read_dir(script_dir, &files, err, sizeof err) != 0) {
        fprintf(out, "flinkop: %s\n", err);
        return 2;
    }
    int status = 2;
    struct policy *p = policy_load(&files, limits, err, sizeof err);
    if (p == NULL) {
        fprintf(out, "flinkop: policy refused: %s\n", err);
        goto out;
    }
    policy_free(p);
    struct check_tally tally = {out, 0};
    int failed = policy_run_tests(&files, limits, report_line, &tally, err, sizeof err);
    if (failed < 0) {
        fprintf(out, "flinkop: policy refused: %s\n", err);
        goto out;
    }
    fprintf(out, "check: %d passed, %d failed\n", tally.passed, failed);
    status = failed ? 1 : 0;
out:
    policy_files_free(&files);
    return status;
}
