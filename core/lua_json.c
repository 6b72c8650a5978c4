/* cJSON <-> Lua, and the `json` module. See lua_json.h for the mapping. */
#include "lua_json.h"
#include "json_text.h"

#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Registry keys: the addresses are unique to this file, so no other code can collide with them. */
static const char lua_json_null_key = 'n';
static const char lua_json_array_key = 'a';
static const char lua_json_object_key = 'o';

/* Doubles hold every integer up to 2^53 exactly; beyond it a JSON number no longer says which integer it was. */
#define LUA_JSON_EXACT_LIMIT 9007199254740992.0
#define LUA_JSON_EXACT_ILIMIT ((lua_Integer)9007199254740992LL)

enum lua_json_kind { LUA_JSON_ARRAY, LUA_JSON_OBJECT };

/* ---- JSON → Lua ---- */

/* Stack slots of the sentinel and the array metatable, looked up once per conversion. */
struct lua_json_dec {
    lua_State *L;
    int null_idx, array_idx;
};

/* Integral numbers that a double holds exactly become Lua integers, so `n + 1` and string.format("%d") work. */
static void lua_json_push_number(lua_State *L, double d)
{
    if (isfinite(d) && d == floor(d) && fabs(d) <= LUA_JSON_EXACT_LIMIT)
        lua_pushinteger(L, (lua_Integer)d);
    else
        lua_pushnumber(L, d);
}

/* Pushes one value; containers recurse. Raises on memory errors and past LUA_JSON_MAX_DEPTH. */
static void lua_json_push_value(struct lua_json_dec *d, const cJSON *v, int depth)
{
    lua_State *L = d->L;
    if (depth > LUA_JSON_MAX_DEPTH)
        luaL_error(L, "JSON nested deeper than %d levels", LUA_JSON_MAX_DEPTH);
    luaL_checkstack(L, 4, "JSON nesting");
    if (cJSON_IsNull(v)) {
        lua_pushvalue(L, d->null_idx);
    } else if (cJSON_IsBool(v)) {
        lua_pushboolean(L, cJSON_IsTrue(v));
    } else if (cJSON_IsNumber(v)) {
        lua_json_push_number(L, v->valuedouble);
    } else if (cJSON_IsString(v)) {
        lua_pushstring(L, v->valuestring);
    } else if (cJSON_IsArray(v)) {
        lua_createtable(L, cJSON_GetArraySize(v), 0);
        lua_Integer i = 1;
        for (const cJSON *c = v->child; c; c = c->next) {
            lua_json_push_value(d, c, depth + 1);
            lua_rawseti(L, -2, i++);
        }
        lua_pushvalue(L, d->array_idx);
        lua_setmetatable(L, -2);
    } else if (cJSON_IsObject(v)) {
        lua_createtable(L, 0, cJSON_GetArraySize(v));
        for (const cJSON *c = v->child; c; c = c->next) {
            lua_pushstring(L, c->string ? c->string : "");
            lua_json_push_value(d, c, depth + 1);
            lua_rawset(L, -3);
        }
    } else {
        luaL_error(L, "JSON value of an unknown type");
    }
}

void lua_json_push(lua_State *L, const cJSON *v)
{
    luaL_checkstack(L, 3, "JSON conversion");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_null_key);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_array_key);
    struct lua_json_dec d = {L, lua_absindex(L, -2), lua_absindex(L, -1)};
    lua_json_push_value(&d, v, 1);
    lua_remove(L, -2);
    lua_remove(L, -2);
}

/* ---- Lua → JSON ---- */

/* The conversion state. The tree under construction hangs from `root` from its first node on, so when a memory
 * error unwinds the protected call the caller still holds everything allocated and deletes it. */
struct lua_json_enc {
    lua_State *L;
    int null_idx, array_idx, object_idx;
    cJSON *root;
    int failed;
    char *err;
    size_t errlen;
    char path[256];
    size_t plen;
};

