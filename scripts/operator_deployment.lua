-- The operator's own Deployment, for `flinkop install`: one small container running `flinkop run` as the
-- operator's ServiceAccount. It reads its policies from the policy ConfigMap through the API (and reloads them
-- when the ConfigMap changes), and runs with leader election on, so a rolling update (or a second replica) never
-- has two writers.
--
-- ctx.install (set only by `flinkop install`) carries the image and the policy ConfigMap's name.
local k8s = require "k8s"

local M = {}

M.NAME = "flinkop"
M.PROBE_PORT = 8085
-- The root filesystem is read-only: FlinkSessionJob jars are downloaded (core/jar_fetch.h, FLINKOP_JAR_DIR) to
-- an emptyDir at /tmp, sized for a few jars at the default cap of 256 MiB.
M.JAR_DIR = "/tmp"
M.JAR_VOLUME_LIMIT = "1Gi"

local function labels()
  return { ["app.kubernetes.io/name"] = M.NAME, ["app.kubernetes.io/managed-by"] = k8s.MANAGED_BY }
end

-- The command line of `flinkop run` for the scope ctx describes.
function M.args(ctx)
  local args = { "run", "--policy-configmap", ctx.operator_namespace .. "/" .. ctx.install.policy_configmap,
    "--operator-namespace", ctx.operator_namespace, "--leader-elect", "--probe-address", "0.0.0.0:" .. M.PROBE_PORT }
  if ctx.watch_namespaces ~= nil then
    args[#args + 1] = "--watch-namespaces"
    args[#args + 1] = table.concat(ctx.watch_namespaces, ",")
  end
  return json.array(args)
end

local function probe(path)
  return { httpGet = { path = path, port = "probes" }, periodSeconds = 10, failureThreshold = 3 }
end

function M.deployment(ctx, service_account)
  local install = ctx.install
  local d = k8s.object("apps/v1", "Deployment", M.NAME, ctx.operator_namespace, labels())
  d.spec = {
    replicas = 1,
    selector = { matchLabels = { ["app.kubernetes.io/name"] = M.NAME } },
    template = {
      metadata = { labels = labels() },
      spec = {
        serviceAccountName = service_account,
        volumes = json.array({ { name = "jars", emptyDir = { sizeLimit = M.JAR_VOLUME_LIMIT } } }),
        securityContext = { runAsNonRoot = true, runAsUser = 65532, seccompProfile = { type = "RuntimeDefault" } },
        containers = json.array({ {
          name = M.NAME,
          image = install.image,
          args = M.args(ctx),
          env = json.array({ { name = "FLINKOP_JAR_DIR", value = M.JAR_DIR } }),
          volumeMounts = json.array({ { name = "jars", mountPath = M.JAR_DIR } }),
          ports = json.array({ { name = "probes", containerPort = M.PROBE_PORT } }),
          livenessProbe = probe("/healthz"),
          readinessProbe = probe("/readyz"),
          -- A C daemon with a few MiB of caches: requests sized for it, not for a JVM.
          resources = { requests = { cpu = "50m", memory = "32Mi" }, limits = { memory = "256Mi" } },
          securityContext = { allowPrivilegeEscalation = false, readOnlyRootFilesystem = true,
            capabilities = { drop = json.array({ "ALL" }) } },
        } }),
      },
    },
  }
  return d
end

M.tests = {
  ["the Deployment runs flinkop as the given ServiceAccount with leader election"] = function()
    local ctx = { operator_namespace = "ops", install = { image = "reg/flinkop:1", policy_configmap = "flinkop-policy" } }
    local d = M.deployment(ctx, "flink-operator")
    local pod = d.spec.template.spec
    assert(d.metadata.namespace == "ops" and pod.serviceAccountName == "flink-operator")
    assert(pod.containers[1].image == "reg/flinkop:1")
    assert(pod.volumes[1].emptyDir.sizeLimit == "1Gi" and pod.containers[1].volumeMounts[1].mountPath == "/tmp",
      "a writable directory for session jobs' jars under a read-only root")
    assert(pod.containers[1].env[1].name == "FLINKOP_JAR_DIR" and pod.containers[1].env[1].value == "/tmp")
    assert(table.concat(pod.containers[1].args, " ") == "run --policy-configmap ops/flinkop-policy " ..
      "--operator-namespace ops --leader-elect --probe-address 0.0.0.0:8085")
  end,
  ["namespaced scope passes the watched namespaces on"] = function()
    local args = M.args({ operator_namespace = "ops", watch_namespaces = { "a", "b" },
      install = { policy_configmap = "p" } })
    assert(args[#args - 1] == "--watch-namespaces" and args[#args] == "a,b")
  end,
}

return M
