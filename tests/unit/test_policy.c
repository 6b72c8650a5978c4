/* The policy sandbox: what policies can and cannot do, limits, and error messages users read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "policy.h"

#define DEFAULT_RECONCILE "return { reconcile = function(x) return x end }\n"
#define DEFAULT_RBAC "return { namespace = function(x) return x end }\n"

/* A set of up to three files built in memory; NULL texts take the defaults above. */
static void set_build(struct policy_files *set, const char *rbac, const char *reconcile, const char *extra_name,
                      const char *extra_text)
{
    char err[256];
    memset(set, 0, sizeof *set);
    rbac = rbac ? rbac : DEFAULT_RBAC;
    reconcile = reconcile ? reconcile : DEFAULT_RECONCILE;
    assert_int_equal(policy_files_add(set, "rbac.lua", rbac, strlen(rbac), err, sizeof err), 0);
    assert_int_equal(policy_files_add(set, "reconcile.lua", reconcile, strlen(reconcile), err, sizeof err), 0);
    if (extra_name)
        assert_int_equal(policy_files_add(set, extra_name, extra_text, strlen(extra_text), err, sizeof err), 0);
}

static struct policy *load_ok(const char *rbac, const char *reconcile, const struct policy_limits *limits)
{
    struct policy_files set;
    char err[2048];
    set_build(&set, rbac, reconcile, NULL, NULL);
    struct policy *p = policy_load(&set, limits, err, sizeof err);
    if (!p)
        fail_msg("policy_load: %s", err);
    policy_files_free(&set);
    return p;
}

/* Calls reconcile.reconcile() with no arguments and expects a failure whose message contains every `want`. */
static void expect_call_error(struct policy *p, const char *fn, const char *want1, const char *want2)
{
    char err[2048];
    cJSON *result = NULL;
    int rc = policy_call(p, "reconcile", fn, NULL, 0, &result, err, sizeof err);
    if (rc == 0)
        fail_msg("%s() succeeded", fn);
    assert_null(result);
    if (want1 && !strstr(err, want1))
        fail_msg("message '%s' lacks '%s'", err, want1);
    if (want2 && !strstr(err, want2))
        fail_msg("message '%s' lacks '%s'", err, want2);
}

static cJSON *call_ok(struct policy *p, const char *module, const char *fn, const cJSON *arg)
{
    char err[2048];
    cJSON *result = NULL;
    const cJSON *args[1] = {arg};
    if (policy_call(p, module, fn, args, arg ? 1 : 0, &result, err, sizeof err) != 0)
        fail_msg("%s.%s: %s", module, fn, err);
    return result;
}

static void expect_load_error(const char *rbac, const char *reconcile, const char *extra_name,
                              const char *extra_text, const char *want)
{
    struct policy_files set;
    char err[2048] = "";
    set_build(&set, rbac, reconcile, extra_name, extra_text);
    struct policy *p = policy_load(&set, NULL, err, sizeof err);
    policy_files_free(&set);
    if (p) {
        policy_free(p);
        fail_msg("policy_load succeeded, wanted '%s'", want);
    }
    if (!strstr(err, want))
        fail_msg("message '%s' lacks '%s'", err, want);
}

static void test_io_is_not_available(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "local function f()\n"
                               "  return io.open('/etc/passwd')\n"
                               "end\n"
                               "return { reconcile = f }\n",
                               NULL);
    expect_call_error(p, "reconcile", "reconcile.lua: reconcile(): reconcile.lua:2:", "undefined global 'io'");
    policy_free(p);
}

static void test_os_execute_is_not_available(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function() return os.execute('true') end,\n"
                               "         getenv = function() return os.getenv('HOME') end }\n",
                               NULL);
    expect_call_error(p, "reconcile", "reconcile.lua:1:", "execute");
    expect_call_error(p, "getenv", "reconcile.lua:2:", "getenv");
    policy_free(p);
}

static void test_os_time_is_available(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function()\n"
                               "  return { t = os.time() > 1600000000, d = os.date('!%Y', 0), c = os.clock() >= 0 }\n"
                               "end }\n",
                               NULL);
    cJSON *r = call_ok(p, "reconcile", "reconcile", NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "t")));
    assert_string_equal(cJSON_GetObjectItem(r, "d")->valuestring, "1970");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "c")));
    cJSON_Delete(r);
    policy_free(p);
}