/* Records the first problem as "<path>: problem" and returns -1 for the caller to pass up. */
static int lua_json_fail(struct lua_json_enc *e, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!e->failed && e->errlen)
        snprintf(e->err, e->errlen, "%s: %s", e->path, msg);
    e->failed = 1;
    return -1;
}

/* Appends to the path, truncating with "..." rather than overflowing; callers restore plen afterwards. */
static void lua_json_path_add(struct lua_json_enc *e, const char *fmt, ...)
{
    size_t room = sizeof e->path - e->plen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->path + e->plen, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= room) {
        e->plen = sizeof e->path - 1;
        memcpy(e->path + e->plen - 3, "...", 3);
    } else {
        e->plen += (size_t)n;
    }
}

/* `.name` for identifier-like keys (as a Lua field access reads), `["key"]` otherwise (long keys shortened). */
static void lua_json_path_key(struct lua_json_enc *e, const char *k, size_t len)
{
    int ident = len > 0 && !(k[0] >= '0' && k[0] <= '9');
    for (size_t i = 0; i < len && ident; i++)
        ident = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') ||
                k[i] == '_';
    if (ident)
        lua_json_path_add(e, ".%.*s", (int)(len > 64 ? 64 : len), k);
    else
        lua_json_path_add(e, "[\"%.*s%s\"]", (int)(len > 40 ? 40 : len), k, len > 40 ? "..." : "");
}

static void lua_json_path_restore(struct lua_json_enc *e, size_t plen)
{
    e->plen = plen;
    e->path[plen] = '\0';
}

/* Decides whether the table at `idx` is a JSON array or object (see lua_json.h) and counts its entries.
 * Returns the kind, or -1 with the reason in why. Runs no Lua code and allocates nothing. */
static int lua_json_classify(lua_State *L, int idx, int array_idx, int object_idx, lua_Integer *count, char *why,
                             size_t whylen)
{
    int marked = -1;
    if (lua_getmetatable(L, idx)) {
        if (lua_rawequal(L, -1, array_idx))
            marked = LUA_JSON_ARRAY;
        else if (lua_rawequal(L, -1, object_idx))
            marked = LUA_JSON_OBJECT;
        lua_pop(L, 1);
    }
    lua_Integer nstr = 0, nint = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int t = lua_type(L, -2);
        if (t == LUA_TSTRING) {
            nstr++;
        } else if (t == LUA_TNUMBER && lua_isinteger(L, -2)) {
            lua_Integer k = lua_tointeger(L, -2);
            if (k < 1) {
                snprintf(why, whylen, "table has the integer key %lld (lists start at 1)", (long long)k);
                lua_pop(L, 2);
                return -1;
            }
            nint++;
            if (k > max)
                max = k;
        } else {
            snprintf(why, whylen, "table has a %s key (JSON keys are strings)",
                     t == LUA_TNUMBER ? "non-integer number" : lua_typename(L, t));
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    if (marked == LUA_JSON_ARRAY && nstr) {
        snprintf(why, whylen, "json.array has string keys");
        return -1;
    }
    if (marked == LUA_JSON_OBJECT && nint) {
        snprintf(why, whylen, "json.object has integer keys");
        return -1;
    }
    if (nstr && nint) {
        snprintf(why, whylen, "table mixes list and map keys");
        return -1;
    }
    if (nint) {
        if (max != nint) {
            lua_Integer hole = 1;
            while (lua_rawgeti(L, idx, hole) != LUA_TNIL) {
                lua_pop(L, 1);
                hole++;
            }
            lua_pop(L, 1);
            snprintf(why, whylen, "list has a hole at index %lld", (long long)hole);
            return -1;
        }
        *count = nint;
        return LUA_JSON_ARRAY;
    }
    *count = nstr;
    return nstr ? LUA_JSON_OBJECT : marked == LUA_JSON_ARRAY ? LUA_JSON_ARRAY : LUA_JSON_OBJECT;
}

/* Hangs `item` under its parent (or makes it the root) right away, so the tree always owns every node. */
static int lua_json_attach(struct lua_json_enc *e, cJSON *parent, const char *key, cJSON *item)
{
    if (!item)
        return lua_json_fail(e, "out of memory");
    if (!parent) {
        e->root = item;
        return 0;
    }
    if (key ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item))
        return 0;
    cJSON_Delete(item);
    return lua_json_fail(e, "out of memory");
}

