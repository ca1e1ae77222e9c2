package clustercheck

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ccov1 "github.com/openshift/cloud-credential-operator/pkg/apis/cloudcredential/v1"
	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/oc-sts/oc-sts/pkg/awsid"
	"github.com/oc-sts/oc-sts/pkg/awsread"
	"github.com/oc-sts/oc-sts/pkg/limits"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/stsmanifests"
)

// CredentialsRequestGVR is the cloud-credential-operator's CredentialsRequest resource.
var CredentialsRequestGVR = schema.GroupVersionResource{Group: "cloudcredential.openshift.io", Version: "v1", Resource: "credentialsrequests"}

// CloudCredentialGVR is the cloud credential operator's config (singleton "cluster").
var CloudCredentialGVR = schema.GroupVersionResource{Group: "operator.openshift.io", Version: "v1", Resource: "cloudcredentials"}

var (
	authenticationGVR = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "authentications"}
)

// ReadCluster reads what the checks need from the cluster (read-only).
func ReadCluster(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface) (ClusterFacts, error) {
	var f ClusterFacts
	_, err := kube.CoreV1().Secrets("kube-system").Get(ctx, "aws-creds", metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return f, fmt.Errorf("reading secret kube-system/aws-creds: %w", err)
	}
	f.RootSecret = err == nil
	if f.CredentialsMode, err = clusterField(ctx, dyn, CloudCredentialGVR, "spec", "credentialsMode"); err != nil {
		return f, err
	}
	if f.Issuer, err = clusterField(ctx, dyn, authenticationGVR, "spec", "serviceAccountIssuer"); err != nil {
		return f, err
	}
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		return f, fmt.Errorf("reading the API server's signing keys (/openid/v1/jwks): %w", err)
	}
	if err := json.Unmarshal(raw, &f.JWKS); err != nil {
		return f, fmt.Errorf("/openid/v1/jwks: %w", err)
	}
	list, err := dyn.Resource(CredentialsRequestGVR).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return f, fmt.Errorf("listing CredentialsRequests: %w", err)
	}
	if list != nil {
		for _, item := range list.Items {
			r, ok, err := awsRequest(item)
			if err != nil {
				return f, err
			}
			if !ok {
				continue
			}
			r.Secret, err = ReadSecret(ctx, kube, r.SecretNamespace, r.SecretName)
			if err != nil {
				return f, err
			}
			f.Requests = append(f.Requests, r)
		}
	}
	return f, nil
}

// clusterField reads a field of the cluster-scoped singleton "cluster";
// "" when the object or its resource type does not exist.
func clusterField(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, fields ...string) (string, error) {
	obj, err := dyn.Resource(gvr).Get(ctx, "cluster", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s cluster: %w", gvr.Resource, err)
	}
	v, _, _ := unstructured.NestedString(obj.Object, fields...)
	return v, nil
}

func awsRequest(item unstructured.Unstructured) (Request, bool, error) {
	var cr ccov1.CredentialsRequest
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &cr); err != nil {
		return Request{}, false, fmt.Errorf("CredentialsRequest %s/%s: %w", item.GetNamespace(), item.GetName(), err)
	}
	if cr.Spec.ProviderSpec == nil {
		return Request{}, false, nil
	}
	var spec ccov1.AWSProviderSpec
	if err := json.Unmarshal(cr.Spec.ProviderSpec.Raw, &spec); err != nil || spec.Kind != "AWSProviderSpec" {
		return Request{}, false, nil
	}
	return Request{Namespace: cr.Namespace, Name: cr.Name, SecretNamespace: cr.Spec.SecretRef.Namespace, SecretName: cr.Spec.SecretRef.Name,
		ServiceAccounts: cr.Spec.ServiceAccountNames, Statements: spec.StatementEntries, STSRoleARN: spec.STSIAMRoleARN, Payload: IsPayload(cr.Annotations)}, true, nil
}

// ReadSecret reads the credentials key of a credentials Secret.
func ReadSecret(ctx context.Context, kube kubernetes.Interface, ns, name string) (Secret, error) {
	sec, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Secret{}, nil
	}
	if err != nil {
		return Secret{}, fmt.Errorf("reading secret %s/%s: %w", ns, name, err)
	}
	s := Secret{Found: true}
	_, s.StaticKeys = sec.Data["aws_access_key_id"]
	creds, ok := sec.Data[stsmanifests.CredentialsKey]
	if !ok {
		s.Unparseable = true
		return s, nil
	}
	c := stsmanifests.ParseCredentials(string(creds))
	s.RoleARN, s.TokenFile, s.Regional, s.StaticKeys = c.RoleARN, c.TokenFile, c.Regional, s.StaticKeys || c.StaticKeys
	return s, nil
}

