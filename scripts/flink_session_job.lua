-- A FlinkSessionJob: a job run on a session cluster (the FlinkDeployment spec.deploymentName names, in the same
-- namespace) through that cluster's REST API, as upstream's FlinkSessionJobController does it. It owns no
-- Kubernetes objects. It sees the session cluster's JobManager as observed.flink (the same answer the cluster's own
-- reconcile gets) and asks the core, in result.actions, to submit or cancel its job there.
--
-- Submission: the job id is fixed before anything is sent (from the resource's uid and generation, as upstream
-- fixes it) and recorded in status.jobStatus.jobId first, so a restarted operator looks for that job and never
-- runs it twice (Flink also refuses a second run under an id it knows). The core runs a jar the JobManager
-- already holds, named as the last segment of spec.job.jarURI (GET /jars), with POST /jars/:jarid/run: jars get
-- there by an upload to the session cluster (`flink run`, the web UI, POST /jars/upload). Fetching jarURI
-- (https://, s3://) and uploading it is not done; when the JobManager holds no such jar, status.error says so
-- and the submission is tried again.
--
-- Not there yet: a spec change of a submitted job is not applied (upstream cancels or suspends the job and
-- submits the new one); it is reported with an UpgradeNotApplied Warning.

local json = require "json"
local objects = require "flink_objects"
local config = require "flink_config"
local flink_status = require "flink_status"
local flink_job = require "flink_job"
local cleanup = require "flink_cleanup"

local M = {}

local present = objects.is_present

local ENDED = { FINISHED = true, FAILED = true, CANCELED = true }

local event = objects.event

-- jar_name(jar_uri) -> the jar's file name (the last path segment), or nil and why.
function M.jar_name(jar_uri)
    if type(jar_uri) ~= "string" or jar_uri == "" then return nil, "spec.job.jarURI: required" end
    local path = jar_uri:gsub("[?#].*$", "")
    local name = path:match("([^/]+)$")
    if not name or #name > 200 or not name:match("^[%w._-]+$") or name == "." or name == ".." then
        return nil, string.format("spec.job.jarURI %q: its file name must be letters, digits, '.', '_' or '-'",
            jar_uri)
    end
    return name
end

-- validate(resource) -> nil, or the problem with its spec.
local function validate(resource)
    local spec = present(resource.spec) and resource.spec or {}
    if not present(spec.deploymentName) or spec.deploymentName == "" then
        return "spec.deploymentName: required (the session FlinkDeployment the job runs on)"
    end
    if not present(spec.job) then return "spec.job: required" end
    local _, why = M.jar_name(spec.job.jarURI)
    if why then return why end
    local p = spec.job.parallelism
    if present(p) and (math.type(p) ~= "integer" or p < 1) then
        return "spec.job.parallelism: must be a whole number from 1"
    end
    return nil
end

-- The submit action for job_id: what POST /jars/:jarid/run takes.
local function submit_action(spec, job_id)
    local job = spec.job
    return {
        type = "submit", job_id = job_id, jar_name = (M.jar_name(job.jarURI)),
        entry_class = present(job.entryClass) and job.entryClass or nil,
        args = json.array(present(job.args) and job.args or {}),
        parallelism = present(job.parallelism) and job.parallelism or nil,
        savepoint_path = present(job.initialSavepointPath) and job.initialSavepointPath or nil,
    }
end

-- delete(resource, flink, ctx) -> the answer for a session job being deleted: its job is cancelled, then the
-- finalizer goes; bounded by flink_cleanup.LIMIT like a FlinkDeployment's cleanup.
function M.delete(resource, flink, ctx)
    local meta = resource.metadata
    local prev = present(resource.status) and resource.status or {}
    local since, now = flink_status.epoch_ms(meta.deletionTimestamp), flink_status.epoch_ms(ctx.now)
    local overdue = not since or not now or now - since >= cleanup.LIMIT * 1000
    local submitted = present(prev.jobStatus) and present(prev.jobStatus.jobId)
    if submitted and not overdue then
        local status = objects.copy(prev)
        status.lifecycleState = "DELETING"
        local job = flink_job.job(flink, prev)
        if job and not ENDED[job.state] then
            return { status = status, requeue_after = 2,
                     events = objects.list({ event("Normal", "Cleanup",
                         string.format("Cancelling job %s on session cluster %s", job.id, resource.spec.deploymentName)) }),
                     actions = objects.list({ { type = "cancel", job_id = job.id } }) }
        end
        if not present(flink) then -- the session cluster not asked yet (a restarted operator)
            return { status = status, events = objects.list(), requeue_after = 2 }
        end
    end
    local events = objects.list()
    if overdue and submitted then
        events[1] = event("Warning", "CleanupTimeout", string.format("The job did not end within %d s of the " ..
            "deletion; letting the FlinkSessionJob go anyway", cleanup.LIMIT))
    end
    return { objects = objects.list(), events = events, remove_finalizer = true }
end

-- reconcile(resource, observed, ctx) -> the answer for a FlinkSessionJob.
function M.reconcile(resource, observed, ctx)
    local flink = observed and present(observed.flink) and observed.flink or nil
    if present(resource.metadata.deletionTimestamp) then return M.delete(resource, flink, ctx) end
    local prev = present(resource.status) and resource.status or nil
    local status = objects.copy(prev or {})
    local events = objects.list()
    status.error = json.null
    if present(resource.metadata.generation) then status.observedGeneration = resource.metadata.generation end
    status.jobStatus = present(status.jobStatus) and status.jobStatus or {}
    local js = status.jobStatus

    local problem = validate(resource)
    if problem then
        status.error = flink_status.error_json("ValidationException", problem)
        status.lifecycleState = present(status.lifecycleState) and status.lifecycleState or "CREATED"
        return { objects = objects.list(), status = status,
                 events = objects.list({ event("Warning", "ValidationError", problem) }) }
    end

    local spec = resource.spec
    local first = not present(js.jobId)
    if first then js.jobId = config.job_id(resource.metadata, resource.metadata.namespace or "default") end
    local answer = { objects = objects.list(), status = status, events = events }
    if not flink then -- the session cluster has not answered (yet): nothing to decide on
        status.lifecycleState = present(status.lifecycleState) and status.lifecycleState or "CREATED"
        if first then
            events[1] = event("Normal", "Submit", string.format("Job %s is submitted once session cluster %s answers",
                js.jobId, spec.deploymentName))
        end
        return answer
    end
    local job = flink_job.observe(status, flink, ctx, events)
    if not job and flink.reachable then
        -- Not listed: submit it. The status names the job before the submission is sent (results are written
        -- before actions are performed), so whoever reconciles next looks for this job.
        local sub = present(flink.submissions) and flink.submissions[js.jobId] or nil
        if present(sub) and sub.status == "FAILED" then
            status.error = flink_status.error_json("ReconciliationException",
                string.format("Submitting job %s failed: %s", js.jobId, sub.error or "no reason given"))
        end
        if not (present(sub) and sub.status == "SUBMITTED") and first then
            events[#events + 1] = event("Normal", "Submit", string.format("Submitting job %s to session cluster %s",
                js.jobId, spec.deploymentName))
        end
        js.state = present(js.state) and js.state or "RECONCILING"
        answer.actions = objects.list({ submit_action(spec, js.jobId) })
    end
    local changed = flink_status.spec_changed(resource)
    if changed and prev and present(prev.reconciliationStatus) and job then
        events[#events + 1] = event("Warning", "UpgradeNotApplied", "Changes to a submitted session job are " ..
            "not applied by this operator version; delete and create it again")
    else
        status.reconciliationStatus = flink_status.reconciliation_status(resource, ctx,
            job ~= nil and flink_job.stable(job.state))
    end
    if job and job.state == "FAILED" then
        status.error = flink_job.failed_error(job)
    elseif not flink.reachable then
        status.error = flink_job.unreachable_error(flink, prev, true) or json.null
    end
    local rs = status.reconciliationStatus or {}
    status.lifecycleState = flink_status.lifecycle(job and "READY" or "DEPLOYING", false,
        job ~= nil and present(rs.lastStableSpec) and rs.lastStableSpec == rs.lastReconciledSpec, job ~= nil,
        job and job.state or nil)
    return answer