static int lua_json_encode_value(struct lua_json_enc *e, int idx, cJSON *parent, const char *key, int depth);

/* One string key of an object being encoded; the string lives in the table, which nothing modifies meanwhile. */
struct lua_json_key {
    const char *s;
    size_t len;
};

static int lua_json_key_cmp(const void *a, const void *b)
{
    const struct lua_json_key *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Encodes an object member by member in sorted key order, so output and the first reported error do not depend on
 * the state's hash seed. The key array is a Lua userdata: collected if a memory error unwinds past it. */
static int lua_json_encode_object(struct lua_json_enc *e, int idx, cJSON *obj, lua_Integer n, int depth)
{
    lua_State *L = e->L;
    struct lua_json_key *keys = lua_newuserdatauv(L, (size_t)n * sizeof *keys + 1, 0);
    lua_Integer i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (i < n) /* always: classify counted these keys and nothing ran since */
            keys[i].s = lua_tolstring(L, -2, &keys[i].len);
        i++;
        lua_pop(L, 1);
    }
    qsort(keys, (size_t)n, sizeof *keys, lua_json_key_cmp);
    for (i = 0; i < n; i++) {
        size_t plen = e->plen;
        lua_json_path_key(e, keys[i].s, keys[i].len);
        if (memchr(keys[i].s, '\0', keys[i].len))
            return lua_json_fail(e, "key contains a NUL byte");
        lua_pushlstring(L, keys[i].s, keys[i].len);
        lua_rawget(L, idx);
        if (lua_json_encode_value(e, lua_gettop(L), obj, keys[i].s, depth + 1))
            return -1;
        lua_pop(L, 1);
        lua_json_path_restore(e, plen);
    }
    lua_pop(L, 1);
    return 0;
}

static int lua_json_encode_array(struct lua_json_enc *e, int idx, cJSON *arr, lua_Integer n, int depth)
{
    lua_State *L = e->L;
    for (lua_Integer i = 1; i <= n; i++) {
        size_t plen = e->plen;
        lua_json_path_add(e, "[%lld]", (long long)i);
        lua_rawgeti(L, idx, i);
        if (lua_json_encode_value(e, lua_gettop(L), arr, NULL, depth + 1))
            return -1;
        lua_pop(L, 1);
        lua_json_path_restore(e, plen);
    }
    return 0;
}

static int lua_json_encode_table(struct lua_json_enc *e, int idx, cJSON *parent, const char *key, int depth)
{
    char why[128];
    lua_Integer n = 0;
    if (lua_rawequal(e->L, idx, e->null_idx))
        return lua_json_attach(e, parent, key, cJSON_CreateNull());
    if (depth > LUA_JSON_MAX_DEPTH)
        return lua_json_fail(e, "nested deeper than %d levels (does a table contain itself?)", LUA_JSON_MAX_DEPTH);
    int kind = lua_json_classify(e->L, idx, e->array_idx, e->object_idx, &n, why, sizeof why);
    if (kind < 0)
        return lua_json_fail(e, "%s", why);
    cJSON *item = kind == LUA_JSON_ARRAY ? cJSON_CreateArray() : cJSON_CreateObject();
    if (lua_json_attach(e, parent, key, item))
        return -1;
    return kind == LUA_JSON_ARRAY ? lua_json_encode_array(e, idx, item, n, depth)
                                  : lua_json_encode_object(e, idx, item, n, depth);
}

