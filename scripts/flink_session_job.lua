-- A FlinkSessionJob: a job run on a session cluster (the FlinkDeployment spec.deploymentName names, in the same
-- namespace) through that cluster's REST API, as upstream's FlinkSessionJobController does it. It owns no
-- Kubernetes objects. It sees the session cluster's JobManager as observed.flink (the same answer the cluster's own
-- reconcile gets) and asks the core, in result.actions, to submit or cancel its job there. As upstream's
-- readyToReconcile, nothing is decided until that FlinkDeployment's JobManager is READY (observed.session_cluster).
--
-- Submission: the job id is fixed before anything is sent (from the resource's uid and generation, as upstream
-- fixes it) and recorded in status.jobStatus.jobId first, so a restarted operator looks for that job and never
-- runs it twice (Flink also refuses a second run under an id it knows). The policy says which jar (jar_name, the
-- last segment of spec.job.jarURI, and jar_uri); the core does the transfer: it runs the newest jar of that name
-- the JobManager holds (GET /jars, then POST /jars/:jarid/run), and when it holds none, fetches jarURI (http://,
-- https://, or file:// of the operator's own *.jar), uploads it (POST /jars/upload) and runs it. What fails (a
-- 404, a refused connection, a jar over the size cap, an s3:// or local:// URI the core cannot fetch) is
-- status.error, and the submission is tried again with backoff.
--
-- Spec changes of a submitted job are applied as upstream's session job reconciler applies them, every step
-- written to the status before the core acts (flink_upgrade's UPGRADING, with the target spec as
-- lastReconciledSpec), so a restarted operator finishes an upgrade rather than repeating it:
--   stateless     the job is cancelled; once it has ended the new spec is submitted under the new generation's job id
--   savepoint     the job is stopped with a savepoint (flink_upgrade: one trigger id, one savepoint), recorded in
--                 jobStatus.upgradeSavepointPath, and the new spec submitted from it (savepointPath)
--   last-state    as savepoint. Upstream (since 1.10) cancels the job and restores from its latest checkpoint, read
--                 through the REST API; the core does not observe checkpoints, so a savepoint stands in for it
--                 (it is at least as recent)
--   job.state: suspended  cancelled or stopped as its upgradeMode says, lifecycle SUSPENDED, nothing submitted;
--                 back to running, submitted again (from the savepoint when one was taken)
-- A FAILED job in savepoint mode cannot take a savepoint: the change waits with an UpgradeFailed error, as a
-- FlinkDeployment without HA does. While the session cluster does not answer, no upgrade step is taken; a job it
-- accepted but does not list yet is waited for (up to 30 s), so the new spec never runs beside the old one.

local json = require "json"
local objects = require "flink_objects"
local config = require "flink_config"
local flink_status = require "flink_status"
local flink_job = require "flink_job"
local cleanup = require "flink_cleanup"
local flink_upgrade = require "flink_upgrade"

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

-- The submit action for job_id: what POST /jars/:jarid/run takes, and where the jar is when the session cluster
-- does not hold it yet. `restore`: the savepoint an upgrade took, which wins over spec.job.initialSavepointPath.
local function submit_action(spec, job_id, restore)
    local job = spec.job
    local savepoint = restore or (present(job.initialSavepointPath) and job.initialSavepointPath or nil)
    return {
        type = "submit", job_id = job_id, jar_name = (M.jar_name(job.jarURI)), jar_uri = job.jarURI,
        entry_class = present(job.entryClass) and job.entryClass or nil,
        args = json.array(present(job.args) and job.args or {}),
        parallelism = present(job.parallelism) and job.parallelism or nil,
        savepoint_path = savepoint,
    }
end

local function suspended(spec) return spec.job.state == "suspended" end

-- What flink_upgrade needs to know of a session job: its job spec, its own configuration (where savepoints go),
-- and no high availability of its own (the session cluster's HA metadata is not the job's to restore from).
local function upgrade_view(spec)
    local cfg = present(spec.flinkConfiguration) and config.flatten(spec.flinkConfiguration) or {}
    return { application = true, spec = spec, cfg = cfg, ha = false }
end

-- upgrade_mode(spec) -> how a spec change reaches the running job: stateless cancels it; savepoint (and
-- last-state, see the header) stops it with a savepoint.
function M.upgrade_mode(spec)
    local mode = present(spec.job.upgradeMode) and spec.job.upgradeMode or "stateless"
    return mode == "last-state" and "savepoint" or mode
end

-- A job the session cluster accepted moments ago may not be listed yet (observed.flink.submissions says it was
-- accepted): the upgrade waits for it to be listed, then cancels it, rather than run the new spec beside it. A job
-- still not listed LIST_GRACE_MS after the upgrade began is taken as lost with its cluster and holds nothing up.
local LIST_GRACE_MS = 30000

local function accepted_unlisted(flink, prev, ctx)
    local id = present(prev.jobStatus) and prev.jobStatus.jobId or nil
    local sub = present(id) and present(flink.submissions) and flink.submissions[id] or nil
    if not (present(sub) and sub.status == "SUBMITTED") then return false end
    if not flink_upgrade.upgrading(prev) then return true end
    local began = prev.reconciliationStatus.reconciliationTimestamp
    local now = flink_status.epoch_ms(ctx.now)
    return not (math.type(began) and now) or now - began < LIST_GRACE_MS
end

-- upgrading_pass(resource, prev, ctx) -> the status and events of a pass of an upgrade: UPGRADING with the target
-- spec, and a SpecChanged event on its first pass.
local function upgrading_pass(resource, prev, ctx)
    local events = objects.list()
    if not flink_upgrade.upgrading(prev) then
        events[1] = event("Normal", "SpecChanged", "UPGRADE change(s) detected, starting reconciliation.")
    end
    return flink_upgrade.upgrading_status(resource, prev, ctx), events
end

-- A stateless upgrade: UPGRADING with the target spec (written before the cancel is sent), the old job cancelled;
-- "redeploy" once it has ended or is not listed.
local function stateless_step(resource, prev, job, ctx)
    if not job or ENDED[job.state] then return "redeploy" end
    local status, events = upgrading_pass(resource, prev, ctx)
    status.jobStatus.jobId = job.id
    events[#events + 1] = event("Normal", "Cancel", string.format("Cancelling job %s for the %s", job.id,
        suspended(resource.spec) and "suspension" or "upgrade (upgradeMode: stateless)"))
    return { objects = objects.list(), status = status, events = events, requeue_after = flink_upgrade.REQUEUE_WAIT,
             actions = objects.list({ { type = "cancel", job_id = job.id } }) }