end

-- Tests -----------------------------------------------------------------------------------------

local NOW = { now = "2026-11-25T12:00:00Z" }

-- basic-session-job-example2 of upstream's examples/basic-session-deployment-and-job.yaml.
local function session_job(status)
    return {
        apiVersion = "flink.apache.org/v1beta1", kind = "FlinkSessionJob",
        metadata = { name = "basic-session-job-example2", namespace = "flink", uid = "sj-uid", generation = 1 },
        spec = { deploymentName = "basic-session-deployment-example", job = {
            jarURI = "https://repo1.maven.org/maven2/org/apache/flink/flink-examples-streaming/2.2.0/flink-examples-streaming-2.2.0.jar",
            parallelism = 2, upgradeMode = "stateless",
            entryClass = "org.apache.flink.streaming.examples.statemachine.StateMachineExample" } },
        status = status,
    }
end

local function cluster(jobs, submissions)
    return { flink = { reachable = true, since = "2026-11-25T11:59:00Z", jobs = json.array(jobs or {}),
                       submissions = submissions or {} } }
end

local JOB = config.job_id({ uid = "sj-uid", generation = 1 }, "flink")

M.tests = {
    ["a jar's name is the last segment of its uri"] = function()
        assert(M.jar_name("local:///opt/flink/examples/streaming/StateMachineExample.jar") == "StateMachineExample.jar")
        assert(M.jar_name("https://x/a/b.jar?token=1") == "b.jar")
        assert(M.jar_name("https://x/a/") == nil and M.jar_name(nil) == nil)
        assert(M.jar_name("file:///tmp/a b.jar") == nil, "no name that is not a plain file name")
    end,
    ["a session job on a cluster that has not answered waits, with its job id fixed"] = function()
        local r = M.reconcile(session_job(), { objects = {} }, NOW)
        assert(r.actions == nil and r.status.lifecycleState == "CREATED" and r.status.jobStatus.jobId == JOB)
        assert(r.events[1].reason == "Submit" and json.is_array(r.objects) and #r.objects == 0)
    end,
    ["a session job not listed by its cluster is submitted under its fixed id"] = function()
        local r = M.reconcile(session_job(), cluster(), NOW)
        local a = r.actions[1]
        assert(#r.actions == 1 and a.type == "submit" and a.job_id == JOB and r.status.jobStatus.jobId == JOB)
        assert(a.jar_name == "flink-examples-streaming-2.2.0.jar" and a.parallelism == 2)
        assert(a.entry_class == "org.apache.flink.streaming.examples.statemachine.StateMachineExample")
        assert(json.is_array(a.args) and #a.args == 0 and r.status.jobStatus.state == "RECONCILING")
    end,
    ["the job id recorded in the status is kept, so a new generation does not submit another job"] = function()
        local fd = session_job({ jobStatus = { jobId = JOB, state = "RECONCILING" } })
        fd.metadata.generation = 2
        assert(M.reconcile(fd, cluster(), NOW).actions[1].job_id == JOB)
    end,
    ["a listed job is not submitted again; running, it is stable"] = function()
        local r = M.reconcile(session_job({ jobStatus = { jobId = JOB } }),
            cluster({ { id = JOB, name = "State machine job", state = "RUNNING", start_time = 1 } }), NOW)
        assert(r.actions == nil and r.status.lifecycleState == "STABLE" and r.status.jobStatus.state == "RUNNING")
        assert(r.status.reconciliationStatus.lastStableSpec == r.status.reconciliationStatus.lastReconciledSpec)
        r = M.reconcile(session_job({ jobStatus = { jobId = JOB } }), cluster({ { id = JOB, state = "CREATED" } }), NOW)
        assert(r.actions == nil and r.status.lifecycleState == "DEPLOYED")
    end,
    ["a failed job or submission is the status error"] = function()
        local r = M.reconcile(session_job({ jobStatus = { jobId = JOB } }), cluster({ { id = JOB, state = "FAILED",
            failure = { class = "java.lang.RuntimeException", message = "boom" } } }), NOW)
        assert(r.status.lifecycleState == "FAILED" and json.decode(r.status.error).message == "boom")
        r = M.reconcile(session_job({ jobStatus = { jobId = JOB } }), cluster({}, { [JOB] = { status = "FAILED",
            error = "the JobManager holds no jar named x.jar" } }), NOW)
        assert(json.decode(r.status.error).message:find("no jar named x.jar", 1, true) and r.actions[1].type == "submit")
    end,
    ["an invalid session job submits nothing and says why"] = function()
        local fd = session_job()
        fd.spec.deploymentName = nil
        local r = M.reconcile(fd, cluster(), NOW)
        assert(r.actions == nil and json.decode(r.status.error).message:find("deploymentName", 1, true))
    end,
    ["deleting a session job cancels its running job, then lets go"] = function()
        local fd = session_job({ jobStatus = { jobId = JOB, state = "RUNNING" } })
        fd.metadata.deletionTimestamp = "2026-11-25T12:00:00Z"
        local r = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }), { now = "2026-11-25T12:00:01Z" })
        assert(r.actions[1].type == "cancel" and r.actions[1].job_id == JOB and not r.remove_finalizer)
        r = M.reconcile(fd, cluster({ { id = JOB, state = "CANCELED" } }), { now = "2026-11-25T12:00:03Z" })
        assert(r.remove_finalizer and r.actions == nil and #r.objects == 0)
        r = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }), { now = "2026-11-25T12:00:30Z" })
        assert(r.remove_finalizer and r.events[1].reason == "CleanupTimeout")
        fd.status = nil
        assert(M.reconcile(fd, { objects = {} }, NOW).remove_finalizer, "nothing submitted: nothing to cancel")
    end,
}

return M
