// Package statedir holds what oc sts keeps for itself and the installer
// must not consume: the signer key pair, the plan and its rendering for an
// AWS admin (aws/: the CloudFormation template and the aws CLI scripts).
package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oc-sts/oc-sts/pkg/atomicfs"
	"github.com/oc-sts/oc-sts/pkg/handoff"
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
	render := handoff.Files
	if p.Issuer.KnownAfterApply {
		render = handoff.IssuerFiles // the rest names the issuer, not known yet
	}
	rendered, err := render(p)
	if err != nil {
		return nil, err
	}
	aws, err := AWSFiles(dir, rendered)
	if err != nil {
		return nil, err
	}
	return append(append(KeyFiles(dir, signer), atomicfs.File{Path: filepath.Join(dir, PlanFile), Data: planJSON, Mode: 0o644}), aws...), nil
}

// AWSFiles puts a rendering (handoff.Files, by path relative to aws/) into
// dir's aws/ dir; files of an earlier rendering that this one has not (a
// role no request needs any more, the scripts of a public issuer) are
// removed: aws/ holds exactly the last rendering.
func AWSFiles(dir string, rendered map[string][]byte) ([]atomicfs.File, error) {
	var files []atomicfs.File
	for _, rel := range slices.Sorted(maps.Keys(rendered)) {
		mode := fs.FileMode(0o644)
		if handoff.Executable(rel) {
			mode = 0o755
		}
		files = append(files, atomicfs.File{Path: filepath.Join(dir, AWSDir, rel), Data: rendered[rel], Mode: mode})
	}
	root := filepath.Join(dir, AWSDir)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) && path == root:
			return fs.SkipAll
		case err != nil:
			return err
		case !d.Type().IsRegular():
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if _, ok := rendered[filepath.ToSlash(rel)]; err == nil && !ok && rendering(rel) {
			files = append(files, atomicfs.File{Path: path, Remove: true})
		}
		return err
	})
	return files, err
}

// rendering says whether rel is a name a rendering writes (anything else a
// user put in aws/ is left alone).
func rendering(rel string) bool {
	if strings.HasPrefix(filepath.Base(rel), ".") { // never a rendering's (staged writes are)
		return false
	}
	switch filepath.ToSlash(rel) {
	case handoff.TemplateFile, handoff.ApplyScript, handoff.DeleteScript, handoff.BucketPolicyFile:
		return true
	}
	dir := filepath.ToSlash(filepath.Dir(rel))
	return dir == "objects" || dir == "roles"
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
