-- reconcile.lua of a site that runs images from its own registry only.
--
-- The site's rule: every image a FlinkDeployment runs comes from registry.example.com/. That is `spec.image`, an
-- image set in `spec.flinkConfiguration` (`kubernetes.container.image.ref`, `kubernetes.container.image`), and
-- every container and init container of `spec.podTemplate`, `spec.jobManager.podTemplate` and
-- `spec.taskManager.podTemplate`. A FlinkDeployment that names any other image is refused the way flinkop refuses an
-- invalid spec: no plan (whatever runs keeps running, nothing new is made), `status.error` naming the field, the
-- image and this rule, and a ValidationError Warning Event.
-- Everything else is flinkop's default (scripts/default_reconcile.lua, the repository's reconcile.lua).
local default = require "default_reconcile"
local config = require "flink_config"

local M = {}

M.REGISTRY = "registry.example.com/"
M.RULE = "site rule: images come from " .. M.REGISTRY .. " only"

local function present(v) return v ~= nil and v ~= json.null end

-- at(t, "a", "b") -> t.a.b, or nil when a step is missing.
local function at(t, ...)
  for _, key in ipairs({ ... }) do
    if type(t) ~= "table" or t == json.null then return nil end
    t = t[key]
  end
  if present(t) then return t end
end

local function allowed(image)
  return image:sub(1, #M.REGISTRY) == M.REGISTRY
end

-- images(spec) -> { { field = "spec.image", image = "..." }, ... }: every image the spec names, where it names it.
function M.images(spec)
  local out = {}
  local function add(field, image)
    if present(image) then out[#out + 1] = { field = field, image = tostring(image) } end
  end
  add("spec.image", spec.image)
  local cfg = config.flatten(spec.flinkConfiguration)
  for _, key in ipairs({ "kubernetes.container.image.ref", "kubernetes.container.image" }) do
    add("spec.flinkConfiguration." .. key, cfg[key])
  end
  local templates = {
    { "spec.podTemplate.spec", at(spec, "podTemplate", "spec") },
    { "spec.jobManager.podTemplate.spec", at(spec, "jobManager", "podTemplate", "spec") },
    { "spec.taskManager.podTemplate.spec", at(spec, "taskManager", "podTemplate", "spec") },
  }
  for _, t in ipairs(templates) do
    local where, pod = t[1], t[2]
    for _, list in ipairs({ "initContainers", "containers" }) do
      -- Kubernetes numbers list items from 0 in field paths (spec.containers[0].image).
      for i, c in ipairs(at(pod, list) or {}) do
        add(string.format("%s.%s[%d].image", where, list, i - 1), at(c, "image"))
      end
    end
  end
  return out
end

-- The first image from elsewhere, as a message naming the field, the image and the rule; nil when all are allowed.
function M.foreign_image(spec)
  for _, found in ipairs(M.images(spec)) do
    if not allowed(found.image) then
      return string.format('%s: "%s" is refused (%s)', found.field, found.image, M.RULE)
    end
  end
end

function M.reconcile(resource, observed, ctx)
  local spec = resource.spec
  local problem = type(spec) == "table" and not default.is_canary(resource) and M.foreign_image(spec)
  if problem then return default.invalid(resource, problem) end
  return default.reconcile(resource, observed, ctx)
end

M.reconcile_session_job = default.reconcile_session_job

-- Self-tests: the site's rule, as `flinkop check` runs them.
local CTX = { api_version = 1, operator_namespace = "flink-operator", now = "2026-11-25T12:00:00Z" }

-- A FlinkDeployment of team risk; `change` edits its spec.
local function fraud_scoring(change)
  local spec = {
    image = "registry.example.com/flink:2.2", flinkVersion = "v2_2", serviceAccount = "flink",
    jobManager = { resources = { requests = { memory = "2048m", cpu = "1" } } },
    taskManager = { resources = { requests = { memory = "2048m", cpu = "1" } } },
    job = { jarURI = "local:///opt/flink/usrlib/fraud-scoring.jar", parallelism = 2, upgradeMode = "stateless" },
  }
  if change then change(spec) end
  return { apiVersion = "flink.apache.org/v1beta1", kind = "FlinkDeployment",
           metadata = { name = "fraud-scoring", namespace = "risk", generation = 1 }, spec = spec }
end

local function refusal(result)
  assert(result.objects == nil, "a refused spec gets no plan")
  assert(result.events[1].type == "Warning" and result.events[1].reason == "ValidationError")
  local err = json.decode(result.status.error)
  assert(err.message == result.events[1].message)
  return err.message
end

local function sidecar(image)
  return { spec = { containers = json.array({ { name = "log-shipper", image = image } }) } }
end

M.tests = {
  ["an image from the site registry is deployed"] = function()
    local r = M.reconcile(fraud_scoring(), { objects = {} }, CTX)
    assert(r.objects and #r.objects > 0 and r.status.error == json.null)
    for _, o in ipairs(r.objects) do
      if o.kind == "Deployment" then
        assert(o.spec.template.spec.containers[1].image == "registry.example.com/flink:2.2")
      end
    end
  end,
  ["spec.image from elsewhere is refused, naming the image and the rule"] = function()
    local message = refusal(M.reconcile(fraud_scoring(function(s) s.image = "flink:2.2" end), { objects = {} }, CTX))
    assert(message == 'spec.image: "flink:2.2" is refused (site rule: images come from registry.example.com/ only)',
      message)
  end,
  ["a registry that only starts like the site's is elsewhere"] = function()
    local r = M.reconcile(fraud_scoring(function(s) s.image = "registry.example.com.mirror.io/flink:2.2" end),
      { objects = {} }, CTX)
    assert(refusal(r):find('"registry.example.com.mirror.io/flink:2.2"', 1, true))
  end,
  ["a sidecar from elsewhere in a pod template is refused"] = function()
    local r = M.reconcile(fraud_scoring(function(s) s.podTemplate = sidecar("fluent/fluent-bit:3.0") end),
      { objects = {} }, CTX)
    assert(refusal(r):find('^spec.podTemplate.spec.containers%[0%].image: "fluent/fluent%-bit:3.0" is refused'))
  end,
  ["init containers of the jobmanager and taskmanager templates are checked too"] = function()
    for _, component in ipairs({ "jobManager", "taskManager" }) do
      local r = M.reconcile(fraud_scoring(function(s)
        s[component].podTemplate = { spec = { initContainers = json.array({ { name = "fetch", image = "busybox" } }) } }
      end), { objects = {} }, CTX)
      assert(refusal(r):find("^spec." .. component .. ".podTemplate.spec.initContainers%[0%].image"))
    end
  end,
  ["an image set in the flink configuration is checked too"] = function()
    local r = M.reconcile(fraud_scoring(function(s)
      s.flinkConfiguration = { ["kubernetes.container.image.ref"] = "docker.io/library/flink:2.2" }
    end), { objects = {} }, CTX)
    assert(refusal(r):find("^spec.flinkConfiguration.kubernetes.container.image.ref: "))
  end,
  ["site images in every template are deployed"] = function()
    local r = M.reconcile(fraud_scoring(function(s)
      s.podTemplate = sidecar("registry.example.com/fluent-bit:3.0")
    end), { objects = {} }, CTX)
    assert(r.objects and r.status.error == json.null)
  end,
}

return M
