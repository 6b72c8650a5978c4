/* The Lua policy engine: a sandboxed lua_State per policy set (modelled on Redis's script_lua.c).
 *
 * What a policy sees: base (without dofile, loadfile, print, warn; collectgarbage answers "count" only; `load` takes
 * text chunks only; `setmetatable` refuses __gc), string (without dump; pattern functions and rep size-capped),
 * table (move capped), math, utf8, `os` with time/date/clock only, `require` over the set's own modules plus
 * "json", and the global `json`. Reading or writing an undeclared global is an error.
 *
 * Limits, and why each is needed:
 *  - memory: a counting allocator refuses past limits.memory_bytes (default 64 MiB);
 *  - time: a count hook every POLICY_HOOK_STEP VM instructions spends limits.instructions (default 50 million) per
 *    call; once spent it fires on every instruction, so a policy's pcall cannot swallow it and carry on;
 *  - C functions never reach the hook, so the ones whose running time a policy controls are capped: pattern
 *    functions (string.find/match/gmatch/gsub) refuse subjects over 1 MiB and patterns over 1 KiB, string.rep a
 *    result over the memory cap, table.move more than 4 Mi elements; and a pattern call whose worst case
 *    (pattern_cost.h: start positions times, per quantifier, the longest run its class can take) is over 5e8
 *    steps is refused, so a backtracking pattern (".-.-b" on a long subject) cannot run for long inside C either;
 *  - __gc metamethods run with hooks disabled, so setmetatable refuses a metatable with a __gc field. Lua marks an
 *    object for finalization only at setmetatable time, so adding __gc to the metatable later has no effect. */
#include "policy.h"
#include "lua_json.h"
#include "pattern_cost.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_DEFAULT_MEMORY ((size_t)64 << 20)
#define POLICY_DEFAULT_INSTRUCTIONS 50000000LL
#define POLICY_HOOK_STEP 10000
#define POLICY_MAX_SUBJECT ((size_t)1 << 20)
#define POLICY_MAX_PATTERN ((size_t)1024)
#define POLICY_MAX_PATTERN_STEPS 5e8 /* under a second of matching at worst (1.2e9 took 1.6 s here) */
#define POLICY_MAX_MOVE ((lua_Unsigned)1 << 22)
#define POLICY_TRACE_FRAMES 5
#define POLICY_MSG_MAX 1536

struct policy {
    lua_State *L;
    struct policy_files files; /* our copy, sorted by name */
    size_t mem_limit, mem_used, mem_peak;
    int mem_refused; /* the allocator refused since the current call began */
    long long budget, budget_left;
    int hook_step;
    size_t *requiring; /* indexes of the modules being loaded, outermost first: require cycles */
    size_t nrequiring;
    int tracing; /* policy_locate's call: note where returned tables go (policy_trace_hook) */
    void *attached;
    void (*attached_free)(void *);
};

/* Registry keys (unique addresses): name → module value; the json module table; the "module returned nil" mark. */
static const char policy_loaded_key = 'l';
static const char policy_json_key = 'j';
static const char policy_nil_key = 'n';
static const char policy_trace_key = 't'; /* policy_locate: weak table, returned table -> "file:line" */

/* The allocator's user data is the policy itself, which is how C functions and hooks find it. */
static struct policy *policy_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Counts every byte the state holds and refuses growth past the cap. Shrinking never fails: Lua assumes it. */
static void *policy_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct policy *p = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        p->mem_used -= old;
        return NULL;
    }
    if (nsize > old && p->mem_used - old + nsize > p->mem_limit) {
        p->mem_refused = 1;
        return NULL;
    }
    void *np = realloc(ptr, nsize);
    if (!np) {
        if (nsize > old)
            p->mem_refused = 1;
        return nsize > old ? NULL : ptr;
    }
    p->mem_used = p->mem_used - old + nsize;
    if (p->mem_used > p->mem_peak)
        p->mem_peak = p->mem_used;
    return np;
}

/* Only reached by a bug in this file (an API call that raised outside a protected call); Lua aborts after it. */
static int policy_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "flinkop: unprotected Lua error: %s\n", msg ? msg : "?");
    return 0;
}

/* Spends the budget; once spent, fires on every instruction and raises, so nothing in the policy runs on. */
static void policy_hook(lua_State *L, lua_Debug *ar)
{
    struct policy *p = policy_of(L);
    p->budget_left -= p->hook_step;
    if (p->budget_left > 0)
        return;
    lua_sethook(L, policy_hook, LUA_MASKCOUNT, 1);
    lua_getinfo(L, "Sl", ar);
    if (ar->currentline > 0)
        lua_pushfstring(L, "instruction budget of %I exceeded at %s:%d", (lua_Integer)p->budget, ar->short_src,
                        ar->currentline);
    else
        lua_pushfstring(L, "instruction budget of %I exceeded", (lua_Integer)p->budget);
    lua_error(L);
}

