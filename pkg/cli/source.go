package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/oc-sts/oc-sts/pkg/credreq"
	"github.com/oc-sts/oc-sts/pkg/installconfig"
	"github.com/oc-sts/oc-sts/pkg/installer"
	"github.com/oc-sts/oc-sts/pkg/releaseimage"
)

// credentialsRequests reads the manifests from the directory or the release
// image, and the release's major version when the image tells it.
func (o *PrepareOptions) credentialsRequests(ctx context.Context) ([]credreq.File, uint64, error) {
	if o.CredentialsRequestsDir != "" {
		files, err := credreq.ReadDir(o.CredentialsRequestsDir)
		if err == nil {
			err = o.checkRelease(ctx, "", nil, nil)
		}
		return files, 0, err
	}
	found := installer.Release{PullSpec: o.ReleaseImage, Source: "--release-image"}
	if found.PullSpec == "" {
		var err error
		if found, err = o.target.release(ctx, o); err != nil {
			return nil, 0, err
		}
	}
	cfg := o.target.installConfig()
	auth, err := authSources(o.RegistryConfig, cfg)
	if err != nil {
		return nil, 0, err
	}
	fetch := func(spec string) (*releaseimage.Release, error) {
		return releaseimage.Fetch(ctx, releaseimage.Options{
			PullSpec: spec, Auth: auth, Mirrors: mirrors(cfg.Mirrors),
			Architecture: cfg.Architecture, Insecure: o.Insecure, Keep: credreq.HoldsFeatureGate,
		})
	}
	fmt.Fprintf(o.ErrOut, "Reading CredentialsRequests from release image %s (from %s)\n", found.PullSpec, found.Source)
	rel, err := fetch(found.PullSpec)
	if err != nil {
		return nil, 0, err
	}
	crFiles := 0
	for _, f := range rel.Files {
		if !credreq.HoldsFeatureGate(f.Data) {
			crFiles++
		}
	}
	fmt.Fprintf(o.ErrOut, "Release %s (%s), %d manifest files with CredentialsRequests\n", rel.Version, rel.PullSpec, crFiles)
	if err := o.checkRelease(ctx, found.PullSpec, rel, fetch); err != nil {
		return nil, 0, err
	}
	return rel.Files, rel.MajorVersion(), nil
}

// authSources are the pull secrets in oc's order of precedence.
func authSources(registryConfig string, cfg *installconfig.Config) ([]releaseimage.AuthSource, error) {
	var out []releaseimage.AuthSource
	for _, path := range []string{registryConfig, os.Getenv("REGISTRY_AUTH_FILE")} {
		if path == "" {
			continue
		}
		s, err := releaseimage.ReadAuthFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if cfg.PullSecret != "" {
		s, err := releaseimage.ParseAuth(cfg.File+" pullSecret", []byte(cfg.PullSecret))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func mirrors(in []installconfig.Mirror) []releaseimage.Mirror {
	var out []releaseimage.Mirror
	for _, m := range in {
		out = append(out, releaseimage.Mirror{Source: m.Source, Mirrors: m.Mirrors, NeverContactSource: m.SourcePolicy == "NeverContactSource"})
	}
	return out
}
