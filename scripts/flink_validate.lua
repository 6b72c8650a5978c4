-- Is this FlinkDeployment something we can deploy?
--
-- The checks and their order are upstream's DefaultValidator.validateDeployment (first failure wins):
-- name, flinkVersion, Flink configuration, ingress, log configuration, job, JobManager, TaskManager,
-- spec change, service account. Upstream's messages are free text; ours name the field first
-- ("spec.serviceAccount: required") so a user can find it, and say what upstream would have said.
-- A few checks the CRD schema makes on the API server (enums) are repeated here because a dry-run
-- from a YAML file never meets the API server.

local json = require "json"
local config = require "flink_config"

local M = {}

local function present(v) return v ~= nil and v ~= json.null end
local function blank(v) return not present(v) or not tostring(v):match("%S") end

local function one_of(field, value, allowed)
    for _, a in ipairs(allowed) do
        if value == a then return nil end
    end
    return string.format('%s: "%s" is not one of %s', field, tostring(value), table.concat(allowed, ", "))
end

-- Flink's cluster id rules (Constants.MAXIMUM_CHARACTERS_OF_CLUSTER_ID and upstream's
-- DEPLOYMENT_NAME_PATTERN [a-z]([-a-z\d]{0,43}[a-z\d])?): names become Service names and DNS labels.
function M.name(name)
    if blank(name) then return "metadata.name: required" end
    if #name > 45 then
        return string.format('metadata.name: "%s" is %d characters, at most 45 allowed', name, #name)
    end
    if not name:match("^[a-z][-a-z0-9]*$") or name:match("%-$") then
        return string.format('metadata.name: "%s" must consist of lower case alphanumeric characters or \'-\', ' ..
            "start with a letter and end with an alphanumeric character", name)
    end
end

function M.flink_version(spec)
    if blank(spec.flinkVersion) then return "spec.flinkVersion: required (upstream: Flink Version must be defined.)" end
    if not config.known_version(spec.flinkVersion) then
        return one_of("spec.flinkVersion", spec.flinkVersion, config.VERSIONS)
    end
end

-- The operator owns these keys: it sets them from the resource's name and namespace.
local FORBIDDEN_KEYS = { "kubernetes.namespace", "kubernetes.cluster-id", "high-availability.cluster-id" }
local REST_SERVICE_TYPES = { "ClusterIP", "NodePort", "LoadBalancer", "Headless_ClusterIP" }

function M.flink_configuration(cfg)
    for _, key in ipairs(FORBIDDEN_KEYS) do
        if cfg[key] ~= nil then
            return string.format('spec.flinkConfiguration: "%s" is set by the operator and may not be given ' ..
                "(upstream: Forbidden Flink config key: %s)", key, key)
        end
    end
    if config.bool(cfg, "kubernetes.operator.deployment.rollback.enabled", false) and not config.ha_enabled(cfg) then
        return "spec.flinkConfiguration: kubernetes.operator.deployment.rollback.enabled needs high availability " ..
            "(upstream: HA must be enabled for rollback support.)"
    end
    if config.bool(cfg, "kubernetes.operator.cluster.health-check.enabled", false)
        and not config.bool(cfg, "kubernetes.operator.jm-deployment-recovery.enabled", true) then
        return "spec.flinkConfiguration: kubernetes.operator.cluster.health-check.enabled needs " ..
            "kubernetes.operator.jm-deployment-recovery.enabled"
    end
    local rest_type = cfg["kubernetes.rest-service.exposed.type"]
    if rest_type ~= nil then
        return one_of("spec.flinkConfiguration.kubernetes.rest-service.exposed.type", rest_type, REST_SERVICE_TYPES)
    end
end

-- ingress_url(template, name, namespace) -> { host, path } or nil, message
-- IngressUtils.getIngressUrl: add http:// when there is no scheme, substitute {{name}} and
-- {{namespace}}, parse as a URL.
function M.ingress_url(template, name, namespace)
    local url = template
    if not url:match("^https?://") then url = "http://" .. url end
    url = url:gsub("{{name}}", function() return name end):gsub("{{namespace}}", function() return namespace end)
    local rest = url:match("^%a[%w+.-]*://(.*)$")
    local authority = rest:match("^[^/?#]*")
    local path = rest:sub(#authority + 1):match("^[^?#]*")
    local host = authority:gsub("^.*@", "")
    local port = host:match(":([^:%]]*)$")
    if port then
        host = host:sub(1, #host - #port - 1)
        if port ~= "" and not port:match("^%d+$") then
            return nil, string.format("Unable to process the Ingress template(%s). Error: For input string: \"%s\"", template, port)
        end
    end
    return { host = host, path = path }
end

function M.ingress(ingress, name, namespace)
    if not present(ingress) then return nil end
    if blank(ingress.template) then return "spec.ingress.template: required (upstream: Ingress template must be defined)" end
    local _, err = M.ingress_url(ingress.template, name, namespace)
    if err then return "spec.ingress.template: " .. err end
end

function M.log_configuration(log)
    if not present(log) then return nil end
    for key in pairs(log) do
        if key ~= "log4j-console.properties" and key ~= "logback-console.xml" then
            return string.format('spec.logConfiguration: "%s" is not one of log4j-console.properties, logback-console.xml', key)
        end
    end
end

local function has(cfg, ...)
    for _, key in ipairs({ ... }) do
        if not blank(cfg[key]) then return true end
    end
    return false
end

-- Checkpoint and savepoint directories under their Flink 1.20+/2.x keys and the older ones.
local function checkpoint_dir(cfg) return has(cfg, "execution.checkpointing.dir", "state.checkpoints.dir") end
local function savepoint_dir(cfg) return has(cfg, "execution.checkpointing.savepoint-dir", "state.savepoints.dir") end

function M.job(job, tm, cfg)
    if not present(job) then return nil end
    local mode = present(job.upgradeMode) and job.upgradeMode or "stateless"
    local err = one_of("spec.job.upgradeMode", mode, { "stateless", "savepoint", "last-state" })
        or (present(job.state) and one_of("spec.job.state", job.state, { "running", "suspended" }))
    if err then return err end
    if present(job.jarURI) and not tostring(job.jarURI):match("^%a[%w+.-]*:") then
        return string.format('spec.job.jarURI: "%s" is not a URI with a scheme (local:///opt/flink/usrlib/job.jar, s3://...)', job.jarURI)
    end
    if mode ~= "stateless" and not checkpoint_dir(cfg) then
        return string.format("spec.job.upgradeMode: %s needs a checkpoint directory in spec.flinkConfiguration " ..
            "(execution.checkpointing.dir or state.checkpoints.dir)", mode)
    end
    if not savepoint_dir(cfg) then
        local needs
        if mode == "savepoint" then needs = "spec.job.upgradeMode: savepoint"
        elseif present(job.savepointTriggerNonce) then needs = "spec.job.savepointTriggerNonce"
        elseif cfg["kubernetes.operator.periodic.savepoint.interval"] ~= nil then
            needs = "spec.flinkConfiguration: kubernetes.operator.periodic.savepoint.interval"
        elseif cfg["kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age"] ~= nil then
            needs = "spec.flinkConfiguration: kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age"
        end
        if needs then
            return needs .. " needs a savepoint directory in spec.flinkConfiguration " ..
                "(execution.checkpointing.savepoint-dir or state.savepoints.dir)"
        end
    end
    if present(tm) and present(tm.replicas) then
        if tm.replicas < 1 then return "spec.taskManager.replicas: must be at least 1" end
    elseif not present(job.parallelism) or job.parallelism < 1 then
        return "spec.job.parallelism: must be at least 1 (or set spec.taskManager.replicas)"
    end
end

-- resource_memory(field, component) -> message when the memory of spec.<c>.resource(s) does not parse
local function resource_memory(field, component)
    local memory
    if present(component.resources) and present(component.resources.requests) then
        memory, field = component.resources.requests.memory, field .. ".resources.requests.memory"
    elseif present(component.resource) then
        memory, field = component.resource.memory, field .. ".resource.memory"
    end
    if present(memory) then
        local _, err = config.resource_memory_string(tostring(memory))
        if err then return string.format('%s: "%s" is not a memory size: %s', field, tostring(memory), err) end
    end
end

local function memory_given(component)
    if not present(component) then return false end
    if present(component.resources) and present(component.resources.requests)
        and present(component.resources.requests.memory) then return true end
    return present(component.resource) and not blank(component.resource.memory)
end

function M.jobmanager(jm, cfg)
    if not memory_given(jm) and not config.memory_defined(cfg, "jobmanager") then
        return "spec.jobManager.resource.memory: required (or spec.jobManager.resources.requests.memory, " ..
            "or jobmanager.memory.process.size in spec.flinkConfiguration)"
    end
    if not present(jm) then return nil end
    local err = resource_memory("spec.jobManager", jm)
    if err then return err end
    local replicas = present(jm.replicas) and jm.replicas or 1
    if replicas < 1 then return "spec.jobManager.replicas: must be at least 1" end
    if replicas > 1 and not config.ha_enabled(cfg) then
        return "spec.jobManager.replicas: standby JobManagers (replicas > 1) need high availability " ..
            "(high-availability.type in spec.flinkConfiguration)"
    end
end

function M.taskmanager(tm, cfg)
    if not memory_given(tm) and not config.memory_defined(cfg, "taskmanager") then
        return "spec.taskManager.resource.memory: required (or spec.taskManager.resources.requests.memory, " ..
            "or taskmanager.memory.process.size in spec.flinkConfiguration)"
    end
    if not present(tm) then return nil end
    local err = resource_memory("spec.taskManager", tm)
    if err then return err end
    if present(tm.replicas) and tm.replicas < 1 then return "spec.taskManager.replicas: must be at least 1" end
end

-- Changes upstream refuses once something was deployed (validateSpecChange): another cluster type or mode, and a
-- savepointRedeployNonce change without an initialSavepointPath to redeploy from.
function M.spec_change(spec, status)
    local last = present(status) and present(status.reconciliationStatus)
        and status.reconciliationStatus.lastReconciledSpec
    if not present(last) then return nil end
    local ok, decoded = pcall(json.decode, last)
    if not ok then return nil end
    local old = type(decoded) == "table" and (decoded.spec or decoded) or nil
    if type(old) ~= "table" then return nil end
    if present(spec.job) and not present(old.job) then return "spec.job: cannot switch from session to job cluster" end
    if not present(spec.job) and present(old.job) then return "spec.job: cannot switch from job to session cluster" end
    local old_mode = present(old.mode) and old.mode or "native"
    local new_mode = present(spec.mode) and spec.mode or "native"
    if old_mode ~= new_mode then
        return string.format("spec.mode: cannot switch from %s to %s kubernetes cluster", old_mode, new_mode)
    end
    local job, old_job = present(spec.job) and spec.job or {}, present(old.job) and old.job or {}
    if present(job.savepointRedeployNonce) and job.savepointRedeployNonce ~= old_job.savepointRedeployNonce
        and blank(job.initialSavepointPath) then
        return "spec.job.initialSavepointPath: required for a savepoint redeployment (spec.job." ..
            "savepointRedeployNonce changed) (upstream: InitialSavepointPath must not be empty for savepoint " ..
            "redeployment)"
    end
end

function M.service_account(spec)
    if blank(spec.serviceAccount) then return "spec.serviceAccount: required" end
end

-- deployment(resource) -> nil when valid, else the first problem found.
function M.deployment(resource)
    local meta = present(resource.metadata) and resource.metadata or {}
    local spec = resource.spec
    if not present(spec) or type(spec) ~= "table" then return "spec: required" end
    local cfg = config.flatten(spec.flinkConfiguration)
    local namespace = present(meta.namespace) and meta.namespace or "default"
    return M.name(meta.name)
        or M.flink_version(spec)
        or (present(spec.mode) and one_of("spec.mode", spec.mode, { "native", "standalone" }))
        or M.flink_configuration(cfg)
        or M.ingress(spec.ingress, meta.name, namespace)
        or M.log_configuration(spec.logConfiguration)
        or M.job(spec.job, spec.taskManager, cfg)
        or M.jobmanager(spec.jobManager, cfg)
        or M.taskmanager(spec.taskManager, cfg)
        or M.spec_change(spec, resource.status)
        or M.service_account(spec)
        or (blank(spec.image) and "spec.image: required") -- upstream falls back to its Flink client's image
        or nil
end

-- Tests -----------------------------------------------------------------------------------------

local function valid_fd()
    return {
        apiVersion = "flink.apache.org/v1beta1", kind = "FlinkDeployment",
        metadata = { name = "basic-example", namespace = "flink" },
        spec = {
            image = "flink:2.2", flinkVersion = "v2_2", serviceAccount = "flink",
            flinkConfiguration = { ["taskmanager.numberOfTaskSlots"] = 2 },
            jobManager = { resources = { requests = { memory = "2048m", cpu = "1" } } },
            taskManager = { resources = { requests = { memory = "2048m", cpu = "1" } } },
            job = { jarURI = "local:///opt/flink/examples/streaming/StateMachineExample.jar", parallelism = 2,
                    upgradeMode = "stateless" },
        },
    }
end
M.example = valid_fd

M.tests = {
    ["a complete deployment is valid"] = function()
        assert(M.deployment(valid_fd()) == nil)
    end,
    ["missing serviceAccount is reported by field"] = function()
        local fd = valid_fd(); fd.spec.serviceAccount = nil
        assert(M.deployment(fd) == "spec.serviceAccount: required")
    end,
    ["a 46 character name is too long"] = function()
        local fd = valid_fd(); fd.metadata.name = string.rep("a", 46)
        assert(M.deployment(fd) == 'metadata.name: "' .. string.rep("a", 46) .. '" is 46 characters, at most 45 allowed')
        fd.metadata.name = string.rep("a", 45)
        assert(M.deployment(fd) == nil)
    end,
    ["names must be DNS-1035 labels"] = function()
        for _, bad in ipairs({ "Upper", "1starts-with-digit", "ends-with-dash-", "under_score" }) do
            local fd = valid_fd(); fd.metadata.name = bad
            assert(M.deployment(fd):find("^metadata.name: "), bad)
        end
    end,
    ["forbidden flink configuration keys are rejected"] = function()
        for _, key in ipairs({ "kubernetes.namespace", "kubernetes.cluster-id", "high-availability.cluster-id" }) do
            local fd = valid_fd(); fd.spec.flinkConfiguration[key] = "x"
            local err = M.deployment(fd)
            assert(err:find('"' .. key .. '" is set by the operator', 1, true), err)
        end
    end,
    ["forbidden keys are found in nested configuration too"] = function()
        local fd = valid_fd(); fd.spec.flinkConfiguration.kubernetes = { namespace = "other" }
        assert(M.deployment(fd):find("kubernetes.namespace", 1, true))
    end,
    ["an unknown upgradeMode is named with the allowed ones"] = function()
        local fd = valid_fd(); fd.spec.job.upgradeMode = "fast"
        assert(M.deployment(fd) == 'spec.job.upgradeMode: "fast" is not one of stateless, savepoint, last-state')
    end,
    ["an unknown job state, mode or flinkVersion is rejected"] = function()
        local fd = valid_fd(); fd.spec.job.state = "paused"
        assert(M.deployment(fd):find("^spec.job.state: "))
        fd = valid_fd(); fd.spec.mode = "yarn"
        assert(M.deployment(fd):find("^spec.mode: "))
        fd = valid_fd(); fd.spec.flinkVersion = "v1_12"
        assert(M.deployment(fd):find('^spec.flinkVersion: "v1_12" is not one of v1_13'))
        fd = valid_fd(); fd.spec.flinkVersion = nil
        assert(M.deployment(fd):find("^spec.flinkVersion: required"))
    end,
    ["missing jarURI is allowed as upstream (the job jar may be in usrlib)"] = function()
        local fd = valid_fd(); fd.spec.job.jarURI = nil; fd.spec.job.entryClass = "com.example.Main"
        assert(M.deployment(fd) == nil)
        fd.spec.job.jarURI = "/no/scheme.jar"
        assert(M.deployment(fd):find("^spec.job.jarURI: "))
    end,
    ["savepoint and last-state need checkpoint and savepoint directories"] = function()
        local fd = valid_fd(); fd.spec.job.upgradeMode = "last-state"
        assert(M.deployment(fd):find("needs a checkpoint directory", 1, true))
        fd.spec.flinkConfiguration.state = { ["checkpoints.dir"] = "file:///cp" }
        assert(M.deployment(fd) == nil, "last-state needs no savepoint directory")
        fd.spec.job.upgradeMode = "savepoint"
        assert(M.deployment(fd):find("needs a savepoint directory", 1, true))
        fd.spec.flinkConfiguration.state["savepoints.dir"] = "file:///sp"
        assert(M.deployment(fd) == nil)
    end,
    ["a savepoint trigger needs a savepoint directory"] = function()
        local fd = valid_fd(); fd.spec.job.savepointTriggerNonce = 1
        assert(M.deployment(fd):find("^spec.job.savepointTriggerNonce needs a savepoint directory"))
    end,
    ["memory must be given somewhere"] = function()
        local fd = valid_fd(); fd.spec.jobManager = nil
        assert(M.deployment(fd):find("^spec.jobManager.resource.memory: required"))
        fd.spec.flinkConfiguration["jobmanager.memory.process.size"] = "1600m"
        assert(M.deployment(fd) == nil)
        fd = valid_fd(); fd.spec.taskManager.resources = nil
        assert(M.deployment(fd):find("^spec.taskManager.resource.memory: required"))
    end,
    ["unparseable memory names the field"] = function()
        local fd = valid_fd(); fd.spec.jobManager = { resource = { memory = "lots", cpu = 1 } }
        assert(M.deployment(fd):find('^spec.jobManager.resource.memory: "lots" is not a memory size'))
    end,
    ["standby jobmanagers need high availability"] = function()
        local fd = valid_fd(); fd.spec.jobManager.replicas = 2
        assert(M.deployment(fd):find("^spec.jobManager.replicas: standby"))
        fd.spec.flinkConfiguration["high-availability.type"] = "kubernetes"
        assert(M.deployment(fd) == nil)
        fd.spec.jobManager.replicas = 0
        assert(M.deployment(fd) == "spec.jobManager.replicas: must be at least 1")
    end,
    ["parallelism must be positive unless taskmanager replicas are set"] = function()
        local fd = valid_fd(); fd.spec.job.parallelism = 0
        assert(M.deployment(fd):find("^spec.job.parallelism"))
        fd.spec.taskManager.replicas = 2
        assert(M.deployment(fd) == nil)
    end,
    ["ingress needs a template that makes a URL"] = function()
        local fd = valid_fd(); fd.spec.ingress = { className = "nginx" }
        assert(M.deployment(fd):find("^spec.ingress.template: required"))
        fd.spec.ingress.template = "{{name}}.example.com:http"
        assert(M.deployment(fd):find("^spec.ingress.template: Unable to process"))
        fd.spec.ingress.template = "/{{namespace}}/{{name}}(/|$)(.*)"
        assert(M.deployment(fd) == nil)
    end,
    ["ingress url splits host and path like java.net.URL"] = function()
        local u = M.ingress_url("{{name}}.{{namespace}}.flink.k8s.io", "basic-ingress", "default")
        assert(u.host == "basic-ingress.default.flink.k8s.io" and u.path == "")
        u = M.ingress_url("/{{namespace}}/{{name}}(/|$)(.*)", "adv", "ns")
        assert(u.host == "" and u.path == "/ns/adv(/|$)(.*)")
        u = M.ingress_url("https://flink.example.com:8443/{{name}}?x=1", "a", "b")
        assert(u.host == "flink.example.com" and u.path == "/a")
    end,
    ["only the two log configuration files are allowed"] = function()
        local fd = valid_fd(); fd.spec.logConfiguration = { ["log4j.properties"] = "x" }
        assert(M.deployment(fd):find('^spec.logConfiguration: "log4j.properties"'))
    end,
    ["an unknown rest service type is rejected"] = function()
        local fd = valid_fd(); fd.spec.flinkConfiguration["kubernetes.rest-service.exposed.type"] = "Ingress"
        assert(M.deployment(fd):find("^spec.flinkConfiguration.kubernetes.rest%-service.exposed.type: "))
    end,
    ["switching between session and application cluster is refused"] = function()
        local fd = valid_fd()
        fd.status = { reconciliationStatus = { lastReconciledSpec = json.encode({ spec = { image = "x" } }) } }
        assert(M.deployment(fd) == "spec.job: cannot switch from session to job cluster")
        fd.status.reconciliationStatus.lastReconciledSpec = json.encode({ spec = { job = {}, mode = "standalone" } })
        assert(M.deployment(fd) == "spec.mode: cannot switch from standalone to native kubernetes cluster")
    end,
    ["a savepoint redeploy nonce change needs an initial savepoint path"] = function()
        local fd = valid_fd()
        fd.status = { reconciliationStatus = { lastReconciledSpec = json.encode({ spec = fd.spec }) } }
        fd.spec = json.decode(json.encode(fd.spec))
        fd.spec.job.savepointRedeployNonce = 1
        assert(M.deployment(fd):find("^spec.job.initialSavepointPath: required for a savepoint redeployment"))
        fd.spec.job.initialSavepointPath = "  "
        assert(M.deployment(fd):find("InitialSavepointPath must not be empty for savepoint redeployment", 1, true))
        fd.spec.job.initialSavepointPath = "s3://sp/savepoint-1"
        assert(M.deployment(fd) == nil)
        fd.status = nil
        fd.spec.job.initialSavepointPath = nil
        assert(M.deployment(fd) == nil, "before the first deployment the nonce asks for nothing")
    end,
}

return M