/* policy_locate's hook: the budget as usual, and for every table a policy function returns, the line that received
 * it (the caller's current line; the function's own return line when C called it), the last such return winning:
 * a rule made by a builder is noted where the policy called the builder, then no more once it sits in a list. C
 * functions are left out: next, ipairs or setmetatable hand back tables that were made elsewhere. */
static void policy_trace_hook(lua_State *L, lua_Debug *ar)
{
    lua_Debug caller;
    if (ar->event == LUA_HOOKCOUNT) {
        policy_hook(L, ar);
        return;
    }
    if (ar->event != LUA_HOOKRET || !lua_getinfo(L, "Slr", ar) || ar->what[0] == 'C' || ar->ntransfer == 0)
        return;
    const lua_Debug *at = ar;
    if (lua_getstack(L, 1, &caller) && lua_getinfo(L, "Sl", &caller) && caller.source[0] == '@' &&
        caller.currentline > 0)
        at = &caller;
    else if (ar->source[0] != '@' || ar->currentline <= 0)
        return;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &policy_trace_key);
    int trace = lua_gettop(L);
    for (int i = 0; i < ar->ntransfer && lua_getlocal(L, ar, ar->ftransfer + i); i++) {
        if (lua_type(L, -1) == LUA_TTABLE && lua_type(L, trace) == LUA_TTABLE) {
            lua_pushfstring(L, "%s:%d", at->short_src, at->currentline);
            lua_rawset(L, trace);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_settop(L, trace - 1);
}

/* Whether `msg` already names a policy location ("x.lua:12"), so the handler need not add one. */
static int policy_msg_has_location(const char *msg)
{
    for (const char *s = strstr(msg, ".lua:"); s; s = strstr(s + 1, ".lua:"))
        if (s[5] >= '0' && s[5] <= '9')
            return 1;
    return 0;
}

/* A bounded appender for building messages in a C buffer. */
static void policy_msg_add(char *buf, size_t *len, const char *fmt, ...)
{
    if (*len >= POLICY_MSG_MAX - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, POLICY_MSG_MAX - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < POLICY_MSG_MAX - 1 ? *len + (size_t)n : POLICY_MSG_MAX - 1;
}

/* The message handler of every call: one line of error (prefixed with the first policy frame's file:line when the
 * error does not carry one, as error({}) or error("x", 0) do) and up to POLICY_TRACE_FRAMES lines of traceback,
 * policy frames only (sources named "@file"). Not called for memory errors. */
static int policy_msgh(lua_State *L)
{
    char buf[POLICY_MSG_MAX];
    size_t len = 0;
    const char *msg;
    int t = lua_type(L, 1);
    if (t == LUA_TSTRING || t == LUA_TNUMBER)
        msg = lua_tostring(L, 1);
    else if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        msg = lua_tostring(L, -1);
    else if (t == LUA_TNIL || t == LUA_TBOOLEAN)
        msg = lua_pushfstring(L, "error(%s)", t == LUA_TNIL ? "nil" : lua_toboolean(L, 1) ? "true" : "false");
    else
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));

    lua_Debug ar;
    int frames = 0;
    for (int level = 1; lua_getstack(L, level, &ar) && frames < POLICY_TRACE_FRAMES; level++) {
        lua_getinfo(L, "Slnt", &ar);
        if (ar.source[0] != '@' || ar.currentline <= 0)
            continue;
        if (frames == 0) {
            if (!policy_msg_has_location(msg))
                policy_msg_add(buf, &len, "%s:%d: ", ar.short_src, ar.currentline);
            policy_msg_add(buf, &len, "%s", msg);
        }
        if (ar.name)
            policy_msg_add(buf, &len, "\n  %s:%d: in function '%s'", ar.short_src, ar.currentline, ar.name);
        else if (strcmp(ar.what, "main") == 0)
            policy_msg_add(buf, &len, "\n  %s:%d: in main chunk", ar.short_src, ar.currentline);
        else
            policy_msg_add(buf, &len, "\n  %s:%d: in function <%s:%d>", ar.short_src, ar.currentline, ar.short_src,
                           ar.linedefined);
        if (ar.istailcall)
            policy_msg_add(buf, &len, "\n  (...tail calls...)");
        frames++;
    }
    if (frames == 0)
        policy_msg_add(buf, &len, "%s", msg);
    lua_pushlstring(L, buf, len);
    return 1;
}

/* ---- the sandbox ---- */

/* A global read that finds nothing is a typo far more often than a test for absence (rawget(_G, k) still works). */
static int policy_global_index(lua_State *L)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : luaL_typename(L, 2);
    return luaL_error(L, "policy read undefined global '%s'", k);
}

