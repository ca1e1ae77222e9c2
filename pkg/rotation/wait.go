package rotation

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// waitFor polls check until it is done, for at most timeout, showing its
// status whenever it changes (and every half minute). An error of the
// cluster or the issuer is shown and polled through (kube-apiserver
// restarts while it rolls a key out), except a refusal: that stays.
func (r *Rotator) waitFor(ctx context.Context, what string, timeout time.Duration, check func(context.Context) (bool, string, error)) error {
	start := r.Now()
	deadline := start.Add(timeout)
	delay, last, shown := min(500*time.Millisecond, r.MaxPoll), "", time.Time{}
	for {
		done, status, err := check(ctx)
		switch {
		case err != nil && (apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)):
			return err
		case err != nil:
			status = "error: " + err.Error()
		case done:
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s (last seen: %s): run the same command again to go on waiting (every step is idempotent)", timeout, what, status)
		}
		if status != last || r.Now().Sub(shown) >= 30*time.Second {
			r.UI.Progress("waiting for %s: %s (%s so far)", what, status, r.Now().Sub(start).Round(time.Second))
			last, shown = status, r.Now()
		}
		if err := r.Sleep(ctx, min(delay, deadline.Sub(r.Now())+time.Millisecond)); err != nil {
			return err
		}
		delay = min(delay*3/2, r.MaxPoll)
	}
}

// sleepUntil waits until t, saying how long is left every few minutes.
func (r *Rotator) sleepUntil(ctx context.Context, t time.Time, why string) error {
	for {
		left := t.Sub(r.Now())
		if left <= 0 {
			return nil
		}
		r.UI.Progress("waiting until %s %s (%s left; Ctrl-C stops, running again resumes)", t.Local().Format(time.RFC3339), why, left.Round(time.Second))
		if err := r.Sleep(ctx, min(left, 5*time.Minute)); err != nil {
			return err
		}
	}
}

// Sleep is the real pause between looks.
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
