-- reconcile.lua: a FlinkDeployment becomes the Kubernetes objects of a Flink cluster (policy API v1).
--
-- One pass, like upstream's FlinkDeploymentController.reconcile:
--   1. validate the spec (flink_validate, after DefaultValidator); an invalid spec gets no plan, so
--      whatever runs keeps running, and the status says why;
--   2. decide whether this pass may touch a running cluster: changing a job that keeps state needs
--      a savepoint first, which flink_upgrade takes through the core (result.actions) before the
--      cluster is redeployed from it; a new spec.job.savepointRedeployNonce redeploys from
--      spec.job.initialSavepointPath at once instead, whatever the job's state (flink_upgrade.redeploy_path);
--   3. build the objects as Flink's own Kubernetes decorators would (flink_jobmanager,
--      flink_taskmanager) from the effective configuration (flink_config);
--   4. report in the status what Kubernetes shows (flink_status) and what the JobManager's REST API
--      answered last, observed.flink (flink_job);
--   5. take the savepoint a new spec.job.savepointTriggerNonce asks for, and the checkpoint a new
--      spec.job.checkpointTriggerNonce asks for, the job left running (flink_savepoint, flink_checkpoint).
--      A new spec.restartNonce is a spec change like any other (step 2).
-- A resource being deleted gets its cleanup instead (flink_cleanup).
-- Everything comes in through the arguments and time from ctx.now: same input, same answer.

local json = require "json"
local validate = require "flink_validate"
local config = require "flink_config"
local objects = require "flink_objects"
local jobmanager = require "flink_jobmanager"
local taskmanager = require "flink_taskmanager"
local flink_status = require "flink_status"
local flink_job = require "flink_job"
local flink_upgrade = require "flink_upgrade"
local flink_savepoint = require "flink_savepoint"
local flink_checkpoint = require "flink_checkpoint"
local cleanup = require "flink_cleanup"
local session_job = require "flink_session_job"

local M = {}

local present = objects.is_present

local event = objects.event

local function previous_status(resource)
    return present(resource.status) and resource.status or nil
end

-- The FlinkDeployment as the owner of the Deployments (upstream: kubernetes.jobmanager.owner.reference, which
-- AbstractFlinkResourceReconciler.setOwnerReference fills with blockOwnerDeletion but controller false).
local function flink_deployment_owner(resource)
    local ref = objects.owner_reference({
        apiVersion = resource.apiVersion or "flink.apache.org/v1beta1",
        kind = resource.kind or "FlinkDeployment",
        metadata = resource.metadata,
    })
    if ref then ref.controller = false end
    return ref
end

-- The JobManager Deployment as the owner of everything else, as Flink's Fabric8FlinkKubeClient sets
-- it; only known once the Deployment exists and has a uid.
local function jobmanager_owner(deployment)
    if not deployment then return nil end
    return objects.owner_reference({
        apiVersion = deployment.apiVersion or "apps/v1",
        kind = deployment.kind or "Deployment",
        metadata = deployment.metadata,
    })
end

