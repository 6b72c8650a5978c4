/* `flinkop check`: load a script directory's policies, run their self-tests, and hold rbac.lua's answers for sample
 * namespaces to the RBAC guardrails the daemon enforces. */
#ifndef FLINKOP_CHECK_H
#define FLINKOP_CHECK_H

#include <stdio.h>

#include "context.h"
#include "policy.h"

/* `ctx` is the scope to check (operator namespace, watched namespaces); `rbac_ceiling` a --rbac-ceiling file or
 * NULL. One line per test and guardrail goes to `out`. Exit status: 0 everything loads and every test and
 * guardrail passes; 1 one failed (a ceiling file that does not load is a failed guardrail); 2 the policies do not
 * load. */
int check_run(const char *script_dir, const struct policy_limits *limits, const struct context_opts *ctx,
              const char *rbac_ceiling, FILE *out);

#endif
