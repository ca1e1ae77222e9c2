// Command oc-sts is the oc/kubectl plugin `oc sts`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/oc-sts/oc-sts/pkg/cli"
)

func main() {
	// Ctrl-C cancels the context: commands stop between steps, never mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRootCmd(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}).ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil && !cli.Quiet(err) {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	code := cli.ExitCode(err)
	if err != nil && interrupted {
		code = cli.ExitInterrupted
	}
	os.Exit(code)
}