/* lua_Writer collecting a dumped chunk. */
struct dump_buf {
    char data[4096];
    size_t len;
};

static int dump_writer(lua_State *L, const void *data, size_t len, void *ud)
{
    struct dump_buf *b = ud;
    (void)L;
    if (b->len + len > sizeof b->data)
        return 1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static void test_binary_chunk_is_refused(void **state)
{
    (void)state;
    /* Build a binary chunk in an ordinary state (policies have no string.dump). */
    lua_State *L = luaL_newstate();
    assert_int_equal(luaL_loadstring(L, "return 42"), LUA_OK);
    static struct dump_buf b;
    assert_int_equal(lua_dump(L, dump_writer, &b, 0), 0);
    size_t len = b.len;
    const char *bin = b.data;
    cJSON *arg = cJSON_CreateString(""); /* cJSON strings stop at NUL: pass the chunk hex-encoded */
    char *hex = malloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", (unsigned char)bin[i]);
    cJSON_SetValuestring(arg, hex);
    free(hex);
    lua_close(L);

    struct policy *p = load_ok(NULL,
                               "local function unhex(h) return (h:gsub('..', function(x)\n"
                               "  return string.char(tonumber(x, 16)) end)) end\n"
                               "return {\n"
                               "  reconcile = function(h) return assert(load(unhex(h))) end,\n"
                               "  dump = function() return string.dump(function() end) end,\n"
                               "  reader = function(h) local s = unhex(h); local done = false\n"
                               "    return assert(load(function() if done then return nil end; done = true;\n"
                               "      return s end, 'x', 'b')) end,\n"
                               "}\n",
                               NULL);
    char err[2048];
    cJSON *result = NULL;
    const cJSON *args[1] = {arg};
    assert_int_equal(policy_call(p, "reconcile", "reconcile", args, 1, &result, err, sizeof err), -1);
    assert_non_null(strstr(err, "binary chunks are refused"));
    assert_non_null(strstr(err, "reconcile.lua:4"));
    assert_int_equal(policy_call(p, "reconcile", "reader", args, 1, &result, err, sizeof err), -1);
    assert_non_null(strstr(err, "binary chunk"));
    expect_call_error(p, "dump", "reconcile.lua:5:", NULL);
    cJSON_Delete(arg);
    policy_free(p);
}

static void test_require_outside_the_set_fails(void **state)
{
    (void)state;
    struct policy_files set;
    char err[2048];
    set_build(&set, NULL,
              "local k8s = require('k8s')\n"
              "return {\n"
              "  reconcile = function() return k8s.name end,\n"
              "  os = function() return require('os') end,\n"
              "  path = function() return require('../../etc/passwd') end,\n"
              "  missing = function() return require('nonexistent') end,\n"
              "  json = function() return require('json').encode(json.array{1}) end,\n"
              "}\n",
              "scripts/k8s.lua", "return { name = 'k8s' }\n");
    struct policy *p = policy_load(&set, NULL, err, sizeof err);
    policy_files_free(&set);
    assert_non_null(p);
    cJSON *r = call_ok(p, "reconcile", "reconcile", NULL);
    assert_string_equal(r->valuestring, "k8s");
    cJSON_Delete(r);
    r = call_ok(p, "reconcile", "json", NULL);
    assert_string_equal(r->valuestring, "[1]");
    cJSON_Delete(r);
    expect_call_error(p, "os", "module 'os' not found in the policy set (modules: json, k8s, rbac, reconcile)",
                      "reconcile.lua:4:");
    expect_call_error(p, "path", "module '../../etc/passwd' not found in the policy set", "reconcile.lua:5:");
    expect_call_error(p, "missing", "module 'nonexistent' not found in the policy set", "reconcile.lua:6:");
    policy_free(p);
}

static void test_require_cycle_is_reported(void **state)
{
    (void)state;
    struct policy_files set;
    char err[2048];
    set_build(&set, NULL, "local a = require('a')\nreturn { reconcile = function() end }\n", "scripts/a.lua",
              "return require('b')\n");
    assert_int_equal(policy_files_add(&set, "scripts/b.lua", "return require('a')\n", 20, err, sizeof err), 0);
    struct policy *p = policy_load(&set, NULL, err, sizeof err);
    policy_files_free(&set);
    assert_null(p);
    assert_non_null(strstr(err, "require cycle: a -> b -> a"));
    assert_non_null(strstr(err, "scripts/b.lua:1:"));
}

static void test_endless_loop_stops_at_budget(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return {\n"
                               "  reconcile = function()\n"
                               "    while true do end\n"
                               "  end,\n"
                               "  swallow = function()\n"
                               "    while true do pcall(function() while true do end end) end\n"
                               "  end,\n"
                               "  fine = function() local n = 0 for i = 1, 1000 do n = n + i end return n end,\n"
                               "}\n",
                               NULL);
    expect_call_error(p, "reconcile", "reconcile.lua: reconcile(): instruction budget of 50000000 exceeded at "
                                      "reconcile.lua:3",
                      NULL);
    cJSON *r = call_ok(p, "reconcile", "fine", NULL);
    assert_int_equal(r->valueint, 500500);
    cJSON_Delete(r);
    expect_call_error(p, "swallow", "reconcile.lua: swallow(): instruction budget of 50000000 exceeded", NULL);
    r = call_ok(p, "reconcile", "fine", NULL);
    assert_int_equal(r->valueint, 500500);
    cJSON_Delete(r);
    policy_free(p);
}

static void test_memory_bomb_stops_at_cap(void **state)
{
    (void)state;
    struct policy_limits limits = {.memory_bytes = 16u << 20};
    struct policy *p = load_ok("return { namespace = function()\n"
                               "  local s = 'x' for i = 1, 40 do s = s .. s end return #s\n"
                               "end,\n"
                               "tables = function()\n"
                               "  local t = {} local i = 0 while true do i = i + 1; t[i] = { i } end\n"
                               "end,\n"
                               "caught = function()\n"
                               "  local ok = pcall(function() local s = 'x' for i = 1, 40 do s = s .. s end end)\n"
                               "  return ok\n"
                               "end,\n"
                               "rep = function() return #string.rep('x', 1 << 40) end,\n"
                               "small = function() return { ok = true } end }\n",
                               NULL, &limits);
    char err[2048];
    cJSON *r = NULL;
    assert_int_equal(policy_call(p, "rbac", "namespace", NULL, 0, &r, err, sizeof err), -1);
    assert_string_equal(err, "rbac.lua: namespace(): memory cap of 16 MiB exceeded");
    assert_int_equal(policy_call(p, "rbac", "tables", NULL, 0, &r, err, sizeof err), -1);
    assert_string_equal(err, "rbac.lua: tables(): memory cap of 16 MiB exceeded");
    assert_true(policy_memory_in_use(p) < (size_t)(1u << 20));
    assert_true(policy_memory_peak(p) <= (size_t)(16u << 20));
    r = call_ok(p, "rbac", "caught", NULL);
    assert_true(cJSON_IsFalse(r));
    cJSON_Delete(r);
    assert_int_equal(policy_call(p, "rbac", "rep", NULL, 0, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "rbac.lua:11: string.rep: result would be larger than the memory cap"));
    r = call_ok(p, "rbac", "small", NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
    cJSON_Delete(r);
    policy_free(p);
}

static void test_memory_cap_covers_arguments_and_json(void **state)
{
    (void)state;
    struct policy_limits limits = {.memory_bytes = 2u << 20};
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function(x) return #x end,\n"
                               "  decode = function(n) return #json.decode('[' .. string.rep('\"abcdefgh\",', n) .. '1]') end,\n"
                               "  encode = function(n) local t = json.array() for i = 1, n do t[i] = i end\n"
                               "    return #json.encode({ t, t, t, t, t, t, t, t }) end,\n"
                               "  big = function(n) local t = json.array() for i = 1, n do t[i] = { i = i } end return t end }\n",
                               &limits);
    char err[2048];
    cJSON *r = NULL;
    cJSON *arg = cJSON_CreateArray();
    for (int i = 0; i < 100000; i++) {
        char text[64];
        snprintf(text, sizeof text, "string %d, distinct so that Lua cannot share it", i);
        cJSON_AddItemToArray(arg, cJSON_CreateString(text));
    }
    const cJSON *args[1] = {arg};
    assert_int_equal(policy_call(p, "reconcile", "reconcile", args, 1, &r, err, sizeof err), -1);
    assert_string_equal(err, "reconcile.lua: reconcile(): memory cap of 2 MiB exceeded");
    cJSON_Delete(arg);
    const char *fns[] = {"decode", "encode", "big"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *n = cJSON_CreateNumber(100000);
        args[0] = n;
        assert_int_equal(policy_call(p, "reconcile", fns[i], args, 1, &r, err, sizeof err), -1);
        if (!strstr(err, "memory cap of 2 MiB exceeded"))
            fail_msg("%s: %s", fns[i], err);
        cJSON_SetNumberValue(n, 10);
        if (policy_call(p, "reconcile", fns[i], args, 1, &r, err, sizeof err) != 0)
            fail_msg("%s: %s", fns[i], err);
        cJSON_Delete(r);
        cJSON_Delete(n);
    }
    policy_free(p);
}

static void test_gc_metamethod_is_refused(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function()\n"
                               "  return setmetatable({}, { __gc = function() while true do end end })\n"
                               "end,\n"
                               "later = function()\n"
                               "  local mt = {} setmetatable({}, mt); mt.__gc = function() end\n"
                               "  return setmetatable({}, mt)\n"
                               "end,\n"
                               "plain = function() return getmetatable(setmetatable({}, { __index = {} })) ~= nil end,\n"
                               "strmt = function() return getmetatable('') end }\n",
                               NULL);
    expect_call_error(p, "reconcile", "reconcile.lua:2: setmetatable: __gc metamethods are not allowed", NULL);
    expect_call_error(p, "later", "reconcile.lua:6: setmetatable: __gc", NULL);
    cJSON *r = call_ok(p, "reconcile", "plain", NULL);
    assert_true(cJSON_IsTrue(r));
    cJSON_Delete(r);
    r = call_ok(p, "reconcile", "strmt", NULL);
    assert_string_equal(r->valuestring, "string");
    cJSON_Delete(r);
    policy_free(p);
}

