-- The FlinkDeployment status from what Kubernetes shows and what Flink's REST API answered.
--
-- Upstream's observer (AbstractFlinkDeploymentObserver) reads the JobManager Deployment for
-- status.jobManagerDeploymentStatus and asks Flink's REST API for the job (flink_job reads that
-- answer, observed.flink). A JobManager is READY once its REST API answers: the rest Service only
-- routes to a ready JobManager pod, so an answer is the proof upstream's port probe and
-- rest-ready delay wait for. Without an observation (the dry-run, a first pass) READY means "the
-- Deployment was available on two passes in a row", as before.
--
-- Everything is derived from the inputs; time comes from ctx.now only.

local json = require "json"
local objects = require "flink_objects"

local M = {}

local function present(v) return v ~= nil and v ~= json.null end

-- Upstream's default intervals (KubernetesOperatorConfigOptions): progress check 10s,
-- REST-ready delay 10s, reconcile interval 60s.
M.REQUEUE = { DEPLOYING = 10, DEPLOYED_NOT_READY = 10, READY = 60, MISSING = 60, ERROR = 60 }

-- days_from_civil: days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm),
-- so the conversion does not depend on the host's time zone.
local function days_from_civil(y, m, d)
    if m <= 2 then y = y - 1 end
    local era = (y >= 0 and y or y - 399) // 400
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = (153 * mp + 2) // 5 + d - 1
    local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
end

-- epoch_ms("2026-11-25T12:00:00Z") -> 1795608000000, or nil for text that is not RFC 3339.
function M.epoch_ms(text)
    if type(text) ~= "string" then return nil end
    local y, mo, d, h, mi, s, rest = text:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
    if not y then return nil end
    local frac, zone = rest:match("^%.(%d+)(.*)$")
    if not frac then zone = rest end
    local offset = 0
    if zone ~= "Z" and zone ~= "z" then
        local sign, oh, om = zone:match("^([+-])(%d%d):?(%d%d)$")
        if not sign then return nil end
        offset = (tonumber(oh) * 60 + tonumber(om)) * 60 * (sign == "+" and 1 or -1)
    end
    local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
    local secs = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
    local ms = frac and math.floor(tonumber("0." .. frac) * 1000 + 0.5) or 0
    return secs * 1000 + ms
end

-- error_json(type_name, message, metadata) -> status.error as FlinkResourceExceptionUtils writes it.
-- A short name is one of the operator's exceptions; a dotted one (a job's own exception) is kept.
function M.error_json(type_name, message, metadata)
    return json.encode({
        type = type_name:find(".", 1, true) and type_name
            or "org.apache.flink.kubernetes.operator.exception." .. type_name,
        message = message,
        additionalMetadata = json.object(metadata or {}),
        throwableList = json.array(),
    })
end

-- The spec as upstream records it in lastReconciledSpec: the job state it was reconciled to is
-- written in (ReconciliationUtils.updateStatusForSpecReconciliation).
local function reconciled_spec(spec)
    local out = objects.copy(spec)
    if present(out.job) then
        out.job.state = present(out.job.state) and out.job.state or "running"
        out.job.upgradeMode = present(out.job.upgradeMode) and out.job.upgradeMode or "stateless"
    end
    return out
end

-- previous_spec(status) -> the decoded { spec, resource_metadata } of the last reconciled spec, or nil.
function M.previous(status)
    if not present(status) or not present(status.reconciliationStatus) then return nil end
    local text = status.reconciliationStatus.lastReconciledSpec
    if not present(text) then return nil end
    local ok, decoded = pcall(json.decode, text)
    if not ok then return nil end
    if type(decoded) ~= "table" then return nil end
    if not present(decoded.spec) then return { spec = decoded } end -- upstream's pre-1.3 format
    return decoded
end

