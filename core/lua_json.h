/* The bridge between cJSON trees and Lua values, and the `json` module policies see.
 *
 * JSON → Lua: objects become tables with string keys; arrays become sequences carrying the shared json.array
 * metatable (so an empty array stays an array on the way back); null becomes the sentinel json.null (a table whose
 * tostring is "null"); numbers become Lua integers when integral and within ±2^53, floats otherwise.
 *
 * Lua → JSON: a table carrying json.array's metatable, or whose keys are exactly 1..n (n ≥ 1), is an array; a table
 * carrying json.object's metatable, or with string keys only, is an object; an unmarked EMPTY table is an object
 * (write json.array() for an empty list). Object keys come out sorted (byte order), so the tree is the same whatever
 * order `pairs` visits them in. Refused, with the path of the value (`result.spec.containers[1].ports: ...`, list
 * indexes are the Lua 1-based ones): tables mixing list and map keys, lists with holes, keys that are neither
 * strings nor positive integers, functions/userdata/threads, NaN and infinities, integers beyond ±2^53 (JSON numbers
 * are doubles here), strings containing NUL bytes, nesting deeper than LUA_JSON_MAX_DEPTH (which also catches a
 * table that contains itself). */
#ifndef FLINKOP_LUA_JSON_H
#define FLINKOP_LUA_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include <lua.h>

#define LUA_JSON_MAX_DEPTH 100

/* Creates the json module of L (json.null, json.array, json.object, json.is_array, json.encode, json.decode) and
 * pushes its table. Call once per state, in a protected call (it allocates, so it can raise a memory error). */
int lua_json_open(lua_State *L);

/* Pushes the Lua value for `v`. Raises a Lua error (memory, nesting deeper than LUA_JSON_MAX_DEPTH), so call it in
 * a protected context. lua_json_open must have run in L. */
void lua_json_push(lua_State *L, const cJSON *v);

/* Converts the value at `idx` into a new cJSON tree the caller deletes. Never raises: on failure returns NULL with
 * "<what><path>: problem" in err (`what` names the root, e.g. "result"), or "out of memory" when the Lua memory cap
 * or malloc refused; *memory_error (may be NULL) is then set to 1. Runs no Lua code. */
cJSON *lua_json_to_cjson(lua_State *L, int idx, const char *what, int *memory_error, char *err, size_t errlen);

#endif