-- desired_objects(resource, c, deployment) -> list of objects, whether every owner reference is set
function M.desired_objects(resource, c, deployment)
    local fd_owner = flink_deployment_owner(resource)
    local jm_owner = jobmanager_owner(deployment)
    local list = objects.list()
    local function add(obj, owner)
        if obj then list[#list + 1] = objects.set_owner(obj, owner) end
    end
    add(jobmanager.jobmanager_deployment(c), fd_owner)
    add(taskmanager.taskmanager_deployment(c), fd_owner)
    add(jobmanager.rest_service(c), jm_owner)
    add(jobmanager.internal_service(c), jm_owner)
    add(jobmanager.flink_config_map(c), jm_owner)
    add(jobmanager.pod_template_config_map(c), jm_owner)
    add(jobmanager.ingress(c), jm_owner)
    return list, jm_owner ~= nil
end

-- May a running cluster be changed (rolled, or deleted for a suspend) right now without losing state?
-- Stateless jobs and session clusters: yes. last-state with HA: yes, the new JobManager resumes from
-- the HA metadata (which has no owner and survives). Otherwise upstream takes a savepoint first.
function M.safe_to_change(c)
    if not c.application then return true end
    local mode = present(c.spec.job.upgradeMode) and c.spec.job.upgradeMode or "stateless"
    return mode == "stateless" or (mode == "last-state" and c.ha)
end

local function invalid(resource, problem)
    local prev = previous_status(resource)
    local status = objects.copy(prev or {})
    status.error = flink_status.error_json("ValidationException", problem)
    local deployed = flink_status.previous(prev) ~= nil
    -- CommonStatus.getLifecycleState: an error before the first deployment is FAILED.
    status.lifecycleState = deployed and (status.lifecycleState or "DEPLOYED") or "FAILED"
    return {
        objects = nil,
        status = status,
        events = objects.list({ event("Warning", "ValidationError", problem) }),
    }
end

-- invalid(resource, problem) -> the answer for a refused spec: no plan, status.error, a ValidationError
-- Warning. Exported so a site policy that wraps this one refuses its own rules the same way.
M.invalid = invalid

-- Application clusters: the job's status and where its TaskManagers are
-- (ReconciliationUtils.getTaskManagerInfo).
local function job_status(status, c, changed, suspended)
    if not c.application then return end
    status.jobStatus = objects.copy(present(status.jobStatus) and status.jobStatus or {})
    if suspended then
        status.jobStatus.state = "SUSPENDED"
        status.taskManager = { labelSelector = "", replicas = 0 }
        return
    end
    if changed or not present(status.jobStatus.state) or status.jobStatus.state == "SUSPENDED" then
        status.jobStatus.state = "RECONCILING" -- what upstream sets after (re)deploying
    end
    status.jobStatus.jobId = c.job_id -- the job this deployment runs (flink_config.job_id)
    local replicas = c.standalone and taskmanager.replicas(c)
        or config.num_task_managers(c.cfg, config.int(c.cfg, "parallelism.default", 1))
    status.taskManager = { labelSelector = "component=taskmanager,app=" .. c.name, replicas = replicas }
end

-- status_error(...) -> status.error, the most pressing first: the JobManager Deployment cannot run, the job
-- FAILED (kept while its JobManager is not asked), the JobManager's REST API does not answer (with a Warning
-- the first time). json.null when all is well.
function M.status_error(failure, job, job_state, flink, prev, deployment, events)
    if failure then
        return flink_status.error_json("DeploymentFailedException", failure, { reason = failure:match("^([^:]+)") })
    end
    if job and job.state == "FAILED" then return flink_job.failed_error(job) end
    if job_state == "FAILED" and not job and prev and present(prev.error) then return prev.error end
    local unreachable, first = flink_job.unreachable_error(flink, prev,
        deployment ~= nil and flink_status.deployment_available(deployment))
    if first then
        events[#events + 1] = event("Warning", "JobManagerUnreachable", json.decode(unreachable).message)
    end
    return unreachable or json.null
end

-- as_deployed(resource, changed) -> the resource as its running cluster was deployed. A change the diff ignores (a
-- trigger nonce, upgradeMode, allowNonRestoredState, initialSavepointPath: flink_status.IGNORED_JOB_FIELDS) raises
-- metadata.generation without a new deployment: the cluster keeps the generation (and so the job id and the
-- generation annotation) and those fields of its last reconciled spec, and is not rolled; the next real change
-- deploys them.
function M.as_deployed(resource, changed)
    if changed then return resource end
    local gen = flink_status.deployed_generation(resource.status)
    local deployed = flink_status.previous(resource.status)
    local job, was = resource.spec.job, deployed and present(deployed.spec.job) and deployed.spec.job or nil
    local differs = false -- a field whose change alone redeploys nothing, changed since the deployment
    if present(job) and was then
        for _, field in ipairs(flink_status.IGNORED_JOB_FIELDS) do
            if json.encode(job[field]) ~= json.encode(was[field]) then differs = true end
        end
    end
    if (gen == nil or gen == resource.metadata.generation) and not differs then return resource end
    local out = objects.copy(resource)
    if gen then out.metadata.generation = gen end
    if differs then
        for _, field in ipairs(flink_status.IGNORED_JOB_FIELDS) do out.spec.job[field] = was[field] end
    end
    return out
end

-- scales_in_place(resource, prev, seen) -> whether a spec change is a SCALE applied in place: only the parallelism or
-- the TaskManager count changed, of a running standalone cluster under the reactive scheduler, not mid-upgrade.
function M.scales_in_place(resource, prev, seen)
    local cfg = present(resource.spec.flinkConfiguration) and resource.spec.flinkConfiguration or {}
    local mode = cfg["scheduler-mode"]
    if type(mode) ~= "string" or mode:lower() ~= "reactive" or not config.is_standalone(resource.spec) then
        return false
    end
    if not prev or flink_upgrade.upgrading(prev) or prev.lifecycleState == "SUSPENDED" then return false end
    if present(resource.spec.job) and resource.spec.job.state == "suspended" then return false end
    return seen["Deployment/" .. resource.metadata.name] ~= nil and flink_status.scale_only(resource)
end

-- A FlinkDeployment labelled flink.apache.org/canary=true is a health probe of the operator itself.
function M.is_canary(resource)
    local labels = present(resource.metadata) and resource.metadata.labels
    return present(labels) and labels["flink.apache.org/canary"] == "true"
end

function M.reconcile(resource, observed, ctx)
    ctx = ctx or {}
    assert(ctx.api_version == nil or ctx.api_version == 1, "reconcile.lua implements policy API v1")
    local seen = (observed and observed.objects) or {}

    if present(resource.metadata.deletionTimestamp) then
        -- Held by the operator's finalizer until its cleanup is done (flink_cleanup).
        return cleanup.cleanup(resource, seen, observed and present(observed.flink) and observed.flink or nil, ctx)
    end

    if M.is_canary(resource) then
        -- Upstream's CanaryResourceManager: a canary only proves the operator reconciles; it owns nothing.
        return { objects = objects.list(), status = objects.copy(previous_status(resource) or {}), events = objects.list() }
    end

    local problem = validate.deployment(resource)
    if problem then return invalid(resource, problem) end

    local changed = flink_status.spec_changed(resource)
    local prev = previous_status(resource)
    -- Upstream's SCALE: a standalone cluster under Flink's reactive scheduler takes a new parallelism or TaskManager
    -- count in place (the TaskManager Deployment's replicas; the job rescales itself); nothing is redeployed.
    local scaling = changed and M.scales_in_place(resource, prev, seen)
    if scaling then changed = false end
    local deployed_as = M.as_deployed(resource, changed)
    local c = config.cluster(deployed_as)
    local deployment = seen["Deployment/" .. c.name]
    local suspended = c.application and resource.spec.job.state == "suspended"

    local flink = observed and present(observed.flink) and observed.flink or nil
    -- spec.job.savepointRedeployNonce: upstream's SAVEPOINT_REDEPLOY, which no savepoint or upgrade holds up
    local redeploy = c.application and flink_upgrade.redeploy_path(resource) or nil
    if changed and deployment and flink_savepoint.in_flight(prev) and not redeploy then
        -- upstream's shouldWaitForPendingSavepoint: the manual savepoint first, then the change
        return flink_savepoint.waiting(resource, c, prev, flink, ctx)
    end
    local step = not redeploy and
        flink_upgrade.step(resource, c, prev, deployment, flink, ctx, changed, M.safe_to_change(c)) or nil
    if type(step) == "table" then return step end -- stopping the job with a savepoint, or waiting for it
    if step == "redeploy" then changed = true end -- the target spec, from the savepoint just taken
    local restore = redeploy or flink_upgrade.restore_path(prev, c)
    if restore then c.cfg["execution.savepoint.path"] = restore end

    local status = objects.copy(prev or {})
    local events = objects.list()
    status.error = json.null
    if present(resource.metadata.generation) then status.observedGeneration = resource.metadata.generation end
    if redeploy then flink_upgrade.redeploying(status, redeploy) end

    if suspended then
        -- Upstream deletes the cluster of a suspended job (keeping HA metadata): an empty plan.
        status.jobManagerDeploymentStatus = "MISSING"
        status.reconciliationStatus = flink_status.reconciliation_status(resource, ctx, true)
        status.lifecycleState = "SUSPENDED"
        job_status(status, c, changed, true)
        return { objects = objects.list(), status = status, events = events,
                 requeue_after = flink_status.REQUEUE.READY }
    end

    local list, owners_complete = M.desired_objects(resource, c, deployment)

    local jm, failure = flink_status.jobmanager_status(deployment, prev, c.generation, changed and deployment ~= nil,
        flink)
    status.jobManagerDeploymentStatus = jm
    job_status(status, c, changed, false)
    -- Upstream asks for the job only once the JobManager is READY (before that the answer may be the old
    -- cluster's); a JobManager that stopped answering makes a RUNNING job RECONCILING whatever its state.
    local job = nil
    if c.application and not changed and (jm == "READY" or (flink and not flink.reachable)) then
        job = flink_job.observe(status, flink, ctx, events)
    end
    local job_state = c.application and status.jobStatus.state or nil
    -- A scale is recorded as the spec now deployed, under the generation (and so the job id) of the running cluster.
    status.reconciliationStatus = flink_status.reconciliation_status(scaling and deployed_as or resource, ctx,
        jm == "READY" and (not c.application or flink_job.stable(job_state)))
    local rs = status.reconciliationStatus
    local resuming = prev and prev.lifecycleState == "SUSPENDED" -- deployed before: DEPLOYED, not CREATED
    status.lifecycleState = flink_status.lifecycle(jm, false,
        present(rs.lastStableSpec) and rs.lastStableSpec == rs.lastReconciledSpec, deployment ~= nil or resuming,
        job_state)
    status.error = M.status_error(failure, job, job_state, flink, prev, deployment, events)
    -- spec.job.savepointTriggerNonce and checkpointTriggerNonce: a savepoint or a checkpoint of the running job,
    -- which keeps running (flink_savepoint, flink_checkpoint)
    local actions = nil
    if c.application and deployment and not changed then
        actions = flink_savepoint.step(status, resource, c, job, flink, ctx, events)
        local checkpoint = flink_checkpoint.step(status, resource, c, job, flink, ctx, events)
        if checkpoint then
            actions = actions or {}
            actions[#actions + 1] = checkpoint[1]
        end
    end

    if scaling then
        events[#events + 1] = event("Normal", "SpecChanged", "SCALE change(s) detected, scaling in place.")
    elseif not deployment and jm == "DEPLOYING" then
        events[#events + 1] = event("Normal", "Submit", "Starting deployment")
    elseif jm == "MISSING" then
        events[#events + 1] = event("Warning", "RecoverDeployment", "Recovering lost deployment")
    elseif deployment and changed then
        events[#events + 1] = event("Normal", "SpecChanged", string.format(
            "%s change(s) detected, starting reconciliation.", redeploy and "SAVEPOINT_REDEPLOY" or "UPGRADE"))
    end
    if redeploy and deployment and c.ha then
        -- upstream cancels the job statelessly, its HA metadata with it: the new JobManager must not resume from it
        actions = objects.list({ { type = "delete_ha_configmaps" } })
    end

    local requeue = flink_status.REQUEUE[jm]
    if not owners_complete then requeue = 1 end -- the next pass adds the owner references
    if actions then requeue = math.min(requeue or flink_savepoint.REQUEUE_WAIT, flink_savepoint.REQUEUE_WAIT) end
    return { objects = list, status = status, events = events, requeue_after = requeue,
             actions = actions and objects.list(actions) }
end

-- FlinkSessionJob: its job is submitted to its session cluster, observed and cancelled through that cluster's
-- REST API (flink_session_job).
function M.reconcile_session_job(resource, observed, ctx)
    ctx = ctx or {}
    assert(ctx.api_version == nil or ctx.api_version == 1, "reconcile.lua implements policy API v1")
    return session_job.reconcile(resource, observed, ctx)
end

-- Tests -----------------------------------------------------------------------------------------


local NOW = { api_version = 1, operator_namespace = "flinkop", dry_run = false,
              now = "2026-11-25T12:00:00Z", managed_by = "flinkop" }

-- basic.yaml from the upstream examples, as the API server would hand it over.
local function basic(overrides)
    local fd = {
        apiVersion = "flink.apache.org/v1beta1", kind = "FlinkDeployment",
        metadata = { name = "basic-example", namespace = "flink", uid = "fd-uid", generation = 1 },
        spec = {
            image = "flink:2.2", flinkVersion = "v2_2", serviceAccount = "flink",
            flinkConfiguration = { ["taskmanager.numberOfTaskSlots"] = 2 },
            jobManager = { resources = { requests = { memory = "2048m", cpu = "1" } } },
            taskManager = { resources = { requests = { memory = "2048m", cpu = "1" } } },
            job = { jarURI = "local:///opt/flink/examples/streaming/StateMachineExample.jar",
                    parallelism = 2, upgradeMode = "stateless" },
        },
    }
    if overrides then overrides(fd) end
    return fd
end

local function by_key(list)
    local out = {}
    for _, o in ipairs(list) do out[o.kind .. "/" .. o.metadata.name] = o end
    return out
end

local function observed_deployment(uid, ready)
    local dep = { apiVersion = "apps/v1", kind = "Deployment",
                  metadata = { name = "basic-example", namespace = "flink", uid = uid, generation = 1,
                               annotations = { [jobmanager.GENERATION_ANNOTATION] = "1" } },
                  spec = { replicas = 1 }, status = { observedGeneration = 1, replicas = 1 } }
    if ready then
        dep.status.updatedReplicas, dep.status.readyReplicas, dep.status.availableReplicas = 1, 1, 1
    end
    return { objects = { ["Deployment/basic-example"] = dep } }
end

-- The job id basic() fixes for its generation 1 ($internal.pipeline.job-id), which its JobManager then lists.
local JOB_ID = config.job_id({ uid = "fd-uid", generation = 1 }, "flink")

-- observed.flink as the core's observer hands it over: jobs newest first, or an unanswered JobManager.
local function flink_answer(jobs, reachable)
    return { reachable = reachable ~= false, since = "2026-11-25T11:59:00Z", observed_at = "2026-11-25T11:59:58Z",
             jobs = json.array(jobs or {}),
             error = reachable == false and "GET http://basic-example-rest.flink:8081/jobs/overview: timed out" or nil }
end

-- A first pass over basic.yaml with its JobManager Deployment there (available or not): the resource with that
-- status, and what was observed, for a test to add an observed.flink to.
local function deployed(available)
    local fd = basic()
    local seen = observed_deployment("dep-uid", available)
    fd.status = M.reconcile(fd, seen, NOW).status
    return fd, seen
end

local function job_in(state, failure)
    return { id = JOB_ID, name = "State machine job", state = state, start_time = 1795607990000, failure = failure }
end

-- basic.yaml in savepoint mode, deployed, its job RUNNING and observed: STABLE.
local function savepoint_job()
    local fd = basic(function(f)
        f.spec.job.upgradeMode = "savepoint"
        f.spec.flinkConfiguration.state = { ["checkpoints.dir"] = "file:///cp", ["savepoints.dir"] = "file:///sp" }
    end)
    local seen = observed_deployment("dep-uid", true)
    fd.status = M.reconcile(fd, seen, NOW).status
    seen.flink = flink_answer({ job_in("RUNNING") })
    fd.status = M.reconcile(fd, seen, NOW).status
    assert(fd.status.lifecycleState == "STABLE")
    return fd, seen
end

-- savepoint_job() with its parallelism changed: UPGRADING, the savepoint asked for. Returns its trigger id too.
local function upgrading_job()
    local fd, seen = savepoint_job()
    fd.spec.job.parallelism = 4
    fd.metadata.generation = 2
    fd.status = M.reconcile(fd, seen, NOW).status
    return fd, seen, fd.status.jobStatus.savepointInfo.triggerId
end

-- savepoint_job() with a manual savepoint asked for (savepointTriggerNonce) and triggered. Returns its trigger id too.
local function manual_savepoint_job(nonce)
    local fd, seen = savepoint_job()
    fd.spec.job.savepointTriggerNonce = nonce
    fd.status = M.reconcile(fd, seen, NOW).status
    return fd, seen, fd.status.jobStatus.savepointInfo.triggerId
end

local function main_container(deployment)
    for _, ct in ipairs(deployment.spec.template.spec.containers) do
        if ct.name == "flink-main-container" then return ct end
    end
end

local function config_text(result, name)
    return by_key(result.objects)["ConfigMap/flink-config-" .. name].data
end

M.tests = {
    ["basic.yaml makes the five objects Flink makes"] = function()
        local r = M.reconcile(basic(), { objects = {} }, NOW)
        local got = by_key(r.objects)
        local names = {}
        for k in pairs(got) do names[#names + 1] = k end
        table.sort(names)
        assert(table.concat(names, " ") == "ConfigMap/flink-config-basic-example ConfigMap/pod-template-basic-example " ..
            "Deployment/basic-example Service/basic-example Service/basic-example-rest", table.concat(names, " "))
        for _, o in ipairs(r.objects) do
            assert(o.metadata.namespace == "flink", o.metadata.name)
            assert(o.metadata.labels.app == "basic-example" and o.metadata.labels.type == "flink-native-kubernetes")
        end
    end,
    ["the jobmanager deployment is labelled and selected as a flink jobmanager"] = function()
        local dep = by_key(M.reconcile(basic(), { objects = {} }, NOW).objects)["Deployment/basic-example"]
        assert(dep.apiVersion == "apps/v1" and dep.spec.replicas == 1)
        for _, labels in ipairs({ dep.metadata.labels, dep.spec.selector.matchLabels, dep.spec.template.metadata.labels }) do
            assert(labels.type == "flink-native-kubernetes" and labels.app == "basic-example" and labels.component == "jobmanager")
        end
        assert(dep.spec.template.spec.serviceAccountName == "flink" and dep.spec.template.spec.serviceAccount == "flink")
    end,
    ["the jobmanager container runs kubernetes-jobmanager.sh with its ports and pod ip"] = function()
        local dep = by_key(M.reconcile(basic(), { objects = {} }, NOW).objects)["Deployment/basic-example"]
        local ct = main_container(dep)
        assert(ct.image == "flink:2.2" and ct.imagePullPolicy == "IfNotPresent")
        assert(ct.command[1] == "/docker-entrypoint.sh")
        assert(ct.args[1] == "bash" and ct.args[2] == "-c" and ct.args[3] == "kubernetes-jobmanager.sh kubernetes-application ")
        local ports = {}
        for _, p in ipairs(ct.ports) do ports[p.name] = p.containerPort end
        assert(ports.rest == 8081 and ports["jobmanager-rpc"] == 6123 and ports.blobserver == 6124)
        local env = ct.env[#ct.env]
        assert(env.name == "_POD_IP_ADDRESS" and env.valueFrom.fieldRef.fieldPath == "status.podIP")
        assert(ct.startupProbe.httpGet.path == "/config" and ct.startupProbe.httpGet.port == "rest")
    end,
    ["the jobmanager mounts its configuration and the taskmanager pod template"] = function()
        local dep = by_key(M.reconcile(basic(), { objects = {} }, NOW).objects)["Deployment/basic-example"]
        local ct = main_container(dep)
        local mounts = {}
        for _, m in ipairs(ct.volumeMounts) do mounts[m.name] = m.mountPath end
        assert(mounts["flink-config-volume"] == "/opt/flink/conf" and mounts["pod-template-volume"] == "/opt/flink/pod-template")
        local vols = {}
        for _, v in ipairs(dep.spec.template.spec.volumes) do vols[v.name] = v.configMap end
        assert(vols["flink-config-volume"].name == "flink-config-basic-example")
        assert(vols["flink-config-volume"].items[#vols["flink-config-volume"].items].key == "config.yaml")
        assert(vols["pod-template-volume"].name == "pod-template-basic-example")
    end,
    ["memory 2048m means 2048Mi for kubernetes and 2 gb for flink"] = function()
        local r = M.reconcile(basic(), { objects = {} }, NOW)
        local ct = main_container(by_key(r.objects)["Deployment/basic-example"])
        assert(ct.resources.requests.memory == "2048Mi" and ct.resources.limits.memory == "2048Mi")
        assert(ct.resources.requests.cpu == "1" and ct.resources.limits.cpu == "1")
        local text = config_text(r, "basic-example")["config.yaml"]
        assert(text:find("\njobmanager.memory.process.size: 2 gb\n", 1, true))
        assert(text:find("\ntaskmanager.memory.process.size: 2 gb\n", 1, true))
        assert(text:find("\nkubernetes.jobmanager.cpu.amount: 1.0\n", 1, true))
    end,
    ["resource limits become flink limit factors and container limits"] = function()
        local r = M.reconcile(basic(function(fd)
            fd.spec.jobManager.resources = { requests = { memory = "1024m", cpu = "500m" }, limits = { memory = "2048m", cpu = "1" } }
        end), { objects = {} }, NOW)
        local ct = main_container(by_key(r.objects)["Deployment/basic-example"])
        assert(ct.resources.requests.cpu == "500m" and ct.resources.limits.cpu == "1")
        assert(ct.resources.requests.memory == "1024Mi" and ct.resources.limits.memory == "2048Mi")
        local text = config_text(r, "basic-example")["config.yaml"]
        assert(text:find("kubernetes.jobmanager.cpu.limit-factor: 2.0", 1, true))
        assert(text:find("kubernetes.jobmanager.memory.limit-factor: 2.0", 1, true))
    end,
    ["the old resource form sets cpu and memory the same way"] = function()
        local r = M.reconcile(basic(function(fd)
            fd.spec.jobManager = { resource = { memory = "1600m", cpu = 0.5 } }
        end), { objects = {} }, NOW)
        local ct = main_container(by_key(r.objects)["Deployment/basic-example"])
        assert(ct.resources.requests.memory == "1600Mi" and ct.resources.requests.cpu == "500m")
        assert(config_text(r, "basic-example")["config.yaml"]:find("jobmanager.memory.process.size: 1600 mb", 1, true))
    end,
    ["the effective configuration carries the cluster identity and job"] = function()
        local text = config_text(M.reconcile(basic(), { objects = {} }, NOW), "basic-example")["config.yaml"]
        for _, line in ipairs({
            "kubernetes.cluster-id: basic-example", "kubernetes.namespace: flink", "kubernetes.service-account: flink",
            "kubernetes.container.image.ref: flink:2.2", "execution.target: kubernetes-application",
            "pipeline.jars: local:///opt/flink/examples/streaming/StateMachineExample.jar", "parallelism.default: 2",
            "taskmanager.numberOfTaskSlots: 2", "jobmanager.rpc.address: basic-example.flink",
            "blob.server.port: 6124", "taskmanager.rpc.port: 6122", "rest.bind-port: 8081",
            "kubernetes.rest-service.exposed.type: ClusterIP", "execution.shutdown-on-application-finish: false",
            "kubernetes.pod-template-file.taskmanager: /opt/flink/pod-template/taskmanager-pod-template.yaml",
            "$internal.flink.version: v2_2", "kubernetes.jobmanager.replicas: 1",
        }) do
            assert(text:find("\n" .. line .. "\n", 1, true) or text:sub(1, #line + 1) == line .. "\n", line)
        end
    end,
    ["the configuration file lines are sorted by key"] = function()
        local text = config_text(M.reconcile(basic(), { objects = {} }, NOW), "basic-example")["config.yaml"]
        local last = ""
        for key in text:gmatch("([^\n]-): [^\n]*\n") do
            assert(key >= last, key .. " after " .. last); last = key
        end
    end,
    ["entry class and args reach the application configuration"] = function()
        local text = config_text(M.reconcile(basic(function(fd)
            fd.spec.job.entryClass = "org.apache.flink.client.python.PythonDriver"
            fd.spec.job.args = json.array({ "-pyclientexec", "/usr/bin/python3" })
        end), { objects = {} }, NOW), "basic-example")["config.yaml"]
        assert(text:find("$internal.application.main: org.apache.flink.client.python.PythonDriver", 1, true))
        assert(text:find("$internal.application.program-args: ['-pyclientexec', '/usr/bin/python3']", 1, true))
    end,
    ["flink 1.x gets flink-conf.yaml and the older image key"] = function()
        local r = M.reconcile(basic(function(fd) fd.spec.flinkVersion = "v1_16"; fd.spec.image = "flink:1.16" end),
            { objects = {} }, NOW)
        local data = config_text(r, "basic-example")
        assert(data["flink-conf.yaml"] and data["config.yaml"] == nil)
        assert(data["flink-conf.yaml"]:find("kubernetes.container.image: flink:1.16", 1, true))
        assert(data["flink-conf.yaml"]:find("kubernetes.jobmanager.cpu: 1.0", 1, true))
        local vol = by_key(r.objects)["Deployment/basic-example"].spec.template.spec.volumes[1]
        assert(vol.configMap.items[#vol.configMap.items].key == "flink-conf.yaml")
    end,
    ["high availability drops the headless service and sets the ha cluster id"] = function()
        local r = M.reconcile(basic(function(fd)
            fd.spec.flinkConfiguration["high-availability"] = { type = "kubernetes", storageDir = "file:///ha" }
        end), { objects = {} }, NOW)
        local got = by_key(r.objects)
        assert(got["Service/basic-example"] == nil and got["Service/basic-example-rest"])
        local text = got["ConfigMap/flink-config-basic-example"].data["config.yaml"]
        assert(text:find("high-availability.cluster-id: basic-example", 1, true))
        assert(text:find("high-availability.jobmanager.port: 6123", 1, true))
        assert(not text:find("jobmanager.rpc.address", 1, true))
    end,
    ["the headless service carries the rpc and blob ports"] = function()
        local svc = by_key(M.reconcile(basic(), { objects = {} }, NOW).objects)["Service/basic-example"]
        assert(svc.spec.clusterIP == "None")
        assert(svc.spec.ports[1].name == "jobmanager-rpc" and svc.spec.ports[1].port == 6123)
        assert(svc.spec.ports[2].name == "blobserver" and svc.spec.ports[2].port == 6124)
        assert(svc.spec.selector.component == "jobmanager")
    end,
    ["the rest service exposes 8081 with the configured type"] = function()
        local svc = by_key(M.reconcile(basic(), { objects = {} }, NOW).objects)["Service/basic-example-rest"]
        assert(svc.spec.type == "ClusterIP" and svc.spec.ports[1].name == "rest")
        assert(svc.spec.ports[1].port == 8081 and svc.spec.ports[1].targetPort == 8081)
        assert(svc.spec.selector.app == "basic-example" and svc.spec.selector.component == "jobmanager")
        assert(svc.metadata.labels.component == nil)
        svc = by_key(M.reconcile(basic(function(fd)
            fd.spec.flinkConfiguration["kubernetes.rest-service.exposed.type"] = "LoadBalancer"
        end), { objects = {} }, NOW).objects)["Service/basic-example-rest"]
        assert(svc.spec.type == "LoadBalancer")
    end,
    ["the deployment is owned by the flink deployment only when its uid is known"] = function()
        local dep = by_key(M.reconcile(basic(), { objects = {} }, NOW).objects)["Deployment/basic-example"]
        local ref = dep.metadata.ownerReferences[1]
        assert(ref.kind == "FlinkDeployment" and ref.apiVersion == "flink.apache.org/v1beta1" and ref.uid == "fd-uid")
        -- as upstream: blocks the FlinkDeployment's deletion, but is not its controller
        assert(ref.controller == false and ref.blockOwnerDeletion == true)
        local dry = M.reconcile(basic(function(fd) fd.metadata.uid = nil end), { objects = {} },
            { api_version = 1, dry_run = true, now = NOW.now })
        for _, o in ipairs(dry.objects) do assert(o.metadata.ownerReferences == nil, o.metadata.name) end
    end,
    ["the other objects are owned by the jobmanager deployment once it exists"] = function()
        local first = M.reconcile(basic(), { objects = {} }, NOW)
        assert(first.requeue_after == 1)
        for _, o in ipairs(first.objects) do
            if o.kind ~= "Deployment" then assert(o.metadata.ownerReferences == nil, o.metadata.name) end
        end
        local second = M.reconcile(basic(), observed_deployment("dep-uid", false), NOW)
        for _, o in ipairs(second.objects) do
            local ref = o.metadata.ownerReferences[1]
            if o.kind == "Deployment" then assert(ref.kind == "FlinkDeployment")
            else assert(ref.kind == "Deployment" and ref.name == "basic-example" and ref.uid == "dep-uid", o.metadata.name) end
        end
        assert(second.requeue_after == 10)
    end,
    ["a session cluster starts kubernetes-session and has no job status"] = function()
        local r = M.reconcile(basic(function(fd) fd.spec.job = nil end), { objects = {} }, NOW)
        local ct = main_container(by_key(r.objects)["Deployment/basic-example"])
        assert(ct.args[3] == "kubernetes-jobmanager.sh kubernetes-session ")
        local text = config_text(r, "basic-example")["config.yaml"]
        assert(text:find("execution.target: kubernetes-session", 1, true) and not text:find("pipeline.jars", 1, true))
        assert(r.status.jobStatus == nil)
    end,
    ["an ingress routes the template's host and path to the rest service"] = function()
        local r = M.reconcile(basic(function(fd)
            fd.spec.ingress = { template = "/{{namespace}}/{{name}}(/|$)(.*)", className = "nginx",
                                annotations = { ["nginx.ingress.kubernetes.io/rewrite-target"] = "/$2" } }
        end), observed_deployment("dep-uid", false), NOW)
        local ing = by_key(r.objects)["Ingress/basic-example"]
        assert(ing.apiVersion == "networking.k8s.io/v1" and ing.spec.ingressClassName == "nginx")
        assert(ing.metadata.annotations["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2")
        local rule = ing.spec.rules[1]
        assert(rule.host == nil and rule.http.paths[1].path == "/flink/basic-example(/|$)(.*)")
        assert(rule.http.paths[1].pathType == "ImplementationSpecific")
        assert(rule.http.paths[1].backend.service.name == "basic-example-rest")
        assert(rule.http.paths[1].backend.service.port.number == 8081)
        assert(ing.metadata.ownerReferences[1].kind == "Deployment")
        r = M.reconcile(basic(function(fd) fd.spec.ingress = { template = "{{name}}.{{namespace}}.flink.k8s.io" } end),
            { objects = {} }, NOW)
        rule = by_key(r.objects)["Ingress/basic-example"].spec.rules[1]
        assert(rule.host == "basic-example.flink.flink.k8s.io" and rule.http.paths[1].path == nil)
    end,
    ["standalone mode runs the taskmanagers as a deployment of their own"] = function()
        local r = M.reconcile(basic(function(fd)
            fd.spec.mode = "standalone"
            fd.spec.job.parallelism = 5
        end), { objects = {} }, NOW)
        local got = by_key(r.objects)
        local tm = got["Deployment/basic-example-taskmanager"]
        assert(tm and tm.spec.replicas == 3, "ceil(5 / 2 slots)")
        assert(tm.metadata.labels.component == "taskmanager" and tm.metadata.labels.type == "flink-standalone-kubernetes")
        assert(tm.spec.selector.matchLabels.component == "taskmanager")
        local ct = main_container(tm)
        assert(ct.args[1] == "taskmanager" and ct.ports[1].name == "taskmanager-rpc" and ct.ports[1].containerPort == 6122)
        assert(ct.resources.requests.memory == "2048Mi")
        assert(tm.metadata.ownerReferences[1].kind == "FlinkDeployment")
        local jm = main_container(got["Deployment/basic-example"])
        assert(jm.args[1] == "standalone-job")
        assert(got["ConfigMap/pod-template-basic-example"] == nil)
        local text = got["ConfigMap/flink-config-basic-example"].data["config.yaml"]
        assert(text:find("execution.target: remote", 1, true) and text:find("kubernetes.internal.cluster-mode: APPLICATION", 1, true))
        assert(text:find("pipeline.classpaths: file:///opt/flink/examples/streaming/StateMachineExample.jar", 1, true))
        assert(r.status.taskManager.replicas == 3)
    end,
    ["a reactive standalone cluster scales in place: new taskmanager replicas, no redeployment, the same job"] = function()
        local reactive = function(f)
            f.spec.mode = "standalone"
            f.spec.job.upgradeMode = "savepoint"
            f.spec.flinkConfiguration["scheduler-mode"] = "REACTIVE"
            f.spec.flinkConfiguration.state = { ["checkpoints.dir"] = "file:///cp", ["savepoints.dir"] = "file:///sp" }
        end
        local fd, seen = basic(reactive), observed_deployment("dep-uid", true)
        fd.status = M.reconcile(fd, seen, NOW).status
        seen.flink = flink_answer({ job_in("RUNNING") })
        local before = M.reconcile(fd, seen, NOW)
        fd.status = before.status
        assert(fd.status.lifecycleState == "STABLE")
        fd.spec.job.parallelism, fd.metadata.generation = 8, 2
        local r = M.reconcile(fd, seen, NOW)
        local got, was = by_key(r.objects), by_key(before.objects)
        assert(r.actions == nil and r.status.reconciliationStatus.state == "DEPLOYED", "no savepoint, no upgrade")
        assert(got["Deployment/basic-example-taskmanager"].spec.replicas == 4, "ceil(8 / 2 slots)")
        assert(json.encode(got["Deployment/basic-example"]) == json.encode(was["Deployment/basic-example"]),
            "the JobManager is not redeployed")
        assert(r.status.jobStatus.jobId == JOB_ID and r.status.lifecycleState == "STABLE")
        assert(r.events[#r.events].message:find("SCALE", 1, true))
        fd.status = r.status -- recorded: the next pass is no change, and keeps the new replicas
        assert(not flink_status.spec_changed(fd))
        r = M.reconcile(fd, seen, NOW)
        assert(by_key(r.objects)["Deployment/basic-example-taskmanager"].spec.replicas == 4 and r.actions == nil)
        local plain = basic(function(f) reactive(f); f.spec.flinkConfiguration["scheduler-mode"] = nil end)
        plain.status = M.reconcile(plain, seen, NOW).status
        plain.status = M.reconcile(plain, seen, NOW).status
        plain.spec.job.parallelism, plain.metadata.generation = 8, 2
        r = M.reconcile(plain, seen, NOW)
        assert(r.actions[1].type == "stop", "without the reactive scheduler a parallelism change is an upgrade")
    end,
    ["standalone taskmanager replicas come from the spec when given"] = function()
        local r = M.reconcile(basic(function(fd) fd.spec.mode = "standalone"; fd.spec.taskManager.replicas = 4 end),
            { objects = {} }, NOW)
        assert(by_key(r.objects)["Deployment/basic-example-taskmanager"].spec.replicas == 4)
        assert(config_text(r, "basic-example")["config.yaml"]:find("parallelism.default: 8", 1, true))
    end,
    ["pod templates merge into the jobmanager and ship to the taskmanagers"] = function()
        local r = M.reconcile(basic(function(fd)
            fd.spec.podTemplate = { spec = { containers = json.array({
                { name = "flink-main-container", volumeMounts = json.array({ { name = "logs", mountPath = "/opt/flink/log" } }) },
                { name = "fluentbit", image = "fluent/fluent-bit" } }),
                volumes = json.array({ { name = "logs", emptyDir = json.object() } }) } }
            fd.spec.jobManager.podTemplate = { spec = { initContainers = json.array({ { name = "fetch", image = "busybox" } }) } }
        end), { objects = {} }, NOW)
        local got = by_key(r.objects)
        local pod = got["Deployment/basic-example"].spec.template.spec
        assert(pod.containers[1].name == "fluentbit" and pod.containers[2].name == "flink-main-container")
        assert(pod.containers[2].volumeMounts[1].name == "logs" and pod.containers[2].volumeMounts[2].name == "flink-config-volume")
        assert(pod.initContainers[1].name == "fetch" and pod.volumes[1].name == "logs")
        local tm = assert(json.decode(got["ConfigMap/pod-template-basic-example"].data["taskmanager-pod-template.yaml"]))
        assert(tm.spec.containers[2].name == "fluentbit" and tm.spec.initContainers == nil)
        assert(tm.spec.containers[1].resources.requests.memory == "2048m")
    end,
    ["log configuration is shipped verbatim, with a console default otherwise"] = function()
        local r = M.reconcile(basic(function(fd)
            fd.spec.logConfiguration = { ["log4j-console.properties"] = "rootLogger.level = DEBUG\n" }
        end), { objects = {} }, NOW)
        assert(config_text(r, "basic-example")["log4j-console.properties"] == "rootLogger.level = DEBUG\n")
        local items = by_key(r.objects)["Deployment/basic-example"].spec.template.spec.volumes[1].configMap.items
        assert(items[1].key == "log4j-console.properties" and items[2].key == "config.yaml")
        local plain = M.reconcile(basic(), { objects = {} }, NOW)
        assert(config_text(plain, "basic-example")["log4j-console.properties"]:find("ConsoleAppender", 1, true))
    end,
    ["objects go to the default namespace when the resource has none"] = function()
        local r = M.reconcile(basic(function(fd) fd.metadata.namespace = nil end), { objects = {} }, NOW)
        for _, o in ipairs(r.objects) do assert(o.metadata.namespace == "default") end
        assert(config_text(r, "basic-example")["config.yaml"]:find("kubernetes.namespace: default", 1, true))
    end,
    ["an invalid spec gets no plan, a validation error and a warning"] = function()
        local r = M.reconcile(basic(function(fd) fd.spec.serviceAccount = nil end), { objects = {} }, NOW)
        assert(r.objects == nil)
        assert(r.events[1].type == "Warning" and r.events[1].reason == "ValidationError")
        assert(r.events[1].message == "spec.serviceAccount: required")
        local err = assert(json.decode(r.status.error))
        assert(err.type == "org.apache.flink.kubernetes.operator.exception.ValidationException")
        assert(err.message == "spec.serviceAccount: required")
        assert(r.status.lifecycleState == "FAILED")
    end,
    ["an invalid change to a deployed cluster keeps its lifecycle"] = function()
        local first = M.reconcile(basic(), observed_deployment("dep-uid", true), NOW)
        local fd = basic(function(f) f.spec.flinkConfiguration["kubernetes.namespace"] = "x" end)
        fd.status = first.status
        local r = M.reconcile(fd, observed_deployment("dep-uid", true), NOW)
        assert(r.objects == nil and r.status.lifecycleState == "DEPLOYED")
        assert(r.status.reconciliationStatus.lastReconciledSpec == first.status.reconciliationStatus.lastReconciledSpec)
    end,
    ["first sight is CREATED and DEPLOYING with the spec recorded"] = function()
        local r = M.reconcile(basic(), { objects = {} }, NOW)
        local s = r.status
        assert(s.lifecycleState == "CREATED" and s.jobManagerDeploymentStatus == "DEPLOYING")
        assert(s.error == json.null and s.observedGeneration == 1)
        assert(s.jobStatus.state == "RECONCILING")
        assert(s.reconciliationStatus.state == "DEPLOYED" and s.reconciliationStatus.reconciliationTimestamp == 1795608000000)
        local spec = assert(json.decode(s.reconciliationStatus.lastReconciledSpec))
        assert(spec.spec.image == "flink:2.2" and spec.resource_metadata.metadata.generation == 1)
        assert(s.taskManager.labelSelector == "component=taskmanager,app=basic-example" and s.taskManager.replicas == 1)
        assert(r.events[1].reason == "Submit")
    end,
    ["an existing deployment is DEPLOYED and becomes READY on the second available pass"] = function()
        local fd = basic()
        local r1 = M.reconcile(fd, observed_deployment("dep-uid", false), NOW)
        assert(r1.status.lifecycleState == "DEPLOYED" and r1.status.jobManagerDeploymentStatus == "DEPLOYING")
        fd.status = r1.status
        local r2 = M.reconcile(fd, observed_deployment("dep-uid", true), NOW)
        assert(r2.status.jobManagerDeploymentStatus == "DEPLOYED_NOT_READY" and r2.requeue_after == 10)
        fd.status = r2.status
        local r3 = M.reconcile(fd, observed_deployment("dep-uid", true), NOW)
        assert(r3.status.jobManagerDeploymentStatus == "READY" and r3.requeue_after == 60)
        assert(#r3.events == 0 and json.is_array(r3.events))
    end,
    ["a lost deployment is MISSING and planned again"] = function()
        local fd = basic()
        fd.status = M.reconcile(fd, observed_deployment("dep-uid", true), NOW).status
        fd.status.jobManagerDeploymentStatus = "READY"
        local r = M.reconcile(fd, { objects = {} }, NOW)
        assert(r.status.jobManagerDeploymentStatus == "MISSING" and #r.objects == 5)
        assert(r.events[1].reason == "RecoverDeployment")
    end,
    ["a ready session cluster is STABLE"] = function()
        local fd = basic(function(f) f.spec.job = nil end)
        for _ = 1, 2 do fd.status = M.reconcile(fd, observed_deployment("dep-uid", true), NOW).status end
        assert(fd.status.jobManagerDeploymentStatus == "DEPLOYED_NOT_READY" and fd.status.lifecycleState == "DEPLOYED")
        fd.status = M.reconcile(fd, observed_deployment("dep-uid", true), NOW).status
        assert(fd.status.lifecycleState == "STABLE")
        assert(fd.status.reconciliationStatus.lastStableSpec == fd.status.reconciliationStatus.lastReconciledSpec)
    end,
    ["a savepoint job's spec change is recorded as UPGRADING before the job is stopped with a savepoint"] = function()
        local fd, seen = savepoint_job()
        fd.spec.job.parallelism = 4
        fd.metadata.generation = 2
        local r = M.reconcile(fd, seen, NOW)
        assert(r.objects == nil, "the running cluster is left as it is")
        local s = r.status
        assert(s.reconciliationStatus.state == "UPGRADING" and s.lifecycleState == "UPGRADING")
        assert(json.decode(s.reconciliationStatus.lastReconciledSpec).spec.job.parallelism == 4)
        local info = s.jobStatus.savepointInfo
        assert(#info.triggerId == 32 and info.triggerId:match("^%x+$") and info.triggerType == "UPGRADE")
        local a = r.actions[1]
        assert(#r.actions == 1 and a.type == "stop" and a.job_id == JOB_ID and a.trigger_id == info.triggerId)
        assert(a.target_directory == "file:///sp" and r.requeue_after == 2)
    end,
    ["until flink says how it went, the upgrade asks for the same savepoint again"] = function()
        local fd, seen, trigger = upgrading_job()
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "IN_PROGRESS" } }
        local r = M.reconcile(fd, seen, NOW)
        assert(r.objects == nil and r.status.lifecycleState == "UPGRADING")
        assert(r.actions[1].type == "stop" and r.actions[1].trigger_id == trigger)
        seen.flink = nil -- a restarted operator has observed nothing yet: it asks again, Flink knows the trigger
        r = M.reconcile(fd, seen, NOW)
        assert(r.actions[1].trigger_id == trigger and r.status.jobStatus.savepointInfo.triggerId == trigger)
    end,
    ["a completed savepoint is recorded first, then the new spec is deployed from it"] = function()
        local fd, seen, trigger = upgrading_job()
        local location = "file:///sp/savepoint-a5e0ed-1"
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "COMPLETED", location = location } }
        local r = M.reconcile(fd, seen, NOW)
        local js = r.status.jobStatus
        assert(r.objects == nil and r.actions == nil and r.status.reconciliationStatus.state == "UPGRADING")
        assert(js.upgradeSavepointPath == location and js.savepointInfo.lastSavepoint.location == location)
        assert(js.savepointInfo.triggerId == json.null and r.requeue_after == 0)
        fd.status = r.status
        r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil and #r.objects == 5)
        assert(config_text(r, "basic-example")["config.yaml"]:find("execution.savepoint.path: " .. location, 1, true))
        local dep = by_key(r.objects)["Deployment/basic-example"]
        assert(dep.spec.template.metadata.annotations[jobmanager.GENERATION_ANNOTATION] == "2")
        local s = r.status
        assert(s.reconciliationStatus.state == "DEPLOYED" and s.lifecycleState == "DEPLOYED")
        assert(s.jobManagerDeploymentStatus == "DEPLOYING" and s.jobStatus.state == "RECONCILING")
        assert(s.jobStatus.jobId == config.job_id(fd.metadata, "flink") and s.jobStatus.jobId ~= JOB_ID)
        assert(s.jobStatus.upgradeSavepointPath == location)
        assert(config_text(r, "basic-example")["config.yaml"]:find("$internal.pipeline.job-id: " .. s.jobStatus.jobId, 1, true))
    end,
    ["a failed savepoint is reported and the next pass takes another"] = function()
        local fd, seen, trigger = upgrading_job()
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "FAILED", failure = "java.io.IOException: disk full" } }
        local r = M.reconcile(fd, seen, NOW)
        assert(json.decode(r.status.error).message == "Savepoint for the upgrade failed: java.io.IOException: disk full")
        assert(r.events[#r.events].reason == "SavepointError" and r.status.jobStatus.savepointInfo.triggerId == json.null)
        fd.status = r.status
        r = M.reconcile(fd, seen, { api_version = 1, now = "2026-11-25T12:01:00Z" })
        assert(r.actions[1].type == "stop" and r.actions[1].trigger_id ~= trigger)
        assert(r.status.jobStatus.savepointInfo.triggerId == r.actions[1].trigger_id)
    end,
    ["a job that is not running is upgraded from its HA metadata, and without HA the change waits"] = function()
        local fd, seen = savepoint_job()
        seen.flink = flink_answer({ job_in("FAILED") })
        fd.spec.job.parallelism = 4
        local r = M.reconcile(fd, seen, NOW)
        assert(r.objects == nil and r.actions == nil and r.events[1].reason == "UpgradeFailed")
        assert(json.decode(r.status.error).message:find("the job is in state FAILED, so no savepoint can be taken", 1, true))
        fd.spec.flinkConfiguration["high-availability"] = { type = "kubernetes", storageDir = "file:///ha" }
        r = M.reconcile(fd, seen, NOW)
        assert(r.objects and #r.objects == 4 and r.status.jobManagerDeploymentStatus == "DEPLOYING")
    end,
    ["suspending a savepoint job stops it with a savepoint, and resuming starts from it"] = function()
        local fd, seen = savepoint_job()
        fd.spec.job.state = "suspended"
        local r = M.reconcile(fd, seen, NOW)
        local trigger = r.status.jobStatus.savepointInfo.triggerId
        assert(r.actions[1].type == "stop" and r.status.lifecycleState == "UPGRADING")
        fd.status = r.status
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "COMPLETED", location = "file:///sp/s1" } }
        fd.status = M.reconcile(fd, seen, NOW).status
        r = M.reconcile(fd, seen, NOW)
        assert(#r.objects == 0 and r.status.lifecycleState == "SUSPENDED" and r.status.jobStatus.state == "SUSPENDED")
        fd.status = r.status
        fd.spec.job.state = "running"
        r = M.reconcile(fd, { objects = {} }, NOW)
        assert(config_text(r, "basic-example")["config.yaml"]:find("execution.savepoint.path: file:///sp/s1", 1, true))
    end,
    ["a restart nonce redeploys a stateless job once, with a new job id"] = function()
        local fd, seen = deployed(true)
        seen.flink = flink_answer({ job_in("RUNNING") })
        fd.status = M.reconcile(fd, seen, NOW).status
        fd.spec.restartNonce = 1
        fd.metadata.generation = 2
        local r = M.reconcile(fd, seen, NOW)
        local dep = by_key(r.objects)["Deployment/basic-example"]
        assert(dep.spec.template.metadata.annotations[jobmanager.GENERATION_ANNOTATION] == "2" and r.actions == nil)
        assert(r.status.jobStatus.jobId ~= JOB_ID and r.status.jobStatus.state == "RECONCILING")
        assert(r.events[1].reason == "SpecChanged" and r.status.jobManagerDeploymentStatus == "DEPLOYING")
        fd.status = r.status
        r = M.reconcile(fd, seen, NOW)
        assert(by_key(r.objects)["Deployment/basic-example"].spec.template.metadata.annotations[
            jobmanager.GENERATION_ANNOTATION] == "2" and r.events[1] == nil, "the same nonce again is no change")
    end,
    ["a restart nonce on a savepoint job is a savepoint upgrade"] = function()
        local fd, seen = savepoint_job()
        fd.spec.restartNonce = 5
        fd.metadata.generation = 2
        local r = M.reconcile(fd, seen, NOW)
        assert(r.objects == nil and r.actions[1].type == "stop" and r.status.lifecycleState == "UPGRADING")
        assert(r.actions[1].triggered_at == 1795608000000)
    end,
    ["a savepoint trigger nonce takes a savepoint of the running job and rolls nothing"] = function()
        local fd, seen = savepoint_job()
        local before = by_key(M.reconcile(fd, seen, NOW).objects)
        fd.spec.job.savepointTriggerNonce = 42
        fd.metadata.generation = 2
        local r = M.reconcile(fd, seen, NOW)
        local a, info = r.actions[1], r.status.jobStatus.savepointInfo
        assert(#r.actions == 1 and a.type == "savepoint" and a.job_id == JOB_ID and a.trigger_id == info.triggerId)
        assert(a.target_directory == "file:///sp" and a.triggered_at == 1795608000000 and r.requeue_after == 2)
        assert(info.triggerType == "MANUAL" and info.triggerTimestamp == 1795608000000)
        assert(r.status.lifecycleState == "STABLE" and r.status.reconciliationStatus.state == "DEPLOYED")
        assert(r.status.observedGeneration == 2 and r.status.jobStatus.jobId == JOB_ID)
        assert(json.decode(r.status.reconciliationStatus.lastReconciledSpec).spec.job.savepointTriggerNonce == 42)
        assert(r.events[#r.events].reason == "SavepointTriggered")
        local after = by_key(r.objects)
        assert(json.encode(after["Deployment/basic-example"]) == json.encode(before["Deployment/basic-example"]),
            "the same deployment: no rollout")
        assert(json.encode(after["ConfigMap/flink-config-basic-example"]) ==
            json.encode(before["ConfigMap/flink-config-basic-example"]), "the same job id and configuration")
    end,
    ["a completed manual savepoint is recorded with its nonce and is not taken again"] = function()
        local fd, seen, trigger = manual_savepoint_job(42)
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "IN_PROGRESS" } }
        local r = M.reconcile(fd, seen, NOW)
        assert(r.actions[1].trigger_id == trigger, "asked again until flink says how it went")
        seen.flink.savepoints[trigger] = { job_id = JOB_ID, status = "COMPLETED", location = "file:///sp/m1" }
        r = M.reconcile(fd, seen, NOW)
        local info = r.status.jobStatus.savepointInfo
        assert(r.actions == nil and info.triggerId == json.null and info.triggerType == json.null)
        local last = info.lastSavepoint
        assert(last.location == "file:///sp/m1" and last.triggerType == "MANUAL" and last.triggerNonce == 42)
        assert(last.formatType == "CANONICAL" and last.timeStamp == 1795608000000)
        assert(#info.savepointHistory == 1 and info.savepointHistory[1].location == "file:///sp/m1")
        assert(r.events[#r.events].reason == "SavepointCompleted" and r.status.jobStatus.upgradeSavepointPath == nil)
        fd.status = r.status
        r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil and #r.events == 0, "the same nonce is not taken twice")
    end,
    ["a failed manual savepoint is a warning and its nonce is not tried again"] = function()
        local fd, seen, trigger = manual_savepoint_job(1)
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "FAILED", failure = "java.io.IOException: full" } }
        local r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil and r.events[#r.events].reason == "SavepointError")
        assert(r.status.jobStatus.savepointInfo.triggerId == json.null)
        fd.status = r.status
        assert(M.reconcile(fd, seen, NOW).actions == nil)
    end,
    ["no manual savepoint of a job that is not running"] = function()
        local fd, seen = savepoint_job()
        seen.flink = flink_answer({ job_in("RESTARTING") })
        fd.spec.job.savepointTriggerNonce = 1
        local r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil and r.status.jobStatus.savepointInfo.triggerId == nil)
    end,
    ["a spec change waits for the manual savepoint in flight"] = function()
        local fd, seen, trigger = manual_savepoint_job(1)
        fd.spec.job.parallelism = 4
        local r = M.reconcile(fd, seen, NOW)
        assert(r.objects == nil and r.actions[1].type == "savepoint" and r.actions[1].trigger_id == trigger)
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "COMPLETED", location = "file:///sp/m1" } }
        r = M.reconcile(fd, seen, NOW)
        assert(r.objects == nil and r.actions == nil and r.status.jobStatus.savepointInfo.lastSavepoint.triggerNonce == 1)
        fd.status = r.status
        r = M.reconcile(fd, seen, NOW)
        assert(r.actions[1].type == "stop" and r.status.lifecycleState == "UPGRADING", "then the upgrade")
    end,
    ["a checkpoint trigger nonce takes one checkpoint of the running job and rolls nothing"] = function()
        local fd, seen = savepoint_job()
        local before = json.encode(M.reconcile(fd, seen, NOW).objects)
        fd.spec.job.checkpointTriggerNonce = 7
        fd.metadata.generation = 2
        local r = M.reconcile(fd, seen, NOW)
        local a, info = r.actions[1], r.status.jobStatus.checkpointInfo
        assert(#r.actions == 1 and a.type == "checkpoint" and a.job_id == JOB_ID and a.trigger_id == info.triggerId)
        assert(a.checkpoint_type == "FULL" and r.requeue_after == 2)
        assert(info.triggerType == "MANUAL" and info.triggerTimestamp == 1795608000000 and info.formatType == "FULL")
        assert(r.status.lifecycleState == "STABLE" and r.status.jobStatus.jobId == JOB_ID)
        assert(r.status.jobStatus.savepointInfo.triggerId == nil, "no savepoint")
        assert(json.decode(r.status.reconciliationStatus.lastReconciledSpec).spec.job.checkpointTriggerNonce == 7)
        assert(r.events[#r.events].reason == "CheckpointTriggered")
        assert(json.encode(r.objects) == before, "the same objects: no rollout, the same job id")
    end,
    ["a completed manual checkpoint is recorded with its nonce and is not taken again"] = function()
        local fd, seen = savepoint_job()
        fd.spec.job.checkpointTriggerNonce = 7
        fd.status = M.reconcile(fd, seen, NOW).status
        local trigger = fd.status.jobStatus.checkpointInfo.triggerId
        seen.flink.checkpoints = { [trigger] = { job_id = JOB_ID, status = "IN_PROGRESS" } }
        local r = M.reconcile(fd, seen, NOW)
        assert(r.actions[1].type == "checkpoint" and r.actions[1].trigger_id == trigger, "asked until flink says")
        seen.flink.checkpoints[trigger] = { job_id = JOB_ID, status = "COMPLETED", checkpoint_id = 12 }
        r = M.reconcile(fd, seen, NOW)
        local info = r.status.jobStatus.checkpointInfo
        assert(r.actions == nil and info.triggerId == json.null and info.triggerType == json.null)
        local last = info.lastCheckpoint
        assert(last.triggerType == "MANUAL" and last.triggerNonce == 7 and last.formatType == "FULL")
        assert(last.timeStamp == 1795608000000 and last.location == nil, "the CRD's Checkpoint has no location")
        assert(r.events[#r.events].reason == "CheckpointCompleted")
        fd.status = r.status
        r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil and #r.events == 0, "the same nonce is not taken twice")
    end,
    ["a failed manual checkpoint is a warning and its nonce is not tried again"] = function()
        local fd, seen = savepoint_job()
        fd.spec.job.checkpointTriggerNonce = 1
        fd.status = M.reconcile(fd, seen, NOW).status
        local trigger = fd.status.jobStatus.checkpointInfo.triggerId
        seen.flink.checkpoints = { [trigger] = { job_id = JOB_ID, status = "FAILED", failure = "CheckpointException: declined" } }
        local r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil and r.events[#r.events].reason == "CheckpointError")
        assert(r.events[#r.events].message:find("declined", 1, true))
        assert(r.status.jobStatus.checkpointInfo.triggerId == json.null)
        fd.status = r.status
        assert(M.reconcile(fd, seen, NOW).actions == nil)
    end,
    ["a savepoint and a checkpoint nonce bumped together take one of each"] = function()
        local fd, seen = savepoint_job()
        fd.spec.job.savepointTriggerNonce, fd.spec.job.checkpointTriggerNonce = 3, 4
        local r = M.reconcile(fd, seen, NOW)
        assert(#r.actions == 2 and r.actions[1].type == "savepoint" and r.actions[2].type == "checkpoint")
        local spec = json.decode(r.status.reconciliationStatus.lastReconciledSpec).spec.job
        assert(spec.savepointTriggerNonce == 3 and spec.checkpointTriggerNonce == 4)
    end,
    ["a checkpoint nonce on a flink without the endpoint is an error once, and nothing is sent"] = function()
        local fd = basic(function(f) f.spec.flinkVersion = "v1_16"; f.spec.image = "flink:1.16" end)
        local seen = observed_deployment("dep-uid", true)
        fd.status = M.reconcile(fd, seen, NOW).status
        seen.flink = flink_answer({ job_in("RUNNING") })
        fd.status = M.reconcile(fd, seen, NOW).status
        fd.spec.job.checkpointTriggerNonce = 1
        local r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil and r.events[#r.events].reason == "CheckpointError")
        assert(json.decode(r.status.error).message:find("need Flink 1.17 or later", 1, true))
        assert(r.status.jobStatus.checkpointInfo.triggerId == nil)
        fd.status = r.status
        local again = M.reconcile(fd, seen, NOW)
        assert(again.actions == nil and #again.events == 0 and again.status.error == r.status.error, "one warning")
    end,
    ["no manual checkpoint of a job that is not running"] = function()
        local fd, seen = savepoint_job()
        seen.flink = flink_answer({ job_in("RESTARTING") })
        fd.spec.job.checkpointTriggerNonce = 1
        local r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil and r.status.jobStatus.checkpointInfo.triggerId == nil)
    end,
    ["a savepoint redeploy nonce redeploys the job from initialSavepointPath at once, no savepoint taken"] = function()
        local fd, seen = savepoint_job()
        fd.spec.job.initialSavepointPath = "file:///sp/given"
        fd.spec.job.savepointRedeployNonce = 1
        fd.metadata.generation = 2
        local r = M.reconcile(fd, seen, NOW)
        assert(r.actions == nil, "no stop, no savepoint; without HA nothing else to do")
        assert(config_text(r, "basic-example")["config.yaml"]:find("execution.savepoint.path: file:///sp/given", 1, true))
        local dep = by_key(r.objects)["Deployment/basic-example"]
        assert(dep.spec.template.metadata.annotations[jobmanager.GENERATION_ANNOTATION] == "2", "rolled")
        local s = r.status
        assert(s.jobStatus.jobId ~= JOB_ID and s.jobStatus.state == "RECONCILING" and s.jobManagerDeploymentStatus == "DEPLOYING")
        assert(s.jobStatus.upgradeSavepointPath == "file:///sp/given" and s.reconciliationStatus.state == "DEPLOYED")
        assert(json.decode(s.reconciliationStatus.lastReconciledSpec).spec.job.savepointRedeployNonce == 1)
        assert(r.events[1].reason == "SpecChanged" and r.events[1].message:find("^SAVEPOINT_REDEPLOY"))
        fd.status = s
        local again = M.reconcile(fd, seen, NOW)
        assert(again.actions == nil and again.events[1] == nil and json.encode(again.objects) == json.encode(r.objects),
            "once: the same nonce again is no change")
        fd.spec.job.savepointRedeployNonce = nil
        again = M.reconcile(fd, seen, NOW)
        assert(again.events[1] == nil and json.encode(again.objects) == json.encode(r.objects), "removing it neither")
    end,
    ["a savepoint redeploy with HA deletes the HA metadata the new JobManager would resume from"] = function()
        local fd, seen = savepoint_job()
        fd.spec.flinkConfiguration["high-availability"] = { type = "kubernetes", storageDir = "file:///ha" }
        fd.status = M.reconcile(fd, seen, NOW).status
        fd.spec.job.initialSavepointPath = "file:///sp/given"
        fd.spec.job.savepointRedeployNonce = 1
        local r = M.reconcile(fd, seen, NOW)
        assert(#r.actions == 1 and r.actions[1].type == "delete_ha_configmaps" and #r.objects > 0)
    end,
    ["a savepoint redeploy nonce abandons the savepoint an upgrade waits for"] = function()
        local fd, seen, trigger = upgrading_job()
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "IN_PROGRESS" } }
        fd.spec.job.initialSavepointPath = "file:///sp/given"
        fd.spec.job.savepointRedeployNonce = 9
        fd.metadata.generation = 3
        local r = M.reconcile(fd, seen, NOW)
        assert(r.objects and r.actions == nil and r.status.jobStatus.savepointInfo.triggerId == json.null)
        assert(r.status.reconciliationStatus.state == "DEPLOYED" and r.status.lifecycleState ~= "UPGRADING")
        assert(config_text(r, "basic-example")["config.yaml"]:find("execution.savepoint.path: file:///sp/given", 1, true))
    end,
    ["upgradeMode, allowNonRestoredState or initialSavepointPath alone rolls nothing; the next change takes them"] = function()
        local fd, seen = savepoint_job()
        local before = M.reconcile(fd, seen, NOW)
        fd.spec.job.upgradeMode, fd.spec.job.allowNonRestoredState = "last-state", true
        fd.spec.job.initialSavepointPath = "file:///sp/savepoint-1"
        fd.metadata.generation = 2
        local r = M.reconcile(fd, seen, NOW)
        assert(json.encode(by_key(r.objects)) == json.encode(by_key(before.objects)), "the cluster as deployed")
        assert(r.actions == nil and r.status.reconciliationStatus.state == "DEPLOYED")
        assert(r.status.reconciliationStatus.lastReconciledSpec == fd.status.reconciliationStatus.lastReconciledSpec)
        fd.spec.job.parallelism = 4 -- a real change: upgraded, and deployed with all of the new spec
        fd.metadata.generation = 3
        local spec = json.decode(M.reconcile(fd, seen, NOW).status.reconciliationStatus.lastReconciledSpec).spec
        assert(spec.job.allowNonRestoredState == true and spec.job.upgradeMode == "last-state")
    end,
    ["a savepoint redeploy nonce without initialSavepointPath is refused and rolls nothing"] = function()
        local fd, seen = savepoint_job()
        fd.spec.job.savepointRedeployNonce = 1
        local r = M.reconcile(fd, seen, NOW)
        assert(r.objects == nil and r.actions == nil and r.events[1].reason == "ValidationError")
        assert(json.decode(r.status.error).message:find("spec.job.initialSavepointPath: required", 1, true))
    end,
    ["a stop the jobmanager no longer knows falls back to last-state with HA, else waits with an error"] = function()
        local fd, seen, trigger = upgrading_job()
        seen.flink = flink_answer({ job_in("FINISHED") })
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "TRIGGER_FAILED",
            error = "POST http://x/jobs/" .. JOB_ID .. "/stop: HTTP 404: Job could not be found." } }
        local r = M.reconcile(fd, seen, NOW)
        assert(json.decode(r.status.error).message:find("does not know trigger " .. trigger, 1, true))
        assert(r.status.jobStatus.savepointInfo.triggerId == json.null and r.actions == nil)
        fd.status = r.status
        seen.flink.savepoints = nil
        r = M.reconcile(fd, seen, NOW)
        assert(r.objects == nil and r.actions == nil and r.events[1].reason == "UpgradeFailed", "no HA: never stateless")
        fd.spec.flinkConfiguration["high-availability"] = { type = "kubernetes", storageDir = "file:///ha" }
        r = M.reconcile(fd, seen, NOW)
        assert(#r.objects == 4 and r.status.reconciliationStatus.state == "DEPLOYED", "HA: last-state")
        assert(not config_text(r, "basic-example")["config.yaml"]:find("execution.savepoint.path", 1, true))
    end,
    ["a resumed savepoint job is DEPLOYED from its savepoint, then STABLE"] = function()
        local fd, seen = savepoint_job()
        fd.spec.job.state = "suspended"
        fd.metadata.generation = 2
        fd.status = M.reconcile(fd, seen, NOW).status
        local trigger = fd.status.jobStatus.savepointInfo.triggerId
        seen.flink.savepoints = { [trigger] = { job_id = JOB_ID, status = "COMPLETED", location = "file:///sp/s1" } }
        fd.status = M.reconcile(fd, seen, NOW).status
        fd.status = M.reconcile(fd, seen, NOW).status
        assert(fd.status.lifecycleState == "SUSPENDED" and fd.status.jobManagerDeploymentStatus == "MISSING")
        fd.spec.job.state = "running"
        fd.metadata.generation = 3
        local r = M.reconcile(fd, { objects = {} }, NOW)
        assert(r.status.lifecycleState == "DEPLOYED" and r.status.jobManagerDeploymentStatus == "DEPLOYING")
        assert(r.events[1].reason == "Submit" and r.status.jobStatus.state == "RECONCILING")
        assert(config_text(r, "basic-example")["config.yaml"]:find("execution.savepoint.path: file:///sp/s1", 1, true))
        local job3 = config.job_id(fd.metadata, "flink")
        assert(r.status.jobStatus.jobId == job3)
        fd.status = r.status
        local up = observed_deployment("dep-uid2", true)
        up.objects["Deployment/basic-example"].metadata.annotations[jobmanager.GENERATION_ANNOTATION] = "3"
        up.flink = flink_answer({ { id = job3, name = "j", state = "RUNNING", start_time = 1 } })
        r = M.reconcile(fd, up, NOW)
        assert(r.status.lifecycleState == "STABLE" and r.status.jobStatus.jobId == job3)
    end,
    ["a stateless job's spec change rolls the cluster"] = function()
        local fd = basic()
        fd.status = M.reconcile(fd, observed_deployment("dep-uid", true), NOW).status
        fd.spec.job.parallelism = 4
        fd.metadata.generation = 2
        local r = M.reconcile(fd, observed_deployment("dep-uid", true), NOW)
        assert(#r.objects == 5 and r.status.jobManagerDeploymentStatus == "DEPLOYING")
        assert(r.events[1].reason == "SpecChanged")
        local dep = by_key(r.objects)["Deployment/basic-example"]
        assert(dep.spec.template.metadata.annotations[jobmanager.GENERATION_ANNOTATION] == "2")
    end,
    ["suspending a stateless job removes the cluster"] = function()
        local fd = basic()
        fd.status = M.reconcile(fd, observed_deployment("dep-uid", true), NOW).status
        fd.spec.job.state = "suspended"
        local r = M.reconcile(fd, observed_deployment("dep-uid", true), NOW)
        assert(r.objects and #r.objects == 0 and json.is_array(r.objects))
        assert(r.status.lifecycleState == "SUSPENDED" and r.status.jobStatus.state == "SUSPENDED")
    end,
    ["a running job observed through the rest api makes the deployment STABLE"] = function()
        local fd, seen = deployed(false)
        seen.flink = flink_answer({ job_in("RUNNING") })
        local r = M.reconcile(fd, seen, NOW)
        local s = r.status
        assert(s.jobManagerDeploymentStatus == "READY", "an answering rest api is a ready jobmanager")
        assert(s.lifecycleState == "STABLE" and s.jobStatus.state == "RUNNING" and s.jobStatus.jobId == JOB_ID)
        assert(s.jobStatus.startTime == "1795607990000" and s.error == json.null)
        assert(s.reconciliationStatus.lastStableSpec == s.reconciliationStatus.lastReconciledSpec)
        assert(r.events[1].reason == "JobStatusChanged")
    end,
    ["a jobmanager that answers without a job yet is DEPLOYED"] = function()
        local fd, seen = deployed(false)
        seen.flink = flink_answer({})
        local s = M.reconcile(fd, seen, NOW).status
        assert(s.jobManagerDeploymentStatus == "READY" and s.lifecycleState == "DEPLOYED")
        assert(s.jobStatus.state == "RECONCILING" and s.reconciliationStatus.lastStableSpec == nil)
    end,
    ["a failed job makes the deployment FAILED with the job's exception"] = function()
        local fd, seen = deployed(false)
        seen.flink = flink_answer({ job_in("FAILED", { class = "java.lang.IllegalStateException", message = "source broke" }) })
        local s = M.reconcile(fd, seen, NOW).status
        assert(s.lifecycleState == "FAILED" and s.jobStatus.state == "FAILED")
        local err = json.decode(s.error)
        assert(err.type == "java.lang.IllegalStateException" and err.message == "source broke")
    end,
    ["a jobmanager that stops answering is not ready and says so once"] = function()
        local fd, seen = deployed(true)
        seen.flink = flink_answer({ job_in("RUNNING") })
        fd.status = M.reconcile(fd, seen, NOW).status
        assert(fd.status.lifecycleState == "STABLE")
        seen.flink = flink_answer(nil, false)
        local r = M.reconcile(fd, seen, NOW)
        local s = r.status
        assert(s.jobManagerDeploymentStatus == "DEPLOYED_NOT_READY" and s.jobStatus.state == "RECONCILING")
        assert(json.decode(s.error).message:find("JobManager REST API unreachable since", 1, true))
        assert(r.events[1].type == "Warning" and r.events[1].reason == "JobManagerUnreachable")
        fd.status = s
        local again = M.reconcile(fd, seen, NOW)
        assert(again.status.error == s.error and #again.events == 0, "the same outage is one status and one event")
    end,
    ["a starting jobmanager that does not answer yet is no error"] = function()
        local fd, seen = deployed(false)
        seen.flink = flink_answer(nil, false)
        local s = M.reconcile(fd, seen, NOW).status
        assert(s.jobManagerDeploymentStatus == "DEPLOYING" and s.error == json.null)
    end,
    ["a deleted resource is cleaned up even when its spec is invalid"] = function()
        local fd = basic(function(f) f.spec.serviceAccount = nil end)
        fd.metadata.deletionTimestamp = NOW.now
        local r = M.reconcile(fd, { objects = {} }, NOW)
        assert(r.remove_finalizer and #r.objects == 0 and json.is_array(r.objects))
    end,
    ["the same input gives the same answer"] = function()
        local a = json.encode(M.reconcile(basic(), observed_deployment("dep-uid", true), NOW))
        local b = json.encode(M.reconcile(basic(), observed_deployment("dep-uid", true), NOW))
        assert(a == b)
    end,
    ["a canary deployment owns nothing and is not validated"] = function()
        local r = M.reconcile({ apiVersion = "flink.apache.org/v1beta1", kind = "FlinkDeployment",
            metadata = { name = "canary", labels = { ["flink.apache.org/canary"] = "true" } } }, { objects = {} }, NOW)
        assert(json.is_array(r.objects) and #r.objects == 0 and #r.events == 0)
    end,
    ["a session job owns no objects and waits for its session cluster to answer"] = function()
        local r = M.reconcile_session_job({ apiVersion = "flink.apache.org/v1beta1", kind = "FlinkSessionJob",
            metadata = { name = "job", namespace = "flink", uid = "u" },
            spec = { deploymentName = "session", job = { jarURI = "local:///opt/flink/job.jar" } } },
            { objects = {} }, NOW)
        assert(json.is_array(r.objects) and #r.objects == 0 and r.status.error == json.null and r.actions == nil)
        assert(r.status.lifecycleState == "CREATED" and r.status.jobStatus.jobId:match("^%x+$"))
    end,
}

return M
