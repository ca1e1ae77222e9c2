// Command cco-upgradeable runs the cloud-credential-operator's own
// Upgradeable computation (pkg/operator/utils.UpgradeableCheck, at the
// version go.mod pins) against a cluster, with the credentials mode of its
// CloudCredential cluster, and prints the condition it returns as JSON
// (null: nothing blocks a minor upgrade). The upgrade-check tests use it as
// the oracle for the upgradeable-to annotation.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1 "github.com/openshift/api/operator/v1"
	"github.com/openshift/cloud-credential-operator/pkg/operator/utils"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	scheme := runtime.NewScheme()
	if err := configv1.Install(scheme); err != nil {
		fail(err)
	}
	if err := operatorv1.Install(scheme); err != nil {
		fail(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fail(err)
	}
	var cc operatorv1.CloudCredential
	if err := c.Get(context.Background(), types.NamespacedName{Name: "cluster"}, &cc); err != nil {
		fail(err)
	}
	cond := utils.UpgradeableCheck(c, cc.Spec.CredentialsMode, types.NamespacedName{Namespace: "kube-system", Name: "aws-creds"})
	out, err := json.Marshal(cond)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cco-upgradeable:", err)
	os.Exit(2)
}