static void test_global_assignment_is_refused(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function()\n"
                               "  counter = 1\n"
                               "end }\n",
                               NULL);
    expect_call_error(p, "reconcile", "reconcile.lua: reconcile(): reconcile.lua:2: policy tried to set global "
                                      "'counter'",
                      NULL);
    policy_free(p);
    expect_load_error(NULL, "function helper() end\nreturn {}\n", NULL, NULL,
                      "reconcile.lua:1: policy tried to set global 'helper'");
}

static void test_syntax_error_names_file_and_line(void **state)
{
    (void)state;
    expect_load_error(NULL, "return {\n  reconcile = function()\n    return 1 +\n  end }\n", NULL, NULL,
                      "reconcile.lua:4:");
    expect_load_error(NULL, NULL, "scripts/k8s.lua", "local x = = 1\n", "scripts/k8s.lua:1:");
}

static void test_runtime_error_names_file_and_line(void **state)
{
    (void)state;
    struct policy_files set;
    char err[2048];
    set_build(&set, NULL,
              "local k8s = require('k8s')\n"
              "return {\n"
              "  reconcile = function(fd) local n = k8s.name_of(fd) return n end,\n"
              "  table_error = function() error({ code = 1 }) end,\n"
              "  level0 = function() error('plain', 0) end,\n"
              "}\n",
              "scripts/k8s.lua",
              "local M = {}\n"
              "function M.name_of(fd)\n"
              "  return fd.metadata.name\n"
              "end\n"
              "return M\n");
    struct policy *p = policy_load(&set, NULL, err, sizeof err);
    policy_files_free(&set);
    assert_non_null(p);
    cJSON *arg = cJSON_Parse("{}");
    const cJSON *args[1] = {arg};
    cJSON *r = NULL;
    assert_int_equal(policy_call(p, "reconcile", "reconcile", args, 1, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "reconcile.lua: reconcile(): scripts/k8s.lua:3: attempt to index a nil value"));
    assert_non_null(strstr(err, "\n  scripts/k8s.lua:3: in function 'name_of'"));
    assert_non_null(strstr(err, "\n  reconcile.lua:3: in function <reconcile.lua:3>"));
    cJSON_Delete(arg);
    expect_call_error(p, "table_error", "reconcile.lua: table_error(): reconcile.lua:4: (error object is a table value)",
                      NULL);
    expect_call_error(p, "level0", "reconcile.lua: level0(): reconcile.lua:5: plain", NULL);
    expect_call_error(p, "nosuch", "reconcile.lua has no function 'nosuch'", NULL);
    assert_true(policy_has(p, "reconcile", "reconcile"));
    assert_false(policy_has(p, "reconcile", "nosuch"));
    assert_false(policy_has(p, "nosuch", "reconcile"));
    policy_free(p);
}

