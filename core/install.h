/* `flinkop install`: everything a cluster needs to run flinkop, as one YAML stream for `kubectl apply -f -`: the
 * upstream CustomResourceDefinitions, the operator namespace, rbac.lua's operator() objects (the operator's
 * ServiceAccount, roles and bindings, and its Deployment), and the policy ConfigMap holding the script directory. */
#ifndef FLINKOP_INSTALL_H
#define FLINKOP_INSTALL_H

#include <stdio.h>

#include "context.h"
#include "policy.h"

/* The parts of the stream, for --only: the CRDs; the operator namespace with operator()'s objects; the policy
 * ConfigMap. deploy/generate writes the kustomize files from single parts. */
enum { INSTALL_CRDS = 1, INSTALL_OPERATOR = 2, INSTALL_POLICY = 4 };

/* Parses "crds,operator,policy" (any non-empty subset) into INSTALL_* bits. Returns 0, or -1 on an unknown part. */
int install_parts_parse(const char *list, unsigned *parts);

struct install_opts {
    const char *script_dir;   /* the policies to install and to render the install with */
    const char *crd_dir;      /* NULL: SCRIPT_DIR/deploy/crds */
    const char *image;        /* NULL: flinkop:VERSION */
    unsigned parts;           /* INSTALL_* bits; 0 means all */
    struct context_opts ctx;
    struct policy_limits limits;
};

/* Exit status as the dry-run's: 0 printed; 1 a policy output or a CRD file was refused (nothing printed);
 * 2 the policies could not be loaded. */
int install_run(const struct install_opts *o, FILE *out, FILE *diag);

#endif
