/* The cJSON <-> Lua bridge and the json module, in a plain (unsandboxed) state. */
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
#include "lua_json.h"

static int open_json(lua_State *L)
{
    lua_json_open(L);
    lua_setglobal(L, "json");
    return 0;
}

static int setup(void **state)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushcfunction(L, open_json);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
        return -1;
    *state = L;
    return 0;
}

static int teardown(void **state)
{
    lua_close(*state);
    return 0;
}

/* Runs `code` (which returns one value) and converts the value; returns the tree or NULL with err filled. */
static cJSON *eval_to_json(lua_State *L, const char *code, char *err, size_t errlen)
{
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("%s: %s", code, lua_tostring(L, -1));
    cJSON *tree = lua_json_to_cjson(L, -1, "value", NULL, err, errlen);
    lua_settop(L, 0);
    return tree;
}

static void expect_json(lua_State *L, const char *code, const char *want)
{
    char err[512];
    cJSON *tree = eval_to_json(L, code, err, sizeof err);
    if (!tree)
        fail_msg("%s: %s", code, err);
    char *text = json_print_sorted(tree);
    assert_string_equal(text, want);
    free(text);
    cJSON_Delete(tree);
}

static void expect_refused(lua_State *L, const char *code, const char *want)
{
    char err[512];
    cJSON *tree = eval_to_json(L, code, err, sizeof err);
    if (tree) {
        cJSON_Delete(tree);
        fail_msg("%s was converted", code);
    }
    assert_string_equal(err, want);
}

static int push_body(lua_State *L)
{
    lua_json_push(L, lua_touserdata(L, 1));
    lua_setglobal(L, "v");
    return 0;
}

/* Parses `text`, pushes it as global v, and returns the result of `code` as a string. */
static void expect_lua(lua_State *L, const char *text, const char *code, const char *want)
{
    cJSON *tree = cJSON_Parse(text);
    assert_non_null(tree);
    lua_pushcfunction(L, push_body);
    lua_pushlightuserdata(L, tree);
    int status = lua_pcall(L, 1, 0, 0);
    cJSON_Delete(tree);
    if (status != LUA_OK)
        fail_msg("%s: %s", text, lua_tostring(L, -1));
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("%s: %s", code, lua_tostring(L, -1));
    assert_string_equal(lua_tostring(L, -1), want);
    lua_settop(L, 0);
}

static void test_numbers_are_integers_when_exact(void **state)
{
    lua_State *L = *state;
    expect_lua(L, "[1, 1.5, 9007199254740992, 9007199254740994, 1e300, -0.0]",
               "local t = {} for i, x in ipairs(v) do t[i] = math.type(x) end return table.concat(t, ' ')",
               "integer float integer float float integer");
    expect_json(L, "return { 9007199254740992, -9007199254740992, 0.5, 1e300 }",
                "[9007199254740992,-9007199254740992,0.5,1e+300]");
}

static void test_empty_table_is_an_object_unless_marked(void **state)
{
    lua_State *L = *state;
    expect_json(L, "return { a = {}, b = json.array(), c = json.object{}, d = json.array{ 1, 2 } }",
                "{\"a\":{},\"b\":[],\"c\":{},\"d\":[1,2]}");
    expect_lua(L, "{\"a\":[],\"b\":{},\"c\":null}",
               "return tostring(json.is_array(v.a)) .. tostring(json.is_array(v.b)) .. tostring(v.c) .."
               " tostring(json.is_array({1}))",
               "truefalsenulltrue");
    expect_lua(L, "[]", "return getmetatable(v)", "json.array");
}

static void test_conversion_errors_name_the_path(void **state)
{
    lua_State *L = *state;
    expect_refused(L, "return { spec = { containers = { { ports = { 1, x = 2 } } } } }",
                   "value.spec.containers[1].ports: table mixes list and map keys");
    expect_refused(L, "return { ['a b'] = { [0] = 1 } }",
                   "value[\"a b\"]: table has the integer key 0 (lists start at 1)");
    expect_refused(L, "return { 1, nil, 3 }", "value: list has a hole at index 2");
    expect_refused(L, "return { [1.5] = 1 }", "value: table has a non-integer number key (JSON keys are strings)");
    expect_refused(L, "return { f = print }", "value.f: a function cannot be converted to JSON");
    expect_refused(L, "return { x = 1/0 }", "value.x: an infinite number cannot be written as JSON");
    expect_refused(L, "return { 2^53 | 0 + 1 }",
                   "value[1]: integer 9007199254740993 is beyond ±2^53, which JSON numbers cannot hold exactly");
    expect_refused(L, "return { s = 'a\\0b' }", "value.s: string contains a NUL byte");
    expect_refused(L, "return json.array{ x = 1 }", "value: json.array has string keys");
    expect_refused(L, "return coroutine.create(print)", "value: a thread cannot be converted to JSON");
}

