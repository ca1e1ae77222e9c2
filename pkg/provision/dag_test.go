package provision

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

var testCall = call{op: "Test", actions: []string{"test:Call"}}

// recorder runs steps that log their name as they start, optionally
// failing or waiting.
type recorder struct {
	mu    sync.Mutex
	order []string
	now   atomic.Int32
	most  atomic.Int32
}

func (r *recorder) step(name string, err error, gate <-chan struct{}) func(context.Context) error {
	return func(ctx context.Context) error {
		n := r.now.Add(1)
		for m := r.most.Load(); n > m && !r.most.CompareAndSwap(m, n); m = r.most.Load() {
		}
		r.mu.Lock()
		r.order = append(r.order, name) // in the order they start
		r.mu.Unlock()
		if gate != nil {
			<-gate
		}
		r.now.Add(-1)
		return err
	}
}

// A failed step's dependents are not started; every independent step is.
func TestGraphSkipsOnlyWhatDependsOnAFailure(t *testing.T) {
	r := &recorder{}
	g := &graph{}
	a := g.call(testCall, r.step("a", errors.New("a failed"), nil))
	b := g.call(testCall, r.step("b", nil, nil), a)
	g.call(testCall, r.step("c", nil, nil), b)
	d := g.call(testCall, r.step("d", nil, nil))
	g.call(testCall, r.step("e", nil, nil), d)
	done := 0
	g.join(d).then(func() { done++ })
	err := g.run(context.Background(), 4)
	slices.Sort(r.order)
	if err == nil || err.Error() != "a failed" || !slices.Equal(r.order, []string{"a", "d", "e"}) || done != 1 {
		t.Errorf("error %v, ran %v, joined %d", err, r.order, done)
	}
}

// No more than limit calls run at once, and the longest chain starts first.
func TestGraphBoundsCallsAndStartsTheLongestChainFirst(t *testing.T) {
	r := &recorder{}
	g := &graph{}
	gate := make(chan struct{})
	for range 5 {
		g.call(testCall, r.step("short", nil, gate))
	}
	long := g.call(testCall, r.step("long", nil, gate))
	g.call(testCall, r.step("after-long", nil, nil), long)
	go func() { // releases a step only once as many have started as can
		for released := range 6 {
			for r.now.Load() < int32(min(2, 6-released)) {
				runtime.Gosched()
			}
			gate <- struct{}{}
		}
	}()
	if err := g.run(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if r.most.Load() > 2 {
		t.Errorf("%d calls at once, limit 2", r.most.Load())
	}
	if r.order[0] != "long" && r.order[1] != "long" {
		t.Errorf("order %v: the step with a chain behind it goes first", r.order)
	}
}

// Once the context is done no step starts; the error says so.
func TestGraphStopsStartingWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{}
	g := &graph{}
	a := g.call(testCall, func(ctx context.Context) error { cancel(); return nil })
	g.call(testCall, r.step("b", nil, nil), a)
	if err := g.run(ctx, 2); !errors.Is(err, context.Canceled) || len(r.order) != 0 {
		t.Errorf("error %v, ran %v", err, r.order)
	}
}
