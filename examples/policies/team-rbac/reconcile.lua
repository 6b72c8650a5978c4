-- reconcile.lua of the team-rbac site: FlinkDeployments become what flinkop makes of them by default.
local default = require "default_reconcile"

return { reconcile = default.reconcile, reconcile_session_job = default.reconcile_session_job }
