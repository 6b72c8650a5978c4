-- RBAC policy fixture: nothing namespaced yet.
local M = {}

function M.namespace(ns)
  return json.array()
end

return M
