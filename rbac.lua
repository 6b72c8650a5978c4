-- rbac.lua: who may do what, for the operator and for the Flink jobs it runs.
--
-- This is the upstream Flink Kubernetes Operator's RBAC model (its Helm chart's rbac section), made automatic:
--   * the operator's own identity, ServiceAccount `flink-operator`, holds the operator rules, cluster-wide through
--     a ClusterRole, or through one Role per watched namespace when --watch-namespaces is set;
--   * every namespace that runs Flink gets the job identity: ServiceAccount `flink`, Role `flink` and RoleBinding
--     `flink-role-binding`, which each JobManager uses to create TaskManager pods and HA ConfigMaps. Upstream,
--     users make these by hand with kubectl in every namespace; here the operator makes them.
--
-- A namespace is in scope when it holds a FlinkDeployment or FlinkSessionJob, when it carries the label
-- `flinkop.apache.org/flink-rbac: enabled`, or when it is the operator's own namespace. The label value
-- `disabled` keeps the operator out of a namespace entirely. With --watch-namespaces, exactly the watched
-- namespaces are in scope.
local k8s = require "k8s"
local operator_deployment = require "operator_deployment"

local M = {}

local RBAC = "rbac.authorization.k8s.io/v1"
local ALL_VERBS = { "get", "list", "watch", "create", "update", "patch", "delete" }
local SCOPE_LABEL = "flinkop.apache.org/flink-rbac"

M.SCOPE_LABEL = SCOPE_LABEL
M.OPERATOR_ACCOUNT = "flink-operator"
M.JOB_ACCOUNT = "flink"
M.JOB_ROLE = "flink"
M.JOB_ROLE_BINDING = "flink-role-binding"

local function labels()
  return { ["app.kubernetes.io/name"] = "flink-kubernetes-operator", ["app.kubernetes.io/managed-by"] = k8s.MANAGED_BY }
end

