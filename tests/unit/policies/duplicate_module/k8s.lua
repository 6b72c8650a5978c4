-- Shared builders for Kubernetes objects.
local M = {}

function M.object(kind, namespace, name, labels)
  return { kind = kind, metadata = { name = name, namespace = namespace, labels = labels } }
end

return M
