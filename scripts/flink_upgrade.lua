-- Savepoint upgrades of a running job (upgradeMode: savepoint), as upstream's AbstractJobReconciler does them:
-- stop the job with a savepoint, then deploy the new spec (or suspend) from that savepoint. The policy asks, the
-- core acts (result.actions, docs/policy-api.md), and every step is written to the status BEFORE the core acts on
-- it, so an operator restarted midway finishes the upgrade instead of starting it again:
--   1. start:    reconciliationStatus.state UPGRADING with the target spec as lastReconciledSpec, and the trigger
--                of the savepoint in jobStatus.savepointInfo (triggerId, triggerType UPGRADE); action: stop the
--                job with a savepoint under that trigger id.
--   2. wait:     the same action on every pass until Flink says how it went. The trigger id makes a repeated
--                trigger the same operation in Flink, so a restarted operator asking again takes no second one.
--   3. record:   done: jobStatus.upgradeSavepointPath and savepointInfo.lastSavepoint say where; the trigger is
--                cleared. Failed: status.error says why; the trigger is cleared and the next pass starts again.
--   4. redeploy: UPGRADING, no trigger, a savepoint path: the target spec is deployed (or suspended) with
--                execution.savepoint.path set to it, and the status is DEPLOYED again.
-- A job that is not RUNNING cannot take a savepoint: with HA the upgrade falls back to last-state (the new
-- JobManager resumes from the HA metadata); without HA the change waits with an error, never stateless. A savepoint
-- that is lost ends the same way: the stop action carries triggered_at, so the core looks for a trigger Flink has
-- forgotten in the job's checkpoint statistics; when it is not there either (FAILED, or the trigger refused while the
-- job is no longer RUNNING) the trigger is cleared with an error and the next pass falls back as above.
-- A restartNonce change is a spec change: for a savepoint job, this upgrade.
-- A savepointRedeployNonce change is not this upgrade (redeploy_path): as upstream's redeployWithSavepoint, the job
-- is redeployed from spec.job.initialSavepointPath whatever its upgradeMode and state, no savepoint taken.
-- Everything comes from the arguments; the trigger id is derived from the resource and ctx.now.

local json = require "json"
local objects = require "flink_objects"
local flink_status = require "flink_status"
local flink_job = require "flink_job"

local M = {}

local present = objects.is_present

M.REQUEUE_WAIT = 2 -- while a savepoint is taken: the observer reports its end at once anyway

local function now_ms(ctx) return flink_status.epoch_ms(ctx.now) or 0 end

-- trigger_id(resource, ctx) -> 32 hexadecimal digits naming this upgrade's savepoint in Flink: different for
-- each resource, generation and start time, the same for the same inputs.
function M.trigger_id(resource, ctx)
    local meta = resource.metadata or {}
    local text = table.concat({ tostring(meta.uid or ""), tostring(meta.namespace or ""), tostring(meta.name or ""),
        tostring(meta.generation or ""), tostring(ctx.now or "") }, "|")
    return objects.hex_id(text)
end

-- savepoint_dir(cfg) -> where savepoints go: the Flink 2.x key, else the older one; nil leaves it to Flink.
local function savepoint_dir(cfg)
    return cfg["execution.checkpointing.savepoint-dir"] or cfg["state.savepoints.dir"]
end

-- restore_path(status, c) -> the savepoint a (re)deployed job starts from, or nil: the one the last savepoint
-- upgrade recorded, unless the job is stateless.
function M.restore_path(status, c)
    if not c.application or (c.spec.job.upgradeMode or "stateless") == "stateless" then return nil end
    local js = present(status) and present(status.jobStatus) and status.jobStatus or {}
    return present(js.upgradeSavepointPath) and js.upgradeSavepointPath or nil
end

