// Command aws-world runs the AWS test world for scripts, benchmarks and
// acceptance runs: moto_server behind the gate (call log, faults, web
// identity verification, IAM limits, S3 and CloudFront as AWS has them),
// and an HTTPS proxy for the issuer hosts under a test CA.
//
// It writes DIR/ca.pem and DIR/env (shell exports: AWS_ENDPOINT_URL,
// HTTPS_PROXY, HTTP_PROXY, SSL_CERT_FILE, test credentials), prints the env
// to stdout, and serves until interrupted. HTTP_PROXY is for S3 Control,
// whose clients put the account ID in front of the endpoint's host
// (123456789012.127.0.0.1:PORT, which no resolver knows): through the proxy
// such requests reach the gate all the same.
//
//	go run ./test/cmd/aws-world --dir /tmp/world &
//	. /tmp/world/env && aws sts get-caller-identity
//
// The gate's control API (/gate-api/...) is documented in test/awsworld/control.go.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/oc-sts/oc-sts/test/awsworld"
)

func main() {
	dir := flag.String("dir", "", "directory for ca.pem and env (required)")
	addr := flag.String("addr", "127.0.0.1:0", "gate listen address (loopback only)")
	motoURL := flag.String("moto", "", "use this running moto server instead of starting one")
	var faults awsworld.FaultSettings
	flag.StringVar(&faults.Latency, "latency", "", "delay every AWS call (e.g. 50ms)")
	flag.Float64Var(&faults.FailFraction, "fail-fraction", 0, "answer this fraction of calls with --fault")
	flag.StringVar((*string)(&faults.Fault), "fault", string(awsworld.Throttling), "Throttling, InternalError or ConnectionReset")
	flag.Int64Var(&faults.Seed, "seed", 1, "seed for --fail-fraction")
	flag.StringVar(&faults.DeployDelay, "deploy-delay", "", "keep CloudFront distributions InProgress this long after a change")
	flag.StringVar(&faults.ProviderPropagation, "provider-propagation", "", "IAM eventual consistency: a new OIDC provider is unknown to trust policies this long")
	flag.StringVar(&faults.RolePropagation, "role-propagation", "", "IAM eventual consistency: a new role is invisible to reads and changes this long")
	flag.Parse()
	if err := run(*dir, *addr, *motoURL, faults); err != nil {
		fmt.Fprintln(os.Stderr, "aws-world:", err)
		os.Exit(1)
	}
}

func run(dir, addr, motoURL string, faults awsworld.FaultSettings) error {
	if dir == "" {
		return fmt.Errorf("--dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if motoURL == "" {
		m, err := awsworld.StartMoto(ctx)
		if err != nil {
			return err
		}
		defer m.Stop()
		motoURL = m.URL
	}
	g, err := awsworld.NewGate(motoURL)
	if err != nil {
		return err
	}
	defer g.Close()
	if err := faults.Apply(g); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go http.Serve(ln, g)

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, g.CACertPEM(), 0o644); err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	env := strings.Join([]string{
		"export AWS_ENDPOINT_URL=" + url,
		"export HTTPS_PROXY=" + url,
		"export HTTP_PROXY=" + url,
		"export SSL_CERT_FILE=" + ca,
		"export CURL_CA_BUNDLE=" + ca,
		"export REQUESTS_CA_BUNDLE=" + ca,
		"export AWS_ACCESS_KEY_ID=testing",
		"export AWS_SECRET_ACCESS_KEY=testing",
		"export AWS_REGION=us-east-1",
		"export AWS_DEFAULT_REGION=us-east-1",
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(env), 0o644); err != nil {
		return err
	}
	fmt.Print(env)
	<-ctx.Done()
	return nil
}
