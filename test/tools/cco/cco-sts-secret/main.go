// Command cco-sts-secret runs the cloud-credential-operator's own AWS
// actuator (pkg/aws/actuator, at the version go.mod pins) on every
// CredentialsRequest of a cluster, as the operator's CredentialsRequest
// controller does: on an STS cluster in Manual mode it writes the Secret
// of each request that names a role in spec.providerSpec.stsIAMRoleARN.
// The operator tests use it where the real cloud-credential-operator
// would run, so what verify reads is what the operator writes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1 "github.com/openshift/api/operator/v1"
	minterv1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	"github.com/openshift/cloud-credential-operator/pkg/aws/actuator"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	for _, install := range []func(*runtime.Scheme) error{corev1.AddToScheme, configv1.Install, operatorv1.Install, minterv1.AddToScheme} {
		if err := install(scheme); err != nil {
			fail(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fail(err)
	}
	a, err := actuator.NewAWSActuator(c, c, c, scheme)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	var list minterv1.CredentialsRequestList
	if err := c.List(ctx, &list); err != nil {
		fail(err)
	}
	failed := false
	for i := range list.Items {
		cr := &list.Items[i]
		exists, err := a.Exists(ctx, cr)
		if err != nil {
			fail(err)
		}
		sync := a.Create
		if exists {
			sync = a.Update
		}
		// As the operator's controller does, an actuator error is the
		// request's (its status conditions), not the end of the sync.
		if err := sync(ctx, cr); err != nil {
			fmt.Fprintf(os.Stderr, "cco-sts-secret: CredentialsRequest %s/%s: %v\n", cr.Namespace, cr.Name, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cco-sts-secret:", err)
	os.Exit(2)
}