end

-- upgrade(resource, prev, flink, ctx) -> what a spec change of a submitted session job makes of this pass, as
-- upstream's session job reconciler applies it: nil (no change, none under way), "redeploy" (the old job is
-- gone: submit the target spec under its new job id), or the whole answer (cancelling, stopping with a
-- savepoint, waiting; each step recorded in the status before the core acts).
function M.upgrade(resource, prev, flink, ctx)
    local upgrading = flink_upgrade.upgrading(prev)
    if not upgrading and not flink_status.spec_changed(resource) then return nil end
    if not flink.reachable then -- nothing is known of the old job: decide nothing
        local status = objects.copy(prev)
        status.error = flink_job.unreachable_error(flink, prev, true) or json.null
        return { objects = objects.list(), status = status, events = objects.list(),
                 requeue_after = flink_status.REQUEUE.DEPLOYING }
    end
    local job = flink_job.job(flink, prev)
    if not job and accepted_unlisted(flink, prev, ctx) then -- stopped or cancelled once listed
        local status, events = upgrading_pass(resource, prev, ctx)
        return { objects = objects.list(), status = status, events = events,
                 requeue_after = flink_upgrade.REQUEUE_WAIT }
    end
    if M.upgrade_mode(resource.spec) ~= "savepoint" then return stateless_step(resource, prev, job, ctx) end
    -- A savepoint is taken of a job that can still take one (or whose upgrade is under way); a FAILED job cannot,
    -- and without HA the change waits with an error (flink_upgrade); a finished or cancelled one has nothing to save.
    local alive = upgrading or (job ~= nil and job.state ~= "FINISHED" and job.state ~= "CANCELED")
    local step = flink_upgrade.step(resource, upgrade_view(resource.spec), prev, alive, flink, ctx, true, false)
    if type(step) == "table" then
        step.objects = objects.list()
        return step
    end
    return "redeploy"
end

