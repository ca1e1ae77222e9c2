package rotation

import (
	"fmt"

	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/statedir"
)

// What prepare needs to know so that it never undoes a rotation.

// SignerKeyPaths are where prepare looks for the signer key: the install
// dir's (installKey, "" for none) and the state dir's. Once a rotation has
// swapped the state dir's key for the new one, the install dir still holds
// the old key, which the cluster no longer signs with: only the state
// dir's counts (the old one is archived in rotation/retired/).
func SignerKeyPaths(stateDir, installKey string) ([]string, error) {
	st, err := Load(stateDir)
	if err != nil {
		return nil, err
	}
	paths := []string{statedir.SignerKeyPath(stateDir)}
	if installKey == "" || (st != nil && st.Phase.Swapped()) {
		return paths, nil
	}
	return append([]string{installKey}, paths...), nil
}

// PublishedJWKS is the key set prepare publishes for signer: signer's key
// alone, or while a rotation is under way the rotation's key set, so a
// prepare run in the middle of a rotation keeps both keys published.
func PublishedJWKS(stateDir string, signer *oidckeys.Signer) ([]byte, error) {
	st, err := Load(stateDir)
	if err != nil {
		return nil, err
	}
	kid, err := oidckeys.KeyID(&signer.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return oidckeys.JWKS(&signer.Key.PublicKey)
	}
	want := st.Previous
	if st.Phase.Swapped() {
		want = st.Next
	}
	if kid != want.KID {
		return nil, fmt.Errorf("the key rotation recorded in %s (phase %s) expects the signer key %s, but the signer key is %s: "+
			"run prepare with the state dir of that rotation, or check `oc sts rotate-key --status`", stateDir, st.Phase, want.KID, kid)
	}
	return st.JWKS()
}
