-- rbac.lua of a site where Flink runs in team namespaces only.
--
-- The site's rules:
--   1. A team namespace carries the label `example.com/team: <team>`. Only team namespaces get the Flink job
--      identity (ServiceAccount, Role and RoleBinding `flink`, exactly as flinkop makes them by default); any other
--      namespace gets nothing from the operator, whatever runs in it.
--   2. A team sees everything in its namespaces: RoleBinding `<team>-view` binds the team's Group to the ClusterRole
--      `view`. The Group is `<team>-devs`, unless the namespace names another with `example.com/team-group`.
--   3. The operator may bind the ClusterRole `view` and no other role whose rules it does not hold: Kubernetes lets
--      it create rule 2's binding only with the `bind` verb on that ClusterRole.
-- Everything else is flinkop's default (scripts/default_rbac.lua, the repository's rbac.lua).
--
-- Rule 1 reads Namespace labels, which the operator sees in cluster scope only: with --watch-namespaces it cannot
-- read Namespace objects, every namespace looks unlabelled, and no namespace would get anything.
local default = require "default_rbac"
local k8s = require "k8s"

local M = {}

M.TEAM_LABEL = "example.com/team"
M.GROUP_LABEL = "example.com/team-group"
M.VIEW_ROLE = "view"

local RBAC_GROUP = "rbac.authorization.k8s.io"
local OPERATOR_ROLE = "flink-operator" -- what the default names the operator's ClusterRole (or Roles)

-- Rule 1: the team a namespace belongs to, or nil when it belongs to none.
function M.team(ns)
  local team = k8s.label(ns, M.TEAM_LABEL)
  if team == nil or team == "" then return nil end
  return team
end

-- Rule 2: the Group of the team's developers.
function M.team_group(ns, team)
  local group = k8s.label(ns, M.GROUP_LABEL)
  if group ~= nil and group ~= "" then return group end
  return team .. "-devs"
end

-- Rule 2: the team's read access to one of its namespaces.
function M.team_view_binding(namespace, team, group)
  local b = k8s.object(RBAC_GROUP .. "/v1", "RoleBinding", team .. "-view", namespace,
    { ["app.kubernetes.io/managed-by"] = k8s.MANAGED_BY, [M.TEAM_LABEL] = team })
  b.roleRef = { apiGroup = RBAC_GROUP, kind = "ClusterRole", name = M.VIEW_ROLE }
  b.subjects = json.array({ { apiGroup = RBAC_GROUP, kind = "Group", name = group } })
  return b
end

-- Rule 3: the one role the operator may bind without holding its rules.
function M.bind_view_rule()
  local rule = k8s.rule({ RBAC_GROUP }, { "clusterroles" }, { "bind" })
  rule.resourceNames = json.array({ M.VIEW_ROLE })
  return rule
end

function M.namespace(ns, ctx)
  local team = M.team(ns)
  if team == nil then return json.array() end
  local name = ns.metadata.name
  local out = default.flink_job_rbac(name)
  out[#out + 1] = M.team_view_binding(name, team, M.team_group(ns, team))
  return json.array(out)
end

-- The default install, with rule 3 added to the role that holds the operator's rules: the ClusterRole in cluster
-- scope, the Role of each watched namespace otherwise (not the small Role of an unwatched operator namespace).
function M.operator(ctx)
  local out = default.operator(ctx)
  for _, o in ipairs(out) do
    local ns = o.metadata.namespace
    local holds_operator_rules = (o.kind == "ClusterRole" and ns == nil) or
      (o.kind == "Role" and k8s.contains(ctx.watch_namespaces, ns))
    if o.metadata.name == OPERATOR_ROLE and holds_operator_rules then
      o.rules[#o.rules + 1] = M.bind_view_rule()
    end
  end
  return out
end

-- Self-tests: the site's rules, as `flinkop check` runs them.
local CLUSTER = { operator_namespace = "flink-operator", flink_resources = { FlinkDeployment = { "fraud-scoring" } } }

local function namespace(name, labels)
  return { apiVersion = "v1", kind = "Namespace", metadata = { name = name, labels = labels } }
end

local function find(objects, kind, name)
  for _, o in ipairs(objects) do
    if o.kind == kind and o.metadata.name == name then return o end
  end
end

local function bind_view_rules(role)
  local n = 0
  for _, r in ipairs(role.rules) do
    if k8s.contains(r.verbs, "bind") then
      assert(r.resources[1] == "clusterroles" and #r.resources == 1, "bind on clusterroles only")
      assert(r.resourceNames[1] == M.VIEW_ROLE and #r.resourceNames == 1, "bind on view only")
      n = n + 1
    end
  end
  return n
end

M.tests = {
  ["a team namespace gets the flink job identity and the team's view binding"] = function()
    local out = M.namespace(namespace("fraud-detection", { [M.TEAM_LABEL] = "risk" }), CLUSTER)
    assert(#out == 4 and json.is_array(out))
    assert(find(out, "ServiceAccount", "flink") and find(out, "Role", "flink") and find(out, "RoleBinding", "flink-role-binding"))
    local view = assert(find(out, "RoleBinding", "risk-view"))
    assert(view.metadata.namespace == "fraud-detection")
    assert(view.roleRef.kind == "ClusterRole" and view.roleRef.name == "view")
    assert(#view.subjects == 1 and view.subjects[1].kind == "Group" and view.subjects[1].name == "risk-devs")
  end,
  ["a namespace of no team gets nothing, even when Flink runs in it"] = function()
    assert(#M.namespace(namespace("scratch"), CLUSTER) == 0)
    assert(#M.namespace(namespace("scratch", { [M.TEAM_LABEL] = "" }), CLUSTER) == 0)
    assert(#M.namespace(namespace("scratch", { [default.SCOPE_LABEL] = "enabled" }), CLUSTER) == 0)
  end,
  ["a namespace may name the team's group itself"] = function()
    local ns = namespace("recommendations", { [M.TEAM_LABEL] = "search", [M.GROUP_LABEL] = "search-oncall" })
    local view = assert(find(M.namespace(ns, CLUSTER), "RoleBinding", "search-view"))
    assert(view.subjects[1].name == "search-oncall")
  end,
  ["the operator may bind view and no other role it does not hold"] = function()
    local out = M.operator(CLUSTER)
    local role = assert(find(out, "ClusterRole", OPERATOR_ROLE))
    assert(bind_view_rules(role) == 1)
    assert(#role.rules == #find(default.operator(CLUSTER), "ClusterRole", OPERATOR_ROLE).rules + 1,
      "the default rules are kept")
  end,
  ["with watched namespaces the bind rule goes to the watched namespaces' roles only"] = function()
    local out = M.operator({ operator_namespace = "flink-operator", watch_namespaces = { "fraud-detection" } })
    for _, o in ipairs(out) do
      if o.kind == "Role" then
        local want = o.metadata.namespace == "fraud-detection" and 1 or 0
        assert(bind_view_rules(o) == want, o.metadata.namespace)
      end
    end
  end,
}

return M
