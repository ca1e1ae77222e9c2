package atomicfs

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// FailpointEnv makes crash tests deterministic: "N:kill" kills the process
// (SIGKILL, as kill -9) at the N-th step of a write (each staged file, the
// journal, each rename, the journal's removal); "N:int" and "N:term" send
// SIGINT or SIGTERM there and wait until the command has seen it. Tests set
// it; nothing else should.
const FailpointEnv = "OC_STS_TEST_FAILPOINT"

var steps atomic.Int64

func failpoint(ctx context.Context) {
	spec := os.Getenv(FailpointEnv)
	if spec == "" {
		return
	}
	at, action, _ := strings.Cut(spec, ":")
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil || steps.Add(1) != n {
		return
	}
	switch action {
	case "kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	case "int", "term":
		sig := syscall.SIGINT
		if action == "term" {
			sig = syscall.SIGTERM
		}
		syscall.Kill(os.Getpid(), sig)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
	}
}