/* Policies keep no global state: module tables and locals only. */
static int policy_global_newindex(lua_State *L)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : luaL_typename(L, 2);
    return luaL_error(L, "policy tried to set global '%s' (use a local)", k);
}

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t": binary chunks can crash the VM. */
static int policy_lua_load(lua_State *L)
{
    int n = lua_gettop(L);
    size_t len;
    if (lua_type(L, 1) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, 1, &len);
        if (len > 0 && s[0] == LUA_SIGNATURE[0]) {
            luaL_pushfail(L);
            lua_pushliteral(L, "load: binary chunks are refused in policies (text only)");
            return 2;
        }
    }
    lua_settop(L, n < 4 ? 2 : 4);
    lua_pushliteral(L, "t");
    if (n >= 4)
        lua_replace(L, 3);
    else
        lua_insert(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable refusing __gc: finalizers run with hooks off, so one could loop forever. */
static int policy_lua_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in policies");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* collectgarbage("count") only: the rest would let a policy tune or stop the collector of a shared state. */
static int policy_lua_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage: only \"count\" is allowed in policies");
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT) + (lua_Number)lua_gc(L, LUA_GCCOUNTB) / 1024.0);
    return 1;
}

/* Calls upvalue 1 with the current arguments and returns all its results. */
static int policy_call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* string.find/match/gmatch/gsub with bounded inputs (upvalue 2 is the name): they run in C, out of the hook's
 * reach, so a call whose worst case is over POLICY_MAX_PATTERN_STEPS is refused before it starts. */
static int policy_string_pattern(lua_State *L)
{
    size_t slen, plen;
    const char *subject = luaL_checklstring(L, 1, &slen);
    const char *pattern = luaL_checklstring(L, 2, &plen);
    const char *name = lua_tostring(L, lua_upvalueindex(2));
    if (slen > POLICY_MAX_SUBJECT)
        return luaL_error(L, "%s: subject of %I bytes is over the 1 MiB limit of pattern functions", name,
                          (lua_Integer)slen);
    if (plen > POLICY_MAX_PATTERN)
        return luaL_error(L, "%s: pattern of %I bytes is over the 1 KiB limit", name, (lua_Integer)plen);
    /* string.find(s, p, init, true) is a plain search: no matcher. gmatch cannot be anchored. */
    int plain = strcmp(name, "string.find") == 0 && lua_toboolean(L, 4);
    if (!plain && pattern_cost(pattern, plen, subject, slen, strcmp(name, "string.gmatch") != 0) >
                      POLICY_MAX_PATTERN_STEPS)
        return luaL_error(L, "%s: pattern \"%s\" could backtrack for too long over this %I-byte subject (over "
                          "5e8 steps at worst): quantify fewer items that can take long runs, anchor it with ^, or "
                          "shorten the subject", name, pattern, (lua_Integer)slen);
    return policy_call_original(L);
}

/* string.rep refusing results over the memory cap; also stops rep("", 1e18), a C loop that allocates nothing. */
static int policy_string_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    size_t cap = policy_of(L)->mem_limit;
    if (n > 0 && ((lua_Unsigned)n > cap || l + lsep > cap / (size_t)n))
        return luaL_error(L, "string.rep: result would be larger than the memory cap");
    return policy_call_original(L);
}

/* table.move refusing huge ranges: moving nils between empty tables is a C loop that allocates nothing. */
static int policy_table_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f && (lua_Unsigned)e - (lua_Unsigned)f >= POLICY_MAX_MOVE)
        return luaL_error(L, "table.move: more than %I elements", (lua_Integer)POLICY_MAX_MOVE);
    return policy_call_original(L);
}

/* Replaces t[name] (t at -1) by `fn` closed over the original and, when given, a name for messages. */
static void policy_wrap(lua_State *L, const char *name, lua_CFunction fn, const char *shown)
{
    lua_getfield(L, -1, name);
    int n = 1;
    if (shown) {
        lua_pushstring(L, shown);
        n = 2;
    }
    lua_pushcclosure(L, fn, n);
    lua_setfield(L, -2, name);
}

