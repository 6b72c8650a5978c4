# Targets for the real Kubernetes control plane the tests run against.
# Include from the top Makefile:  include tests/cluster/cluster.mk
#
#   make cluster-build   build the pinned kube binary (cached after the first time)
#   make cluster-up      start etcd, kube-apiserver, kube-controller-manager
#   make cluster-down    stop them
#   make cluster-test    up, tests/cluster_test.sh, down (always), test's status
#
# To run other suites against one cluster:
#   $(CLUSTER_WITH) tests/foo_test.sh
# starts a private cluster (its own state dir and ports), runs the command
# with KUBECONFIG etc. set, stops and removes the cluster whatever happened,
# and fails when the command or the start failed.

CLUSTER_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
CLUSTER_WITH := $(CLUSTER_DIR)/with-cluster
CLUSTER_TESTS ?= tests/cluster_test.sh

.PHONY: cluster-build cluster-up cluster-down cluster-test cluster-tests

cluster-build:
	$(CLUSTER_DIR)/build

cluster-up:
	$(CLUSTER_DIR)/up

cluster-down:
	$(CLUSTER_DIR)/down

cluster-test:
	$(CLUSTER_WITH) $(CLUSTER_TESTS)

# The name the top Makefile's `test` uses.
cluster-tests: cluster-test
