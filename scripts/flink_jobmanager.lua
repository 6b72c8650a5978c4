-- The JobManager side of a Flink cluster on Kubernetes: what Flink's KubernetesJobManagerFactory
-- builds when the upstream operator deploys a FlinkDeployment (native mode), and what the operator's
-- StandaloneKubernetesJobManagerFactory builds in standalone mode.
--
--   jobmanager_deployment(c)       Deployment <name>             Init/Cmd/FlinkConfMount/PodTemplateMount decorators
--   rest_service(c)                Service <name>-rest           ExternalServiceDecorator
--   internal_service(c)            Service <name> (headless)     InternalServiceDecorator, only without HA
--   flink_config_map(c)            ConfigMap flink-config-<name> FlinkConfMountDecorator
--   pod_template_config_map(c)     ConfigMap pod-template-<name> PodTemplateMountDecorator (native, with a TM template)
--   ingress(c)                     Ingress <name>                the operator's IngressUtils
--
-- `c` is flink_config.cluster(resource). Owner references are added by the caller.

local json = require "json"
local objects = require "flink_objects"
local config = require "flink_config"
local validate = require "flink_validate"

local M = {}

-- FlinkUtils.setGenerationAnnotation: the JobManager carries the generation it was deployed for.
M.GENERATION_ANNOTATION = "flinkdeployment.flink.apache.org/generation"

local function port(cfg, key, default)
    return math.tointeger(tonumber(cfg[key] or "")) or default
end

function M.rest_port(cfg) return port(cfg, "rest.port", 8081) end
function M.rpc_port(cfg) return port(cfg, "jobmanager.rpc.port", 6123) end
function M.blob_port(cfg) return port(cfg, "blob.server.port", 6124) end

function M.common_labels(c) return objects.common_labels(c.name, c.type_label) end
function M.selectors(c) return objects.selectors(c.name, "jobmanager", c.type_label) end

-- KubernetesJobManagerParameters.getLabels: the user's kubernetes.jobmanager.labels, then the selectors.
function M.labels(c)
    return objects.merged(config.parse_map(c.cfg["kubernetes.jobmanager.labels"]), M.selectors(c))
end

function M.annotations(c)
    local a = config.parse_map(c.cfg["kubernetes.jobmanager.annotations"])
    if c.generation then a[M.GENERATION_ANNOTATION] = tostring(c.generation) end
    return a
end

function M.image(c)
    return c.cfg["kubernetes.container.image.ref"] or c.cfg["kubernetes.container.image"]
end

-- FlinkUtils.addStartupProbe (on by default: kubernetes.operator.jm-deployment.startup.probe.enabled):
-- the JobManager only counts as started once its REST endpoint answers.
local function with_startup_probe(c, template)
    if not config.bool(c.cfg, "kubernetes.operator.jm-deployment.startup.probe.enabled", true) then return template end
    local out = objects.copy(template or {})
    out.spec = out.spec or {}
    out.spec.containers = out.spec.containers or objects.list()
    local main
    for _, ct in ipairs(out.spec.containers) do
        if ct.name == objects.MAIN_CONTAINER then main = ct; break end
    end
    if not main then
        main = { name = objects.MAIN_CONTAINER }
        out.spec.containers = objects.append(out.spec.containers, { main })
    end
    if main.startupProbe == nil then
        main.startupProbe = { failureThreshold = 2147483647, periodSeconds = 1,
                              httpGet = { path = "/config", port = "rest" } }
    end
    return out
end