/* Encodes the value at absolute index `idx` and attaches it. Raises only memory errors. */
static int lua_json_encode_value(struct lua_json_enc *e, int idx, cJSON *parent, const char *key, int depth)
{
    lua_State *L = e->L;
    luaL_checkstack(L, 6, "JSON nesting");
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return lua_json_attach(e, parent, key, cJSON_CreateNull());
    case LUA_TBOOLEAN:
        return lua_json_attach(e, parent, key, cJSON_CreateBool(lua_toboolean(L, idx)));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lua_Integer i = lua_tointeger(L, idx);
            if (i > LUA_JSON_EXACT_ILIMIT || i < -LUA_JSON_EXACT_ILIMIT)
                return lua_json_fail(e, "integer %lld is beyond ±2^53, which JSON numbers cannot hold exactly",
                                     (long long)i);
            return lua_json_attach(e, parent, key, cJSON_CreateNumber((double)i));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d))
                return lua_json_fail(e, "%s cannot be written as JSON", isnan(d) ? "NaN" : "an infinite number");
            return lua_json_attach(e, parent, key, cJSON_CreateNumber(d));
        }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (memchr(s, '\0', len))
            return lua_json_fail(e, "string contains a NUL byte");
        return lua_json_attach(e, parent, key, cJSON_CreateString(s));
    }
    case LUA_TTABLE:
        return lua_json_encode_table(e, idx, parent, key, depth);
    default:
        return lua_json_fail(e, "a %s cannot be converted to JSON", lua_typename(L, lua_type(L, idx)));
    }
}

/* Protected body of lua_json_to_cjson: (value, enc) → nothing; the result is in enc->root. */
static int lua_json_encode_body(lua_State *L)
{
    struct lua_json_enc *e = lua_touserdata(L, 2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_null_key);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_array_key);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_object_key);
    e->null_idx = 3;
    e->array_idx = 4;
    e->object_idx = 5;
    lua_json_encode_value(e, 1, NULL, NULL, 1);
    return 0;
}

cJSON *lua_json_to_cjson(lua_State *L, int idx, const char *what, int *memory_error, char *err, size_t errlen)
{
    struct lua_json_enc e = {.L = L, .err = err, .errlen = errlen};
    if (memory_error)
        *memory_error = 0;
    snprintf(e.path, sizeof e.path, "%s", what);
    e.plen = strlen(e.path);
    idx = lua_absindex(L, idx);
    if (!lua_checkstack(L, 4)) {
        snprintf(err, errlen, "out of memory");
        if (memory_error)
            *memory_error = 1;
        return NULL;
    }
    lua_pushcfunction(L, lua_json_encode_body);
    lua_pushvalue(L, idx);
    lua_pushlightuserdata(L, &e);
    int status = lua_pcall(L, 2, 0, 0);
    if (status != LUA_OK) {
        lua_pop(L, 1);
        snprintf(err, errlen, "out of memory");
        if (memory_error)
            *memory_error = 1;
        cJSON_Delete(e.root);
        return NULL;
    }
    if (e.failed) {
        if (memory_error && strstr(err, "out of memory"))
            *memory_error = 1;
        cJSON_Delete(e.root);
        return NULL;
    }
    return e.root;
}

/* ---- the json module ---- */

/* Marks a table (or a new one) with one of the two metatables; a table already marked otherwise is an error, since
 * silently changing what a table is would change what JSON it becomes. */
static int lua_json_mark(lua_State *L, const void *key, const char *fname)
{
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
    if (lua_getmetatable(L, 1)) {
        if (!lua_rawequal(L, -1, -2))
            return luaL_error(L, "%s: the table already has another metatable", fname);
        lua_pop(L, 1);
    }
    lua_setmetatable(L, 1);
    return 1;
}

static int lua_json_array_fn(lua_State *L)
{
    return lua_json_mark(L, &lua_json_array_key, "json.array");
}

static int lua_json_object_fn(lua_State *L)
{
    return lua_json_mark(L, &lua_json_object_key, "json.object");
}

