package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// MaxAttempts is how often the SDK tries a retriable call (throttling,
// 5xx, a dropped connection) before it gives up: about 110 s of backoff.
const MaxAttempts = 10

// retryNoticeAfter is how long a call retries in silence: past it, every
// retry says which call, which attempt and why on the call log, so a long
// loop is never a silent wait.
const retryNoticeAfter = 3 * time.Second

// CallLog is where AWS calls are reported, at klog-style levels: 0 and 1
// say retries past retryNoticeAfter, 2 every retry, 6 every attempt with
// its outcome and duration.
type CallLog struct {
	Out   io.Writer
	Level int
}

type callLogKey struct{}

// WithCallLog makes the AWS calls made with ctx report to l.
func WithCallLog(ctx context.Context, l CallLog) context.Context {
	return context.WithValue(ctx, callLogKey{}, l)
}

// callAttempts counts the attempts of one call, across the SDK's retries.
type callAttempts struct {
	start time.Time
	n     int
	last  error
}

type callAttemptsKey struct{}

// logCalls adds, around the SDK's retry loop and inside it, the
// middleware that reports the call's attempts to the context's CallLog.
func logCalls(stack *middleware.Stack) error {
	outer := middleware.FinalizeMiddlewareFunc("ocSTSCallStart", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		return next.HandleFinalize(context.WithValue(ctx, callAttemptsKey{}, &callAttempts{start: time.Now()}), in)
	})
	inner := middleware.FinalizeMiddlewareFunc("ocSTSCallAttempt", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		l, ok := ctx.Value(callLogKey{}).(CallLog)
		a, _ := ctx.Value(callAttemptsKey{}).(*callAttempts)
		if !ok || l.Out == nil || a == nil {
			return next.HandleFinalize(ctx, in)
		}
		a.n++
		call := strings.ToLower(awsmiddleware.GetServiceID(ctx)) + ":" + awsmiddleware.GetOperationName(ctx)
		if a.n > 1 && (l.Level >= 2 || time.Since(a.start) >= retryNoticeAfter) {
			fmt.Fprintf(l.Out, "  retrying %s %d/%d: %s\n", call, a.n, MaxAttempts, failure(a.last))
		}
		began := time.Now()
		out, md, err := next.HandleFinalize(ctx, in)
		a.last = err
		if l.Level >= 6 {
			outcome := "ok"
			if err != nil {
				outcome = failure(err)
			}
			fmt.Fprintf(l.Out, "  aws %s attempt %d: %s in %v\n", call, a.n, outcome, time.Since(began).Round(time.Millisecond))
		}
		return out, md, err
	})
	if err := stack.Finalize.Insert(outer, "Retry", middleware.Before); err != nil {
		return err
	}
	return stack.Finalize.Insert(inner, "Retry", middleware.After)
}

// failure says briefly why an attempt failed: the HTTP status and AWS
// error code, or the transport error.
func failure(err error) string {
	if err == nil {
		return "ok"
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		if code := errorCode(err); code != "" {
			return fmt.Sprintf("%d %s", re.HTTPStatusCode(), code)
		}
		return fmt.Sprint(re.HTTPStatusCode())
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:] // the cause, without the SDK's operation prefix
	}
	return msg
}