-- What a JobManager needs: TaskManager pods, HA and config ConfigMaps, and its own Deployment (the TaskManager
-- pods' owner; `deployments/finalizers` lets it set blockOwnerDeletion on them). Explicit verbs, never `*`.
function M.job_rules()
  return {
    k8s.rule({ "" }, { "pods", "configmaps" }, ALL_VERBS),
    k8s.rule({ "apps" }, { "deployments", "deployments/finalizers" }, ALL_VERBS),
  }
end

-- What the operator needs to run Flink, as upstream grants it (values.yaml, rbac section), plus what flinkop adds
-- to make the job identity itself: ServiceAccounts, Roles and RoleBindings, and LocalSubjectAccessReviews to check
-- the ones users made by hand. Kubernetes lets the operator grant only rules it holds, so these rules contain
-- every job rule; no `escalate` or `bind` verb is needed.
function M.operator_rules(ctx)
  local rules = {
    k8s.rule({ "" }, { "pods", "services", "events", "configmaps", "secrets" },
      { "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection" }),
    k8s.rule({ "apps" }, { "deployments", "deployments/finalizers", "replicasets" }, ALL_VERBS),
    k8s.rule({ "apps" }, { "deployments/scale" }, { "get", "update", "patch" }),
    k8s.rule({ "networking.k8s.io" }, { "ingresses" }, ALL_VERBS),
    k8s.rule({ "flink.apache.org" }, {
      "flinkdeployments", "flinkdeployments/finalizers",
      "flinksessionjobs", "flinksessionjobs/finalizers",
      "flinkstatesnapshots", "flinkstatesnapshots/finalizers",
      "flinkbluegreendeployments", "flinkbluegreendeployments/finalizers",
    }, ALL_VERBS),
    k8s.rule({ "flink.apache.org" }, {
      "flinkdeployments/status", "flinksessionjobs/status",
      "flinkstatesnapshots/status", "flinkbluegreendeployments/status",
    }, { "get", "update", "patch" }),
    k8s.rule({ "coordination.k8s.io" }, { "leases" }, ALL_VERBS),
    k8s.rule({ "" }, { "serviceaccounts" }, ALL_VERBS),
    k8s.rule({ "rbac.authorization.k8s.io" }, { "roles", "rolebindings" }, ALL_VERBS),
    -- Only asks: whether a `flink` Role a user made by hand grants what job_rules() does. Grants nothing.
    k8s.rule({ "authorization.k8s.io" }, { "localsubjectaccessreviews" }, { "create" }),
  }
  if ctx.watch_namespaces == nil then
    -- Cluster scope follows namespaces coming and going, so it must see them.
    rules[#rules + 1] = k8s.rule({ "" }, { "namespaces" }, { "get", "list", "watch" })
  end
  return rules
end

-- The little the operator needs in its own namespace when it does not watch it: its lease, Events about its
-- policy ConfigMap, and that ConfigMap itself.
function M.operator_home_rules()
  return {
    k8s.rule({ "coordination.k8s.io" }, { "leases" }, ALL_VERBS),
    k8s.rule({ "" }, { "configmaps" }, { "get", "list", "watch" }),
    k8s.rule({ "" }, { "events" }, { "create", "patch", "update" }),
  }
end

local function role(kind, name, namespace, rules)
  local r = k8s.object(RBAC, kind, name, namespace, labels())
  r.rules = rules
  return r
end

local function binding(kind, name, namespace, role_kind, role_name, subject)
  local b = k8s.object(RBAC, kind, name, namespace, labels())
  b.roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = role_kind, name = role_name }
  b.subjects = { subject }
  return b
end

-- The job identity of one namespace: ServiceAccount, Role and RoleBinding, named as upstream names them.
function M.flink_job_rbac(namespace)
  return {
    k8s.object("v1", "ServiceAccount", M.JOB_ACCOUNT, namespace, labels()),
    role("Role", M.JOB_ROLE, namespace, M.job_rules()),
    binding("RoleBinding", M.JOB_ROLE_BINDING, namespace, "Role", M.JOB_ROLE,
      k8s.service_account_subject(M.JOB_ACCOUNT, namespace)),
  }
end

-- Whether the operator manages the job identity in namespace `ns` (a Namespace object).
function M.in_scope(ns, ctx)
  local name = ns.metadata.name
  local label = k8s.label(ns, SCOPE_LABEL)
  if label == "disabled" then return false end
  local held = ctx.flink_resources or {}
  local runs_flink = #(held.FlinkDeployment or {}) > 0 or #(held.FlinkSessionJob or {}) > 0
  if ctx.watch_namespaces ~= nil then
    -- A namespace that left the watch list keeps its job identity while its Flink resources run.
    return k8s.contains(ctx.watch_namespaces, name) or runs_flink
  end
  return label == "enabled" or name == ctx.operator_namespace or runs_flink
end

-- The objects that must exist in namespace `ns`; an empty list means the namespace is out of scope.
function M.namespace(ns, ctx)
  if not M.in_scope(ns, ctx) then return json.array() end
  return M.flink_job_rbac(ns.metadata.name)
end

-- The operator's own install objects for the scope ctx describes: its identity and, when `flinkop install` asks
-- (ctx.install), the Deployment that runs it under that identity.
function M.operator(ctx)
  local home = ctx.operator_namespace
  local subject = k8s.service_account_subject(M.OPERATOR_ACCOUNT, home)
  local out = { k8s.object("v1", "ServiceAccount", M.OPERATOR_ACCOUNT, home, labels()) }
  local function add(o) out[#out + 1] = o end
  if ctx.install ~= nil then add(operator_deployment.deployment(ctx, M.OPERATOR_ACCOUNT)) end

  if ctx.watch_namespaces == nil then
    add(role("ClusterRole", "flink-operator", nil, M.operator_rules(ctx)))
    add(binding("ClusterRoleBinding", "flink-operator-role-binding", nil, "ClusterRole", "flink-operator", subject))
    return out
  end
  for _, ns in ipairs(ctx.watch_namespaces) do
    add(role("Role", "flink-operator", ns, M.operator_rules(ctx)))
    add(binding("RoleBinding", "flink-operator-role-binding", ns, "Role", "flink-operator", subject))
  end
  if not k8s.contains(ctx.watch_namespaces, home) then
    add(role("Role", "flink-operator", home, M.operator_home_rules()))
    add(binding("RoleBinding", "flink-operator-role-binding", home, "Role", "flink-operator", subject))
  end
  return out
end

-- Self-tests, run by `flinkop check` and before a new policy is accepted.
local function ns(name, labels_)
  return { apiVersion = "v1", kind = "Namespace", metadata = { name = name, labels = labels_ } }
end

local function names(objects)
  local out = {}
  for _, o in ipairs(objects) do out[#out + 1] = o.kind .. "/" .. (o.metadata.namespace or "") .. "/" .. o.metadata.name end
  table.sort(out)
  return table.concat(out, " ")
end

local function rules_grant(rules, group, resource, verb)
  for _, r in ipairs(rules) do
    if k8s.contains(r.apiGroups, group) and k8s.contains(r.resources, resource) and k8s.contains(r.verbs, verb) then
      return true
    end
  end
  return false
end

local cluster = { operator_namespace = "flink-operator" }

M.tests = {
  ["a namespace holding a FlinkDeployment gets the flink account, role and binding"] = function()
    local ctx = { operator_namespace = "flink-operator", flink_resources = { FlinkDeployment = { "basic" } } }
    assert(names(M.namespace(ns("team-a"), ctx)) ==
      "Role/team-a/flink RoleBinding/team-a/flink-role-binding ServiceAccount/team-a/flink")
  end,
  ["a namespace without Flink and without the label is out of scope"] = function()
    assert(#M.namespace(ns("empty"), cluster) == 0)
  end,
  ["the enabled label brings a namespace in scope"] = function()
    assert(#M.namespace(ns("x", { [SCOPE_LABEL] = "enabled" }), cluster) == 3)
  end,
  ["the disabled label keeps the operator out even with FlinkDeployments"] = function()
    local ctx = { operator_namespace = "o", flink_resources = { FlinkDeployment = { "a" } } }
    assert(#M.namespace(ns("x", { [SCOPE_LABEL] = "disabled" }), ctx) == 0)
  end,
  ["the operator namespace always gets the job identity in cluster scope"] = function()
    assert(#M.namespace(ns("flink-operator"), cluster) == 3)
  end,
  ["with watched namespaces those are in scope, and a namespace that left while running Flink"] = function()
    local ctx = { operator_namespace = "o", watch_namespaces = { "a", "b" } }
    assert(#M.namespace(ns("a"), ctx) == 3)
    assert(#M.namespace(ns("c"), ctx) == 0)
    ctx.flink_resources = { FlinkDeployment = { "x" } }
    assert(#M.namespace(ns("c"), ctx) == 3, "c left the watch list but still runs a FlinkDeployment")
    assert(#M.namespace(ns("c", { [M.SCOPE_LABEL] = "disabled" }), ctx) == 0)
  end,
  ["the job role uses explicit verbs and the upstream resources"] = function()
    local rules = M.job_rules()
    for _, r in ipairs(rules) do
      for _, v in ipairs(r.verbs) do assert(v ~= "*") end
      for _, res in ipairs(r.resources) do assert(res ~= "*") end
    end
    assert(rules_grant(rules, "", "pods", "create"))
    assert(rules_grant(rules, "apps", "deployments/finalizers", "update"))
    assert(not rules_grant(rules, "", "secrets", "get"))
  end,
  ["the operator holds every rule it grants to jobs"] = function()
    local op = M.operator_rules(cluster)
    for _, r in ipairs(M.job_rules()) do
      for _, g in ipairs(r.apiGroups) do
        for _, res in ipairs(r.resources) do
          for _, v in ipairs(r.verbs) do
            assert(rules_grant(op, g, res, v), "operator lacks " .. g .. "/" .. res .. " " .. v)
          end
        end
      end
    end
  end,
  ["the operator may ask whether user-made job RBAC is enough, in either scope"] = function()
    for _, ctx in ipairs({ cluster, { operator_namespace = "o", watch_namespaces = { "a" } } }) do
      assert(rules_grant(M.operator_rules(ctx), "authorization.k8s.io", "localsubjectaccessreviews", "create"))
    end
  end,
  ["cluster scope installs a ClusterRole bound to the operator account"] = function()
    assert(names(M.operator(cluster)) == "ClusterRole//flink-operator " ..
      "ClusterRoleBinding//flink-operator-role-binding ServiceAccount/flink-operator/flink-operator")
  end,
  ["namespaced scope installs a Role per watched namespace and a home Role"] = function()
    local out = M.operator({ operator_namespace = "op", watch_namespaces = { "a" } })
    assert(names(out) == "Role/a/flink-operator Role/op/flink-operator RoleBinding/a/flink-operator-role-binding " ..
      "RoleBinding/op/flink-operator-role-binding ServiceAccount/op/flink-operator")
    for _, o in ipairs(out) do
      if o.kind == "Role" and o.metadata.namespace == "a" then
        assert(not rules_grant(o.rules, "", "namespaces", "list"), "namespaced scope cannot list namespaces")
      end
    end
  end,
}

return M