/* The set's module names, sorted, for "not found" messages. */
static void policy_module_list(const struct policy *p, char *buf, size_t buflen)
{
    size_t n = p->files.count, len = 0;
    const char **names = calloc(n + 1, sizeof *names);
    size_t *lens = calloc(n + 1, sizeof *lens);
    buf[0] = '\0';
    if (!names || !lens)
        goto out;
    for (size_t i = 0; i < n; i++)
        names[i] = policy_module_name(p->files.files[i].name, &lens[i]);
    names[n] = "json";
    lens[n] = 4;
    for (size_t i = 0; i <= n; i++) { /* insertion sort: sets are small */
        for (size_t j = i; j > 0; j--) {
            size_t m = lens[j] < lens[j - 1] ? lens[j] : lens[j - 1];
            int c = memcmp(names[j], names[j - 1], m);
            if (c > 0 || (c == 0 && lens[j] >= lens[j - 1]))
                break;
            const char *tn = names[j];
            size_t tl = lens[j];
            names[j] = names[j - 1];
            lens[j] = lens[j - 1];
            names[j - 1] = tn;
            lens[j - 1] = tl;
        }
    }
    for (size_t i = 0; i <= n && len < buflen; i++) {
        int w = snprintf(buf + len, buflen - len, "%s%.*s", i ? ", " : "", (int)lens[i], names[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
out:
    free(names);
    free(lens);
}

/* Index of the file defining module `name`, or -1. */
static long policy_module_find(const struct policy *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->files.count; i++) {
        size_t l;
        const char *m = policy_module_name(p->files.files[i].name, &l);
        if (l == len && memcmp(m, name, len) == 0)
            return (long)i;
    }
    return -1;
}

/* Loads module `name` once and pushes its value as it returned it (nil included); later requires get the cached
 * value. Compiles text-only with chunkname "@<file name>" so errors read `scripts/k8s.lua:12:`. */
static void policy_require_raw(lua_State *L, struct policy *p, const char *name, size_t len)
{
    if (len == 4 && memcmp(name, "json", 4) == 0) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &policy_json_key);
        return;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &policy_loaded_key);
    int loaded = lua_gettop(L);
    lua_pushlstring(L, name, len);
    if (lua_rawget(L, loaded) != LUA_TNIL) {
        if (lua_touserdata(L, -1) == &policy_nil_key) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        lua_remove(L, loaded);
        return;
    }
    lua_pop(L, 1);
    long i = policy_module_find(p, name, len);
    if (i < 0) {
        char list[512];
        policy_module_list(p, list, sizeof list);
        luaL_error(L, "module '%s' not found in the policy set (modules: %s)", name, list);
    }
    for (size_t k = 0; k < p->nrequiring; k++) {
        if (p->requiring[k] != (size_t)i)
            continue;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addstring(&b, "require cycle: ");
        for (size_t j = k; j < p->nrequiring; j++) {
            size_t l;
            const char *m = policy_module_name(p->files.files[p->requiring[j]].name, &l);
            luaL_addlstring(&b, m, l);
            luaL_addstring(&b, " -> ");
        }
        luaL_addlstring(&b, name, len);
        luaL_pushresult(&b);
        lua_error(L);
    }
    const struct policy_file *f = &p->files.files[i];
    lua_pushfstring(L, "@%s", f->name);
    if (luaL_loadbufferx(L, f->text, f->len, lua_tostring(L, -1), "t") != LUA_OK)
        lua_error(L);
    lua_remove(L, -2);
    lua_pushlstring(L, name, len);
    lua_pushstring(L, f->name);
    p->requiring[p->nrequiring++] = (size_t)i;
    lua_call(L, 2, 1);
    p->nrequiring--;
    lua_pushlstring(L, name, len);
    if (lua_isnil(L, -2))
        lua_pushlightuserdata(L, (void *)&policy_nil_key);
    else
        lua_pushvalue(L, -2);
    lua_rawset(L, loaded);
    lua_remove(L, loaded);
}

/* require(name): only the set's own modules and "json"; names are letters, digits and _, so no path gets through. */
static int policy_lua_require(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    int ok = len > 0;
    for (size_t i = 0; i < len && ok; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || name[i] == '_';
    if (!ok) {
        char list[512];
        policy_module_list(policy_of(L), list, sizeof list);
        return luaL_error(L, "module '%s' not found in the policy set (modules: %s)", name, list);
    }
    policy_require_raw(L, policy_of(L), name, len);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    return 1;
}

/* `os` for policies: a fresh table with time, date and clock copied from a throwaway real os library. */
static void policy_open_os(lua_State *L)
{
    static const char *const keep[] = {"time", "date", "clock"};
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, luaopen_os);
    lua_call(L, 0, 1);
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        lua_getfield(L, -1, keep[i]);
        lua_setfield(L, -3, keep[i]);
    }
    lua_pop(L, 1);
    lua_setglobal(L, "os");
}

