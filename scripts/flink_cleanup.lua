-- A FlinkDeployment being deleted (metadata.deletionTimestamp set, held by the operator's finalizer): what goes
-- first and when the operator may let go, as upstream's cleanup does it. A running job is cancelled through the
-- REST API while its JobManager is kept to answer; once the job has ended, or the JobManager does not answer, or
-- there is no job, every object goes, the HA ConfigMaps the JobManager made go with them (upstream deletes the HA
-- data of a deleted deployment; the core deletes exactly those of this cluster, by Flink's labels) and the
-- finalizer is removed (result.remove_finalizer). Bounded: LIMIT
-- seconds into the deletion the objects go whatever the job says (the core itself lets go a little later even if
-- this policy fails), so a JobManager that is gone or a terminating namespace never hangs on us.

local json = require "json"
local objects = require "flink_objects"
local flink_status = require "flink_status"
local flink_job = require "flink_job"

local M = {}

local present = objects.is_present

M.LIMIT = 30 -- seconds

-- States in which a job no longer runs (Flink's globally terminal states).
local ENDED = { FINISHED = true, FAILED = true, CANCELED = true }

local event = objects.event

-- cleanup(resource, seen, flink, ctx) -> the answer for a resource being deleted.
function M.cleanup(resource, seen, flink, ctx)
    local meta = resource.metadata
    local deployment = seen["Deployment/" .. meta.name]
    local prev = present(resource.status) and resource.status or {}
    local since, now = flink_status.epoch_ms(meta.deletionTimestamp), flink_status.epoch_ms(ctx.now)
    local overdue = not since or not now or now - since >= M.LIMIT * 1000
    local application = present(resource.spec) and present(resource.spec.job)
    if deployment and application and not overdue then
        local status = objects.copy(prev)
        status.lifecycleState = "DELETING"
        local job = flink_job.job(flink, prev)
        if job and not ENDED[job.state] then
            return { objects = nil, status = status, requeue_after = 2,
                     events = objects.list({ event("Normal", "Cleanup",
                         string.format("Cancelling job %s before the cluster is deleted", job.id)) }),
                     actions = objects.list({ { type = "cancel", job_id = job.id } }) }
        end
        if not present(flink) then -- a restarted operator has not asked the JobManager yet
            return { objects = nil, status = status, events = objects.list(), requeue_after = 2 }
        end
    end
    local events = objects.list()
    if overdue and deployment and application then
        events[1] = event("Warning", "CleanupTimeout", string.format("The job did not end within %d s of the " ..
            "deletion; deleting the cluster anyway", M.LIMIT))
    end
    -- No status: the resource is about to go, and a status write would race the finalizer's removal.
    return { objects = objects.list(), status = nil, events = events, remove_finalizer = true,
             actions = objects.list({ { type = "delete_ha_configmaps" } }) }
end

local T0 = "2026-11-25T12:00:00Z"
local JOB = "a5e0edd8e66b53f1b89c2041f91b8fd2"

local function deleting(at)
    return { metadata = { name = "basic-example", namespace = "flink", deletionTimestamp = T0 },
             spec = { job = { jarURI = "local:///job.jar" } },
             status = { lifecycleState = "STABLE", jobStatus = { jobId = JOB, state = "RUNNING" } } }, { now = at }
end

local function with_deployment() return { ["Deployment/basic-example"] = { kind = "Deployment" } } end

local function answer(state, reachable)
    return { reachable = reachable ~= false, jobs = json.array(state and { { id = JOB, state = state } } or {}) }
end

M.tests = {
    ["a running job is cancelled first and its cluster kept until it has ended"] = function()
        local fd, ctx = deleting("2026-11-25T12:00:05Z")
        local r = M.cleanup(fd, with_deployment(), answer("RUNNING"), ctx)
        assert(r.objects == nil and not r.remove_finalizer and r.status.lifecycleState == "DELETING")
        assert(r.actions[1].type == "cancel" and r.actions[1].job_id == JOB and r.requeue_after == 2)
    end,
    ["a cancelled job lets every object go and the finalizer with them"] = function()
        local fd, ctx = deleting("2026-11-25T12:00:07Z")
        local r = M.cleanup(fd, with_deployment(), answer("CANCELED"), ctx)
        assert(r.remove_finalizer and #r.objects == 0 and json.is_array(r.objects))
        assert(#r.actions == 1 and r.actions[1].type == "delete_ha_configmaps", "the HA data goes with the cluster")
        assert(r.status == nil and #r.events == 0)
    end,
    ["an unreachable jobmanager or a session cluster has nothing to cancel"] = function()
        local fd, ctx = deleting("2026-11-25T12:00:01Z")
        assert(M.cleanup(fd, with_deployment(), answer(nil, false), ctx).remove_finalizer)
        fd.spec.job = nil
        assert(M.cleanup(fd, with_deployment(), nil, ctx).remove_finalizer)
        fd.spec.job = {}
        assert(M.cleanup(fd, {}, nil, ctx).remove_finalizer, "no cluster left")
    end,
    ["a jobmanager not asked yet is waited for, but not beyond the limit"] = function()
        local fd, ctx = deleting("2026-11-25T12:00:01Z")
        local r = M.cleanup(fd, with_deployment(), nil, ctx)
        assert(not r.remove_finalizer and r.objects == nil)
        fd, ctx = deleting("2026-11-25T12:00:30Z")
        r = M.cleanup(fd, with_deployment(), answer("RUNNING"), ctx)
        assert(r.remove_finalizer and #r.objects == 0 and r.events[1].reason == "CleanupTimeout")
    end,
}

return M
