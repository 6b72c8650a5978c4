-- Reconcile policy fixture: one Deployment built by the shared k8s module.
local k8s = require("k8s")

local M = {}

function M.reconcile(fd)
  return json.array { k8s.object("Deployment", fd.metadata.namespace, fd.metadata.name .. "-jobmanager",
                                 { app = fd.metadata.name }) }
end

M.tests = {
  ["names the jobmanager after the deployment"] = function()
    local out = M.reconcile({ metadata = { name = "a", namespace = "b" } })
    assert(out[1].metadata.name == "a-jobmanager")
  end,
}

return M
