package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

func TestEventuallyIsBounded(t *testing.T) {
	defer func(d, m time.Duration) { propagationDelay, propagationMaxDelay = d, m }(propagationDelay, propagationMaxDelay)
	propagationDelay, propagationMaxDelay = time.Millisecond, 2*time.Millisecond
	notYet := &smithy.GenericAPIError{Code: "NoSuchEntity", Message: "The role with name r cannot be found."}
	var lines []string
	progress := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	calls := 0
	err := eventually(context.Background(), progress, "the new roles", "PutRolePolicy", func() error { calls++; return notYet }, roleNotVisible)
	if calls != propagationAttempts || err == nil || !strings.HasPrefix(err.Error(), "IAM had not propagated the new roles after ") || errorCode(err) != "NoSuchEntity" {
		t.Errorf("%d calls, %v", calls, err)
	}
	if len(lines) != propagationAttempts-1 || lines[0] != "IAM has not propagated the new roles yet (PutRolePolicy: NoSuchEntity); retry 1 of 8 in 1ms" {
		t.Errorf("progress: %q", lines)
	}
	calls = 0
	other := errors.New("boom")
	if err := eventually(context.Background(), progress, "x", "Op", func() error { calls++; return other }, roleNotVisible); err != other || calls != 1 {
		t.Errorf("a non-transient error is not retried: %d calls, %v", calls, err)
	}
	calls = 0
	if err := eventually(context.Background(), progress, "x", "Op", func() error {
		if calls++; calls < 3 {
			return notYet
		}
		return nil
	}, roleNotVisible); err != nil || calls != 3 {
		t.Errorf("visible on the third call: %d calls, %v", calls, err)
	}
	lines = nil
	say := once(progress)
	say("a %d", 1)
	say("a %d", 1)
	say("b")
	if strings.Join(lines, ",") != "a 1,b" {
		t.Errorf("once: %q", lines)
	}
}