static void test_policy_returning_non_table_is_refused(void **state)
{
    (void)state;
    expect_load_error("local x = 1\n", NULL, NULL, NULL, "rbac.lua: must return a table of functions, got nil");
    expect_load_error(NULL, "return 'reconcile'\n", NULL, NULL,
                      "reconcile.lua: must return a table of functions, got string");
}

static void test_json_roundtrip_keeps_null_empty_arrays_and_integers(void **state)
{
    (void)state;
    const char *text = "{\"a\":null,\"b\":[],\"c\":{},\"d\":1,\"e\":1.5,\"f\":[1,\"x\",true],\"g\":{\"h\":[{}]},"
                       "\"i\":9007199254740992,\"j\":-3}";
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function(x) return x end,\n"
                               "  types = function(x) return { math.type(x.d), math.type(x.e), tostring(x.a),\n"
                               "    x.a == json.null, json.is_array(x.b), json.is_array(x.c), #x.f } end,\n"
                               "  text = function(x) return json.encode(x) end,\n"
                               "  back = function(x) return json.decode(json.encode(x)) end }\n",
                               NULL);
    cJSON *in = cJSON_Parse(text);
    cJSON *out = call_ok(p, "reconcile", "reconcile", in);
    assert_true(json_equal(in, out));
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(out, "b")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(out, "c")));
    cJSON_Delete(out);
    out = call_ok(p, "reconcile", "back", in);
    assert_true(json_equal(in, out));
    cJSON_Delete(out);
    out = call_ok(p, "reconcile", "text", in);
    assert_string_equal(out->valuestring, text);
    cJSON_Delete(out);
    out = call_ok(p, "reconcile", "types", in);
    char *printed = json_print_sorted(out);
    assert_string_equal(printed, "[\"integer\",\"float\",\"null\",true,true,false,3]");
    free(printed);
    cJSON_Delete(out);
    cJSON_Delete(in);
    policy_free(p);
}