-- redeploy_path(resource) -> spec.job.initialSavepointPath when spec.job.savepointRedeployNonce asks for a
-- redeployment from it (a value other than the last reconciled spec's; flink_validate refuses one without a path),
-- else nil. Before the first deployment the nonce asks for nothing: the first start restores from that path anyway.
function M.redeploy_path(resource)
    local prev = flink_status.previous(resource.status)
    local job = present(resource.spec.job) and resource.spec.job or {}
    local old = prev and present(prev.spec.job) and prev.spec.job or nil
    if not old or not present(job.savepointRedeployNonce) or job.savepointRedeployNonce == old.savepointRedeployNonce
        or not present(job.initialSavepointPath) then
        return nil
    end
    return job.initialSavepointPath
end

-- redeploying(status, path): the status of a savepoint redeployment: the job restores from `path`, which later
-- redeployments of a stateful job (a lost JobManager, a resume) restore from too, as upstream records it as the
-- upgrade savepoint; a savepoint an upgrade was waiting for is abandoned (its job is replaced).
function M.redeploying(status, path)
    status.jobStatus = objects.copy(present(status.jobStatus) and status.jobStatus or {})
    status.jobStatus.upgradeSavepointPath = path
    local info = present(status.jobStatus.savepointInfo) and objects.copy(status.jobStatus.savepointInfo) or nil
    if info and info.triggerType == "UPGRADE" then
        info.triggerId, info.triggerType, info.triggerTimestamp = json.null, json.null, json.null
        status.jobStatus.savepointInfo = info
    end
end

local function upgrading(status)
    return present(status) and present(status.reconciliationStatus) and status.reconciliationStatus.state == "UPGRADING"
end

-- The status of a pass that keeps upgrading: the target spec recorded, UPGRADING.
local function upgrading_status(resource, prev, ctx)
    local status = objects.copy(prev)
    status.reconciliationStatus = flink_status.reconciliation_status(resource, ctx, false)
    status.reconciliationStatus.state = "UPGRADING"
    status.lifecycleState = "UPGRADING"
    status.error = json.null
    if present(resource.metadata.generation) then status.observedGeneration = resource.metadata.generation end
    status.jobStatus = objects.copy(present(status.jobStatus) and status.jobStatus or {})
    status.jobStatus.savepointInfo = objects.copy(present(status.jobStatus.savepointInfo)
        and status.jobStatus.savepointInfo or {})
    return status
end

-- triggered_at: when the trigger was recorded (epoch ms); a trigger Flink no longer knows is looked for in the job's
-- checkpoint statistics among the savepoints completed since (the core's fallback, docs/policy-api.md).
local function stop_action(job_id, trigger, c, triggered_at)
    return { type = "stop", job_id = job_id, trigger_id = trigger, target_directory = savepoint_dir(c.cfg),
             triggered_at = triggered_at }
end

local function answer(status, events, actions, requeue)
    return { objects = nil, status = status, events = objects.list(events), actions = actions and objects.list(actions),
             requeue_after = requeue }
end

-- A job that cannot take a savepoint now: last-state with HA, else wait and say why.
local function cannot_stop(resource, c, prev, job, ctx)
    if c.ha then return "redeploy" end
    local status = upgrading(prev) and upgrading_status(resource, prev, ctx) or objects.copy(prev)
    local message = string.format("spec.job.upgradeMode: savepoint: the job is %s, so no savepoint can be taken, " ..
        "and without high availability a last-state upgrade would lose its state; the cluster keeps running " ..
        "the last reconciled spec", job and ("in state " .. job.state) or "not observed running")
    status.error = flink_status.error_json("UpgradeFailureException", message)
    return answer(status, { { type = "Warning", reason = "UpgradeFailed", message = message } }, nil,
        flink_status.REQUEUE.DEPLOYING)
end

-- start: UPGRADING with the target spec and a new trigger; the stop action.
local function start(resource, c, prev, flink, ctx)
    local job = flink_job.job(flink, prev)
    if not job or job.state ~= "RUNNING" then return cannot_stop(resource, c, prev, job, ctx) end
    local status = upgrading_status(resource, prev, ctx)
    local trigger = M.trigger_id(resource, ctx)
    local js = status.jobStatus
    js.jobId = job.id
    js.upgradeSavepointPath = json.null
    js.savepointInfo.triggerId = trigger
    js.savepointInfo.triggerType = "UPGRADE"
    js.savepointInfo.triggerTimestamp = now_ms(ctx)
    js.savepointInfo.formatType = "CANONICAL"
    return answer(status, {
        { type = "Normal", reason = "SpecChanged", message = "UPGRADE change(s) detected, starting reconciliation." },
        { type = "Normal", reason = "Savepoint",
          message = string.format("Stopping job %s with a savepoint before the upgrade (trigger %s)", job.id, trigger) },
    }, { stop_action(job.id, trigger, c, js.savepointInfo.triggerTimestamp) }, M.REQUEUE_WAIT)
end

local function clear_trigger(info)
    info.triggerId, info.triggerType, info.triggerTimestamp = json.null, json.null, json.null
end

-- wait: ask again until Flink says how the savepoint went, then record it.
local function wait(resource, c, prev, flink, ctx)
    local status = upgrading_status(resource, prev, ctx)
    local js, info = status.jobStatus, status.jobStatus.savepointInfo
    local trigger = info.triggerId
    local events = {}
    flink_job.observe(status, flink, ctx, events)
    local result = present(flink) and present(flink.savepoints) and flink.savepoints[trigger] or nil
    local job = flink_job.job(flink, status)
    if result and result.status == "TRIGGER_FAILED" and job and job.state ~= "RUNNING" then
        -- Refused because the job is no longer running, and neither the trigger nor a savepoint since it is known
        -- (the core looked in /checkpoints first): lost. Failed, so the next pass falls back as for a job that is
        -- not running: last-state with HA, else an error; never stateless.
        result = { status = "FAILED", failure = string.format("the JobManager does not know trigger %s and the job " ..
            "is %s: %s", trigger, job.state, tostring(result.error)) }
    end
    if result and result.status == "COMPLETED" then
        js.upgradeSavepointPath = result.location
        info.lastSavepoint = { location = result.location, timeStamp = now_ms(ctx), triggerType = "UPGRADE",
                               formatType = info.formatType or "CANONICAL" }
        clear_trigger(info)
        events[#events + 1] = { type = "Normal", reason = "Savepoint",
            message = string.format("Savepoint of job %s completed: %s", tostring(js.jobId), result.location) }
        return answer(status, events, nil, 0)
    end
    if result and result.status == "FAILED" then
        clear_trigger(info)
        local message = "Savepoint for the upgrade failed: " .. tostring(result.failure)
        status.error = flink_status.error_json("UpgradeFailureException", message)
        events[#events + 1] = { type = "Warning", reason = "SavepointError", message = message }
        return answer(status, events, nil, flink_status.REQUEUE.DEPLOYING)
    end
    if result and result.status == "TRIGGER_FAILED" then
        status.error = flink_status.error_json("UpgradeFailureException",
            "Stopping the job with a savepoint failed, retrying: " .. tostring(result.error))
    end
    return answer(status, events, { stop_action(js.jobId, trigger, c, info.triggerTimestamp) }, M.REQUEUE_WAIT)
end

-- step(resource, c, prev, deployment, flink, ctx, changed, safe) -> what a savepoint upgrade makes of this pass:
--   nil         none is involved: reconcile as usual
--   "redeploy"  deploy the target spec now, as a changed spec (from restore_path, or last-state)
--   a table     the whole answer of this pass (stopping, waiting, recording, or refusing)
-- `safe`: the spec may change without a savepoint (reconcile.safe_to_change).
function M.step(resource, c, prev, deployment, flink, ctx, changed, safe)
    if not upgrading(prev) then
        if not (deployment and changed and flink_status.previous(prev) and not safe) then return nil end
        return start(resource, c, prev, flink, ctx)
    end
    if not deployment then return "redeploy" end -- nothing left to stop
    local js = present(prev.jobStatus) and prev.jobStatus or {}
    local info = present(js.savepointInfo) and js.savepointInfo or {}
    if present(info.triggerId) and info.triggerId ~= "" then return wait(resource, c, prev, flink, ctx) end
    if present(js.upgradeSavepointPath) then return "redeploy" end
    return start(resource, c, prev, flink, ctx) -- the savepoint failed: take another
end

-- For the upgrades of session jobs (flink_session_job), which record the same steps.
M.upgrading, M.upgrading_status = upgrading, upgrading_status

return M