-- redeployed(resource, prev, ctx) -> the status of a pass that deploys the target spec: DEPLOYED with it as the
-- last reconciled spec, and, unless it is suspended, the job id of this generation (the old job's is left).
local function redeployed(resource, prev, ctx, events)
    local status = objects.copy(prev)
    local meta = resource.metadata
    status.reconciliationStatus = flink_status.reconciliation_status(resource, ctx, false)
    status.jobStatus = objects.copy(present(status.jobStatus) and status.jobStatus or {})
    local js = status.jobStatus
    if suspended(resource.spec) then
        events[#events + 1] = event("Normal", "Suspended", string.format("Job %s is suspended", tostring(js.jobId)))
        return status
    end
    js.jobId = config.job_id(meta, meta.namespace or "default")
    js.state, js.jobName, js.startTime = "RECONCILING", json.null, json.null
    local restore = flink_upgrade.restore_path(status, upgrade_view(resource.spec))
    events[#events + 1] = event("Normal", "Submit", string.format("Submitting job %s with the new spec to session " ..
        "cluster %s%s", js.jobId, resource.spec.deploymentName, restore and (" from savepoint " .. restore) or ""))
    return status
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
    -- Upstream's readyToReconcile: nothing is decided until the session cluster's JobManager is READY. It is not
    -- an error to wait: the cluster may be starting, or be applied after its jobs. (Without a daemon, as in a
    -- dry-run, the core says nothing of the cluster.)
    local cluster = observed and present(observed.session_cluster) and observed.session_cluster or nil
    if cluster and cluster.jobManagerDeploymentStatus ~= "READY" then
        local waiting = objects.copy(prev or {})
        waiting.lifecycleState = present(waiting.lifecycleState) and waiting.lifecycleState or "CREATED"
        return { objects = objects.list(), status = waiting, events = objects.list(),
                 requeue_after = flink_status.REQUEUE.DEPLOYING }
    end
    local upgrade_events = objects.list()
    local submitted = prev and present(prev.reconciliationStatus) and present(prev.jobStatus)
        and present(prev.jobStatus.jobId)
    if flink and submitted then
        local step = M.upgrade(resource, prev, flink, ctx)
        if type(step) == "table" then return step end
        if step == "redeploy" then
            -- From here on this pass is the first of the target spec: its status is the one just made.
            prev = redeployed(resource, prev, ctx, upgrade_events)
            resource = objects.merged(resource, { status = prev })
            status = objects.copy(prev)
            status.error = json.null
            if present(resource.metadata.generation) then status.observedGeneration = resource.metadata.generation end
            js = status.jobStatus
        end
    end
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
    for _, e in ipairs(upgrade_events) do events[#events + 1] = e end
    local job = flink_job.observe(status, flink, ctx, events)
    if suspended(spec) then
        -- Nothing runs: a session job made suspended is never submitted; one suspended was stopped (above).
        status.reconciliationStatus = flink_status.reconciliation_status(resource, ctx, true)
        status.lifecycleState = "SUSPENDED"
        return answer
    end
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
        answer.actions = objects.list({ submit_action(spec, js.jobId,
            flink_upgrade.restore_path(status, upgrade_view(spec))) })
    end
    status.reconciliationStatus = flink_status.reconciliation_status(resource, ctx,
        job ~= nil and flink_job.stable(job.state))
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
                       submissions = submissions or {} },
             session_cluster = { found = true, jobManagerDeploymentStatus = "READY" } }
end

local JOB = config.job_id({ uid = "sj-uid", generation = 1 }, "flink")
local JOB2 = config.job_id({ uid = "sj-uid", generation = 2 }, "flink")
local JOB3 = config.job_id({ uid = "sj-uid", generation = 3 }, "flink")

-- stable(mode) -> a session job of generation 1 whose job JOB runs: the status a steady operator wrote.
local function stable(mode)
    local fd = session_job()
    fd.spec.job.upgradeMode = mode or "stateless"
    fd.status = M.reconcile(fd, cluster(), NOW).status
    fd.status = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }), NOW).status
    assert(fd.status.lifecycleState == "STABLE" and fd.status.jobStatus.jobId == JOB)
    return fd
end

-- changed(fd, mode) -> fd with its spec changed (parallelism 4, upgradeMode mode): generation 2.
local function changed(fd, mode)
    fd.metadata.generation = 2
    fd.spec.job.parallelism, fd.spec.job.upgradeMode = 4, mode
    return fd
end