static void test_output_keys_are_sorted(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function()\n"
                               "  local t = {}\n"
                               "  for _, k in ipairs({ 'zeta', 'alpha', 'mid', 'beta', 'Zed', 'a b' }) do t[k] = #k end\n"
                               "  t.nested = { y = 1, b = 2, m = json.array() }\n"
                               "  return t\n"
                               "end }\n",
                               NULL);
    cJSON *r = call_ok(p, "reconcile", "reconcile", NULL);
    const char *want[] = {"Zed", "a b", "alpha", "beta", "mid", "nested", "zeta"};
    size_t i = 0;
    for (cJSON *c = r->child; c; c = c->next, i++)
        assert_string_equal(c->string, want[i]);
    assert_int_equal(i, 7);
    cJSON *n = cJSON_GetObjectItem(r, "nested");
    assert_string_equal(n->child->string, "b");
    assert_string_equal(n->child->next->string, "m");
    assert_string_equal(n->child->next->next->string, "y");
    cJSON_Delete(r);
    policy_free(p);
}

static void test_mixed_table_is_refused_with_path(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function()\n"
                               "  return { spec = { containers = { { name = 'a', ports = { 1, x = 2 } } } } }\n"
                               "end,\n"
                               "fn = function() return { a = { print = tostring } } end,\n"
                               "big = function() return { n = math.maxinteger } end,\n"
                               "nan = function() return { 0/0 } end,\n"
                               "cycle = function() local t = {} t.self = t return t end }\n",
                               NULL);
    expect_call_error(p, "reconcile",
                      "reconcile.lua: reconcile(): result.spec.containers[1].ports: table mixes list and map keys",
                      NULL);
    expect_call_error(p, "fn", "result.a.print: a function cannot be converted to JSON", NULL);
    expect_call_error(p, "big", "result.n: integer 9223372036854775807 is beyond", NULL);
    expect_call_error(p, "nan", "result[1]: NaN cannot be written as JSON", NULL);
    expect_call_error(p, "cycle", "nested deeper than 100 levels", NULL);
    policy_free(p);
}