/* json.is_array(v): whether json.encode would write v as a JSON array. */
static int lua_json_is_array_fn(lua_State *L)
{
    char why[128];
    lua_Integer n;
    int r = 0;
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_null_key);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_array_key);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_object_key);
    if (lua_type(L, 1) == LUA_TTABLE && !lua_rawequal(L, 1, 2))
        r = lua_json_classify(L, 1, 3, 4, &n, why, sizeof why) == LUA_JSON_ARRAY;
    lua_pushboolean(L, r);
    return 1;
}

/* Protected helper: pushes the malloc'd string in upvalue-free light userdata, so the caller can free it whatever
 * happens. */
static int lua_json_push_text_body(lua_State *L)
{
    lua_pushstring(L, lua_touserdata(L, 1));
    return 1;
}

/* json.encode(v): compact JSON text, keys sorted, numbers printed exactly (json_print_sorted). */
static int lua_json_encode_fn(lua_State *L)
{
    char err[320];
    int memory_error;
    luaL_checkany(L, 1);
    cJSON *tree = lua_json_to_cjson(L, 1, "value", &memory_error, err, sizeof err);
    if (!tree)
        return luaL_error(L, "json.encode: %s", err);
    char *text = json_print_sorted(tree);
    cJSON_Delete(tree);
    if (!text)
        return luaL_error(L, "json.encode: out of memory");
    lua_pushcfunction(L, lua_json_push_text_body);
    lua_pushlightuserdata(L, text);
    int status = lua_pcall(L, 1, 1, 0);
    free(text);
    if (status != LUA_OK)
        return lua_error(L);
    return 1;
}

/* Protected helper of json.decode: converts the tree passed as light userdata. */
static int lua_json_decode_body(lua_State *L)
{
    lua_json_push(L, lua_touserdata(L, 1));
    return 1;
}

/* json.decode(s): parses JSON text; errors say where the text stops making sense. */
static int lua_json_decode_fn(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *end = NULL;
    cJSON *tree = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (!tree) {
        if (end && end >= s && end <= s + len)
            return luaL_error(L, "json.decode: invalid JSON at byte %d", (int)(end - s) + 1);
        return luaL_error(L, "json.decode: invalid JSON");
    }
    if (end && (size_t)(end - s) < len && strspn(end, " \t\r\n") < (size_t)(s + len - end)) {
        cJSON_Delete(tree);
        return luaL_error(L, "json.decode: unexpected text after the JSON value at byte %d", (int)(end - s) + 1);
    }
    lua_pushcfunction(L, lua_json_decode_body);
    lua_pushlightuserdata(L, tree);
    int status = lua_pcall(L, 1, 1, 0);
    cJSON_Delete(tree);
    if (status != LUA_OK)
        return lua_error(L);
    return 1;
}

static int lua_json_null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

static int lua_json_null_newindex(lua_State *L)
{
    return luaL_error(L, "json.null cannot be modified");
}

/* A metatable that identifies arrays or objects; __metatable keeps policies from editing the shared table. */
static void lua_json_new_marker(lua_State *L, const char *name, const void *key)
{
    lua_createtable(L, 0, 2);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

int lua_json_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"array", lua_json_array_fn},   {"object", lua_json_object_fn}, {"is_array", lua_json_is_array_fn},
        {"encode", lua_json_encode_fn}, {"decode", lua_json_decode_fn}, {NULL, NULL},
    };
    lua_json_new_marker(L, "json.array", &lua_json_array_key);
    lua_json_new_marker(L, "json.object", &lua_json_object_key);

    lua_newtable(L); /* json.null: a unique table, printable and frozen against field assignment */
    lua_createtable(L, 0, 4);
    lua_pushcfunction(L, lua_json_null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, lua_json_null_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "json.null");
    lua_setfield(L, -2, "__name");
    lua_pushliteral(L, "json.null");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &lua_json_null_key);

    luaL_newlib(L, fns);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua_json_null_key);
    lua_setfield(L, -2, "null");
    return 1;
}
