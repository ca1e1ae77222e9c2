# oc sts — build, demo and test. `make demo` and `make test` are the two
# set-up commands of the README; neither needs an AWS account.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/oc-sts/oc-sts/pkg/cli.Version=$(VERSION)
DEMO_DIR ?= $(CURDIR)/bin/demo
FUZZTIME ?= 20s
BENCH_LATENCY ?= 200ms
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
KUBE_APISERVER := bin/tools/kube-apiserver
CCO_TOOLS := bin/tools/cco-upgradeable bin/tools/cco-sts-secret
OPENSHIFT_INSTALL := bin/tools/openshift-install
INSTALLER_MOD := github.com/openshift/installer
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
# kubectl (>= 1.26) and oc complete a plugin's arguments by running
# <kubectl|oc>_complete-<plugin> from PATH: one script, under both names.
COMPLETION_SHIM := plugin/kubectl_complete-sts

.PHONY: build install demo test test-short vet fuzz bench dist clean aws-world test-tools etcd FORCE

FORCE:

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/oc-sts ./cmd/oc-sts

# The binary as oc-sts (`oc sts`) and kubectl-sts (`kubectl sts`), with
# the completion shims beside it.
install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 bin/oc-sts $(DESTDIR)$(BINDIR)/oc-sts
	ln -sf oc-sts $(DESTDIR)$(BINDIR)/kubectl-sts
	install -m 0755 $(COMPLETION_SHIM) $(DESTDIR)$(BINDIR)/kubectl_complete-sts
	install -m 0755 $(COMPLETION_SHIM) $(DESTDIR)$(BINDIR)/oc_complete-sts

# Offline prepare on the bundled example install dir with the 4.16
# CredentialsRequests: no AWS account, no network.
demo: build
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR) && cp -r examples/install-dir/. $(DEMO_DIR)/
	bin/oc-sts prepare --dir $(DEMO_DIR) --no-installer --offline --account-id 123456789012 \
	  --credentials-requests-dir test/testdata/credentialsrequests/4.16 --explain
	@echo; echo "Look at $(DEMO_DIR): install-config.yaml, manifests/, tls/, .oc-sts/aws/ (cloudformation.yaml, apply.sh)"

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd pkg test)" || { echo "gofmt needed:"; gofmt -l cmd pkg test; exit 1; }

# The whole suite: unit tests (with the fuzz seeds), end-to-end tests of the
# binary against a real local registry, then oc itself as the oracle (its
# own module under test/oracle, so oc's older Kubernetes stays out of ours).
test: vet test-tools
	$(GO) test -count=1 -timeout 60m -parallel 4 ./... # e2e tests run side by side (each its own moto, cluster, dirs): most wait on servers and processes
	cd test/oracle && $(GO) vet ./... && $(GO) test -count=1 ./...

# The fast tier: unit tests, fakes and golden files; no moto, etcd,
# kube-apiserver, installer or oc-sts binary (those tests skip under -short).
test-short:
	$(GO) test -short -count=1 ./...

# The AWS test world as a program (moto_server behind the gate), for scripts.
aws-world:
	$(GO) build -o bin/aws-world ./test/cmd/aws-world

# prepare, a converged re-run and destroy on the AWS test world with
# BENCH_LATENCY (default 200ms) per call: wall time, calls, the serial round
# trips the latency added against the critical path (the dependency chain);
# and the heap a 256 MiB release manifest costs (B/op: bounded, not 256 MiB).
bench:
	BENCH_LATENCY=$(BENCH_LATENCY) $(GO) test ./test/e2e -run '^$$' -bench BenchmarkAWS -benchtime 1x
	$(GO) test ./pkg/releaseimage -run '^$$' -bench BenchmarkScanHugeManifest -benchtime 3x

# What the tests run: etcd (Debian's etcd-server), a real kube-apiserver built
# from k8s.io/kubernetes; for verify, upgrade-check and operator the
# cloud-credential-operator's Upgradeable check and its AWS actuator, which
# writes an operator's Secret from stsIAMRoleARN (both from one module,
# test/tools/cco, built in one go build: its dependencies once); and the real
# openshift-install for what it makes of a prepared dir (each pinned).
test-tools: etcd $(KUBE_APISERVER) $(CCO_TOOLS) $(OPENSHIFT_INSTALL)