static void test_pattern_on_huge_subject_is_refused(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function()\n"
                               "  local s = string.rep('a', 2 * 1024 * 1024)\n"
                               "  return s:find('.-.-.-.-b')\n"
                               "end,\n"
                               "pattern = function() return ('abc'):match(string.rep('a?', 1000)) end,\n"
                               "small = function() return ('key=value'):match('^(%w+)=(%w+)$') end,\n"
                               "move = function() return table.move({}, 1, math.maxinteger - 1, 2) end,\n"
                               "emptyrep = function() return string.rep('', math.maxinteger) end,\n"
                               "backtrack = function() return string.rep('a', 500000):find('.-.-b') end,\n"
                               "plain = function() return string.rep('a', 500000):find('.-.-b', 1, true) end }\n",
                               NULL);
    expect_call_error(p, "reconcile", "reconcile.lua:3: string.find: subject of 2097152 bytes is over the 1 MiB limit",
                      NULL);
    expect_call_error(p, "pattern", "reconcile.lua:5: string.match: pattern of 2000 bytes", NULL);
    expect_call_error(p, "move", "reconcile.lua:7: table.move: more than", NULL);
    expect_call_error(p, "emptyrep", "reconcile.lua:8: string.rep", NULL);
    /* would run for hours inside C, where the instruction hook cannot stop it: refused before it starts */
    expect_call_error(p, "backtrack", "reconcile.lua:9: string.find: pattern \".-.-b\" could backtrack for too long",
                      NULL);
    cJSON *plain = call_ok(p, "reconcile", "plain", NULL); /* a plain search runs no matcher */
    cJSON_Delete(plain);
    cJSON *r = call_ok(p, "reconcile", "small", NULL);
    assert_string_equal(r->valuestring, "key");
    cJSON_Delete(r);
    policy_free(p);
}

static void test_sandbox_globals_are_the_documented_ones(void **state)
{
    (void)state;
    struct policy *p = load_ok(NULL,
                               "return { reconcile = function()\n"
                               "  local names = {}\n"
                               "  for k in pairs(_G) do names[#names + 1] = k end\n"
                               "  table.sort(names)\n"
                               "  return names\n"
                               "end,\n"
                               "gc = function() return collectgarbage('count') > 0 end,\n"
                               "stop = function() collectgarbage('stop') end }\n",
                               NULL);
    cJSON *r = call_ok(p, "reconcile", "reconcile", NULL);
    char *text = json_print_sorted(r);
    assert_string_equal(text, "[\"_G\",\"_VERSION\",\"assert\",\"collectgarbage\",\"error\",\"getmetatable\","
                              "\"ipairs\",\"json\",\"load\",\"math\",\"next\",\"os\",\"pairs\",\"pcall\",\"rawequal\","
                              "\"rawget\",\"rawlen\",\"rawset\",\"require\",\"select\",\"setmetatable\",\"string\","
                              "\"table\",\"tonumber\",\"tostring\",\"type\",\"utf8\",\"xpcall\"]");
    free(text);
    cJSON_Delete(r);
    r = call_ok(p, "reconcile", "gc", NULL);
    assert_true(cJSON_IsTrue(r));
    cJSON_Delete(r);
    expect_call_error(p, "stop", "reconcile.lua:8: collectgarbage: only \"count\"", NULL);
    policy_free(p);
}

static void report_collect(void *ud, const char *line)
{
    char *buf = ud;
    strcat(buf, line);
    strcat(buf, "\n");
}

