#ifndef FLINKOP_VERSION_H
#define FLINKOP_VERSION_H
#define FLINKOP_VERSION "0.1.0"
/* The policy API version policies receive as ctx.api_version (docs/policy-api.md). */
#define FLINKOP_POLICY_API 1
#endif
