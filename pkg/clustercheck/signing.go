package clustercheck

import (
	"context"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Which key does the cluster sign with now? /openid/v1/jwks lists every
// key the API server accepts (in OpenShift also kube-controller-manager's
// legacy one, and every key a rotation replaced); only a fresh token says
// which one signs.

// TokenKeyID gets a token of namespace/serviceAccount (audience openshift,
// the shortest lifetime) and returns the kid of its header. The token is
// neither kept nor shown.
func TokenKeyID(ctx context.Context, kube kubernetes.Interface, namespace, serviceAccount string) (string, error) {
	exp := int64(600)
	tok, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s: %w", namespace, serviceAccount, err)
	}
	return KeyIDOf(tok.Status.Token)
}

// KeyIDOf is the kid in a token's header (its signature is not checked).
func KeyIDOf(token string) (string, error) {
	obj, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(obj.Signatures) != 1 {
		return "", fmt.Errorf("the API server returned a token that is not an RS256 JWT (%v)", err)
	}
	return obj.Signatures[0].Header.KeyID, nil
}

// SigningKeyID is the kid the API server signs with, from a token of the
// first of requests' service accounts it can issue one for; "" when none.
func SigningKeyID(ctx context.Context, kube kubernetes.Interface, requests []Request) string {
	for _, r := range requests {
		for _, sa := range r.ServiceAccounts {
			if kid, err := TokenKeyID(ctx, kube, r.SecretNamespace, sa); err == nil {
				return kid
			}
		}
	}
	return ""
}