/* Protected body: builds the sandbox in a fresh state. Globals are locked last. */
static int policy_sandbox_open(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},        {LUA_STRLIBNAME, luaopen_string}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8},  {NULL, NULL},
    };
    static const char *const removed[] = {"dofile", "loadfile", "print", "warn"};
    for (const luaL_Reg *lib = libs; lib->name; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, removed[i]);
    }
    policy_wrap(L, "load", policy_lua_load, NULL);
    policy_wrap(L, "setmetatable", policy_lua_setmetatable, NULL);
    lua_pushcfunction(L, policy_lua_collectgarbage);
    lua_setfield(L, -2, "collectgarbage");
    lua_pushcfunction(L, policy_lua_require);
    lua_setfield(L, -2, "require");
    lua_pop(L, 1);

    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    policy_wrap(L, "find", policy_string_pattern, "string.find");
    policy_wrap(L, "match", policy_string_pattern, "string.match");
    policy_wrap(L, "gmatch", policy_string_pattern, "string.gmatch");
    policy_wrap(L, "gsub", policy_string_pattern, "string.gsub");
    policy_wrap(L, "rep", policy_string_rep, NULL);
    lua_pop(L, 1);
    lua_getglobal(L, LUA_TABLIBNAME);
    policy_wrap(L, "move", policy_table_move, NULL);
    lua_pop(L, 1);

    lua_pushliteral(L, ""); /* the string metatable is shared by every string: make it unreachable */
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "string");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    policy_open_os(L);
    lua_json_open(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &policy_json_key);
    lua_setglobal(L, "json");
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &policy_loaded_key);

    lua_pushglobaltable(L);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, policy_global_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, policy_global_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "_G");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    return 0;
}

/* ---- protected calls ---- */

/* Runs body(ud) under the message handler with a fresh budget. On success the body's `nresults` results are on the
 * stack; on failure the message is on top. Returns the lua_pcall status. */
static int policy_protected(struct policy *p, lua_CFunction body, void *ud, int nresults)
{
    lua_State *L = p->L;
    lua_settop(L, 0);
    p->budget_left = p->budget;
    p->mem_refused = 0;
    p->nrequiring = 0;
    if (p->tracing)
        lua_sethook(L, policy_trace_hook, LUA_MASKCOUNT | LUA_MASKRET, p->hook_step);
    else
        lua_sethook(L, policy_hook, LUA_MASKCOUNT, p->hook_step);
    lua_pushcfunction(L, policy_msgh);
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, ud);
    return lua_pcall(L, 1, nresults, 1);
}

static void policy_cap_text(const struct policy *p, char *buf, size_t len)
{
    if (p->mem_limit % ((size_t)1 << 20) == 0)
        snprintf(buf, len, "%zu MiB", p->mem_limit >> 20);
    else
        snprintf(buf, len, "%zu bytes", p->mem_limit);
}

/* Writes "<prefix><message>" for a failed protected call, reporting memory errors ourselves (Lua gives them no
 * handler; a memory error rethrown by C code arrives as a runtime error, or breaks the handler), then clears the
 * stack and collects, so the state is usable for the next call. */
static void policy_fail(struct policy *p, int status, const char *prefix, char *err, size_t errlen)
{
    lua_State *L = p->L;
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no error message)";
    if (status == LUA_ERRMEM ||
        (p->mem_refused && (status == LUA_ERRERR || strncmp(msg, "not enough memory", 17) == 0))) {
        char cap[64];
        policy_cap_text(p, cap, sizeof cap);
        snprintf(err, errlen, "%smemory cap of %s exceeded", prefix, cap);
    } else if (status == LUA_ERRERR) {
        snprintf(err, errlen, "%serror while handling an error (%s)", prefix, msg);
    } else {
        snprintf(err, errlen, "%s%s", prefix, msg);
    }
    lua_settop(L, 0);
    lua_sethook(L, NULL, 0, 0);
    lua_gc(L, LUA_GCCOLLECT);
}

/* The file name users know for a module ("rbac" → "rbac.lua"). */
static const char *policy_file_of(const struct policy *p, const char *module)
{
    long i = policy_module_find(p, module, strlen(module));
    return i < 0 ? module : p->files.files[i].name;
}

/* Protected body: (name) → the module's value as it returned it. */
static int policy_require_body(lua_State *L)
{
    const char *name = lua_touserdata(L, 1);
    policy_require_raw(L, policy_of(L), name, strlen(name));
    return 1;
}

static int policy_file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct policy_file *)a)->name, ((const struct policy_file *)b)->name);
}