M.tests = {
    ["a session job waits, without an error, for its session cluster to be READY"] = function()
        for _, sc in ipairs({ { found = false }, { found = true, jobManagerDeploymentStatus = "DEPLOYING" } }) do
            local observed = cluster()
            observed.flink.reachable, observed.flink.error = false, "GET http://x/jobs/overview: refused"
            observed.session_cluster = sc
            local r = M.reconcile(session_job(), observed, NOW)
            assert(not r.actions and #r.events == 0 and not present(r.status.error), "nothing is tried yet")
            assert(r.status.lifecycleState == "CREATED" and r.requeue_after)
        end
        local r = M.reconcile(session_job(), cluster(), NOW)
        assert(r.actions[1].type == "submit", "a READY cluster gets the job")
    end,
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
    ["a submission says where to fetch the jar the session cluster does not hold"] = function()
        local a = M.reconcile(session_job(), cluster(), NOW).actions[1]
        assert(a.jar_uri == session_job().spec.job.jarURI and a.jar_name == "flink-examples-streaming-2.2.0.jar")
    end,
    ["a spec change of a running stateless session job is recorded as upgrading, then its job is cancelled"] = function()
        local fd = changed(stable(), "stateless")
        local r = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }), NOW)
        assert(r.status.reconciliationStatus.state == "UPGRADING" and r.status.lifecycleState == "UPGRADING")
        assert(json.decode(r.status.reconciliationStatus.lastReconciledSpec).spec.job.parallelism == 4)
        assert(#r.actions == 1 and r.actions[1].type == "cancel" and r.actions[1].job_id == JOB)
        assert(r.status.jobStatus.jobId == JOB and r.events[1].reason == "SpecChanged")
        fd.status = r.status -- a restarted operator asks for the same cancel, never a submission yet
        r = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }), NOW)
        assert(r.actions[1].type == "cancel" and r.status.reconciliationStatus.state == "UPGRADING")
    end,
    ["once the old job is cancelled the new spec is submitted under the new generation's job id"] = function()
        local fd = changed(stable(), "stateless")
        fd.status = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }), NOW).status
        local r = M.reconcile(fd, cluster({ { id = JOB, state = "CANCELED" } }), NOW)
        local a = r.actions[1]
        assert(#r.actions == 1 and a.type == "submit" and a.job_id == JOB2 and a.parallelism == 4)
        assert(a.savepoint_path == nil, "stateless: from empty state")
        assert(r.status.jobStatus.jobId == JOB2 and r.status.reconciliationStatus.state == "DEPLOYED")
        fd.status = r.status
        r = M.reconcile(fd, cluster({ { id = JOB, state = "CANCELED" }, { id = JOB2, state = "RUNNING" } }), NOW)
        assert(r.actions == nil and r.status.lifecycleState == "STABLE" and r.status.jobStatus.jobId == JOB2)
    end,
    ["a job accepted but not listed yet is cancelled once listed, never left running beside the new spec"] = function()
        local fd = changed(stable(), "stateless")
        fd.status.jobStatus.state = "RECONCILING" -- as just submitted
        local accepted = cluster({}, { [JOB] = { status = "SUBMITTED" } })
        local r = M.reconcile(fd, accepted, NOW)
        assert(r.actions == nil and r.status.reconciliationStatus.state == "UPGRADING", "waits for the listing")
        fd.status = r.status
        r = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }, { [JOB] = { status = "SUBMITTED" } }), NOW)
        assert(r.actions[1].type == "cancel" and r.actions[1].job_id == JOB)
        local later = { now = "2026-11-25T12:00:31Z" } -- 31 s after the upgrade began: taken as lost
        r = M.reconcile(fd, accepted, later)
        assert(r.actions[1].type == "submit" and r.actions[1].job_id == JOB2)
        fd = changed(stable("savepoint"), "savepoint") -- the same in savepoint mode: stopped once listed
        fd.status.jobStatus.state = "RECONCILING"
        r = M.reconcile(fd, accepted, NOW)
        assert(r.actions == nil and r.status.reconciliationStatus.state == "UPGRADING")
        fd.status = r.status
        r = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }, { [JOB] = { status = "SUBMITTED" } }), NOW)
        assert(r.actions[1].type == "stop" and r.actions[1].job_id == JOB)
    end,
    ["a spec change of a session job whose job has ended is submitted at once"] = function()
        local r = M.reconcile(changed(stable(), "stateless"), cluster({ { id = JOB, state = "FAILED" } }), NOW)
        assert(r.actions[1].type == "submit" and r.actions[1].job_id == JOB2)
    end,
    ["a savepoint session job is stopped with one savepoint, recorded, then run from it"] = function()
        local fd = changed(stable("savepoint"), "savepoint")
        local running = cluster({ { id = JOB, state = "RUNNING" } })
        local r = M.reconcile(fd, running, NOW)
        local a, info = r.actions[1], r.status.jobStatus.savepointInfo
        assert(a.type == "stop" and a.job_id == JOB and a.trigger_id == info.triggerId and info.triggerType == "UPGRADE")
        assert(r.status.reconciliationStatus.state == "UPGRADING")
        fd.status = r.status
        local again = M.reconcile(fd, running, NOW).actions[1]
        assert(again.type == "stop" and again.trigger_id == a.trigger_id, "the same trigger: one savepoint")
        local done = cluster({ { id = JOB, state = "FINISHED" } })
        done.flink.savepoints = { [a.trigger_id] = { job_id = JOB, status = "COMPLETED", location = "file:///sp/1" } }
        r = M.reconcile(fd, done, NOW)
        assert(r.actions == nil and r.status.jobStatus.upgradeSavepointPath == "file:///sp/1")
        fd.status = r.status
        r = M.reconcile(fd, done, NOW)
        assert(r.actions[1].type == "submit" and r.actions[1].job_id == JOB2)
        assert(r.actions[1].savepoint_path == "file:///sp/1" and r.status.reconciliationStatus.state == "DEPLOYED")
    end,
    ["last-state session jobs are upgraded with a savepoint"] = function()
        local r = M.reconcile(changed(stable("last-state"), "last-state"), cluster({ { id = JOB, state = "RUNNING" } }), NOW)
        assert(r.actions[1].type == "stop" and r.status.reconciliationStatus.state == "UPGRADING")
    end,
    ["a failed savepoint session job cannot be upgraded without losing its state, and says so"] = function()
        local r = M.reconcile(changed(stable("savepoint"), "savepoint"), cluster({ { id = JOB, state = "FAILED" } }), NOW)
        assert(r.actions == nil and r.events[1].reason == "UpgradeFailed")
    end,
    ["an upgrade waits while the session cluster does not answer"] = function()
        local down = cluster({ { id = JOB, state = "RUNNING" } })
        down.flink.reachable, down.flink.error = false, "GET x: timeout"
        local r = M.reconcile(changed(stable(), "stateless"), down, NOW)
        assert(r.actions == nil and r.status.reconciliationStatus.state ~= "UPGRADING")
    end,
    ["a suspended stateless session job is cancelled and suspended, and resumed under a new job id"] = function()
        local fd = changed(stable(), "stateless")
        fd.spec.job.parallelism, fd.spec.job.state = 2, "suspended"
        local r = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }), NOW)
        assert(r.actions[1].type == "cancel")
        fd.status = r.status
        r = M.reconcile(fd, cluster({ { id = JOB, state = "CANCELED" } }), NOW)
        assert(r.actions == nil and r.status.lifecycleState == "SUSPENDED" and r.status.jobStatus.jobId == JOB)
        fd.status, fd.metadata.generation, fd.spec.job.state = r.status, 3, "running"
        r = M.reconcile(fd, cluster({ { id = JOB, state = "CANCELED" } }), NOW)
        assert(r.actions[1].type == "submit" and r.actions[1].job_id == JOB3 and r.actions[1].savepoint_path == nil)
    end,
    ["a suspended savepoint session job resumes from the savepoint it was stopped with"] = function()
        local fd = changed(stable("savepoint"), "savepoint")
        fd.spec.job.parallelism, fd.spec.job.state = 2, "suspended"
        local r = M.reconcile(fd, cluster({ { id = JOB, state = "RUNNING" } }), NOW)
        local trigger = r.actions[1].trigger_id
        local done = cluster({ { id = JOB, state = "FINISHED" } })
        done.flink.savepoints = { [trigger] = { job_id = JOB, status = "COMPLETED", location = "file:///sp/2" } }
        fd.status = r.status
        fd.status = M.reconcile(fd, done, NOW).status
        r = M.reconcile(fd, done, NOW)
        assert(r.actions == nil and r.status.lifecycleState == "SUSPENDED")
        fd.status, fd.metadata.generation, fd.spec.job.state = r.status, 3, "running"
        r = M.reconcile(fd, done, NOW)
        assert(r.actions[1].type == "submit" and r.actions[1].savepoint_path == "file:///sp/2")
    end,
    ["a jarURI fixed after a failed submission is submitted under the new job id"] = function()
        local fd = session_job()
        local failed = cluster({}, { [JOB] = { status = "FAILED", error = "GET http://x/a.jar: HTTP 404" } })
        fd.status = M.reconcile(fd, failed, NOW).status
        fd.metadata.generation, fd.spec.job.jarURI = 2, "http://x/b.jar"
        local a = M.reconcile(fd, failed, NOW).actions[1]
        assert(a.type == "submit" and a.job_id == JOB2 and a.jar_uri == "http://x/b.jar" and a.jar_name == "b.jar")
    end,
    ["a session job made suspended is never submitted"] = function()
        local fd = session_job()
        fd.spec.job.state = "suspended"
        local r = M.reconcile(fd, cluster(), NOW)
        assert(r.actions == nil and r.status.lifecycleState == "SUSPENDED")
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
