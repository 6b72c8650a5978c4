-- The effective Flink configuration of a FlinkDeployment, as upstream's FlinkConfigBuilder builds it,
-- plus the few keys Flink's KubernetesClusterDescriptor and decorators add before the configuration
-- file is written into the `flink-config-<name>` ConfigMap (fixed ports, jobmanager.rpc.address).
--
-- Values are strings (lists are Lua arrays) keyed by Flink's flat option keys; render() writes them as
-- the file Flink reads: `flink-conf.yaml` (Flink 1.x, "key: value" lines) or `config.yaml` (Flink 2.x,
-- standard YAML; we write flat dotted keys, which Flink's YAML parser accepts and flattens alike).

local json = require "json"
local objects = require "flink_objects"

local M = {}

-- The CRD's flinkVersion enum, oldest first.
M.VERSIONS = { "v1_13", "v1_14", "v1_15", "v1_16", "v1_17", "v1_18", "v1_19", "v1_20",
               "v2_0", "v2_1", "v2_2", "v2_3", "v2_4" }

local VERSION_INDEX = {}
for i, v in ipairs(M.VERSIONS) do VERSION_INDEX[v] = i end

function M.known_version(v) return VERSION_INDEX[v] ~= nil end

-- FlinkVersion.isEqualOrNewer
function M.version_at_least(v, floor)
    return (VERSION_INDEX[v] or 0) >= VERSION_INDEX[floor]
end

-- Flink 2.x reads config.yaml; before that GlobalConfiguration reads flink-conf.yaml.
function M.file_name(version)
    return M.version_at_least(version, "v2_0") and "config.yaml" or "flink-conf.yaml"
end

local function present(v) return v ~= nil and v ~= json.null end

-- scalar_text(v) -> v as Jackson's JsonNode.asText() shows it (2 -> "2", true -> "true", 0.5 -> "0.5").
local function scalar_text(v)
    if v == nil or v == json.null then return "null" end
    if math.type(v) == "float" then
        if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%.1f", v) end
        for digits = 15, 17 do
            local s = string.format("%." .. digits .. "g", v)
            if tonumber(s) == v then return s end
        end
    end
    return tostring(v)
end
M.scalar_text = scalar_text

-- flatten(flinkConfiguration) -> { ["a.b"] = "text" }
-- ConfigObjectNode.asFlatMap: nested objects join their keys with ".", arrays become "x;y;z".
function M.flatten(conf)
    local out = {}
    local function walk(node, key)
        if type(node) == "table" and node ~= json.null then
            if json.is_array(node) or #node > 0 then
                if #node > 0 then -- an empty array adds no key, as upstream's loop over no items
                    local parts = {}
                    for i, x in ipairs(node) do parts[i] = scalar_text(x) end
                    out[key] = table.concat(parts, ";")
                end
                return
            end
            for k, v in pairs(node) do
                walk(v, key == "" and tostring(k) or (key .. "." .. tostring(k)))
            end
        else
            out[key] = scalar_text(node)
        end
    end
    if present(conf) then walk(conf, "") end
    out[""] = nil
    return out
end

-- Memory ----------------------------------------------------------------------------------------

-- org.apache.flink.configuration.MemorySize units, smallest first; the second name is what toString() prints.
local UNITS = {
    { mult = 1,           names = { "b", "bytes" } },
    { mult = 1024,        names = { "k", "kb", "kibibytes" } },
    { mult = 1024 ^ 2,    names = { "m", "mb", "mebibytes" } },
    { mult = 1024 ^ 3,    names = { "g", "gb", "gibibytes" } },
    { mult = 1024 ^ 4,    names = { "t", "tb", "tebibytes" } },
}

-- parse_flink_memory(text) -> bytes, or nil and MemorySize.parse's complaint.
function M.parse_flink_memory(text)
    local s = tostring(text):match("^%s*(.-)%s*$")
    if s == "" then return nil, "argument is an empty- or whitespace-only string" end
    local digits, unit = s:match("^(%d+)%s*(.-)$")
    if not digits then return nil, "text does not start with a number" end
    local n = math.tointeger(tonumber(digits))
    if not n then return nil, "The value '" .. digits .. "' cannot be represented as 64bit number (numeric overflow)." end
    unit = unit:lower()
    if unit == "" then return n end
    for _, u in ipairs(UNITS) do
        for _, name in ipairs(u.names) do
            if unit == name then return math.tointeger(n * u.mult) or n * u.mult end
        end
    end
    return nil, "Memory size unit '" .. unit .. "' does not match any of the recognized units: " ..
        "(b | bytes) / (k | kb | kibibytes) / (m | mb | mebibytes) / (g | gb | gibibytes) / (t | tb | tebibytes)"
end

-- MemorySize.toString(): the largest unit that divides the size exactly ("2048m" -> "2 gb").
function M.flink_memory_string(bytes)
    local best = UNITS[1]
    for _, u in ipairs(UNITS) do
        if bytes % u.mult == 0 then best = u else break end
    end
    return string.format("%d %s", bytes // best.mult, best.names[2])
end

local K8S_SUFFIX = {
    Ki = 1024, Mi = 1024 ^ 2, Gi = 1024 ^ 3, Ti = 1024 ^ 4, Pi = 1024 ^ 5, Ei = 1024 ^ 6,
    n = 1e-9, u = 1e-6, m = 1e-3, [""] = 1, k = 1e3, M = 1e6, G = 1e9, T = 1e12, P = 1e15, E = 1e18,
}

-- parse_quantity(text) -> the amount a Kubernetes quantity stands for ("2Gi" -> 2147483648), or nil.
function M.parse_quantity(text)
    local s = tostring(text):gsub("%s", "")
    local num, rest = s:match("^([+-]?%d*%.?%d+)(.*)$")
    if not num then num, rest = s:match("^([+-]?%d+%.)(.*)$") end
    if not num then return nil end
    local exp = rest:match("^[eE]([+-]?%d+)$")
    if exp then return tonumber(num) * 10 ^ tonumber(exp) end
    local mult = K8S_SUFFIX[rest]
    if not mult then return nil end
    return tonumber(num) * mult
end

-- FlinkConfigBuilder.parseResourceMemoryString: Flink's own syntax first ("2048m" is 2048 MiB to
-- Flink), then the Kubernetes one, upper-cased the way formatMemoryStringForK8sSpec does ("2gi" -> "2Gi").
-- -> the text written into *.memory.process.size, or nil and a message.
function M.resource_memory_string(text)
    local bytes = M.parse_flink_memory(text)
    if bytes then return M.flink_memory_string(bytes) end
    local q = tostring(text):gsub("%s", ""):upper()
    q = q:gsub("B$", "")
    q = q:gsub("I$", "i")
    local amount = M.parse_quantity(q)
    if not amount then
        local _, err = M.parse_flink_memory(text)
        return nil, err
    end
    return string.format("%d", math.floor(amount))
end

-- memory_mb(text) -> MiB, rounded down as MemorySize.getMebiBytes() does.
function M.memory_mb(text)
    local bytes = text and M.parse_flink_memory(text)
    return bytes and (bytes // (1024 * 1024)) or nil
end

-- process_memory_mb(cfg, "jobmanager"|"taskmanager") -> total process memory in MiB, or nil.
-- The JobManager/TaskExecutor process specs derive it from the total Flink memory when only that (or,
-- for the JobManager, the heap) is set: JVM metaspace (256m) and overhead (10%, between 192m and 1g)
-- come on top. This mirrors the defaults of JobManagerProcessUtils / TaskExecutorProcessUtils.
function M.process_memory_mb(cfg, role)
    local mib = 1024 * 1024
    local total = M.parse_flink_memory(cfg[role .. ".memory.process.size"] or "")
    if total then return total // mib end
    local flink = M.parse_flink_memory(cfg[role .. ".memory.flink.size"] or "")
    if not flink and role == "jobmanager" and cfg["jobmanager.memory.heap.size"] then
        local heap = M.parse_flink_memory(cfg["jobmanager.memory.heap.size"])
        local off = M.parse_flink_memory(cfg["jobmanager.memory.off-heap.size"] or "128m")
        if heap and off then flink = heap + off end
    end
    if not flink then return nil end
    local meta = M.parse_flink_memory(cfg[role .. ".memory.jvm-metaspace.size"] or "256m") or 256 * mib
    local fraction = tonumber(cfg[role .. ".memory.jvm-overhead.fraction"] or "0.1") or 0.1
    local min = M.parse_flink_memory(cfg[role .. ".memory.jvm-overhead.min"] or "192m") or 192 * mib
    local max = M.parse_flink_memory(cfg[role .. ".memory.jvm-overhead.max"] or "1g") or 1024 * mib
    local overhead = (flink + meta) / (1 - fraction) * fraction
    if overhead < min then overhead = min elseif overhead > max then overhead = max end
    return math.floor(flink + meta + overhead) // mib
end

-- memory_defined(cfg, role): can Flink work out the process size? (what DefaultValidator's
-- validateJmMemoryConfig / validateTmMemoryConfig check when spec.*.resource.memory is absent)
function M.memory_defined(cfg, role)
    if cfg[role .. ".memory.process.size"] or cfg[role .. ".memory.flink.size"] then return true end
    if role == "jobmanager" then return cfg["jobmanager.memory.heap.size"] ~= nil end
    return cfg["taskmanager.memory.task.heap.size"] ~= nil and cfg["taskmanager.memory.managed.size"] ~= nil
end

-- CPU -------------------------------------------------------------------------------------------

-- parse_cpu(v) -> cores as a float ("500m" -> 0.5, "1" -> 1.0), or nil (FlinkConfigBuilder.parseCpuValue).
function M.parse_cpu(v)
    if not present(v) then return nil end
    local s = tostring(v):match("^%s*(.-)%s*$")
    local milli = s:match("^(.-)m$")
    local n = tonumber(milli or s)
    if not n then return nil end
    return (milli and n / 1000 or n) + 0.0
end

-- cpu_quantity(cores) -> the canonical Kubernetes quantity ("1", "500m", "1.5").
-- Flink writes String.valueOf(double) ("1.0"); the API server canonicalises that to "1" on write, so
-- we emit the canonical form and the object reads back unchanged.
function M.cpu_quantity(cores)
    if cores == math.floor(cores) then return string.format("%d", cores) end
    local milli = cores * 1000
    if math.abs(milli - math.floor(milli + 0.5)) < 1e-9 then return string.format("%dm", math.floor(milli + 0.5)) end
    return scalar_text(cores)
end

-- Small readers ---------------------------------------------------------------------------------

-- HighAvailabilityMode.isHighAvailabilityModeActivated: high-availability.type (or the older key
-- high-availability) set to anything but NONE.
function M.ha_enabled(cfg)
    local mode = cfg["high-availability.type"] or cfg["high-availability"]
    return mode ~= nil and mode:upper() ~= "NONE" and mode ~= ""
end

-- parse_map("k1:v1,k2:v2") -> { k1 = "v1", k2 = "v2" } (Flink's map-typed options such as
-- kubernetes.jobmanager.labels).
function M.parse_map(text)
    local out = {}
    for item in tostring(text or ""):gmatch("[^,]+") do
        local k, v = item:match("^%s*(.-)%s*:%s*(.-)%s*$")
        if k and k ~= "" then out[k] = v end
    end
    return out
end

function M.bool(cfg, key, default)
    local v = cfg[key]
    if v == nil then return default end
    return v:lower() == "true"
end

function M.int(cfg, key, default)
    return math.tointeger(tonumber(cfg[key] or "")) or default
end

function M.is_standalone(spec) return spec.mode == "standalone" end
function M.is_application(spec) return present(spec.job) end

-- FlinkConfigBuilder.getParallelism
function M.parallelism(spec, cfg)
    local tm = spec.taskManager
    if present(tm) and present(tm.replicas) then
        return tm.replicas * M.int(cfg, "taskmanager.numberOfTaskSlots", 1)
    end
    local max = 0
    for pair in tostring(cfg["pipeline.jobvertex-parallelism-overrides"] or ""):gmatch("[^,]+") do
        local p = math.tointeger(tonumber(pair:match(":%s*(%d+)%s*$") or ""))
        if p and p > max then max = p end
    end
    if max > 0 then return max end
    return spec.job.parallelism or 0
end

-- FlinkUtils.getNumTaskManagers: enough TaskManagers for the parallelism at the configured slots.
function M.num_task_managers(cfg, parallelism)
    local slots = M.int(cfg, "taskmanager.numberOfTaskSlots", 1)
    parallelism = parallelism or M.int(cfg, "parallelism.default", 1)
    return (parallelism + slots - 1) // slots
end

-- Pod templates ---------------------------------------------------------------------------------

-- FlinkConfigBuilder.applyResourceRequirementsToPodTemplate / applyResourceToPodTemplate:
-- the Kubernetes-style `resources` go into the main container of the template (Flink then overwrites
-- memory and cpu with its own figures); the old `resource.ephemeralStorage` is set as request and limit.
local function with_resources(template, component)
    if not present(component) then return template end
    local res = component.resources
    local requests, limits = {}, {}
    if present(res) then
        for k, v in pairs(present(res.requests) and res.requests or {}) do requests[k] = tostring(v) end
        for k, v in pairs(present(res.limits) and res.limits or {}) do limits[k] = tostring(v) end
    elseif present(component.resource) and present(component.resource.ephemeralStorage) then
        requests["ephemeral-storage"] = component.resource.ephemeralStorage
        limits["ephemeral-storage"] = component.resource.ephemeralStorage
    end
    if next(requests) == nil and next(limits) == nil then return template end
    local out = objects.copy(template or {})
    out.spec = out.spec or {}
    out.spec.containers = out.spec.containers or objects.list()
    local main
    for _, c in ipairs(out.spec.containers) do
        if c.name == objects.MAIN_CONTAINER then main = c; break end
    end
    if not main then
        main = { name = objects.MAIN_CONTAINER }
        out.spec.containers = objects.append(out.spec.containers, { main })
    end
    main.resources = main.resources or {}
    if next(requests) then main.resources.requests = objects.merged(main.resources.requests, requests) end
    if next(limits) then main.resources.limits = objects.merged(main.resources.limits, limits) end
    return out
end

-- pod_templates(spec, cfg) -> jobmanager template, taskmanager template (either may be nil)
-- FlinkConfigBuilder.applyPodTemplate: spec.podTemplate is the base, the component's podTemplate is
-- merged over it, then the component's resources are applied.
function M.pod_templates(spec, cfg)
    local by_name = M.bool(cfg, "kubernetes.operator.pod-template.merge-arrays-by-name", false)
    local jm, tm = spec.jobManager, spec.taskManager
    local jm_t = objects.merge_pod_templates(spec.podTemplate, present(jm) and jm.podTemplate or nil, by_name)
    jm_t = with_resources(jm_t, jm)
    local tm_t = objects.merge_pod_templates(spec.podTemplate, present(tm) and tm.podTemplate or nil, by_name)
    tm_t = with_resources(tm_t, tm)
    return jm_t, tm_t
end

-- Resources of one component ----------------------------------------------------------------------

-- component_resources(cfg, "jobmanager"|"taskmanager") -> { memory_mb, cpu, memory_factor, cpu_factor }
-- the inputs KubernetesUtils.getResourceRequirements turns into the main container's resources.
function M.component_resources(cfg, role)
    local cpu_key = "kubernetes." .. role .. ".cpu.amount"
    local default_cpu = role == "jobmanager" and 1.0 or M.int(cfg, "taskmanager.numberOfTaskSlots", 1) + 0.0
    local cpu = M.parse_cpu(cfg[cpu_key] or cfg["kubernetes." .. role .. ".cpu"])
    if not cpu or cpu <= 0 then cpu = default_cpu end
    return {
        memory_mb = M.process_memory_mb(cfg, role),
        cpu = cpu,
        memory_factor = tonumber(cfg["kubernetes." .. role .. ".memory.limit-factor"] or "1.0") or 1.0,
        cpu_factor = tonumber(cfg["kubernetes." .. role .. ".cpu.limit-factor"] or "1.0") or 1.0,
    }
end

-- resource_requirements(base, r) -> the container's resources: the template's, with memory and cpu
-- requests and limits overwritten (KubernetesUtils.getResourceRequirements).
function M.resource_requirements(base, r)
    local out = objects.copy(base or {})
    out.requests = objects.copy(out.requests or {})
    out.limits = objects.copy(out.limits or {})
    out.requests.cpu = M.cpu_quantity(r.cpu)
    out.limits.cpu = M.cpu_quantity(r.cpu * r.cpu_factor)
    if r.memory_mb then
        out.requests.memory = string.format("%dMi", r.memory_mb)
        out.limits.memory = string.format("%dMi", math.floor(r.memory_mb * r.memory_factor))
    end
    return out
end

-- The builder ----------------------------------------------------------------------------------

local function set_default(cfg, key, value)
    if cfg[key] == nil then cfg[key] = value end
end

-- FlinkConfigBuilder.setResource / setResourceRequirements
local function apply_resources(cfg, component, role, version)
    if not present(component) then return end
    local memory_key = role .. ".memory.process.size"
    local memory, cpu
    local res = component.resources
    if present(res) and (present(res.requests) or present(res.limits)) then
        local requests = present(res.requests) and res.requests or {}
        local limits = present(res.limits) and res.limits or {}
        memory = present(requests.memory) and tostring(requests.memory) or nil
        cpu = M.parse_cpu(requests.cpu)
        if cpu and cpu > 0 and present(limits.cpu) then
            cfg["kubernetes." .. role .. ".cpu.limit-factor"] = scalar_text(M.parse_cpu(limits.cpu) / cpu)
        end
        local req_q = memory and M.parse_quantity(memory)
        local lim_q = present(limits.memory) and M.parse_quantity(tostring(limits.memory))
        if req_q and lim_q and req_q > 0 then
            cfg["kubernetes." .. role .. ".memory.limit-factor"] = scalar_text(lim_q / req_q)
        end
    elseif present(component.resource) then
        memory = present(component.resource.memory) and component.resource.memory or nil
        cpu = present(component.resource.cpu) and component.resource.cpu + 0.0 or nil
    end
    if memory then cfg[memory_key] = M.resource_memory_string(memory) end
    if cpu then
        -- The .cpu.amount key always; Flink before 1.17 only reads the older key as well.
        cfg["kubernetes." .. role .. ".cpu.amount"] = scalar_text(cpu)
        if not M.version_at_least(version, "v1_17") then cfg["kubernetes." .. role .. ".cpu"] = scalar_text(cpu) end
    end
end

-- Keys FlinkConfMountDecorator.getClusterSidePropertiesMap removes before writing the file.
local CLIENT_ONLY_KEYS = { "kubernetes.config.file", "$internal.deployment.config-dir", "rest.bind-address",
                           "jobmanager.bind-host", "taskmanager.bind-host", "taskmanager.host" }

-- build(name, namespace, spec) -> cfg, the configuration the cluster runs with.
function M.build(name, namespace, spec)
    local cfg = M.flatten(spec.flinkConfiguration)
    local version = spec.flinkVersion
    local standalone = M.is_standalone(spec)

    -- applyFlinkConfiguration
    set_default(cfg, "kubernetes.rest-service.exposed.type", "ClusterIP")
    set_default(cfg, "web.cancel.enable", "false")
    cfg["$internal.flink.version"] = version

    -- applyImage / applyImagePullPolicy / applyServiceAccount
    if present(spec.image) and spec.image:match("%S") then
        cfg[M.version_at_least(version, "v1_17") and "kubernetes.container.image.ref" or "kubernetes.container.image"] = spec.image
    end
    if present(spec.imagePullPolicy) and spec.imagePullPolicy ~= "" then
        cfg["kubernetes.container.image.pull-policy"] = spec.imagePullPolicy
    end
    if present(spec.serviceAccount) then cfg["kubernetes.service-account"] = spec.serviceAccount end

    -- applyPodTemplate: the TaskManager template reaches the JobManager through the pod-template
    -- ConfigMap; Flink's ResourceManager reads it from the mounted path whenever this key is set.
    local _, tm_template = M.pod_templates(spec, cfg)
    if tm_template and not standalone then
        cfg["kubernetes.pod-template-file.taskmanager"] = objects.POD_TEMPLATE_DIR .. "/" .. objects.TM_POD_TEMPLATE_FILE
    end

    -- applyJobManagerSpec / applyTaskManagerSpec
    apply_resources(cfg, spec.jobManager, "jobmanager", version)
    if present(spec.jobManager) then
        local replicas = present(spec.jobManager.replicas) and spec.jobManager.replicas or 1
        if replicas > 0 then cfg["kubernetes.jobmanager.replicas"] = tostring(replicas) end
    end
    apply_resources(cfg, spec.taskManager, "taskmanager", version)
    if present(spec.taskManager) and present(spec.taskManager.replicas) and spec.taskManager.replicas > 0 then
        cfg["kubernetes.internal.taskmanager.replicas"] = tostring(spec.taskManager.replicas)
    end

    -- applyJobOrSessionSpec
    local job = spec.job
    if present(job) then
        cfg["execution.target"] = "kubernetes-application"
        if not standalone and present(job.jarURI) then cfg["pipeline.jars"] = job.jarURI end
        local parallelism = M.parallelism(spec, cfg)
        cfg["parallelism.default"] = tostring(parallelism)
        cfg["execution.shutdown-on-application-finish"] = "false"
        set_default(cfg, "execution.submit-failed-job-on-application-error", "true")
        -- applyJobConfig
        set_default(cfg, "pipeline.name", name)
        if job.upgradeMode == "last-state" then set_default(cfg, "execution.checkpointing.interval", "5 min") end
        set_default(cfg, "execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
        if present(job.allowNonRestoredState) then
            cfg["execution.savepoint.ignore-unclaimed-state"] = tostring(job.allowNonRestoredState)
        end
        if present(job.entryClass) then cfg["$internal.application.main"] = job.entryClass end
        if present(job.args) then
            local args = {}
            for i, a in ipairs(job.args) do args[i] = scalar_text(a) end
            cfg["$internal.application.program-args"] = args
        end
        if standalone and cfg["kubernetes.internal.taskmanager.replicas"] == nil then
            cfg["kubernetes.internal.taskmanager.replicas"] = tostring(M.num_task_managers(cfg, parallelism))
        end
    else
        cfg["execution.target"] = "kubernetes-session"
    end
    if standalone then
        cfg["execution.target"] = "remote"
        cfg["kubernetes.internal.cluster-mode"] = present(job) and "APPLICATION" or "SESSION"
        if present(job) and present(job.jarURI) then
            -- getStandaloneJarURI: standalone wants file:// where native takes local://
            cfg["pipeline.classpaths"] = (job.jarURI:gsub("^local:", "file:"))
        end
    end

    -- build()
    cfg["kubernetes.namespace"] = namespace
    cfg["kubernetes.cluster-id"] = name
    local ha = M.ha_enabled(cfg)
    if ha then cfg["high-availability.cluster-id"] = name end

    -- KubernetesClusterDescriptor.deployClusterInternal: the ports Kubernetes must expose are fixed.
    if (cfg["blob.server.port"] or "0") == "0" then cfg["blob.server.port"] = "6124" end
    if (cfg["taskmanager.rpc.port"] or "0") == "0" then cfg["taskmanager.rpc.port"] = "6122" end
    if cfg["rest.bind-port"] == nil then cfg["rest.bind-port"] = cfg["rest.port"] or "8081" end
    if ha and (cfg["high-availability.jobmanager.port"] or "0") == "0" then
        cfg["high-availability.jobmanager.port"] = cfg["jobmanager.rpc.port"] or "6123"
    end
    -- InternalServiceDecorator: without HA, TaskManagers reach the JobManager through the headless Service.
    if not ha then cfg["jobmanager.rpc.address"] = name .. "." .. namespace end

    for _, key in ipairs(CLIENT_ONLY_KEYS) do cfg[key] = nil end
    return cfg
end

-- The cluster -----------------------------------------------------------------------------------

local JOB_ID_KEY = "$internal.pipeline.job-id"

-- job_id(metadata, namespace) -> the job id of this deployment of an application: one per resource and generation.
function M.job_id(meta, namespace)
    local uid = present(meta.uid) and meta.uid or (namespace .. "/" .. meta.name)
    return objects.hex_id(uid .. "|" .. tostring(present(meta.generation) and meta.generation or 0))
end

-- cluster(resource) -> everything the object builders need to know about one FlinkDeployment:
-- its name and namespace, spec, effective configuration and the merged pod templates.
function M.cluster(resource)
    local meta = resource.metadata
    local spec = resource.spec
    local name = meta.name
    local namespace = present(meta.namespace) and meta.namespace or "default"
    local cfg = M.build(name, namespace, spec)
    if present(spec.job) and present(spec.job.initialSavepointPath) then
        -- The first start restores from here; upstream's deploy sets execution.savepoint.path the same way.
        cfg["execution.savepoint.path"] = spec.job.initialSavepointPath
    end
    if present(spec.job) then
        -- Upstream fixes the job's id for each deployment ($internal.pipeline.job-id, FLINK-19358), so the job
        -- found through the REST API is the one deployed, never a previous deployment's.
        set_default(cfg, JOB_ID_KEY, M.job_id(meta, namespace))
    end
    local jm_template, tm_template = M.pod_templates(spec, cfg)
    local standalone = M.is_standalone(spec)
    return {
        name = name,
        namespace = namespace,
        generation = present(meta.generation) and meta.generation or nil,
        uid = present(meta.uid) and meta.uid ~= "" and meta.uid or nil,
        spec = spec,
        version = spec.flinkVersion,
        cfg = cfg,
        application = M.is_application(spec),
        standalone = standalone,
        ha = M.ha_enabled(cfg),
        job_id = cfg[JOB_ID_KEY],
        type_label = standalone and objects.STANDALONE_TYPE or objects.NATIVE_TYPE,
        jm_template = jm_template,
        tm_template = tm_template,
    }
end

-- Rendering -------------------------------------------------------------------------------------

local YAML_WORDS = { ["null"] = true, ["Null"] = true, ["NULL"] = true, ["~"] = true }

-- yaml_scalar(text) -> text as a YAML 1.2 scalar: plain when that reads back the same, else quoted.
local function yaml_scalar(s)
    if s:find("[%c]") then
        return '"' .. s:gsub('[%c"\\]', function(c)
            local esc = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r' }
            return esc[c] or string.format("\\x%02x", c:byte())
        end) .. '"'
    end
    local plain = s ~= "" and not YAML_WORDS[s]
        and s:match("^[%w%$%./_%-]") and not s:find("[^%w%$%./_%-:=,;%+%*@%%%(%) ]")
        and not s:find(": ") and not s:find(" #") and not s:find("[ :]$")
    if plain then return s end
    return "'" .. s:gsub("'", "''") .. "'"
end

-- Flink's legacy list syntax: items separated by ';', quoted when they hold ';' or quotes.
local function legacy_list(items)
    local parts = {}
    for i, item in ipairs(items) do
        if item:find("[;'\"]") then item = "'" .. item:gsub("'", "''") .. "'" end
        parts[i] = item
    end
    return table.concat(parts, ";")
end

-- render(cfg, version) -> the text of flink-conf.yaml / config.yaml, one "key: value" line per key,
-- sorted by key so the ConfigMap is byte-for-byte stable between reconciles.
function M.render(cfg, version)
    local standard = M.version_at_least(version, "v2_0")
    local keys = {}
    for k in pairs(cfg) do keys[#keys + 1] = k end
    table.sort(keys)
    local lines = {}
    for _, k in ipairs(keys) do
        local v = cfg[k]
        local text
        if type(v) == "table" then
            if standard then
                local parts = {}
                for i, item in ipairs(v) do parts[i] = "'" .. item:gsub("'", "''") .. "'" end
                text = "[" .. table.concat(parts, ", ") .. "]"
            else
                text = legacy_list(v)
            end
        elseif standard then
            text = yaml_scalar(v)
        else
            -- The legacy parser splits each line at the first ": " and cannot hold a line break.
            text = (v:gsub("[\r\n]+", " "))
        end
        lines[#lines + 1] = (standard and yaml_scalar(k) or k) .. ": " .. text
    end
    return table.concat(lines, "\n") .. "\n"
end

M.tests = {
    ["flatten joins nested keys with dots and lists with semicolons"] = function()
        local flat = M.flatten({ ["taskmanager.numberOfTaskSlots"] = 2,
                                 state = { ["savepoints.dir"] = "file:///sp" },
                                 ["high-availability"] = { type = "kubernetes" },
                                 ["a.list"] = json.array({ "x", "y" }), ratio = 0.5, on = true })
        assert(flat["taskmanager.numberOfTaskSlots"] == "2")
        assert(flat["state.savepoints.dir"] == "file:///sp")
        assert(flat["high-availability.type"] == "kubernetes")
        assert(flat["a.list"] == "x;y")
        assert(flat.ratio == "0.5" and flat.on == "true")
    end,
    ["flink memory 2048m is 2048 MiB and prints as 2 gb"] = function()
        assert(M.parse_flink_memory("2048m") == 2048 * 1024 * 1024)
        assert(M.resource_memory_string("2048m") == "2 gb")
        assert(M.resource_memory_string("1600m") == "1600 mb")
        assert(M.resource_memory_string("1g") == "1 gb")
    end,
    ["kubernetes memory quantities fall back to bytes"] = function()
        assert(M.resource_memory_string("2Gi") == "2147483648")
        assert(M.resource_memory_string("1.5gi") == "1610612736")
        assert(M.memory_mb(M.resource_memory_string("2Gi")) == 2048)
    end,
    ["unparseable memory reports MemorySize's complaint"] = function()
        local v, err = M.resource_memory_string("lots")
        assert(v == nil and err:find("does not start with a number"))
    end,
    ["process memory derives from total flink memory like Flink's process utils"] = function()
        assert(M.process_memory_mb({ ["jobmanager.memory.process.size"] = "2 gb" }, "jobmanager") == 2048)
        -- 1024m flink + 256m metaspace -> overhead 142m is below the 192m minimum
        assert(M.process_memory_mb({ ["jobmanager.memory.flink.size"] = "1024m" }, "jobmanager") == 1472)
        assert(M.process_memory_mb({}, "jobmanager") == nil)
    end,
    ["cpu strings parse as cores and print as canonical quantities"] = function()
        assert(M.parse_cpu("500m") == 0.5 and M.parse_cpu("1") == 1.0 and M.parse_cpu(2) == 2.0)
        assert(M.cpu_quantity(1.0) == "1" and M.cpu_quantity(0.5) == "500m" and M.cpu_quantity(1.25) == "1250m")
    end,
    ["container resources set requests and limits with the limit factors"] = function()
        local r = M.resource_requirements({ requests = { ["ephemeral-storage"] = "1Gi" } },
            { memory_mb = 2048, cpu = 1.0, memory_factor = 1.5, cpu_factor = 2.0 })
        assert(r.requests.memory == "2048Mi" and r.limits.memory == "3072Mi")
        assert(r.requests.cpu == "1" and r.limits.cpu == "2")
        assert(r.requests["ephemeral-storage"] == "1Gi")
    end,
    ["ha is on for any high-availability type but NONE"] = function()
        assert(M.ha_enabled({ ["high-availability.type"] = "kubernetes" }))
        assert(M.ha_enabled({ ["high-availability"] = "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory" }))
        assert(not M.ha_enabled({ ["high-availability.type"] = "NONE" }))
        assert(not M.ha_enabled({}))
    end,
    ["config file is config.yaml from Flink 2 and flink-conf.yaml before"] = function()
        assert(M.file_name("v2_2") == "config.yaml" and M.file_name("v2_0") == "config.yaml")
        assert(M.file_name("v1_20") == "flink-conf.yaml" and M.file_name("v1_13") == "flink-conf.yaml")
    end,
    ["image key is kubernetes.container.image.ref from 1.17"] = function()
        local spec = { flinkVersion = "v1_16", image = "flink:1.16", serviceAccount = "flink" }
        assert(M.build("x", "ns", spec)["kubernetes.container.image"] == "flink:1.16")
        spec.flinkVersion = "v1_17"
        assert(M.build("x", "ns", spec)["kubernetes.container.image.ref"] == "flink:1.16")
    end,
    ["render sorts keys and quotes only what YAML would misread"] = function()
        local text = M.render({ b = "x: y", a = "flink:2.2", c = "null", d = "plain text", e = { "-py", "a b" } }, "v2_2")
        assert(text == "a: flink:2.2\nb: 'x: y'\nc: 'null'\nd: plain text\ne: ['-py', 'a b']\n", text)
        local legacy = M.render({ b = "x: y", e = { "-py", "a;b" } }, "v1_20")
        assert(legacy == "b: x: y\ne: -py;'a;b'\n", legacy)
    end,
    ["parse_map reads Flink's k:v,k:v maps"] = function()
        local m = M.parse_map("team:data, tier : gold")
        assert(m.team == "data" and m.tier == "gold")
    end,
}

return M