-- env_from_prefix(cfg, prefix) -> [{name, value}] for containerized.master.env.X=value keys, sorted.
local function env_from_prefix(cfg, prefix)
    local names = {}
    for k in pairs(cfg) do
        if k:sub(1, #prefix) == prefix and #k > #prefix then names[#names + 1] = k:sub(#prefix + 1) end
    end
    table.sort(names)
    local env = {}
    for i, n in ipairs(names) do env[i] = { name = n, value = cfg[prefix .. n] } end
    return env
end

-- decorate_pod(c, pod, role) -- the pod-level part of InitJobManagerDecorator / InitTaskManagerDecorator:
-- service account overwritten (the configuration is explicit), labels/annotations/pull secrets/node
-- selector merged into what the template has.
function M.decorate_pod(c, pod, role, labels, annotations)
    local cfg = c.cfg
    local sa = cfg["kubernetes." .. role .. ".service-account"] or cfg["kubernetes.service-account"]
    if sa then
        pod.spec.serviceAccount = sa
        pod.spec.serviceAccountName = sa
    end
    if config.bool(cfg, "kubernetes.hostnetwork.enabled", false) then
        pod.spec.hostNetwork = true
        pod.spec.dnsPolicy = "ClusterFirstWithHostNet"
    end
    pod.metadata.labels = objects.merged(pod.metadata.labels, labels)
    if next(annotations) then pod.metadata.annotations = objects.merged(pod.metadata.annotations, annotations) end
    local secrets = {}
    for s in tostring(cfg["kubernetes.container.image.pull-secrets"] or ""):gmatch("[^;,]+") do
        secrets[#secrets + 1] = { name = s:match("^%s*(.-)%s*$") }
    end
    if #secrets > 0 then pod.spec.imagePullSecrets = objects.append(pod.spec.imagePullSecrets, secrets) end
    local selector = config.parse_map(cfg["kubernetes." .. role .. ".node-selector"])
    if next(selector) then pod.spec.nodeSelector = objects.merged(pod.spec.nodeSelector, selector) end
end

-- decorate_main_container(c, main, role, ports, env) -- the container part of the Init decorators:
-- name, image and pull policy (explicit configuration beats the template, the template beats the
-- default), resources (KubernetesUtils.getResourceRequirements), ports and env appended.
function M.decorate_main_container(c, main, role, ports, env)
    local cfg = c.cfg
    main.name = objects.MAIN_CONTAINER
    main.image = M.image(c) or main.image
    main.imagePullPolicy = cfg["kubernetes.container.image.pull-policy"] or main.imagePullPolicy or "IfNotPresent"
    main.resources = config.resource_requirements(main.resources, config.component_resources(cfg, role))
    if not config.bool(cfg, "kubernetes.hostnetwork.enabled", false) then
        main.ports = objects.append(main.ports, ports)
    end
    main.env = objects.append(main.env, env)
    if cfg["kubernetes.flink.log.dir"] then
        main.env = objects.append(main.env, { { name = "FLINK_LOG_DIR", value = cfg["kubernetes.flink.log.dir"] } })
    end
end

-- EnvSecretsDecorator (kubernetes.env.secretKeyRef = "env:E,secret:S,key:K;...") and
-- MountSecretsDecorator (kubernetes.secrets = "secret:/mount/path,..."): secrets the user asked
-- Flink to hand to its containers.
function M.mount_secrets(c, pod, main)
    local env = {}
    for item in tostring(c.cfg["kubernetes.env.secretKeyRef"] or ""):gmatch("[^;]+") do
        local ref = config.parse_map(item)
        if ref.env and ref.secret and ref.key then
            env[#env + 1] = { name = ref.env, valueFrom = { secretKeyRef = { name = ref.secret, key = ref.key } } }
        end
    end
    if #env > 0 then main.env = objects.append(main.env, env) end
    local mounts, volumes = {}, {}
    for secret, path in pairs(config.parse_map(c.cfg["kubernetes.secrets"])) do
        mounts[#mounts + 1] = { name = secret .. "-volume", mountPath = path }
        volumes[#volumes + 1] = { name = secret .. "-volume", secret = { secretName = secret } }
    end
    table.sort(mounts, function(a, b) return a.name < b.name end)
    table.sort(volumes, function(a, b) return a.name < b.name end)
    if #mounts > 0 then
        main.volumeMounts = objects.append(main.volumeMounts, mounts)
        pod.spec.volumes = objects.append(pod.spec.volumes, volumes)
    end
end

-- FlinkConfMountDecorator: the configuration ConfigMap mounted over /opt/flink/conf.
function M.mount_flink_config(c, pod, main)
    local items = {}
    for _, file in ipairs({ objects.LOGBACK_FILE, objects.LOG4J_FILE }) do
        if M.log_files(c)[file] then items[#items + 1] = { key = file, path = file } end
    end
    local conf_file = config.file_name(c.version)
    items[#items + 1] = { key = conf_file, path = conf_file }
    main.volumeMounts = objects.append(main.volumeMounts, {
        { name = objects.FLINK_CONF_VOLUME, mountPath = c.cfg["kubernetes.flink.conf.dir"] or objects.FLINK_CONF_DIR } })
    pod.spec.volumes = objects.append(pod.spec.volumes, {
        { name = objects.FLINK_CONF_VOLUME,
          configMap = { name = objects.config_map_name(c.name), items = objects.list(items) } } })
end

-- PodTemplateMountDecorator: the TaskManager pod template, for Flink's ResourceManager to read.
local function mount_pod_template(c, pod, main)
    if c.standalone or not c.tm_template then return end
    main.volumeMounts = objects.append(main.volumeMounts, {
        { name = objects.POD_TEMPLATE_VOLUME, mountPath = objects.POD_TEMPLATE_DIR } })
    pod.spec.volumes = objects.append(pod.spec.volumes, {
        { name = objects.POD_TEMPLATE_VOLUME,
          configMap = { name = objects.pod_template_config_map_name(c.name),
                        items = objects.list({ { key = objects.TM_POD_TEMPLATE_FILE, path = objects.TM_POD_TEMPLATE_FILE } }) } } })
end

-- CmdJobManagerDecorator (native): `bash -c "kubernetes-jobmanager.sh <target> <entrypoint args>"`.
-- CmdStandaloneJobManagerDecorator: the image's entrypoint with `standalone-job ...` or `jobmanager`.
function M.command(c)
    local cfg = c.cfg
    local entrypoint = cfg["kubernetes.entry.path"] or objects.ENTRYPOINT
    if not c.standalone then
        local target = c.application and "kubernetes-application" or "kubernetes-session"
        local script = "kubernetes-jobmanager.sh " .. target .. " " .. (cfg["kubernetes.jobmanager.entrypoint.args"] or "")
        return objects.list({ entrypoint }), objects.list({ "bash", "-c", script })
    end
    local rpc = "-Djobmanager.rpc.address=$(_POD_IP_ADDRESS)"
    local args = {}
    if c.application then
        local job = c.spec.job
        args[1] = "standalone-job"
        if job.entryClass and job.entryClass ~= json.null then
            args[#args + 1] = "--job-classname"; args[#args + 1] = job.entryClass
        end
        if job.allowNonRestoredState == true then args[#args + 1] = "--allowNonRestoredState" end
        if cfg["execution.savepoint.path"] then
            args[#args + 1] = "--fromSavepoint"; args[#args + 1] = cfg["execution.savepoint.path"]
        end
        if c.ha then args[#args + 1] = rpc end
        for _, a in ipairs(objects.is_present(job.args) and job.args or {}) do args[#args + 1] = config.scalar_text(a) end
    else
        args[1] = "jobmanager"
        if c.ha then args[2] = rpc end
    end
    return objects.list({ entrypoint }), objects.list(args)
end

-- jobmanager_deployment(c) -> the JobManager Deployment (KubernetesJobManagerFactory.createJobManagerDeployment)
function M.jobmanager_deployment(c)
    local cfg = c.cfg
    local pod, main = objects.split_main_container(with_startup_probe(c, c.jm_template))
    local labels, annotations = M.labels(c), M.annotations(c)
    M.decorate_pod(c, pod, "jobmanager", labels, annotations)
    local env = env_from_prefix(cfg, "containerized.master.env.")
    env[#env + 1] = { name = "_POD_IP_ADDRESS", valueFrom = { fieldRef = { apiVersion = "v1", fieldPath = "status.podIP" } } }
    M.decorate_main_container(c, main, "jobmanager", {
        { name = "rest", containerPort = M.rest_port(cfg) },
        { name = "jobmanager-rpc", containerPort = M.rpc_port(cfg) },
        { name = "blobserver", containerPort = M.blob_port(cfg) },
    }, env)
    M.mount_secrets(c, pod, main)
    main.command, main.args = M.command(c)
    M.mount_flink_config(c, pod, main)
    mount_pod_template(c, pod, main)
    -- Flink adds the main container after the template's other containers.
    pod.spec.containers = objects.append(pod.spec.containers, { main })

    return {
        apiVersion = "apps/v1",
        kind = "Deployment",
        metadata = objects.metadata(c.name, c.namespace, labels, annotations),
        spec = {
            replicas = config.int(cfg, "kubernetes.jobmanager.replicas", 1),
            selector = { matchLabels = M.selectors(c) },
            template = { metadata = pod.metadata, spec = pod.spec },
        },
    }
end

-- rest_service(c) -> Service <name>-rest (ExternalServiceDecorator; type from
-- kubernetes.rest-service.exposed.type, which the operator defaults to ClusterIP).
function M.rest_service(c)
    local cfg = c.cfg
    local exposed = cfg["kubernetes.rest-service.exposed.type"] or "ClusterIP"
    local spec = {
        type = exposed == "Headless_ClusterIP" and "ClusterIP" or exposed,
        ports = objects.list({ { name = "rest", port = M.rest_port(cfg),
                                 targetPort = port(cfg, "rest.bind-port", M.rest_port(cfg)) } }),
        selector = M.selectors(c),
    }
    if exposed == "Headless_ClusterIP" then spec.clusterIP = "None" end
    return {
        apiVersion = "v1",
        kind = "Service",
        metadata = objects.metadata(objects.rest_service_name(c.name), c.namespace, M.common_labels(c),
            config.parse_map(cfg["kubernetes.rest-service.annotations"])),
        spec = spec,
    }
end

-- internal_service(c) -> the headless Service <name> the TaskManagers use to reach the JobManager,
-- or nil with HA on (then TaskManagers find the leader's pod IP through the HA services).
function M.internal_service(c)
    if c.ha then return nil end
    return {
        apiVersion = "v1",
        kind = "Service",
        metadata = objects.metadata(c.name, c.namespace, M.common_labels(c)),
        spec = {
            clusterIP = "None",
            ports = objects.list({ { name = "jobmanager-rpc", port = M.rpc_port(c.cfg) },
                                   { name = "blobserver", port = M.blob_port(c.cfg) } }),
            selector = M.selectors(c),
        },
    }
end

-- A console logging setup for clusters whose spec.logConfiguration has none: the configuration
-- volume replaces /opt/flink/conf, so without a file Flink would log nothing. Upstream ships its
-- helm chart's conf/log4j-console.properties the same way.
M.DEFAULT_LOG4J = table.concat({
    "# Written by flinkop: spec.logConfiguration has no log4j-console.properties.",
    "monitorInterval = 30",
    "rootLogger.level = INFO",
    "rootLogger.appenderRef.console.ref = ConsoleAppender",
    "appender.console.name = ConsoleAppender",
    "appender.console.type = CONSOLE",
    "appender.console.layout.type = PatternLayout",
    "appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n",
    "logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline",
    "logger.netty.level = OFF",
    "",
}, "\n")

-- log_files(c) -> { [file name] = text } shipped next to the configuration file.
function M.log_files(c)
    local log = objects.is_present(c.spec.logConfiguration) and c.spec.logConfiguration or {}
    local files = {}
    for _, name in ipairs({ objects.LOG4J_FILE, objects.LOGBACK_FILE }) do
        if objects.is_present(log[name]) then files[name] = log[name] end
    end
    if next(files) == nil then files[objects.LOG4J_FILE] = M.DEFAULT_LOG4J end
    return files
end

-- flink_config_map(c) -> ConfigMap flink-config-<name>: the configuration file and the log files.
function M.flink_config_map(c)
    local data = objects.merged(M.log_files(c))
    data[config.file_name(c.version)] = config.render(c.cfg, c.version)
    return {
        apiVersion = "v1",
        kind = "ConfigMap",
        metadata = objects.metadata(objects.config_map_name(c.name), c.namespace, M.common_labels(c)),
        data = data,
    }
end

-- pod_template_config_map(c) -> ConfigMap pod-template-<name>, or nil when there is no TaskManager
-- pod template (or in standalone mode, where we build the TaskManagers ourselves). The template is
-- written as JSON, which YAML parsers (Flink's included) read as YAML.
function M.pod_template_config_map(c)
    if c.standalone or not c.tm_template then return nil end
    return {
        apiVersion = "v1",
        kind = "ConfigMap",
        metadata = objects.metadata(objects.pod_template_config_map_name(c.name), c.namespace, M.common_labels(c)),
        data = { [objects.TM_POD_TEMPLATE_FILE] = json.encode(c.tm_template) .. "\n" },
    }
end

-- ingress(c) -> Ingress <name> to the REST service, or nil without spec.ingress (IngressUtils).
function M.ingress(c)
    local spec = c.spec.ingress
    if not objects.is_present(spec) then return nil end
    local url = assert(validate.ingress_url(spec.template, c.name, c.namespace))
    local path = { pathType = "ImplementationSpecific",
                   backend = { service = { name = objects.rest_service_name(c.name),
                                           port = { number = M.rest_port(c.cfg) } } } }
    if url.path ~= "" then path.path = url.path end
    local rule = { http = { paths = objects.list({ path }) } }
    if url.host ~= "" then rule.host = url.host end
    local ingress_spec = { rules = objects.list({ rule }) }
    if objects.is_present(spec.className) then ingress_spec.ingressClassName = spec.className end
    if objects.is_present(spec.tls) and #spec.tls > 0 then ingress_spec.tls = spec.tls end
    local labels = objects.merged(objects.is_present(spec.labels) and spec.labels or {}, M.common_labels(c))
    return {
        apiVersion = "networking.k8s.io/v1",
        kind = "Ingress",
        metadata = objects.metadata(c.name, c.namespace, labels,
            objects.is_present(spec.annotations) and objects.copy(spec.annotations) or nil),
        spec = ingress_spec,
    }
end

local function cluster(tweak)
    local fd = validate.example()
    fd.metadata.generation = 7
    if tweak then tweak(fd.spec) end
    return config.cluster(fd)
end

M.tests = {
    ["a headless rest service is a ClusterIP service without a cluster ip"] = function()
        local svc = M.rest_service(cluster(function(spec)
            spec.flinkConfiguration["kubernetes.rest-service.exposed.type"] = "Headless_ClusterIP"
        end))
        assert(svc.spec.type == "ClusterIP" and svc.spec.clusterIP == "None")
    end,
    ["jobmanager labels, annotations and env come from the flink configuration"] = function()
        local dep = M.jobmanager_deployment(cluster(function(spec)
            spec.flinkConfiguration["kubernetes.jobmanager.labels"] = "team:data,component:overridden"
            spec.flinkConfiguration["kubernetes.jobmanager.annotations"] = "a:b"
            spec.flinkConfiguration["containerized.master.env.TZ"] = "UTC"
        end))
        local labels = dep.spec.template.metadata.labels
        assert(labels.team == "data" and labels.component == "jobmanager", "selectors win over user labels")
        assert(dep.metadata.annotations.a == "b" and dep.metadata.annotations[M.GENERATION_ANNOTATION] == "7")
        local env = dep.spec.template.spec.containers[1].env
        assert(env[1].name == "TZ" and env[1].value == "UTC" and env[2].name == "_POD_IP_ADDRESS")
    end,
    ["a pull policy and pull secrets from the spec reach the pod"] = function()
        local dep = M.jobmanager_deployment(cluster(function(spec)
            spec.imagePullPolicy = "Always"
            spec.flinkConfiguration["kubernetes.container.image.pull-secrets"] = "regcred;other"
        end))
        local pod = dep.spec.template.spec
        assert(pod.containers[1].imagePullPolicy == "Always")
        assert(pod.imagePullSecrets[1].name == "regcred" and pod.imagePullSecrets[2].name == "other")
    end,
    ["secrets named in the flink configuration are mounted and exported"] = function()
        local dep = M.jobmanager_deployment(cluster(function(spec)
            spec.flinkConfiguration["kubernetes.secrets"] = "basic-secure-cert:/opt/flink/tls-cert"
            spec.flinkConfiguration["kubernetes.env.secretKeyRef"] = "env:PASSWORD,secret:creds,key:pw"
        end))
        local pod = dep.spec.template.spec
        local ct = pod.containers[1]
        assert(ct.volumeMounts[1].name == "basic-secure-cert-volume" and ct.volumeMounts[1].mountPath == "/opt/flink/tls-cert")
        assert(pod.volumes[1].secret.secretName == "basic-secure-cert")
        assert(ct.env[2].name == "PASSWORD" and ct.env[2].valueFrom.secretKeyRef.key == "pw")
    end,
    ["the startup probe can be switched off"] = function()
        local dep = M.jobmanager_deployment(cluster(function(spec)
            spec.flinkConfiguration["kubernetes.operator.jm-deployment.startup.probe.enabled"] = false
        end))
        assert(dep.spec.template.spec.containers[1].startupProbe == nil)
    end,
    ["standalone application jobmanagers run standalone-job with the entry class and args"] = function()
        local _, args = M.command(cluster(function(spec)
            spec.mode = "standalone"
            spec.job.entryClass = "com.example.Main"
            spec.job.args = json.array({ "--input", "x" })
            spec.flinkConfiguration["high-availability.type"] = "kubernetes"
        end))
        assert(table.concat(args, " ") ==
            "standalone-job --job-classname com.example.Main -Djobmanager.rpc.address=$(_POD_IP_ADDRESS) --input x")
    end,
}

return M
