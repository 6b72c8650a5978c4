-- The operator's own Deployment, for `flinkop install`: one small container running `flinkop run` as the
-- operator's ServiceAccount, with the policy ConfigMap mounted as its script directory and leader election on, so
-- a rolling update (or a second replica) never has two writers.
--
-- ctx.install (set only by `flinkop install`) carries the image, the policy ConfigMap's name, and which ConfigMap
-- key goes to which path under the script directory (modules live in scripts/, keys cannot hold a '/').
local k8s = require "k8s"

local M = {}

M.NAME = "flinkop"
M.SCRIPT_DIR = "/etc/flinkop/policy"
M.PROBE_PORT = 8085

local function labels()
  return { ["app.kubernetes.io/name"] = M.NAME, ["app.kubernetes.io/managed-by"] = k8s.MANAGED_BY }
end

-- The command line of `flinkop run` for the scope ctx describes.
function M.args(ctx)
  local args = { "run", "--script-dir", M.SCRIPT_DIR, "--operator-namespace", ctx.operator_namespace,
    "--leader-elect", "--probe-address", "0.0.0.0:" .. M.PROBE_PORT }
  if ctx.watch_namespaces ~= nil then
    args[#args + 1] = "--watch-namespaces"
    args[#args + 1] = table.concat(ctx.watch_namespaces, ",")
  end
  return json.array(args)
end

-- ConfigMap volume items in key order, so the output is the same on every run.
local function policy_items(files)
  local keys = {}
  for key in pairs(files) do keys[#keys + 1] = key end
  table.sort(keys)
  local items = {}
  for _, key in ipairs(keys) do items[#items + 1] = { key = key, path = files[key] } end
  return json.array(items)
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
        securityContext = { runAsNonRoot = true, runAsUser = 65532, seccompProfile = { type = "RuntimeDefault" } },
        containers = json.array({ {
          name = M.NAME,
          image = install.image,
          args = M.args(ctx),
          ports = json.array({ { name = "probes", containerPort = M.PROBE_PORT } }),
          livenessProbe = probe("/healthz"),
          readinessProbe = probe("/readyz"),
          -- A C daemon with a few MiB of caches: requests sized for it, not for a JVM.
          resources = { requests = { cpu = "50m", memory = "32Mi" }, limits = { memory = "256Mi" } },
          securityContext = { allowPrivilegeEscalation = false, readOnlyRootFilesystem = true,
            capabilities = { drop = json.array({ "ALL" }) } },
          volumeMounts = json.array({ { name = "policy", mountPath = M.SCRIPT_DIR, readOnly = true } }),
        } }),
        volumes = json.array({ {
          name = "policy",
          configMap = { name = install.policy_configmap, items = policy_items(install.policy_files) },
        } }),
      },
    },
  }
  return d
end

M.tests = {
  ["the Deployment runs flinkop as the given ServiceAccount with leader election"] = function()
    local ctx = { operator_namespace = "ops", install = { image = "reg/flinkop:1", policy_configmap = "flinkop-policy",
      policy_files = { ["rbac.lua"] = "rbac.lua", ["k8s.lua"] = "scripts/k8s.lua" } } }
    local d = M.deployment(ctx, "flink-operator")
    local pod = d.spec.template.spec
    assert(d.metadata.namespace == "ops" and pod.serviceAccountName == "flink-operator")
    assert(pod.containers[1].image == "reg/flinkop:1")
    assert(table.concat(pod.containers[1].args, " ") ==
      "run --script-dir /etc/flinkop/policy --operator-namespace ops --leader-elect --probe-address 0.0.0.0:8085")
    local items = pod.volumes[1].configMap.items
    assert(items[1].key == "k8s.lua" and items[1].path == "scripts/k8s.lua" and items[2].key == "rbac.lua")
  end,
  ["namespaced scope passes the watched namespaces on"] = function()
    local args = M.args({ operator_namespace = "ops", watch_namespaces = { "a", "b" } })
    assert(args[#args - 1] == "--watch-namespaces" and args[#args] == "a,b")
  end,
}

return M
