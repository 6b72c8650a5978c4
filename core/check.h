/* `flinkop check`: load a script directory's policies and run their self-tests. */
#ifndef FLINKOP_CHECK_H
#define FLINKOP_CHECK_H

#include <stdio.h>

#include "policy.h"

/* Exit status: 0 everything loads and every test passes; 1 a test failed; 2 the policies do not load. */
int check_run(const char *script_dir, const struct policy_limits *limits, FILE *out);

#endif
