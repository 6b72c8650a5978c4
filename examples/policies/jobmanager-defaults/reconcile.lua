-- reconcile.lua of a site that sizes and labels every JobManager.
--
-- The site's rules:
--   1. A JobManager whose FlinkDeployment says nothing about its size (no spec.jobManager.resources or .resource,
--      no jobmanager memory or cpu in spec.flinkConfiguration) gets the site's size: 0.5 CPU and 1 GiB (1024m).
--      A size the user gave, even a partial one, is theirs and stays as given.
--   2. Every JobManager Deployment and its pods carry the label example.com/cost-center: the cost center of the
--      namespace, or the platform's shared one for a namespace not in the list.
-- Everything else is flinkop's default (scripts/default_reconcile.lua, the repository's reconcile.lua).
--
-- Rule 1 applies before flinkop's validation and configuration, so Flink's memory settings and the container's
-- resources agree, and the spec recorded in status.reconciliationStatus.lastReconciledSpec is the sized one: a new
-- site size counts as a spec change and rolls the JobManagers it applies to, as their pods change anyway.
-- reconcile() does not see the Namespace object (policy API v1), so rule 2 maps namespace names, here, in the policy.
local default = require "default_reconcile"
local config = require "flink_config"
local objects = require "flink_objects"

local M = {}

M.JOBMANAGER_SIZE = { requests = { cpu = "500m", memory = "1024m" } }
M.COST_CENTER_LABEL = "example.com/cost-center"
M.COST_CENTERS = { ["fraud-detection"] = "cc-4100", ["recommendations"] = "cc-4200" }
M.SHARED_COST_CENTER = "cc-1000-platform"

local present = objects.is_present

-- Rule 1: does the spec say anything about the JobManager's size?
function M.jobmanager_size_given(spec)
  local jm = spec.jobManager
  if present(jm) and (present(jm.resources) or present(jm.resource)) then return true end
  local cfg = config.flatten(spec.flinkConfiguration)
  return config.memory_defined(cfg, "jobmanager")
    or cfg["kubernetes.jobmanager.cpu.amount"] ~= nil or cfg["kubernetes.jobmanager.cpu"] ~= nil
end

-- Rule 1: the FlinkDeployment as the default policy should see it (a copy; the argument is left alone).
function M.sized(resource)
  if type(resource.spec) ~= "table" or M.jobmanager_size_given(resource.spec) then return resource end
  local out = objects.copy(resource)
  if not present(out.spec.jobManager) then out.spec.jobManager = {} end
  out.spec.jobManager.resources = objects.copy(M.JOBMANAGER_SIZE)
  return out
end

-- Rule 2: the site's labels for a JobManager in `namespace`.
function M.site_labels(namespace)
  return { [M.COST_CENTER_LABEL] = M.COST_CENTERS[namespace] or M.SHARED_COST_CENTER }
end

local function is_jobmanager(o)
  return o.kind == "Deployment" and o.metadata.labels ~= nil and o.metadata.labels.component == "jobmanager"
end

-- Rule 2: adds the site's labels to the JobManager Deployments of a plan and to their pod templates. The selector
-- stays as it is: it must not change on a Deployment that exists.
function M.label_jobmanagers(plan, namespace)
  local labels = M.site_labels(namespace)
  for _, o in ipairs(plan) do
    if is_jobmanager(o) then
      for k, v in pairs(labels) do
        o.metadata.labels[k] = v
        o.spec.template.metadata.labels[k] = v
      end
    end
  end
  return plan
end

function M.reconcile(resource, observed, ctx)
  local result = default.reconcile(M.sized(resource), observed, ctx)
  if result.objects ~= nil then
    M.label_jobmanagers(result.objects, resource.metadata.namespace)
  end
  return result
end

M.reconcile_session_job = default.reconcile_session_job

-- Self-tests: the site's rules, as `flinkop check` runs them.
local CTX = { api_version = 1, operator_namespace = "flink-operator", now = "2026-11-25T12:00:00Z" }

