-- What Flink's REST API says about a FlinkDeployment's job, read as upstream's JobStatusObserver reads it.
--
-- The core polls each JobManager in the background and hands the last answer to reconcile() as
-- observed.flink (docs/policy-api.md):
--   { reachable = true|false, since = "<RFC 3339>", observed_at = "...", error = "<why, when unreachable>",
--     jobs = { { id, name, state, start_time, failure = { class, message } }, ... } }   -- newest first
-- Absent in the dry-run and until the first answer: then nothing here changes the status.

local json = require "json"
local flink_status = require "flink_status"

local M = {}

local function present(v) return v ~= nil and v ~= json.null end

-- The start of status.error's message for a JobManager that does not answer; also how it is recognised.
M.UNREACHABLE = "JobManager REST API unreachable"

-- job(flink, status) -> the observed job this resource runs: the one status.jobStatus.jobId names (the id the
-- deployment fixed), or, for a status that names none, the newest. nil when nothing answered or the JobManager
-- does not list it (yet: a previous deployment's job is never taken for it).
function M.job(flink, status)
    if not present(flink) or not flink.reachable then return nil end
    local jobs = present(flink.jobs) and flink.jobs or {}
    local js = present(status) and present(status.jobStatus) and status.jobStatus or {}
    if not present(js.jobId) then return jobs[1] end
    for _, j in ipairs(jobs) do
        if j.id == js.jobId then return j end
    end
    return nil
end

-- observe(status, flink, ctx, events) -> the observed job, after writing it into status.jobStatus (state,
-- jobId, jobName, startTime, and updateTime when the state changed, with a JobStatusChanged event). A job
-- last seen RUNNING whose JobManager stopped answering is RECONCILING: nobody knows (ifRunningMoveToReconciling).
function M.observe(status, flink, ctx, events)
    local js = status.jobStatus
    local before = present(js.state) and js.state or nil
    local job = M.job(flink, status)
    if not job then
        if present(flink) and not flink.reachable and before == "RUNNING" then js.state = "RECONCILING" end
        return nil
    end
    js.state, js.jobId, js.jobName = job.state, job.id, job.name
    if present(job.start_time) then js.startTime = string.format("%d", job.start_time) end
    if before ~= job.state then
        js.updateTime = string.format("%d", flink_status.epoch_ms(ctx.now) or 0)
        events[#events + 1] = { type = "Normal", reason = "JobStatusChanged", message = before
            and string.format("Job status changed from %s to %s", before, job.state)
            or string.format("Job status changed to %s", job.state) }
    end
    return job
end

-- failed_error(job) -> status.error for a FAILED job: its root exception, as upstream records the job result's
-- throwable, or a plain message when the JobManager did not say why.
function M.failed_error(job)
    local f = job.failure
    if present(f) and present(f.class) then
        return flink_status.error_json(f.class, present(f.message) and f.message or "")
    end
    return flink_status.error_json("ReconciliationException", string.format("Job %s FAILED", job.id))
end

-- unreachable_error(flink, previous, available) -> status.error for a JobManager whose REST API does not answer,
-- or nil. While a JobManager starts, an unanswered REST API is expected (upstream only waits); it is an error
-- once the Deployment is available or the JobManager was READY, and stays one until it answers again.
function M.unreachable_error(flink, previous, available)
    if not present(flink) or flink.reachable then return nil end
    local prev = present(previous) and previous or {}
    local said = present(prev.error) and type(prev.error) == "string" and prev.error:find(M.UNREACHABLE, 1, true)
    if not (available or prev.jobManagerDeploymentStatus == "READY" or said) then return nil end
    local message = string.format("%s since %s: %s", M.UNREACHABLE, flink.since or "?", flink.error or "no answer")
    return flink_status.error_json("ReconciliationException", message, { reason = "JobManagerUnreachable" }),
        not said
end

-- stable(job_state) -> whether the last reconciled spec is now the last stable one
-- (ReconciliationUtils.checkAndUpdateStableSpec): a RUNNING job, or one that FINISHED on its own.
function M.stable(job_state)
    return job_state == "RUNNING" or job_state == "FINISHED"
end

local function answer(jobs, reachable)
    return { reachable = reachable ~= false, since = "2026-11-25T11:59:00Z", jobs = json.array(jobs or {}),
             error = reachable == false and "GET http://x/jobs/overview: Operation timed out" or nil }
end

local JOB = "a5e0edd8e66b53f1b89c2041f91b8fd2"
local NOW = { now = "2026-11-25T12:00:00Z" }

M.tests = {
    ["the job is the one the status names, else the newest"] = function()
        local flink = answer({ { id = "b", state = "RUNNING" }, { id = JOB, state = "FINISHED" } })
        assert(M.job(flink, { jobStatus = { jobId = JOB } }).id == JOB)
        assert(M.job(flink, { jobStatus = {} }).id == "b")
        assert(M.job(flink, { jobStatus = { jobId = "gone" } }) == nil, "an older deployment's job is not ours")
        assert(M.job(answer({}, false), {}) == nil and M.job(nil, {}) == nil)
    end,
    ["observing a running job fills job status and says it changed"] = function()
        local status, events = { jobStatus = { state = "RECONCILING" } }, {}
        local job = M.observe(status, answer({ { id = JOB, name = "State machine job", state = "RUNNING",
            start_time = 1795607940000 } }), NOW, events)
        assert(job.id == JOB)
        local js = status.jobStatus
        assert(js.state == "RUNNING" and js.jobId == JOB and js.jobName == "State machine job")
        assert(js.startTime == "1795607940000" and js.updateTime == "1795608000000")
        assert(events[1].reason == "JobStatusChanged" and events[1].message == "Job status changed from RECONCILING to RUNNING")
    end,
    ["an unchanged job state adds no event and keeps the update time"] = function()
        local status, events = { jobStatus = { state = "RUNNING", jobId = JOB, updateTime = "1" } }, {}
        M.observe(status, answer({ { id = JOB, name = "j", state = "RUNNING", start_time = 5 } }), NOW, events)
        assert(#events == 0 and status.jobStatus.updateTime == "1")
    end,
    ["a running job whose jobmanager stops answering is reconciling"] = function()
        local status = { jobStatus = { state = "RUNNING", jobId = JOB } }
        assert(M.observe(status, answer(nil, false), NOW, {}) == nil)
        assert(status.jobStatus.state == "RECONCILING" and status.jobStatus.jobId == JOB)
    end,
    ["a failed job's error is its root exception"] = function()
        local err = json.decode(M.failed_error({ id = JOB, state = "FAILED",
            failure = { class = "java.lang.RuntimeException", message = "boom" } }))
        assert(err.type == "java.lang.RuntimeException" and err.message == "boom")
        err = json.decode(M.failed_error({ id = JOB, state = "FAILED" }))
        assert(err.message == "Job " .. JOB .. " FAILED")
    end,
    ["an unanswered rest api is an error only once the jobmanager should answer"] = function()
        local down = answer(nil, false)
        assert(M.unreachable_error(down, { jobManagerDeploymentStatus = "DEPLOYING" }, false) == nil)
        assert(M.unreachable_error(answer({}), { jobManagerDeploymentStatus = "READY" }, true) == nil)
        local text, first = M.unreachable_error(down, { jobManagerDeploymentStatus = "READY" }, false)
        local err = json.decode(text)
        assert(first and err.message == M.UNREACHABLE .. " since 2026-11-25T11:59:00Z: GET http://x/jobs/overview: Operation timed out")
        assert(err.additionalMetadata.reason == "JobManagerUnreachable")
        local again, news = M.unreachable_error(down, { jobManagerDeploymentStatus = "DEPLOYING", error = text }, false)
        assert(again == text and not news, "it stays said, and is said once")
        assert(M.unreachable_error(down, {}, true), "an available deployment should answer")
    end,
}

return M
