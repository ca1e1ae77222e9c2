// Package statedir holds what oc sts keeps for itself and the installer
// must not consume: the signer key pair, the plan and its aws CLI rendering.
package statedir

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"

	"github.com/oc-sts/oc-sts/pkg/limits"
)

// Files in a state dir.
const (
	DirName       = ".oc-sts" // inside the install dir, by default
	SignerKeyFile = "signer.key"
	SignerPubFile = "signer.pub"
	PlanFile      = "plan.json"
	AWSDir        = "aws"
	HiveDir       = "hive" // prepare --hive's hub objects
)

// Default is the state dir of an install dir.
func Default(installDir string) string { return filepath.Join(installDir, DirName) }

// SignerKeyPath is where the signer's private key is kept.
func SignerKeyPath(dir string) string { return filepath.Join(dir, SignerKeyFile) }

// KeyFiles are the signer key pair; the private key is for this user only.
func KeyFiles(dir string, signer *oidckeys.Signer) []atomicfs.File {
	return []atomicfs.File{
		{Path: SignerKeyPath(dir), Data: signer.PrivatePEM, Mode: 0o600},
		{Path: filepath.Join(dir, SignerPubFile), Data: signer.PublicPEM(), Mode: 0o644},
	}
}

// Files are the state dir's files for p.
func Files(dir string, p *plan.Plan, signer *oidckeys.Signer) ([]atomicfs.File, error) {
	planJSON, err := MarshalPlan(p)
	if err != nil {
		return nil, err
	}
	files := append(KeyFiles(dir, signer), atomicfs.File{Path: filepath.Join(dir, PlanFile), Data: planJSON, Mode: 0o644})
	script := plan.AWSCLIScript(p)
	for _, rel := range slices.Sorted(maps.Keys(script)) {
		data := script[rel]
		mode := fs.FileMode(0o644)
		if rel == plan.ScriptName {
			mode = 0o755
		}
		files = append(files, atomicfs.File{Path: filepath.Join(dir, AWSDir, rel), Data: data, Mode: mode})
	}
	return files, nil
}

// MarshalPlan is the stable, indented JSON form of a plan.
func MarshalPlan(p *plan.Plan) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	return append(b, '\n'), err
}

// ReadPlan reads the plan a previous prepare kept in dir.
func ReadPlan(dir string) (*plan.Plan, error) {
	path := filepath.Join(dir, PlanFile)
	b, err := limits.ReadFileNoFollow(path, limits.StateFile)
	if err != nil {
		return nil, fmt.Errorf("reading the plan of a previous oc sts prepare: %w", err)
	}
	var p plan.Plan
	if err := json.Unmarshal(b, &p); err != nil || p.Kind != plan.Kind {
		return nil, fmt.Errorf("%s is not an oc sts plan (%v)", path, err)
	}
	return &p, nil
}
