-- The TaskManagers of a standalone-mode cluster.
--
-- In native mode Flink's own ResourceManager creates TaskManager pods (from the pod-template
-- ConfigMap), so the operator makes no TaskManager object. In standalone mode nothing inside Flink
-- talks to Kubernetes, so the operator runs the TaskManagers as a Deployment of its own, built as
-- flink-kubernetes-standalone's StandaloneKubernetesTaskManagerFactory builds it.

local objects = require "flink_objects"
local config = require "flink_config"
local jobmanager = require "flink_jobmanager"

local M = {}

function M.selectors(c) return objects.selectors(c.name, "taskmanager", c.type_label) end

-- StandaloneKubernetesTaskManagerParameters.getLabels: kubernetes.taskmanager.labels, then the selectors.
function M.labels(c)
    return objects.merged(config.parse_map(c.cfg["kubernetes.taskmanager.labels"]), M.selectors(c))
end

-- replicas(c): spec.taskManager.replicas, else enough TaskManagers for the job's parallelism at
-- taskmanager.numberOfTaskSlots each (FlinkConfigBuilder.applyTaskManagerSpec), else 1 for a session.
function M.replicas(c)
    return config.int(c.cfg, "kubernetes.internal.taskmanager.replicas", 1)
end

-- taskmanager_deployment(c) -> Deployment <name>-taskmanager, or nil in native mode.
function M.taskmanager_deployment(c)
    if not c.standalone then return nil end
    local cfg = c.cfg
    local pod, main = objects.split_main_container(c.tm_template)
    local labels = M.labels(c)
    local annotations = config.parse_map(cfg["kubernetes.taskmanager.annotations"])
    jobmanager.decorate_pod(c, pod, "taskmanager", labels, annotations)
    jobmanager.decorate_main_container(c, main, "taskmanager", {
        { name = "taskmanager-rpc", containerPort = config.int(cfg, "taskmanager.rpc.port", 6122) },
    }, {})
    jobmanager.mount_secrets(c, pod, main)
    -- CmdStandaloneTaskManagerDecorator
    main.command = objects.list({ cfg["kubernetes.entry.path"] or objects.ENTRYPOINT })
    main.args = objects.list({ "taskmanager" })
    jobmanager.mount_flink_config(c, pod, main)
    pod.spec.containers = objects.append(pod.spec.containers, { main })

    return {
        apiVersion = "apps/v1",
        kind = "Deployment",
        metadata = objects.metadata(objects.taskmanager_deployment_name(c.name), c.namespace, labels, annotations),
        spec = {
            replicas = M.replicas(c),
            selector = { matchLabels = M.selectors(c) },
            template = { metadata = pod.metadata, spec = pod.spec },
        },
    }
end

return M