/* A new policy with copies of the files and an empty state; NULL with a message. */
static struct policy *policy_new(const struct policy_files *files, const struct policy_limits *limits, char *err,
                                 size_t errlen)
{
    if (policy_files_check(files, err, errlen))
        return NULL;
    struct policy *p = calloc(1, sizeof *p);
    if (!p)
        goto oom;
    for (size_t i = 0; i < files->count; i++)
        if (policy_files_add(&p->files, files->files[i].name, files->files[i].text, files->files[i].len, err,
                             errlen)) {
            policy_free(p);
            return NULL;
        }
    qsort(p->files.files, p->files.count, sizeof *p->files.files, policy_file_cmp);
    p->requiring = calloc(files->count + 1, sizeof *p->requiring);
    if (!p->requiring)
        goto oom;
    p->mem_limit = limits && limits->memory_bytes ? limits->memory_bytes : POLICY_DEFAULT_MEMORY;
    p->budget = limits && limits->instructions > 0 ? limits->instructions : POLICY_DEFAULT_INSTRUCTIONS;
    p->hook_step = p->budget < POLICY_HOOK_STEP ? (int)p->budget : POLICY_HOOK_STEP;
    p->L = lua_newstate(policy_alloc, p);
    if (!p->L) {
        char cap[64];
        policy_cap_text(p, cap, sizeof cap);
        snprintf(err, errlen, "cannot create a Lua state within the memory cap of %s", cap);
        policy_free(p);
        return NULL;
    }
    lua_atpanic(p->L, policy_panic);
    int status = policy_protected(p, policy_sandbox_open, NULL, 0);
    if (status != LUA_OK) {
        policy_fail(p, status, "creating the sandbox: ", err, errlen);
        policy_free(p);
        return NULL;
    }
    lua_sethook(p->L, NULL, 0, 0);
    return p;
oom:
    snprintf(err, errlen, "out of memory");
    policy_free(p);
    return NULL;
}

/* Compiles every file without running it, so a syntax error anywhere in the set fails the load, not a later call. */
static int policy_compile_all(struct policy *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->files.count; i++) {
        char chunk[512];
        const struct policy_file *f = &p->files.files[i];
        snprintf(chunk, sizeof chunk, "@%s", f->name);
        p->mem_refused = 0;
        int status = luaL_loadbufferx(p->L, f->text, f->len, chunk, "t");
        if (status != LUA_OK) {
            policy_fail(p, status, "", err, errlen);
            return -1;
        }
        lua_settop(p->L, 0);
    }
    lua_gc(p->L, LUA_GCCOLLECT);
    return 0;
}

/* Runs a policy file (rbac, reconcile) and checks that it returned a table. */
static int policy_run_main(struct policy *p, const char *module, char *err, size_t errlen)
{
    const char *file = policy_file_of(p, module);
    if (policy_module_find(p, module, strlen(module)) < 0) {
        snprintf(err, errlen, "%s.lua: missing from the policy set", module);
        return -1;
    }
    int status = policy_protected(p, policy_require_body, (void *)module, 1);
    if (status != LUA_OK) {
        policy_fail(p, status, "", err, errlen);
        return -1;
    }
    int t = lua_type(p->L, -1);
    lua_settop(p->L, 0);
    lua_sethook(p->L, NULL, 0, 0);
    if (t != LUA_TTABLE) {
        snprintf(err, errlen, "%s: must return a table of functions, got %s", file, lua_typename(p->L, t));
        return -1;
    }
    return 0;
}

struct policy *policy_load(const struct policy_files *files, const struct policy_limits *limits, char *err,
                           size_t errlen)
{
    struct policy *p = policy_new(files, limits, err, errlen);
    if (!p)
        return NULL;
    if (policy_compile_all(p, err, errlen) || policy_run_main(p, "rbac", err, errlen) ||
        policy_run_main(p, "reconcile", err, errlen)) {
        policy_free(p);
        return NULL;
    }
    return p;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    if (p->attached_free)
        p->attached_free(p->attached);
    if (p->L)
        lua_close(p->L);
    policy_files_free(&p->files);
    free(p->requiring);
    free(p);
}

size_t policy_memory_in_use(const struct policy *p)
{
    return p->mem_used;
}

size_t policy_memory_peak(const struct policy *p)
{
    return p->mem_peak;
}

/* ---- calls ---- */

struct policy_call_ctx {
    const char *module, *fn;
    const cJSON *const *args;
    int nargs;
    int has; /* policy_has: only look */
};

/* Pushes loaded[module][fn] (raw lookups: no policy code runs), or raises when it is not a function. */
static void policy_push_fn(lua_State *L, const struct policy_call_ctx *c)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &policy_loaded_key);
    lua_pushstring(L, c->module);
    if (lua_rawget(L, -2) != LUA_TTABLE)
        luaL_error(L, "module '%s' is not a loaded policy", c->module);
    lua_pushstring(L, c->fn);
    if (lua_rawget(L, -2) != LUA_TFUNCTION)
        luaL_error(L, "%s.lua has no function '%s'", c->module, c->fn);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* Converts the arguments (raising on memory errors), calls the function and leaves its first result on top. */
static void policy_call_run(lua_State *L, const struct policy_call_ctx *c)
{
    luaL_checkstack(L, c->nargs + 8, "policy arguments");
    policy_push_fn(L, c);
    for (int i = 0; i < c->nargs; i++)
        lua_json_push(L, c->args[i]);
    lua_call(L, c->nargs, 1);
}

/* Protected body of policy_call. */
static int policy_call_body(lua_State *L)
{
    policy_call_run(L, lua_touserdata(L, 1));
    return 1;
}

