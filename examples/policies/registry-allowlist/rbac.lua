-- rbac.lua of the registry-allowlist site: the RBAC flinkop makes by default.
local default = require "default_rbac"

return { operator = default.operator, namespace = default.namespace }
