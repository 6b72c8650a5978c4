-- Builders for plain Kubernetes objects, shared by the policies.
--
-- Every builder returns a fresh table: policies are pure, so nothing here keeps state between calls.
local k8s = {}

-- The labels every object made by the default policies carries. The core adds
-- app.kubernetes.io/managed-by itself; it is repeated here so a policy's own tests see the full object.
k8s.MANAGED_BY = "flinkop"

-- A new object with apiVersion, kind and metadata filled in. `namespace` is nil for cluster-scoped kinds.
function k8s.object(api_version, kind, name, namespace, labels)
  local metadata = { name = name, labels = k8s.merge({}, labels or {}) }
  if namespace ~= nil then metadata.namespace = namespace end
  return { apiVersion = api_version, kind = kind, metadata = metadata }
end

-- Copies every key of each table after the first into the first, later tables winning; returns the first.
function k8s.merge(into, ...)
  for i = 1, select("#", ...) do
    local from = select(i, ...)
    if from ~= nil then
      for k, v in pairs(from) do into[k] = v end
    end
  end
  return into
end

-- One RBAC policy rule. Lists are copied so a caller's table is never shared between objects.
function k8s.rule(api_groups, resources, verbs)
  return {
    apiGroups = json.array(table.move(api_groups, 1, #api_groups, 1, {})),
    resources = json.array(table.move(resources, 1, #resources, 1, {})),
    verbs = json.array(table.move(verbs, 1, #verbs, 1, {})),
  }
end

-- A subject entry naming a ServiceAccount.
function k8s.service_account_subject(name, namespace)
  return { kind = "ServiceAccount", name = name, namespace = namespace }
end

-- Whether `list` (a sequence) holds `value`.
function k8s.contains(list, value)
  for _, v in ipairs(list or {}) do
    if v == value then return true end
  end
  return false
end

-- The label value of an object, or nil.
function k8s.label(obj, key)
  local labels = obj and obj.metadata and obj.metadata.labels
  return labels and labels[key] or nil
end

k8s.tests = {
  ["object carries name, namespace and a copy of the labels"] = function()
    local labels = { a = "1" }
    local o = k8s.object("v1", "ServiceAccount", "flink", "ns1", labels)
    assert(o.apiVersion == "v1" and o.kind == "ServiceAccount")
    assert(o.metadata.name == "flink" and o.metadata.namespace == "ns1")
    labels.a = "2"
    assert(o.metadata.labels.a == "1", "labels must be copied")
  end,
  ["cluster-scoped object has no namespace"] = function()
    local o = k8s.object("rbac.authorization.k8s.io/v1", "ClusterRole", "x")
    assert(o.metadata.namespace == nil)
  end,
  ["rule lists are JSON arrays and copies"] = function()
    local verbs = { "get" }
    local r = k8s.rule({ "" }, { "pods" }, verbs)
    assert(json.is_array(r.verbs) and r.verbs[1] == "get")
    verbs[1] = "delete"
    assert(r.verbs[1] == "get")
  end,
  ["contains finds a value and tolerates nil"] = function()
    assert(k8s.contains({ "a", "b" }, "b"))
    assert(not k8s.contains(nil, "a"))
  end,
}

return k8s