int policy_call(struct policy *p, const char *module, const char *fn, const cJSON *const *args, int nargs,
                cJSON **result, char *err, size_t errlen)
{
    char prefix[256];
    struct policy_call_ctx c = {module, fn, args, nargs, 0};
    *result = NULL;
    snprintf(prefix, sizeof prefix, "%s: %s(): ", policy_file_of(p, module), fn);
    int status = policy_protected(p, policy_call_body, &c, 1);
    if (status != LUA_OK) {
        policy_fail(p, status, prefix, err, errlen);
        return -1;
    }
    lua_sethook(p->L, NULL, 0, 0);
    char why[512];
    int memory_error;
    *result = lua_json_to_cjson(p->L, -1, "result", &memory_error, why, sizeof why);
    lua_settop(p->L, 0);
    if (!*result) {
        if (memory_error) {
            char cap[64];
            policy_cap_text(p, cap, sizeof cap);
            snprintf(err, errlen, "%smemory cap of %s exceeded converting the result", prefix, cap);
        } else {
            snprintf(err, errlen, "%s%s", prefix, why);
        }
        lua_gc(p->L, LUA_GCCOLLECT);
        return -1;
    }
    return 0;
}

struct policy_locate_ctx {
    struct policy_call_ctx call;
    const char *path;
    char where[256];
};

/* Copies the line noted for the table on top, if any, into c->where. */
static void policy_locate_note(lua_State *L, int trace, struct policy_locate_ctx *c)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        return;
    lua_pushvalue(L, -1);
    if (lua_rawget(L, trace) == LUA_TSTRING)
        snprintf(c->where, sizeof c->where, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
}

/* Protected body of policy_locate: the call under the trace hook, then a walk down the path with raw lookups (no
 * policy code runs), noting the innermost line. Returns the part the path leads to (nil when it leads nowhere). */
static int policy_locate_body(lua_State *L)
{
    struct policy_locate_ctx *c = lua_touserdata(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &policy_trace_key);
    policy_call_run(L, &c->call);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &policy_trace_key);
    int trace = lua_gettop(L);
    lua_pushvalue(L, trace - 1);
    policy_locate_note(L, trace, c);
    for (const char *seg = c->path; *seg && lua_type(L, -1) == LUA_TTABLE;) {
        size_t n = strcspn(seg, ".");
        char *end;
        long index = strtol(seg, &end, 10);
        if (end == seg + n && n > 0)
            lua_rawgeti(L, -1, index);
        else {
            lua_pushlstring(L, seg, n);
            lua_rawget(L, -2);
        }
        lua_remove(L, -2);
        policy_locate_note(L, trace, c);
        seg += n + (seg[n] == '.');
    }
    return 1;
}

int policy_locate(struct policy *p, const char *module, const char *fn, const cJSON *const *args, int nargs,
                  const char *path, const cJSON *expect, char *where, size_t wherelen)
{
    struct policy_locate_ctx c = {{module, fn, args, nargs, 0}, path, ""};
    char why[256];
    int memory_error, rc = -1;
    p->tracing = 1;
    int status = policy_protected(p, policy_locate_body, &c, 1);
    p->tracing = 0;
    lua_sethook(p->L, NULL, 0, 0);
    if (status == LUA_OK && c.where[0] != '\0') {
        cJSON *found = lua_json_to_cjson(p->L, -1, "located", &memory_error, why, sizeof why);
        if (expect == NULL || (found && cJSON_Compare(found, expect, 1))) {
            snprintf(where, wherelen, "%s", c.where);
            rc = 0;
        }
        cJSON_Delete(found);
    }
    lua_settop(p->L, 0);
    lua_pushnil(p->L);
    lua_rawsetp(p->L, LUA_REGISTRYINDEX, &policy_trace_key);
    lua_gc(p->L, LUA_GCCOLLECT);
    return rc;
}

void policy_attach(struct policy *p, void *data, void (*free_fn)(void *))
{
    if (p->attached_free)
        p->attached_free(p->attached);
    p->attached = data;
    p->attached_free = free_fn;
}

void *policy_attached(const struct policy *p)
{
    return p->attached;
}

static int policy_has_body(lua_State *L)
{
    struct policy_call_ctx *c = lua_touserdata(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &policy_loaded_key);
    lua_pushstring(L, c->module);
    if (lua_rawget(L, -2) != LUA_TTABLE)
        return 0;
    lua_pushstring(L, c->fn);
    c->has = lua_rawget(L, -2) == LUA_TFUNCTION;
    return 0;
}

int policy_has(struct policy *p, const char *module, const char *fn)
{
    struct policy_call_ctx c = {module, fn, NULL, 0, 0};
    int status = policy_protected(p, policy_has_body, &c, 0);
    lua_settop(p->L, 0);
    lua_sethook(p->L, NULL, 0, 0);
    return status == LUA_OK && c.has;
}

