/* The Lua policy engine: one sandboxed lua_State per loaded policy set.
 *
 * A policy set is a list of named Lua sources: the two policies (`rbac.lua`, `reconcile.lua`) and the shared modules
 * they `require` (from `scripts/` in a script directory, or flat keys of a ConfigMap). Policies see only base (minus
 * dofile/loadfile/print/warn, `load` restricted to text chunks, `setmetatable` refusing __gc, collectgarbage("count")
 * only), string (no dump), table, math, utf8, an `os` with time/date/clock only, `require` over the set's own modules
 * (plus "json"), and the `json` module (json.null, json.array, json.object, json.is_array, json.encode, json.decode).
 * Reading an undefined global or assigning any global is an error. Each call runs under an instruction budget and
 * the state under a memory cap; pattern functions, string.rep and table.move have input caps (they run in C, where
 * the budget cannot stop them); see the comment at the top of policy.c. Every failure is returned as a message that
 * names the policy file, the function, and `file:line` where Lua knows it. */
#ifndef FLINKOP_POLICY_H
#define FLINKOP_POLICY_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct policy_limits {
    size_t memory_bytes;       /* cap on everything the Lua state allocates; 0 = default (64 MiB) */
    long long instructions;    /* VM instructions per call; 0 = default (50 million) */
};

/* One source file of a policy set. `name` is the file name as users see it ("rbac.lua", "scripts/k8s.lua");
 * the module name `require` uses is the base name without ".lua". */
struct policy_file {
    char *name;
    char *text;
    size_t len;
};

struct policy_files {
    struct policy_file *files;
    size_t count;
};

/* Reads DIR/rbac.lua, DIR/reconcile.lua, and every DIR/scripts/ *.lua (and other DIR/ *.lua). Returns 0, or -1 with
 * a message. Free with policy_files_free. */
int policy_files_read_dir(const char *dir, struct policy_files *out, char *err, size_t errlen);
void policy_files_free(struct policy_files *files);

/* Appends a copy of one source (e.g. a ConfigMap key) to *files (start from a zeroed struct). Returns 0, or -1 with
 * a message. */
int policy_files_add(struct policy_files *files, const char *name, const char *text, size_t len, char *err,
                     size_t errlen);

/* Checks that every name ends in .lua, that module names are letters, digits and _ (not "json", the built-in), and
 * that no two files define the same module. policy_load and policy_files_read_dir call it. Returns 0 or -1. */
int policy_files_check(const struct policy_files *files, char *err, size_t errlen);

/* A short hex digest (16 characters) of the set's names and texts, whatever their order: which policy runs, for
 * logs and metrics. out holds at least 17 bytes. */
void policy_files_hash(const struct policy_files *files, char *out, size_t outlen);

/* The module name of a file name: its base name without ".lua" ("scripts/k8s.lua" → "k8s", *len = 3; not
 * NUL-terminated at len). */
const char *policy_module_name(const char *file_name, size_t *len);

struct policy;

/* Compiles the set in a fresh sandboxed state and runs `rbac.lua` and `reconcile.lua` (each must return a table).
 * Returns the policy (free with policy_free) or NULL with a `file:line: message` in err. The files are copied. */
struct policy *policy_load(const struct policy_files *files, const struct policy_limits *limits, char *err,
                           size_t errlen);
void policy_free(struct policy *p);

/* Calls `module.fn(args...)` where module is "rbac" or "reconcile" (the table the policy file returned), with the
 * JSON arguments converted to Lua (arrays carry json.array's metatable, JSON null is json.null). The first return
 * value is converted back to JSON into *result (caller frees with cJSON_Delete; a Lua nil gives a JSON null).
 * Returns 0, or -1 with a message naming policy, function and file:line in err (runtime error with its traceback's
 * first policy frame, instruction budget exhausted, memory cap exceeded, a value that JSON cannot hold).
 * After any failure the state is still usable for later calls. */
int policy_call(struct policy *p, const char *module, const char *fn, const cJSON *const *args, int nargs,
                cJSON **result, char *err, size_t errlen);

/* Where the policy built part of its answer to module.fn(args), for messages about a refused answer. `path` leads
 * from the answer to that part: keys and 1-based list indexes joined with dots ("objects.3.rules.2"; "" for the
 * answer itself). Policies are pure, so this calls the function again, noting for every table a policy function
 * returns the line that received it (for a rule made by a builder: the line that called the builder), and answers
 * the innermost table on the path that has such a line. When `expect` is given, the part found must equal it
 * (else the second answer differs from the first and no line is claimed). Writes "file:line" into where and returns
 * 0, or -1 when no line is known. */
int policy_locate(struct policy *p, const char *module, const char *fn, const cJSON *const *args, int nargs,
                  const char *path, const cJSON *expect, char *where, size_t wherelen);

/* Keeps `data` with the policy until policy_free, which calls free_fn(data); attaching again frees what was there.
 * render.c keeps the RBAC ceiling of this policy set here, since it belongs to one loaded set. */
void policy_attach(struct policy *p, void *data, void (*free_fn)(void *));
void *policy_attached(const struct policy *p);

/* Whether `module.fn` exists and is a function. */
int policy_has(struct policy *p, const char *module, const char *fn);

/* Bytes the state holds now, and the most it ever held. */
size_t policy_memory_in_use(const struct policy *p);
size_t policy_memory_peak(const struct policy *p);

/* Runs every `tests` table the set's modules export (module.tests = { name = function() ... end }), in a fresh
 * state each. Writes one line per test to `report` (may be NULL) and returns the number of failures, or -1 when
 * the set does not load (message in err). */
int policy_run_tests(const struct policy_files *files, const struct policy_limits *limits,
                     void (*report)(void *ud, const char *line), void *ud, char *err, size_t errlen);

#endif
