// Module openshift-install pins the installer that `make test-tools` builds
// for the tests (bin/tools/openshift-install): go.sum holds the module's
// hash, which `go mod download` checks. The build itself runs in a copy of
// the module, as its own main module, so that its replace directives apply.
module github.com/oc-sts/oc-sts/test/tools/openshift-install

go 1.26.8

require github.com/openshift/installer v1.4.19-ec5