static void test_nesting_is_capped(void **state)
{
    lua_State *L = *state;
    char err[512];
    char want[512] = "value";
    for (int i = 0; i < 100; i++)
        strcat(want, ".t");
    strcat(want, ": nested deeper than 100 levels (does a table contain itself?)");
    expect_refused(L, "local t = {} t.t = t return t", want);
    cJSON *ok = eval_to_json(L, "local t = 1 for i = 1, 99 do t = { t } end return t", err, sizeof err);
    assert_non_null(ok);
    cJSON_Delete(ok);
    /* JSON deeper than the cap is refused by json.decode */
    char text[512] = "";
    for (int i = 0; i < 101; i++)
        strcat(text, "[");
    for (int i = 0; i < 101; i++)
        strcat(text, "]");
    lua_pushstring(L, text);
    lua_setglobal(L, "deep");
    assert_int_equal(luaL_dostring(L, "return json.decode(deep)"), 1); /* luaL_dostring gives 1 on any error */
    assert_non_null(strstr(lua_tostring(L, -1), "JSON nested deeper than 100 levels"));
    lua_settop(L, 0);
}

static void test_encode_and_decode(void **state)
{
    lua_State *L = *state;
    expect_lua(L, "null", "return json.encode({ z = 1, a = { json.null, true, 'x\"' }, m = 10^15 })",
               "{\"a\":[null,true,\"x\\\"\"],\"m\":1000000000000000,\"z\":1}");
    expect_lua(L, "null", "return json.decode(' {\"a\": [1, 2.5]} ').a[2]", "2.5");
    assert_int_equal(luaL_dostring(L, "return json.decode('{\"a\": 1} x')"), 1); /* luaL_dostring gives 1 on any error */
    assert_non_null(strstr(lua_tostring(L, -1), "json.decode: unexpected text after the JSON value"));
    lua_settop(L, 0);
    assert_int_equal(luaL_dostring(L, "return json.decode('{\"a\": }')"), 1); /* luaL_dostring gives 1 on any error */
    assert_non_null(strstr(lua_tostring(L, -1), "json.decode: invalid JSON"));
    lua_settop(L, 0);
    assert_int_equal(luaL_dostring(L, "return json.encode({ f = print })"), 1); /* luaL_dostring gives 1 on any error */
    assert_non_null(strstr(lua_tostring(L, -1), "json.encode: value.f: a function cannot be converted"));
    lua_settop(L, 0);
}

static void test_null_and_markers_are_protected(void **state)
{
    lua_State *L = *state;
    assert_int_equal(luaL_dostring(L, "json.null.x = 1"), 1); /* luaL_dostring gives 1 on any error */
    assert_non_null(strstr(lua_tostring(L, -1), "json.null cannot be modified"));
    lua_settop(L, 0);
    assert_int_equal(luaL_dostring(L, "setmetatable(json.null, nil)"), 1); /* luaL_dostring gives 1 on any error */
    lua_settop(L, 0);
    assert_int_equal(luaL_dostring(L, "json.array(setmetatable({}, {}))"), 1); /* luaL_dostring gives 1 on any error */
    assert_non_null(strstr(lua_tostring(L, -1), "json.array: the table already has another metatable"));
    lua_settop(L, 0);
    assert_int_equal(luaL_dostring(L, "json.object(json.array())"), 1); /* luaL_dostring gives 1 on any error */
    lua_settop(L, 0);
    expect_json(L, "return json.null", "null");
    expect_json(L, "return nil", "null");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_numbers_are_integers_when_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_table_is_an_object_unless_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conversion_errors_name_the_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting_is_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_and_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_and_markers_are_protected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
