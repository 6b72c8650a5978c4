-- Manual checkpoints of a running job (spec.job.checkpointTriggerNonce), as upstream's SnapshotObserver and
-- SnapshotUtils.shouldTriggerSnapshot take them, the way flink_savepoint takes manual savepoints: a nonce other than
-- the one in the last reconciled spec asks for one checkpoint, and the job keeps running
-- (POST /jobs/:jobid/checkpoints). The nonce is no spec change (flink_status.spec_changed ignores it): nothing is
-- redeployed. Each step is written to the status before the core acts on it, so a restarted operator takes no second
-- checkpoint:
--   1. trigger: the nonce is written into lastReconciledSpec (the nonce is handled) and the trigger into
--               jobStatus.checkpointInfo (triggerId, triggerType MANUAL, triggerTimestamp, formatType FULL); action:
--               checkpoint under that trigger id. Only a RUNNING job is asked.
--   2. wait:    the same action on every pass until observed.flink.checkpoints[trigger] says how it went (the
--               trigger id makes Flink treat a repeat as the same operation).
--   3. record:  COMPLETED: checkpointInfo.lastCheckpoint {timeStamp (the trigger's, as upstream), triggerType MANUAL,
--               formatType, triggerNonce}. FAILED: a CheckpointError Warning. Either way the trigger is cleared; a
--               failed nonce is not tried again (as upstream): set a new one.
-- Flink has the endpoint since 1.17 (FLINK-27101; upstream's isSnapshotTriggeringSupported): for an older
-- flinkVersion nothing is sent; status.error says why, with one CheckpointError Warning, for as long as the nonce
-- asks, and the nonce stays unhandled.
-- The checkpoint type is kubernetes.operator.checkpoint.type (FULL, as upstream's default, or INCREMENTAL).

local json = require "json"
local objects = require "flink_objects"
local config = require "flink_config"
local flink_status = require "flink_status"
local flink_savepoint = require "flink_savepoint"

local M = {}

local present = objects.is_present

M.CHECKPOINT = { nonce = "checkpointTriggerNonce", info = "checkpointInfo", observed = "checkpoints",
                 name = "manual-checkpoint" }
M.FIELD = M.CHECKPOINT.nonce
M.MIN_VERSION = "v1_17" -- POST /jobs/:jobid/checkpoints
M.REQUEUE_WAIT = 2

local function now_ms(ctx) return flink_status.epoch_ms(ctx.now) or 0 end

-- wanted(resource, status) -> the nonce of a manual checkpoint asked for and not handled yet, or nil.
function M.wanted(resource, status) return flink_savepoint.nonce_wanted(M.CHECKPOINT, resource, status) end

-- in_flight(status) -> whether a manual checkpoint has been triggered and its result not recorded yet.
function M.in_flight(status) return flink_savepoint.snapshot_in_flight(M.CHECKPOINT, status) end

-- trigger_id(resource, nonce) -> 32 hexadecimal digits naming the checkpoint of this nonce in Flink.
function M.trigger_id(resource, nonce) return flink_savepoint.snapshot_trigger_id(M.CHECKPOINT, resource, nonce) end

-- The checkpoint type asked for: upstream's kubernetes.operator.checkpoint.type, FULL unless INCREMENTAL.
local function checkpoint_type(c)
    return tostring(c.cfg["kubernetes.operator.checkpoint.type"] or ""):upper() == "INCREMENTAL" and "INCREMENTAL"
        or "FULL"
end

local function action(js)
    local info = js.checkpointInfo
    return { type = "checkpoint", job_id = js.jobId, trigger_id = info.triggerId, checkpoint_type = info.formatType }
end

local clear_trigger = flink_savepoint.clear_trigger

-- Records what Flink said of the manual checkpoint in flight; returns whether it is over.
local function record(status, flink, job, events)
    local js = status.jobStatus
    local info = js.checkpointInfo
    local status_of, result = flink_savepoint.snapshot_result(M.CHECKPOINT, info, flink, job)
    if status_of == "COMPLETED" then
        info.lastCheckpoint = { timeStamp = info.triggerTimestamp, triggerType = "MANUAL",
                                formatType = present(info.formatType) and info.formatType or "FULL",
                                triggerNonce = flink_savepoint.handled_nonce(status, M.FIELD) }
        clear_trigger(info)
        events[#events + 1] = objects.event("Normal", "CheckpointCompleted", string.format(
            "Manual checkpoint %s of job %s completed", tostring(result.checkpoint_id), tostring(js.jobId)))
        return true
    end
    if status_of == "FAILED" then
        clear_trigger(info)
        events[#events + 1] = objects.event("Warning", "CheckpointError",
            "Manual checkpoint failed: " .. tostring(result.failure))
        return true
    end
    return false
end

-- unsupported(status, prev, c, nonce, events): a Flink without the endpoint: status.error (unless a more pressing
-- one is there) and a Warning the first time.
local function unsupported(status, prev, c, nonce, events)
    local message = string.format("spec.job.checkpointTriggerNonce %s: manual checkpoints need Flink 1.17 or later " ..
        "(POST /jobs/:jobid/checkpoints); flinkVersion is %s, so no checkpoint is taken", tostring(nonce),
        tostring(c.version))
    local err = flink_status.error_json("ReconciliationException", message)
    if status.error ~= json.null and status.error ~= nil then return end
    status.error = err
    if not (present(prev) and prev.error == err) then
        events[#events + 1] = objects.event("Warning", "CheckpointError", message)
    end
end

-- step(status, resource, c, job, flink, ctx, events) -> the actions of this pass for manual checkpoints, or nil;
-- status (this pass's, already observed) is updated in place. job: the observed job, nil when not observed.
function M.step(status, resource, c, job, flink, ctx, events)
    if not c.application then return nil end
    local js = status.jobStatus
    js.checkpointInfo = objects.copy(present(js.checkpointInfo) and js.checkpointInfo or {})
    if M.in_flight(status) then
        if record(status, flink, job, events) then return nil end
        return { action(js) }
    end
    local nonce = M.wanted(resource, status)
    if not nonce or present(js.checkpointInfo.triggerId) then return nil end
    if not config.version_at_least(c.version, M.MIN_VERSION) then
        unsupported(status, resource.status, c, nonce, events)
        return nil
    end
    if not job or job.state ~= "RUNNING" then return nil end
    flink_savepoint.record_nonce(status, M.FIELD, nonce)
    local info = js.checkpointInfo
    info.triggerId = M.trigger_id(resource, nonce)
    info.triggerType = "MANUAL"
    info.triggerTimestamp = now_ms(ctx)
    info.formatType = checkpoint_type(c)
    events[#events + 1] = objects.event("Normal", "CheckpointTriggered", string.format(
        "Triggering a manual checkpoint of job %s (checkpointTriggerNonce %s, trigger %s)", tostring(js.jobId),
        tostring(nonce), info.triggerId))
    return { action(js) }
end

return M
