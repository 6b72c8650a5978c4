// Command kube is one binary holding the three Kubernetes programs the tests
// need, so a single pinned build serves the whole control plane. It picks the
// program from the basename it was called by (kube-apiserver,
// kube-controller-manager, kubectl) or, failing that, from its first argument.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones, as upstream's mains

	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl's client auth plugins

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

const usage = "usage: kube {kube-apiserver|kube-controller-manager|kubectl} [flags]"

// runKubectl mirrors cmd/kubectl: errors are printed by kubectl's own handler.
func runKubectl() int {
	// Verbosity must be set before the command is built, as cmd/kubectl does.
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err)
	}
	return 0
}

// run dispatches on name; os.Args[0] must already be the program's name so
// cobra and kubectl's plugin handler see the argument list they expect.
func run(name string) (int, bool) {
	switch name {
	case "kube-apiserver":
		return cli.Run(apiserver.NewAPIServerCommand()), true
	case "kube-controller-manager":
		return cli.Run(controllermanager.NewControllerManagerCommand()), true
	case "kubectl":
		return runKubectl(), true
	}
	return 0, false
}

func main() {
	if code, ok := run(filepath.Base(os.Args[0])); ok {
		os.Exit(code)
	}
	if len(os.Args) > 1 {
		name := os.Args[1]
		os.Args = append([]string{name}, os.Args[2:]...)
		if code, ok := run(name); ok {
			os.Exit(code)
		}
	}
	fmt.Fprintln(os.Stderr, usage)
	os.Exit(2)
}
