-- Shared builders for the Kubernetes objects a FlinkDeployment turns into: names, labels, metadata,
-- owner references, deep copies and the pod-template merge. The Flink-specific constants here are
-- the ones Flink's own Kubernetes integration uses (org.apache.flink.kubernetes.utils.Constants), so
-- that what we create is what `kubernetes-jobmanager.sh` and Flink's ResourceManager expect to find.

local json = require "json"

local M = {}

-- org.apache.flink.kubernetes.utils.Constants
M.MAIN_CONTAINER = "flink-main-container"
M.FLINK_CONF_VOLUME = "flink-config-volume"
M.FLINK_CONF_DIR = "/opt/flink/conf"
M.POD_TEMPLATE_VOLUME = "pod-template-volume"
M.POD_TEMPLATE_DIR = "/opt/flink/pod-template"
M.TM_POD_TEMPLATE_FILE = "taskmanager-pod-template.yaml"
M.LOG4J_FILE = "log4j-console.properties"
M.LOGBACK_FILE = "logback-console.xml"
M.NATIVE_TYPE = "flink-native-kubernetes"
-- flink-kubernetes-standalone: StandaloneKubernetesUtils.LABEL_TYPE_STANDALONE_TYPE
M.STANDALONE_TYPE = "flink-standalone-kubernetes"
M.ENTRYPOINT = "/docker-entrypoint.sh"

function M.config_map_name(name) return "flink-config-" .. name end
function M.pod_template_config_map_name(name) return "pod-template-" .. name end
function M.rest_service_name(name) return name .. "-rest" end
function M.taskmanager_deployment_name(name) return name .. "-taskmanager" end

-- copy(v) -> a deep copy; JSON array/object marks are kept so empty lists stay lists.
function M.copy(v)
    if type(v) ~= "table" or v == json.null then return v end
    local out = {}
    for k, x in pairs(v) do out[k] = M.copy(x) end
    if json.is_array(v) then return json.array(out) end
    return out
end

-- list(t) -> t marked as a JSON array (so an empty list prints as [] and not {}).
function M.list(t) return json.array(t or {}) end

-- A Kubernetes Event for the core to post about the resource being reconciled (docs/policy-api.md, `events`).
function M.event(kind, reason, message) return { type = kind, reason = reason, message = message } end

function M.is_present(v) return v ~= nil and v ~= json.null end

-- merged(...) -> a new flat table with the keys of every argument, later ones winning.
function M.merged(...)
    local out = {}
    for i = 1, select("#", ...) do
        for k, v in pairs(select(i, ...) or {}) do out[k] = v end
    end
    return out
end

-- Labels Flink puts on everything of one cluster (KubernetesUtils / AbstractKubernetesParameters
-- getCommonLabels): type + app. The selectors add the component.
function M.common_labels(name, kind)
    return { type = kind or M.NATIVE_TYPE, app = name }
end

function M.selectors(name, component, kind)
    return M.merged(M.common_labels(name, kind), { component = component })
end

function M.metadata(name, namespace, labels, annotations)
    local meta = { name = name, namespace = namespace, labels = labels }
    if annotations and next(annotations) then meta.annotations = annotations end
    return meta
end

-- owner_reference(obj) -> an ownerReference to obj, or nil while obj has no uid (dry-run, or not
-- created yet). controller and blockOwnerDeletion are set as Flink's Fabric8FlinkKubeClient and the
-- operator's IngressUtils set them for the JobManager Deployment's accompanying objects.
function M.owner_reference(obj)
    local meta = obj and obj.metadata
    if not meta or not M.is_present(meta.uid) or meta.uid == "" then return nil end
    return {
        apiVersion = obj.apiVersion, kind = obj.kind, name = meta.name, uid = meta.uid,
        controller = true, blockOwnerDeletion = true,
    }
end

-- set_owner(obj, ref) -> obj, with ownerReferences = {ref}; without a ref the field is left out
-- entirely (an empty list would ask the API server to drop owners someone else set).
function M.set_owner(obj, ref)
    if ref then obj.metadata.ownerReferences = M.list({ ref }) end
    return obj
end

-- The JSON-merge FlinkUtils.mergePodTemplates uses: objects merge key by key, arrays merge by
-- position (or, with kubernetes.operator.pod-template.merge-arrays-by-name, by their `name` field),
-- anything else from `from` replaces what `to` had.
local merge_into

local function named(arr)
    for _, v in ipairs(arr) do
        if type(v) ~= "table" or type(v.name) ~= "string" then return false end
    end
    return true
end