// FetchPublished reads the discovery document and its JWKS as anyone on
// the internet would: anonymously, over HTTPS, through the environment's proxy.
func FetchPublished(ctx context.Context, issuer string) Published {
	var p Published
	var disco struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if p.DiscoveryErr = fetchJSON(ctx, issuer+"/"+oidckeys.DiscoveryPath, &disco); p.DiscoveryErr != nil {
		return p
	}
	p.Issuer = disco.Issuer
	p.JWKSErr = fetchJSON(ctx, disco.JWKSURI, &p.JWKS)
	return p
}

var anonymous = &http.Client{Timeout: 20 * time.Second} // DefaultTransport: HTTPS_PROXY, system CAs (SSL_CERT_FILE)

func fetchJSON(ctx context.Context, url string, into any) error {
	if !strings.HasPrefix(url, "https://") {
		return fmt.Errorf("%q is not an https URL", url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := anonymous.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	body, err := limits.ReadAll(resp.Body, "GET "+url, limits.HTTPBody)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("GET %s: not JSON: %w", url, err)
	}
	return nil
}

// ReadAWS reads the provider and the roles the Secrets name, and the
// roles of more ARNs (those Subscriptions give day-2 operators).
func ReadAWS(ctx context.Context, c awsread.IAM, providerARN string, requests []Request, more ...string) (AWSFacts, error) {
	f := AWSFacts{ProviderARN: providerARN, Roles: map[string]*Role{}}
	p, err := awsread.ReadProvider(ctx, c, providerARN)
	if err != nil {
		return f, err
	}
	if p.Exists {
		f.Provider = &Provider{ClientIDs: p.ClientIDs}
	}
	arns := append([]string(nil), more...)
	for _, r := range requests {
		arns = append(arns, r.Secret.RoleARN)
	}
	for _, arn := range arns {
		if _, read := f.Roles[arn]; arn == "" || read || RoleARNProblem(arn, providerARN) != "" {
			continue // never looked up by name in the caller's account
		}
		role, err := readRole(ctx, c, arn)
		if err != nil {
			return f, err
		}
		f.Roles[arn] = role
	}
	return f, nil
}

// readRole reads the role of an ARN RoleARNProblem accepts.
func readRole(ctx context.Context, c awsread.IAM, roleARN string) (*Role, error) {
	a, _ := arn.Parse(roleARN)
	state, ok, err := awsread.ReadRole(ctx, c, a.Resource[strings.LastIndex(a.Resource, "/")+1:])
	if err != nil || !ok {
		return nil, err
	}
	role := &Role{Trust: state.Trust, Tags: state.Tags}
	for _, doc := range state.Inline {
		role.Policies = append(role.Policies, doc)
	}
	for _, p := range state.Attached {
		doc, err := awsread.PolicyDocument(ctx, c, p)
		if err != nil {
			return nil, err
		}
		role.Policies = append(role.Policies, doc)
	}
	if state.Boundary != "" {
		if role.Boundary, err = awsread.PolicyDocument(ctx, c, state.Boundary); err != nil {
			return nil, err
		}
	}
	return role, nil
}

// WebIdentity is the STS call a token exchange makes.
type WebIdentity interface {
	AssumeRoleWithWebIdentity(context.Context, *sts.AssumeRoleWithWebIdentityInput, ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error)
}

// ExchangeTokens gets a token of each request's first service account for
// the openshift audience and trades it at STS for the Secret's role: what
// the operator's pods do. Tokens and credentials are neither kept nor shown.
func ExchangeTokens(ctx context.Context, kube kubernetes.Interface, stsClient WebIdentity, requests []Request) map[string]error {
	out := map[string]error{}
	for _, r := range requests {
		if r.Secret.RoleARN == "" || len(r.ServiceAccounts) == 0 {
			continue
		}
		exp := int64(600)
		tok, err := kube.CoreV1().ServiceAccounts(r.SecretNamespace).CreateToken(ctx, r.ServiceAccounts[0],
			&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{Audiences: []string{awsid.Audience}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if err != nil {
			out[r.Key()] = fmt.Errorf("TokenRequest for %s/%s: %w", r.SecretNamespace, r.ServiceAccounts[0], err)
			continue
		}
		_, err = stsClient.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String(r.Secret.RoleARN), RoleSessionName: aws.String("oc-sts-verify"), WebIdentityToken: &tok.Status.Token})
		out[r.Key()] = err
	}
	return out
}

var infrastructureGVR = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "infrastructures"}

// ReadRegion is the cluster's AWS region (Infrastructure cluster), or "".
func ReadRegion(ctx context.Context, dyn dynamic.Interface) string {
	region, _ := clusterField(ctx, dyn, infrastructureGVR, "status", "platformStatus", "aws", "region")
	return region
}
