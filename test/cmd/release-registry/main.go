// Command release-registry serves OpenShift release images built from
// directories of manifests on a local registry, for scripts, the oc oracle
// tests and acceptance runs. It prints one JSON line with the registry host
// and the digest pull spec of each release, then serves until killed.
//
//	go run ./test/cmd/release-registry --release 4.16=test/testdata/credentialsrequests/4.16
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/oc-sts/oc-sts/test/registry"
)

type releases map[string]string

func (r releases) String() string { return fmt.Sprint(map[string]string(r)) }
func (r releases) Set(v string) error {
	version, dir, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want VERSION=DIR, got %q", v)
	}
	r[version] = dir
	return nil
}

func main() {
	rel := releases{}
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	user := flag.String("user", "", "require basic auth with this user")
	pass := flag.String("pass", "", "and this password")
	flag.Var(rel, "release", "VERSION=DIR: serve DIR's manifests as ocp-release:VERSION (repeatable)")
	flag.Parse()
	if err := serve(*addr, *user, *pass, rel); err != nil {
		fmt.Fprintln(os.Stderr, "release-registry:", err)
		os.Exit(1)
	}
}

func serve(addr, user, pass string, rel releases) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &registry.Server{Host: ln.Addr().String(), User: user, Pass: pass}
	go http.Serve(ln, registry.Handler(user, pass))
	out := struct {
		Host     string            `json:"host"`
		Releases map[string]string `json:"releases"`
	}{srv.Host, map[string]string{}}
	for version, dir := range rel {
		img, err := registry.BuildRelease(dir, version, nil)
		if err != nil {
			return err
		}
		if out.Releases[version], err = srv.PushArtifact("ocp-release:"+version, img); err != nil {
			return err
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return err
	}
	select {}
}
