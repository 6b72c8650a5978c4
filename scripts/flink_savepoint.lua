-- Manual savepoints of a running job (spec.job.savepointTriggerNonce), as upstream's SnapshotObserver and
-- SnapshotUtils.shouldTriggerSnapshot take them: a nonce other than the one in the last reconciled spec asks for one
-- savepoint, and the job keeps running (POST /jobs/:jobid/savepoints, cancel-job false). The nonce is no spec change
-- (flink_status.spec_changed ignores it): nothing is redeployed. Like the savepoint upgrade (flink_upgrade), each step
-- is written to the status before the core acts on it, so a restarted operator takes no second savepoint:
--   1. trigger: the nonce is written into lastReconciledSpec (upstream's updateLastReconciledSnapshotTriggerNonce:
--               the nonce is handled) and the trigger into jobStatus.savepointInfo (triggerId, triggerType MANUAL,
--               triggerTimestamp); action: savepoint under that trigger id. Only a RUNNING job is asked.
--   2. wait:    the same action on every pass until observed.flink.savepoints[trigger] says how it went (the trigger
--               id makes Flink treat a repeat as the same operation; the core finds a trigger Flink forgot in
--               GET /jobs/:jobid/checkpoints).
--   3. record:  COMPLETED: savepointInfo.lastSavepoint {timeStamp, location, triggerType MANUAL, formatType,
--               triggerNonce} and the same at the end of savepointHistory (the last HISTORY_MAX kept). FAILED: a
--               SavepointError Warning. Either way the trigger is cleared; a failed nonce is not tried again (as
--               upstream): set a new one.
-- A spec change that arrives while a manual savepoint is in flight waits for it (upstream's
-- shouldWaitForPendingSavepoint). spec.job.checkpointTriggerNonce takes a checkpoint the same way (flink_checkpoint).

local json = require "json"
local objects = require "flink_objects"
local flink_status = require "flink_status"
local flink_job = require "flink_job"

local M = {}

local present = objects.is_present

M.HISTORY_MAX = 10 -- upstream's kubernetes.operator.savepoint.history.max.count
M.REQUEUE_WAIT = 2

local function now_ms(ctx) return flink_status.epoch_ms(ctx.now) or 0 end

-- handled_nonce(status, field) -> spec.job[field] of the last reconciled spec: the trigger nonce last handled, or nil.
function M.handled_nonce(status, field)
    local prev = flink_status.previous(status)
    local job = prev and present(prev.spec.job) and prev.spec.job or {}
    return present(job[field]) and job[field] or nil
end

-- A kind of manual snapshot: its nonce in spec.job, its info in status.jobStatus, its results in observed.flink, and
-- the name its trigger ids are derived from. flink_checkpoint takes manual checkpoints with the same steps.
M.SAVEPOINT = { nonce = "savepointTriggerNonce", info = "savepointInfo", observed = "savepoints",
                name = "manual-savepoint" }

local function last_nonce(status) return M.handled_nonce(status, M.SAVEPOINT.nonce) end

-- nonce_wanted(kind, resource, status) -> the nonce of a manual snapshot asked for and not handled yet, or nil.
function M.nonce_wanted(kind, resource, status)
    local job = present(resource.spec.job) and resource.spec.job or {}
    local nonce = present(job[kind.nonce]) and job[kind.nonce] or nil
    if nonce == nil or nonce == M.handled_nonce(status, kind.nonce) then return nil end
    return nonce
end

-- snapshot_in_flight(kind, status) -> whether a manual snapshot has been triggered and its result not recorded yet.
function M.snapshot_in_flight(kind, status)
    local js = present(status) and present(status.jobStatus) and status.jobStatus or {}
    local info = present(js[kind.info]) and js[kind.info] or {}
    return info.triggerType == "MANUAL" and present(info.triggerId) and info.triggerId ~= ""
end

-- snapshot_trigger_id(kind, resource, nonce) -> 32 hexadecimal digits naming the snapshot of this nonce in Flink.
function M.snapshot_trigger_id(kind, resource, nonce)
    local meta = resource.metadata or {}
    return objects.hex_id(table.concat({ kind.name, tostring(meta.uid or ""), tostring(meta.namespace or ""),
        tostring(meta.name or ""), tostring(nonce) }, "|"))
end

-- wanted(resource, status) -> the nonce of a manual savepoint asked for and not handled yet, or nil.
function M.wanted(resource, status) return M.nonce_wanted(M.SAVEPOINT, resource, status) end

-- in_flight(status) -> whether a manual savepoint has been triggered and its result not recorded yet.
function M.in_flight(status) return M.snapshot_in_flight(M.SAVEPOINT, status) end

-- trigger_id(resource, nonce) -> 32 hexadecimal digits naming the savepoint of this nonce in Flink.
function M.trigger_id(resource, nonce) return M.snapshot_trigger_id(M.SAVEPOINT, resource, nonce) end