-- The job fields whose change alone redeploys nothing (upstream's JobSpec, @SpecDiff(DiffType.IGNORE)): the trigger
-- nonces ask for a snapshot of the running job; upgradeMode and allowNonRestoredState say how the next upgrade is
-- made; initialSavepointPath (and initialStateReference) is read at a first deployment or with a new
-- savepointRedeployNonce.
local IGNORED_JOB_FIELDS = { "savepointTriggerNonce", "checkpointTriggerNonce", "upgradeMode",
                             "allowNonRestoredState", "initialSavepointPath", "initialStateReference" }

M.IGNORED_JOB_FIELDS = IGNORED_JOB_FIELDS

-- The spec as compared for a change.
local function compared_spec(spec)
    local out = reconciled_spec(spec)
    if present(out.job) then
        for _, field in ipairs(IGNORED_JOB_FIELDS) do out.job[field] = nil end
    end
    return out
end

-- spec_changed(resource) -> true when the spec differs from the last one reconciled (or there is none).
-- restartNonce is part of the spec: a new value is a change, upgraded as any other (upstream's restart).
-- savepointRedeployNonce is too (a redeployment from initialSavepointPath, flink_upgrade.redeploy_path), but, as
-- upstream's onNullIgnore has it, removing it is no change.
local function compared_pair(resource)
    local prev = M.previous(resource.status)
    if not prev then return nil end
    local old, new = compared_spec(prev.spec), compared_spec(resource.spec)
    if present(old.job) and present(new.job) and not present(new.job.savepointRedeployNonce) then
        old.job.savepointRedeployNonce, new.job.savepointRedeployNonce = nil, nil
    end
    return old, new
end

function M.spec_changed(resource)
    local old, new = compared_pair(resource)
    if not old then return true end
    return json.encode(old) ~= json.encode(new)
end

-- scale_only(resource) -> true when the spec differs from the last one reconciled in nothing but the fields
-- upstream's spec diff calls SCALE in standalone mode: spec.job.parallelism and spec.taskManager.replicas.
function M.scale_only(resource)
    local old, new = compared_pair(resource)
    if not old or json.encode(old) == json.encode(new) then return false end
    for _, spec in ipairs({ old, new }) do
        if present(spec.job) then spec.job.parallelism = nil end
        if present(spec.taskManager) then spec.taskManager.replicas = nil end
    end
    return json.encode(old) == json.encode(new)
end

-- deployed_generation(status) -> the metadata.generation the last reconciled spec was deployed for, or nil. A
-- change the diff ignores (a trigger nonce) raises the generation without a new deployment: the running cluster
-- keeps the generation, and the job id, it was deployed with.
function M.deployed_generation(status)
    local prev = M.previous(status)
    local rm = prev and present(prev.resource_metadata) and prev.resource_metadata or {}
    local meta = present(rm.metadata) and rm.metadata or {}
    return present(meta.generation) and meta.generation or nil
end

-- reconciliation_status(resource, ctx, stable) -> the new status.reconciliationStatus.
-- An unchanged spec keeps its text and timestamp, so a steady cluster gets a steady status.
function M.reconciliation_status(resource, ctx, mark_stable)
    local old = present(resource.status) and present(resource.status.reconciliationStatus)
        and resource.status.reconciliationStatus or {}
    local out = objects.copy(old)
    out.state = "DEPLOYED"
    if M.spec_changed(resource) then
        local prev = M.previous(resource.status)
        -- ReconciliationMetadata.from: first deployment until the first reconciled spec was stable.
        local first = prev == nil or (present(prev.resource_metadata) and prev.resource_metadata.firstDeployment == true
            and old.lastStableSpec ~= old.lastReconciledSpec)
        out.lastReconciledSpec = json.encode({
            spec = reconciled_spec(resource.spec),
            resource_metadata = {
                apiVersion = resource.apiVersion or "flink.apache.org/v1beta1",
                metadata = { generation = present(resource.metadata.generation) and resource.metadata.generation or json.null },
                firstDeployment = first,
            },
        })
        out.reconciliationTimestamp = M.epoch_ms(ctx.now) or json.null
    end
    if mark_stable then out.lastStableSpec = out.lastReconciledSpec end
    return out
end

local function condition(dep, kind)
    local st = present(dep.status) and dep.status or {}
    for _, cond in ipairs(present(st.conditions) and st.conditions or {}) do
        if cond.type == kind then return cond end
    end
end

-- deployment_available(dep) -> whether every replica of the JobManager Deployment is up to date and available.
function M.deployment_available(dep)
    local meta = dep.metadata or {}
    local st = present(dep.status) and dep.status or {}
    if (st.observedGeneration or 0) < (meta.generation or 0) then return false end
    local want = (present(dep.spec) and dep.spec.replicas) or 1
    local available = condition(dep, "Available")
    return (st.replicas or 0) == want and (st.updatedReplicas or 0) >= want
        and (st.readyReplicas or 0) >= want and (st.availableReplicas or 0) >= want
        and (not available or available.status == "True")
end

-- jobmanager_status(dep, previous, generation, changed, flink) -> JobManagerDeploymentStatus, error or nil
--   MISSING             we had deployed it and it is gone
--   DEPLOYING           not created yet, or rolling out the current generation
--   ERROR               the ReplicaSet cannot create pods (upstream's checkFailedCreate)
--   DEPLOYED_NOT_READY  available, and the REST API has not answered (yet, or any more)
--   READY               the REST API answers (flink = observed.flink); without an observation:
--                       available on two passes in a row
function M.jobmanager_status(dep, previous, generation, changed, flink)
    local before = present(previous) and previous.jobManagerDeploymentStatus or nil
    if not dep then
        local had = present(previous) and present(previous.reconciliationStatus)
            and present(previous.reconciliationStatus.lastReconciledSpec)
        -- A suspended cluster was removed on purpose: resuming it deploys it again (upstream: DEPLOYING).
        local resuming = present(previous) and previous.lifecycleState == "SUSPENDED"
        if had and before and before ~= "DEPLOYING" and not resuming then return "MISSING" end
        return "DEPLOYING"
    end
    local failure = condition(dep, "ReplicaFailure")
    if failure and failure.status == "True" then
        return "ERROR", string.format("%s: %s", failure.reason or "ReplicaFailure", failure.message or "")
    end
    if changed then return "DEPLOYING" end
    local meta = dep.metadata or {}
    local deployed = present(meta.annotations) and meta.annotations["flinkdeployment.flink.apache.org/generation"]
    if deployed and generation and deployed ~= tostring(generation) then return "DEPLOYING" end
    local st = present(dep.status) and dep.status or {}
    if (st.observedGeneration or 0) < (meta.generation or 0) then return "DEPLOYING" end -- rolling out
    if present(flink) and flink.reachable then return "READY" end
    if not M.deployment_available(dep) then return "DEPLOYING" end
    if present(flink) then return "DEPLOYED_NOT_READY" end -- waiting for the REST API
    if before == "DEPLOYED_NOT_READY" or before == "READY" then return "READY" end
    return "DEPLOYED_NOT_READY"
end

-- lifecycle(jm, suspended, stable, exists, job_state) -> ResourceLifecycleState
-- (CommonStatus.getLifecycleState, with CREATED for "the objects are being created now").
function M.lifecycle(jm, suspended, stable, exists, job_state)
    if suspended then return "SUSPENDED" end
    if jm == "ERROR" or job_state == "FAILED" then return "FAILED" end
    if not exists and jm == "DEPLOYING" then return "CREATED" end
    if stable then return "STABLE" end
    return "DEPLOYED"
end

M.tests = {
    ["epoch_ms reads RFC 3339 in UTC and with offsets"] = function()
        assert(M.epoch_ms("1970-01-01T00:00:00Z") == 0)
        assert(M.epoch_ms("2026-11-25T12:00:00Z") == 1795608000000)
        assert(M.epoch_ms("2026-11-25T13:00:00.250+01:00") == 1795608000250)
        assert(M.epoch_ms("yesterday") == nil)
    end,
    ["error json has upstream's shape"] = function()
        local text = M.error_json("ValidationException", "spec.serviceAccount: required")
        assert(text == '{"additionalMetadata":{},"message":"spec.serviceAccount: required",' ..
            '"throwableList":[],"type":"org.apache.flink.kubernetes.operator.exception.ValidationException"}', text)
    end,
    ["a deployment that is not there is deploying first and missing later"] = function()
        assert(M.jobmanager_status(nil, nil) == "DEPLOYING")
        local prev = { jobManagerDeploymentStatus = "READY", reconciliationStatus = { lastReconciledSpec = "{}" } }
        assert(M.jobmanager_status(nil, prev) == "MISSING")
    end,
    ["an available deployment is not ready first and ready on the next pass"] = function()
        local dep = { metadata = { generation = 1 }, spec = { replicas = 1 },
                      status = { observedGeneration = 1, replicas = 1, updatedReplicas = 1, readyReplicas = 1, availableReplicas = 1 } }
        assert(M.jobmanager_status(dep, { jobManagerDeploymentStatus = "DEPLOYING" }) == "DEPLOYED_NOT_READY")
        assert(M.jobmanager_status(dep, { jobManagerDeploymentStatus = "DEPLOYED_NOT_READY" }) == "READY")
        dep.status.readyReplicas = 0
        assert(M.jobmanager_status(dep, { jobManagerDeploymentStatus = "READY" }) == "DEPLOYING")
    end,
    ["a replica failure is an error"] = function()
        local dep = { metadata = {}, spec = { replicas = 1 }, status = { conditions = json.array({
            { type = "ReplicaFailure", status = "True", reason = "FailedCreate", message = "quota exceeded" } }) } }
        local s, msg = M.jobmanager_status(dep, nil)
        assert(s == "ERROR" and msg == "FailedCreate: quota exceeded")
    end,
    ["a deployment of an older generation is still deploying"] = function()
        local dep = { metadata = { annotations = { ["flinkdeployment.flink.apache.org/generation"] = "1" } },
                      spec = { replicas = 1 }, status = { replicas = 1, updatedReplicas = 1, readyReplicas = 1, availableReplicas = 1 } }
        assert(M.jobmanager_status(dep, { jobManagerDeploymentStatus = "READY" }, 2) == "DEPLOYING")
        assert(M.jobmanager_status(dep, { jobManagerDeploymentStatus = "READY" }, 1) == "READY")
    end,
    ["a trigger nonce is no spec change, a restart nonce is"] = function()
        local fd = { metadata = { name = "a", generation = 3 }, spec = { job = { parallelism = 1 } } }
        fd.status = { reconciliationStatus = M.reconciliation_status(fd, { now = "2026-11-25T12:00:00Z" }) }
        fd.spec.job.savepointTriggerNonce, fd.spec.job.checkpointTriggerNonce = 7, 8
        fd.metadata.generation = 4
        assert(not M.spec_changed(fd) and M.deployed_generation(fd.status) == 3)
        fd.spec.restartNonce = 1
        assert(M.spec_changed(fd))
    end,
    ["upgradeMode, allowNonRestoredState and initialSavepointPath alone are no spec change, as upstream"] = function()
        local fd = { metadata = { name = "a", generation = 3 }, spec = { job = { upgradeMode = "stateless" } } }
        fd.status = { reconciliationStatus = M.reconciliation_status(fd, { now = "2026-11-25T12:00:00Z" }) }
        fd.spec.job.upgradeMode, fd.spec.job.allowNonRestoredState = "savepoint", true
        fd.spec.job.initialSavepointPath = "s3://bucket/savepoint-1"
        assert(not M.spec_changed(fd))
        fd.spec.job.parallelism = 2
        assert(M.spec_changed(fd))
    end,
    ["a new savepoint redeploy nonce is a spec change, removing it is none"] = function()
        local fd = { metadata = { name = "a", generation = 3 }, spec = { job = { savepointRedeployNonce = 1 } } }
        fd.status = { reconciliationStatus = M.reconciliation_status(fd, { now = "2026-11-25T12:00:00Z" }) }
        fd.spec.job.savepointRedeployNonce = 2
        assert(M.spec_changed(fd))
        fd.spec.job.savepointRedeployNonce = json.null
        assert(not M.spec_changed(fd))
        fd.spec.job.savepointRedeployNonce = nil
        assert(not M.spec_changed(fd))
    end,
    ["a suspended cluster that is resumed is deploying, not missing"] = function()
        local prev = { jobManagerDeploymentStatus = "MISSING", lifecycleState = "SUSPENDED",
                       reconciliationStatus = { lastReconciledSpec = "{}" } }
        assert(M.jobmanager_status(nil, prev) == "DEPLOYING")
    end,
    ["an unchanged spec keeps its reconciliation text and timestamp"] = function()
        local fd = { apiVersion = "flink.apache.org/v1beta1", metadata = { name = "a", generation = 3 },
                     spec = { job = { parallelism = 1 } } }
        local rs = M.reconciliation_status(fd, { now = "2026-11-25T12:00:00Z" })
        assert(rs.reconciliationTimestamp == 1795608000000)
        local spec = assert(json.decode(rs.lastReconciledSpec))
        assert(spec.spec.job.state == "running" and spec.resource_metadata.metadata.generation == 3)
        assert(spec.resource_metadata.firstDeployment == true)
        fd.status = { reconciliationStatus = rs }
        local again = M.reconciliation_status(fd, { now = "2026-11-26T00:00:00Z" })
        assert(again.lastReconciledSpec == rs.lastReconciledSpec and again.reconciliationTimestamp == 1795608000000)
    end,
}

return M