etcd:
	@command -v etcd >/dev/null || test -x /usr/bin/etcd || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq etcd-server; }

# Each tool is rebuilt only when its test/tools/<name> dir (or Go) changes:
# test/tools/uptodate.sh keys it by content, not by file times.
UPTODATE = GO=$(GO) test/tools/uptodate.sh $@ test/tools/$(notdir $@)

$(KUBE_APISERVER): FORCE
	@$(UPTODATE) || { cd test/tools/kube-apiserver && $(GO) build -o $(CURDIR)/$@ k8s.io/kubernetes/cmd/kube-apiserver; }
	@$(UPTODATE) record

# Both cloud-credential-operator programs come from test/tools/cco: one go
# build downloads and compiles its module and dependencies once.
$(CCO_TOOLS) &: FORCE
	@ok=1; for t in $(CCO_TOOLS); do GO=$(GO) test/tools/uptodate.sh $$t test/tools/cco || ok=0; done; \
	[ $$ok = 1 ] || { mkdir -p bin/tools && cd test/tools/cco && $(GO) build -o $(CURDIR)/bin/tools/ $(addprefix ./,$(notdir $(CCO_TOOLS))); }
	@for t in $(CCO_TOOLS); do GO=$(GO) test/tools/uptodate.sh $$t test/tools/cco record; done

# The installer module at the version test/tools/openshift-install pins
# (go.sum checks its hash on download), built as its own main module so its
# replace directives apply (its vendor/ holds only modules.txt), with its
# data embedded as a release build does. -trimpath keeps the build cache
# valid across the temporary source dirs; -s -w spares linking debug data.
$(OPENSHIFT_INSTALL): FORCE
	@if $(UPTODATE); then exit 0; fi; set -eu; cd test/tools/openshift-install; \
	$(GO) mod download $(INSTALLER_MOD); \
	src=$$($(GO) list -m -f '{{.Dir}}' $(INSTALLER_MOD)); ver=$$($(GO) list -m -f '{{.Version}}' $(INSTALLER_MOD)); \
	tmp=$$(mktemp -d); trap 'chmod -R u+w "$$tmp"; rm -rf "$$tmp"' EXIT; \
	cp -R "$$src/." "$$tmp"; chmod -R u+w "$$tmp"; rm -rf "$$tmp/vendor"; cd "$$tmp"; \
	echo "building openshift-install $$ver from $(INSTALLER_MOD) (once; cached in bin/tools)"; \
	export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0; \
	$(GO) generate ./data; \
	$(GO) build -trimpath -tags release -ldflags "-s -w -X $(INSTALLER_MOD)/pkg/version.Raw=$$ver" -o "$(CURDIR)/$@.tmp" ./cmd/openshift-install; \
	mv "$(CURDIR)/$@.tmp" "$(CURDIR)/$@"
	@$(UPTODATE) record

# Run each fuzz target for FUZZTIME.
fuzz:
	$(GO) test ./pkg/credreq -run '^$$' -fuzz FuzzSelect -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/installconfig -run '^$$' -fuzz FuzzSetManual -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/yamlcheck -run '^$$' -fuzz FuzzCheck -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/releaseimage -run '^$$' -fuzz FuzzScanLayer -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/iampolicy -run '^$$' -fuzz FuzzJudgeTrust -fuzztime $(FUZZTIME)

# Release archives and a krew manifest with their checksums, in bin/dist.
dist:
	rm -rf bin/dist && mkdir -p bin/dist
	set -e; for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; d=bin/dist/oc-sts_$${os}_$${arch}; \
	  mkdir -p $$d && GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $$d/oc-sts ./cmd/oc-sts; \
	  cp LICENSE $$d/; install -m 0755 $(COMPLETION_SHIM) $$d/kubectl_complete-sts; install -m 0755 $(COMPLETION_SHIM) $$d/oc_complete-sts; tar -C $$d -czf $$d.tar.gz .; rm -rf $$d; done
	cp plugin/sts.yaml bin/dist/sts.yaml
	set -e; for f in bin/dist/*.tar.gz; do n=$$(basename $$f .tar.gz); \
	  sed -i "s|sha256: SHA256_$${n#oc-sts_}|sha256: $$(sha256sum $$f | cut -d' ' -f1)|" bin/dist/sts.yaml; done

clean:
	rm -rf bin