static void test_policy_tests_are_run_and_failures_counted(void **state)
{
    (void)state;
    struct policy_files set;
    char err[2048], lines[8192] = "";
    set_build(&set,
              "local M = {}\n"
              "function M.namespace(ns) return { ns = ns } end\n"
              "M.tests = {\n"
              "  ['namespace is kept'] = function() assert(M.namespace('a').ns == 'a') end,\n"
              "  ['a failing test'] = function() assert(M.namespace('a').ns == 'b', 'wrong ns') end,\n"
              "}\n"
              "return M\n",
              NULL, "scripts/k8s.lua",
              "return { tests = { loops = function() while true do end end, ok = function() end } }\n");
    int failures = policy_run_tests(&set, NULL, report_collect, lines, err, sizeof err);
    assert_int_equal(failures, 2);
    assert_string_equal(lines, "not ok - rbac.lua: a failing test: rbac.lua:5: wrong ns\n"
                               "ok - rbac.lua: namespace is kept\n"
                               "not ok - scripts/k8s.lua: loops: instruction budget of 50000000 exceeded at "
                               "scripts/k8s.lua:1\n"
                               "ok - scripts/k8s.lua: ok\n");
    policy_files_free(&set);

    set_build(&set, "return 1\n", NULL, NULL, NULL);
    assert_int_equal(policy_run_tests(&set, NULL, report_collect, lines, err, sizeof err), -1);
    assert_non_null(strstr(err, "rbac.lua: must return a table"));
    policy_files_free(&set);
}

static void test_script_dir_is_read_sorted(void **state)
{
    (void)state;
    struct policy_files set;
    char err[512];
    assert_int_equal(policy_files_read_dir("tests/unit/policies/script_dir", &set, err, sizeof err), 0);
    assert_int_equal(set.count, 3);
    assert_string_equal(set.files[0].name, "rbac.lua");
    assert_string_equal(set.files[1].name, "reconcile.lua");
    assert_string_equal(set.files[2].name, "scripts/k8s.lua");
    struct policy *p = policy_load(&set, NULL, err, sizeof err);
    policy_files_free(&set);
    if (!p)
        fail_msg("%s", err);
    cJSON *arg = cJSON_Parse("{\"metadata\":{\"name\":\"wordcount\",\"namespace\":\"jobs\"}}");
    cJSON *r = call_ok(p, "reconcile", "reconcile", arg);
    char *text = json_print_sorted(r);
    assert_string_equal(text, "[{\"kind\":\"Deployment\",\"metadata\":{\"labels\":{\"app\":\"wordcount\"},"
                              "\"name\":\"wordcount-jobmanager\",\"namespace\":\"jobs\"}}]");
    free(text);
    cJSON_Delete(r);
    cJSON_Delete(arg);
    policy_free(p);

    assert_int_equal(policy_files_read_dir("tests/unit/policies/duplicate_module", &set, err, sizeof err), -1);
    assert_non_null(strstr(err, "both define module 'k8s'"));
    assert_int_equal(policy_files_read_dir("tests/unit/policies/no_such_dir", &set, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_is_not_available),
        cmocka_unit_test(test_os_execute_is_not_available),
        cmocka_unit_test(test_os_time_is_available),
        cmocka_unit_test(test_binary_chunk_is_refused),
        cmocka_unit_test(test_require_outside_the_set_fails),
        cmocka_unit_test(test_require_cycle_is_reported),
        cmocka_unit_test(test_endless_loop_stops_at_budget),
        cmocka_unit_test(test_memory_bomb_stops_at_cap),
        cmocka_unit_test(test_memory_cap_covers_arguments_and_json),
        cmocka_unit_test(test_gc_metamethod_is_refused),
        cmocka_unit_test(test_global_assignment_is_refused),
        cmocka_unit_test(test_syntax_error_names_file_and_line),
        cmocka_unit_test(test_runtime_error_names_file_and_line),
        cmocka_unit_test(test_policy_returning_non_table_is_refused),
        cmocka_unit_test(test_json_roundtrip_keeps_null_empty_arrays_and_integers),
        cmocka_unit_test(test_output_keys_are_sorted),
        cmocka_unit_test(test_mixed_table_is_refused_with_path),
        cmocka_unit_test(test_pattern_on_huge_subject_is_refused),
        cmocka_unit_test(test_sandbox_globals_are_the_documented_ones),
        cmocka_unit_test(test_policy_tests_are_run_and_failures_counted),
        cmocka_unit_test(test_script_dir_is_read_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
