-- rbac.lua of the jobmanager-defaults site: the RBAC flinkop makes by default.
local default = require "default_rbac"

return { operator = default.operator, namespace = default.namespace }