-- A FlinkDeployment whose JobManager size is left to the site; `change` edits it.
local function unsized(namespace, change)
  local fd = {
    apiVersion = "flink.apache.org/v1beta1", kind = "FlinkDeployment",
    metadata = { name = "recommender", namespace = namespace, generation = 1 },
    spec = {
      image = "flink:2.2", flinkVersion = "v2_2", serviceAccount = "flink",
      taskManager = { resources = { requests = { memory = "4096m", cpu = "2" } } },
      job = { jarURI = "local:///opt/flink/usrlib/recommender.jar", parallelism = 4 },
    },
  }
  if change then change(fd) end
  return fd
end

local function plan_of(resource)
  local r = M.reconcile(resource, { objects = {} }, CTX)
  local by_kind = {}
  for _, o in ipairs(assert(r.objects, "a plan")) do
    by_kind[o.kind .. "/" .. o.metadata.name] = o
  end
  return by_kind, r
end

local function jobmanager_container(plan)
  for _, c in ipairs(plan["Deployment/recommender"].spec.template.spec.containers) do
    if c.name == "flink-main-container" then return c end
  end
end

M.tests = {
  ["a jobmanager of no given size gets the site's size, in kubernetes and in flink"] = function()
    local plan = plan_of(unsized("recommendations"))
    local res = jobmanager_container(plan).resources
    assert(res.requests.cpu == "500m" and res.requests.memory == "1024Mi", res.requests.memory)
    assert(res.limits.cpu == "500m" and res.limits.memory == "1024Mi")
    local conf = plan["ConfigMap/flink-config-recommender"].data["config.yaml"]
    assert(conf:find("\njobmanager.memory.process.size: 1 gb\n", 1, true))
  end,
  ["a size the user gave is kept, even a partial one"] = function()
    local plan = plan_of(unsized("recommendations", function(fd)
      fd.spec.jobManager = { resources = { requests = { memory = "2048m" } } }
    end))
    local res = jobmanager_container(plan).resources
    assert(res.requests.memory == "2048Mi" and res.requests.cpu == "1", "the default policy's cpu, not the site's")
    plan = plan_of(unsized("recommendations", function(fd)
      fd.spec.flinkConfiguration = { ["jobmanager.memory.process.size"] = "3g" }
    end))
    assert(jobmanager_container(plan).resources.requests.memory == "3072Mi")
  end,
  ["the flinkdeployment given is left as it was"] = function()
    local fd = unsized("recommendations")
    M.reconcile(fd, { objects = {} }, CTX)
    assert(fd.spec.jobManager == nil)
  end,
  ["the jobmanager deployment and its pods carry the namespace's cost center"] = function()
    local dep = plan_of(unsized("fraud-detection"))["Deployment/recommender"]
    assert(dep.metadata.labels[M.COST_CENTER_LABEL] == "cc-4100")
    assert(dep.spec.template.metadata.labels[M.COST_CENTER_LABEL] == "cc-4100")
    assert(dep.spec.selector.matchLabels[M.COST_CENTER_LABEL] == nil, "the selector is left alone")
  end,
  ["a namespace not in the list is billed to the platform"] = function()
    local dep = plan_of(unsized("sandbox"))["Deployment/recommender"]
    assert(dep.metadata.labels[M.COST_CENTER_LABEL] == M.SHARED_COST_CENTER)
  end,
  ["only jobmanagers are labelled"] = function()
    local plan = plan_of(unsized("fraud-detection", function(fd) fd.spec.mode = "standalone" end))
    assert(plan["Deployment/recommender"].metadata.labels[M.COST_CENTER_LABEL] == "cc-4100")
    local tm = assert(plan["Deployment/recommender-taskmanager"])
    assert(tm.metadata.labels[M.COST_CENTER_LABEL] == nil)
  end,
  ["an invalid spec still gets no plan"] = function()
    local r = M.reconcile(unsized("fraud-detection", function(fd) fd.spec.serviceAccount = nil end), { objects = {} }, CTX)
    assert(r.objects == nil and r.events[1].reason == "ValidationError")
  end,
}

return M