local function merge_array(to, from, by_name)
    if by_name and named(to) and named(from) then
        for _, f in ipairs(from) do
            local hit
            for _, t in ipairs(to) do
                if t.name == f.name then hit = t end
            end
            if hit then merge_into(hit, f, by_name) else to[#to + 1] = M.copy(f) end
        end
        return
    end
    for i, f in ipairs(from) do
        local t = to[i]
        if type(t) == "table" and not json.is_array(t) and type(f) == "table" and not json.is_array(f) then
            merge_into(t, f, by_name)
        else
            to[i] = M.copy(f)
        end
    end
end

merge_into = function(to, from, by_name)
    for k, f in pairs(from) do
        local t = to[k]
        if type(t) == "table" and json.is_array(t) and type(f) == "table" and json.is_array(f) then
            merge_array(t, f, by_name)
        elseif type(t) == "table" and t ~= json.null and not json.is_array(t) and type(f) == "table" then
            merge_into(t, f, by_name)
        else
            to[k] = M.copy(f)
        end
    end
end

-- merge_pod_templates(base, override, by_name) -> a new template, or nil when both are absent.
function M.merge_pod_templates(base, override, by_name)
    if not M.is_present(base) and not M.is_present(override) then return nil end
    if not M.is_present(override) then return M.copy(base) end
    if not M.is_present(base) then return M.copy(override) end
    local out = M.copy(base)
    merge_into(out, override, by_name)
    return out
end

-- split_main_container(template) -> pod (a copy, without the main container), main container (a copy or {})
-- as KubernetesUtils.loadPodFromTemplateFile splits a pod template before the decorators run.
function M.split_main_container(template)
    local pod = M.copy(M.is_present(template) and template or {})
    pod.metadata = pod.metadata or {}
    pod.spec = pod.spec or {}
    local main, others = nil, M.list()
    for _, c in ipairs(pod.spec.containers or {}) do
        if c.name == M.MAIN_CONTAINER and not main then main = c else others[#others + 1] = c end
    end
    pod.spec.containers = others
    return pod, main or {}
end

-- append(list, items) -> list (created and marked when nil) with items added at the end.
function M.append(list, items)
    list = list or M.list()
    if not json.is_array(list) then list = json.array(list) end
    for _, v in ipairs(items) do list[#list + 1] = v end
    return list
end

-- fnv64(text, basis) -> FNV-1a over text (64-bit, wrapping as Lua integers do).
local function fnv64(text, basis)
    local h = basis
    for i = 1, #text do
        h = h ~ text:byte(i)
        h = h * 0x100000001b3
    end
    return h
end

-- hex_id(text) -> 32 hexadecimal digits, the form of Flink's job and trigger ids, the same for the same text.
function M.hex_id(text)
    return string.format("%016x%016x", fnv64(text, -3750763034362895579), fnv64(text, 1469598103934665603))
end

M.tests = {
    ["hex ids are 32 hex digits, stable, and differ with the text"] = function()
        local a, b = M.hex_id("flink/basic-example|1"), M.hex_id("flink/basic-example|2")
        assert(#a == 32 and a:match("^%x+$") and a == M.hex_id("flink/basic-example|1") and a ~= b)
    end,
    ["owner reference needs a uid"] = function()
        assert(M.owner_reference({ apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "x" } }) == nil)
        local ref = M.owner_reference({ apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "x", uid = "u1" } })
        assert(ref.uid == "u1" and ref.controller == true and ref.blockOwnerDeletion == true and ref.kind == "Deployment")
    end,
    ["set_owner leaves ownerReferences out without a reference"] = function()
        local obj = M.set_owner({ metadata = {} }, nil)
        assert(obj.metadata.ownerReferences == nil)
    end,
    ["pod template merge keeps the base and merges containers by position"] = function()
        local base = { spec = { containers = json.array({ { name = "flink-main-container", image = "a" } }),
                                volumes = json.array({ { name = "v1" } }) } }
        local over = { spec = { containers = json.array({ { name = "flink-main-container", env = json.array({ { name = "X" } }) } }) } }
        local out = M.merge_pod_templates(base, over, false)
        assert(out.spec.containers[1].image == "a" and out.spec.containers[1].env[1].name == "X")
        assert(out.spec.volumes[1].name == "v1")
        assert(base.spec.containers[1].env == nil, "inputs are not modified")
    end,
    ["pod template merge by name matches containers by their name"] = function()
        local base = { spec = { containers = json.array({ { name = "sidecar" }, { name = "flink-main-container" } }) } }
        local over = { spec = { containers = json.array({ { name = "flink-main-container", image = "b" } }) } }
        local by_pos = M.merge_pod_templates(base, over, false)
        assert(by_pos.spec.containers[1].name == "flink-main-container" and #by_pos.spec.containers == 2)
        local by_name = M.merge_pod_templates(base, over, true)
        assert(by_name.spec.containers[1].name == "sidecar" and by_name.spec.containers[2].image == "b")
    end,
    ["pod template merge of two absent templates is absent"] = function()
        assert(M.merge_pod_templates(nil, nil) == nil)
        assert(M.merge_pod_templates({ spec = {} }, nil).spec)
    end,
    ["split_main_container takes the flink-main-container out of the pod"] = function()
        local pod, main = M.split_main_container({ spec = { containers = json.array({
            { name = "side" }, { name = "flink-main-container", image = "x" } }) } })
        assert(main.image == "x" and #pod.spec.containers == 1 and pod.spec.containers[1].name == "side")
        local _, empty = M.split_main_container(nil)
        assert(next(empty) == nil)
    end,
}

return M