-- record_nonce(status, field, nonce): the nonce is handled: written as spec.job[field] into the last reconciled spec,
-- and the last stable one when they were the same (upstream's updateLastReconciledSnapshotTriggerNonce).
function M.record_nonce(status, field, nonce)
    local rs = status.reconciliationStatus
    local prev = flink_status.previous(status)
    if not (present(rs) and prev) then return end
    prev.spec.job[field] = nonce
    local text = json.encode(prev)
    if rs.lastStableSpec == rs.lastReconciledSpec then rs.lastStableSpec = text end
    rs.lastReconciledSpec = text
end

local function action(js, c)
    local info = js.savepointInfo
    return { type = "savepoint", job_id = js.jobId, trigger_id = info.triggerId, triggered_at = info.triggerTimestamp,
             target_directory = c.cfg["execution.checkpointing.savepoint-dir"] or c.cfg["state.savepoints.dir"] }
end

-- clear_trigger(info): the snapshot in flight is over.
function M.clear_trigger(info)
    info.triggerId, info.triggerType, info.triggerTimestamp = json.null, json.null, json.null
end
local clear_trigger = M.clear_trigger

-- snapshot_result(kind, info, flink, job) -> the status of the snapshot in flight as the core observed it (nil:
-- nothing yet), and the result; a trigger refused while the job no longer runs has FAILED.
function M.snapshot_result(kind, info, flink, job)
    local results = present(flink) and flink[kind.observed]
    local result = present(results) and results[info.triggerId] or nil
    local status_of = result and result.status
    if status_of == "TRIGGER_FAILED" and job and job.state ~= "RUNNING" then
        status_of = "FAILED" -- a job that stopped cannot take it any more
        result.failure = string.format("the job is %s: %s", job.state, tostring(result.error))
    end
    return status_of, result
end

-- Records what Flink said of the manual savepoint in flight; returns whether it is over.
local function record(status, flink, job, ctx, events)
    local js = status.jobStatus
    local info = js.savepointInfo
    local status_of, result = M.snapshot_result(M.SAVEPOINT, info, flink, job)
    if status_of == "COMPLETED" then
        local sp = { timeStamp = now_ms(ctx), location = result.location, triggerType = "MANUAL",
                     formatType = present(info.formatType) and info.formatType or "CANONICAL",
                     triggerNonce = last_nonce(status) }
        info.lastSavepoint = sp
        local history = objects.list()
        for _, old in ipairs(present(info.savepointHistory) and info.savepointHistory or {}) do
            history[#history + 1] = old
        end
        history[#history + 1] = objects.copy(sp)
        while #history > M.HISTORY_MAX do table.remove(history, 1) end
        info.savepointHistory = history
        clear_trigger(info)
        events[#events + 1] = objects.event("Normal", "SavepointCompleted",
            string.format("Manual savepoint of job %s completed: %s", tostring(js.jobId), tostring(result.location)))
        return true
    end
    if status_of == "FAILED" then
        clear_trigger(info)
        events[#events + 1] = objects.event("Warning", "SavepointError",
            "Manual savepoint failed: " .. tostring(result.failure))
        return true
    end
    return false
end

-- step(status, resource, c, job, flink, ctx, events) -> the actions of this pass for manual savepoints, or nil;
-- status (this pass's, already observed) is updated in place. job: the observed job, nil when not observed.
function M.step(status, resource, c, job, flink, ctx, events)
    if not c.application then return nil end
    local js = status.jobStatus
    js.savepointInfo = objects.copy(present(js.savepointInfo) and js.savepointInfo or {})
    if M.in_flight(status) then
        if record(status, flink, job, ctx, events) then return nil end
        return { action(js, c) }
    end
    local nonce = M.wanted(resource, status)
    if not nonce or not job or job.state ~= "RUNNING" or present(js.savepointInfo.triggerId) then return nil end
    M.record_nonce(status, "savepointTriggerNonce", nonce)
    local info = js.savepointInfo
    info.triggerId = M.trigger_id(resource, nonce)
    info.triggerType = "MANUAL"
    info.triggerTimestamp = now_ms(ctx)
    info.formatType = present(info.formatType) and info.formatType or "CANONICAL"
    events[#events + 1] = objects.event("Normal", "SavepointTriggered", string.format(
        "Triggering a manual savepoint of job %s (savepointTriggerNonce %s, trigger %s)", tostring(js.jobId),
        tostring(nonce), info.triggerId))
    return { action(js, c) }
end

-- waiting(resource, c, prev, flink, ctx) -> the answer of a pass whose spec change waits for the manual savepoint in
-- flight: the cluster as it is (objects nil), the savepoint asked after or recorded.
function M.waiting(resource, c, prev, flink, ctx)
    local status = objects.copy(prev)
    status.jobStatus = objects.copy(status.jobStatus)
    local events = objects.list()
    local actions = M.step(status, resource, c, flink_job.job(flink, prev), flink, ctx, events)
    return { objects = nil, status = status, events = events, actions = actions and objects.list(actions),
             requeue_after = actions and M.REQUEUE_WAIT or 0 }
end

return M
