package provision

import (
	"context"
	"errors"
	"maps"
	"slices"
)

// A graph is the calls of one converge phase and what each waits for.
// run starts every step as soon as the steps it depends on are done, at
// most limit AWS calls at once — those with the longest chain of calls
// behind them first — and keeps going past a failure: a failed step's
// dependents are not started, every independent step still is, so a
// re-run has less to do.
type graph struct{ steps []*step }

// A step is one node of a graph: usually one AWS call, sometimes a few that
// belong together (a paged read), or a local step (no call: it takes no
// slot). Steps are added after the steps they depend on, so the order of
// addition is a topological order.
type step struct {
	calls []call
	run   func(context.Context) error
	deps  []*step
	next  []*step
	done  []func() // run once it succeeded: the changes it completes

	height  int // the most calls on a chain from it to an end, itself included
	pending int
	err     error
	skipped bool
}

// add adds a step making calls (none: a local step) after deps (nil ones
// ignored: "nothing to wait for").
func (g *graph) add(calls []call, run func(context.Context) error, deps ...*step) *step {
	s := &step{calls: calls, run: run}
	for _, d := range deps {
		if d != nil && !slices.Contains(s.deps, d) {
			s.deps = append(s.deps, d)
			d.next = append(d.next, s)
		}
	}
	g.steps = append(g.steps, s)
	return s
}

// call adds a step making one call.
func (g *graph) call(c call, run func(context.Context) error, deps ...*step) *step {
	return g.add([]call{c}, run, deps...)
}

// join adds a local step that is done when all of deps are.
func (g *graph) join(deps ...*step) *step {
	return g.add(nil, func(context.Context) error { return nil }, deps...)
}

// then records fn to run once s succeeded.
func (s *step) then(fn func()) *step {
	s.done = append(s.done, fn)
	return s
}

// actions are the IAM actions the graph's calls need, sorted.
func (g *graph) actions() []string {
	set := map[string]bool{}
	for _, s := range g.steps {
		for _, c := range s.calls {
			for _, a := range c.actions {
				set[a] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// run executes the graph; the error joins every step's, in the order the
// steps were added, and the context's when it stopped steps from starting.
func (g *graph) run(ctx context.Context, limit int) error {
	limit = max(limit, 1)
	for i := len(g.steps) - 1; i >= 0; i-- {
		s := g.steps[i]
		s.height = 0
		for _, n := range s.next {
			s.height = max(s.height, n.height)
		}
		if len(s.calls) > 0 {
			s.height++
		}
		s.pending = len(s.deps)
		s.err, s.skipped = nil, false
	}
	var ready []*step
	for _, s := range g.steps {
		if s.pending == 0 {
			ready = append(ready, s)
		}
	}
	finished := make(chan *step)
	left, calls, inFlight := len(g.steps), 0, 0
	stopped := false
	// settle marks s done and readies or skips what waited for it.
	var settle func(s *step)
	settle = func(s *step) {
		left--
		for _, n := range s.next {
			n.skipped = n.skipped || s.err != nil || s.skipped
			if n.pending--; n.pending == 0 {
				if n.skipped {
					settle(n)
				} else {
					ready = append(ready, n)
				}
			}
		}
	}
	for left > 0 {
		if ctx.Err() != nil && !stopped {
			stopped = true
		}
		for !stopped {
			i := pick(ready, calls < limit)
			if i < 0 {
				break
			}
			s := ready[i]
			ready = slices.Delete(ready, i, i+1)
			if len(s.calls) > 0 {
				calls++
			}
			inFlight++
			go func() {
				s.err = s.run(ctx)
				finished <- s
			}()
		}
		if stopped {
			for _, s := range ready {
				s.skipped = true
			}
			for len(ready) > 0 {
				s := ready[0]
				ready = ready[1:]
				settle(s)
			}
			if inFlight == 0 {
				break
			}
		}
		if inFlight == 0 && len(ready) == 0 {
			break // nothing can start: every step left waits on a skipped one
		}
		s := <-finished
		inFlight--
		if len(s.calls) > 0 {
			calls--
		}
		if s.err == nil {
			for _, fn := range s.done {
				fn()
			}
		}
		settle(s)
	}
	var errs []error
	for _, s := range g.steps {
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	if stopped && len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// pick is the ready step to start next: a local one at once, else, when a
// slot is free, the call with the longest chain behind it (the first added
// among equals); -1 when none may start.
func pick(ready []*step, slot bool) int {
	best := -1
	for i, s := range ready {
		if len(s.calls) == 0 {
			return i
		}
		if slot && (best < 0 || s.height > ready[best].height) {
			best = i
		}
	}
	return best
}