/* ---- tests ---- */

struct policy_test_ctx {
    const char *module, *name;
};

/* Protected body: pushes the module's `tests` table, or nil when it exports none. */
static int policy_tests_body(lua_State *L)
{
    struct policy_test_ctx *c = lua_touserdata(L, 1);
    policy_require_raw(L, policy_of(L), c->module, strlen(c->module));
    if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushliteral(L, "tests");
    if (lua_rawget(L, -2) != LUA_TTABLE) {
        lua_pushnil(L);
        return 1;
    }
    return 1;
}

/* Protected body: runs tests[name]. */
static int policy_test_body(lua_State *L)
{
    struct policy_test_ctx *c = lua_touserdata(L, 1);
    policy_require_raw(L, policy_of(L), c->module, strlen(c->module));
    lua_getfield(L, -1, "tests");
    lua_getfield(L, -1, c->name);
    if (!lua_isfunction(L, -1))
        return luaL_error(L, "not a function");
    lua_call(L, 0, 0);
    return 0;
}

static int policy_cstr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sends one report line: "<status> - <file>: <test>[: <first line of the message>]". */
static void policy_report(void (*report)(void *, const char *), void *ud, int ok, const char *file,
                          const char *test, const char *msg)
{
    char line[1024];
    if (!report)
        return;
    if (ok)
        snprintf(line, sizeof line, "ok - %s: %s", file, test);
    else
        snprintf(line, sizeof line, "not ok - %s: %s: %.*s", file, test, (int)strcspn(msg, "\n"), msg);
    report(ud, line);
}

/* Collects the string keys of the table on top (no policy code runs), sorted; a malloc'd array of malloc'd names. */
static char **policy_test_names(lua_State *L, size_t *count, int *bad_keys)
{
    char **names = NULL;
    size_t n = 0;
    *bad_keys = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            (*bad_keys)++;
            continue;
        }
        char **grown = realloc(names, (n + 1) * sizeof *grown);
        char *copy = grown ? strdup(lua_tostring(L, -1)) : NULL;
        if (grown)
            names = grown;
        if (!copy) {
            lua_pop(L, 1);
            break;
        }
        names[n++] = copy;
    }
    if (names)
        qsort(names, n, sizeof *names, policy_cstr_cmp);
    *count = n;
    return names;
}

/* Runs one module's tests in a fresh state; returns the number of failures. */
static int policy_test_module(const struct policy_files *files, const struct policy_limits *limits,
                              const char *file, const char *module, void (*report)(void *, const char *), void *ud)
{
    char err[POLICY_MSG_MAX] = "";
    struct policy_test_ctx c = {module, NULL};
    struct policy *p = policy_load(files, limits, err, sizeof err);
    int failures = 0;
    if (!p) {
        policy_report(report, ud, 0, file, "(loading)", err);
        return 1;
    }
    int status = policy_protected(p, policy_tests_body, &c, 1);
    if (status != LUA_OK) {
        policy_fail(p, status, "", err, sizeof err);
        policy_report(report, ud, 0, file, "(loading)", err);
        policy_free(p);
        return 1;
    }
    lua_sethook(p->L, NULL, 0, 0);
    if (lua_isnil(p->L, -1)) {
        policy_free(p);
        return 0;
    }
    size_t n;
    int bad;
    char **names = policy_test_names(p->L, &n, &bad);
    lua_settop(p->L, 0);
    if (bad) {
        policy_report(report, ud, 0, file, "tests", "test names must be strings");
        failures++;
    }
    for (size_t i = 0; i < n; i++) {
        c.name = names[i];
        status = policy_protected(p, policy_test_body, &c, 0);
        lua_sethook(p->L, NULL, 0, 0);
        if (status != LUA_OK) {
            policy_fail(p, status, "", err, sizeof err);
            failures++;
        }
        policy_report(report, ud, status == LUA_OK, file, names[i], err);
        lua_settop(p->L, 0);
        free(names[i]);
    }
    free(names);
    policy_free(p);
    return failures;
}

int policy_run_tests(const struct policy_files *files, const struct policy_limits *limits,
                     void (*report)(void *ud, const char *line), void *ud, char *err, size_t errlen)
{
    struct policy *p = policy_load(files, limits, err, errlen);
    if (!p)
        return -1;
    int failures = 0;
    for (size_t i = 0; i < p->files.count; i++) {
        char module[256];
        size_t len;
        const char *m = policy_module_name(p->files.files[i].name, &len);
        snprintf(module, sizeof module, "%.*s", (int)len, m);
        failures += policy_test_module(files, limits, p->files.files[i].name, module, report, ud);
    }
    policy_free(p);
    return failures;
}
