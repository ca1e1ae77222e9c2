package awsworld

import (
	"encoding/xml"
	"fmt"
	"math/rand"
	"net/http"
	"strings"
	"time"
)

// Fault is what the gate answers instead of forwarding a call.
type Fault string

const (
	Throttling      Fault = "Throttling"
	InternalError   Fault = "InternalError"
	ConnectionReset Fault = "ConnectionReset"
	// AccessDenied is not retried: a call the caller may not make.
	AccessDenied Fault = "AccessDenied"
)

// faultPlan says which calls fail and how slow every call is. Call numbers
// are 1-based positions in the gate's log.
type faultPlan struct {
	failAt        map[int]Fault
	failOps       map[string]Fault // operation -> fault, on every call
	fraction      float64
	fractionFault Fault
	rnd           *rand.Rand
	latency       time.Duration
	abortAfter    int // 0: never; else calls after this number are cut
	abort         func()
	// mutatingLeft counts down the mutating calls let through before the
	// cut; negative: no such cut.
	mutatingLeft int
}

func newFaultPlan() faultPlan {
	return faultPlan{failAt: map[int]Fault{}, failOps: map[string]Fault{}, rnd: rand.New(rand.NewSource(1)), mutatingLeft: -1}
}

// FailCall answers the k-th call (1-based, counted from now on) with f.
func (g *Gate) FailCall(k int, f Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults.failAt[len(g.calls)+k] = f
}

// FailOperation answers every call of operation (a query Action, or
// "METHOD /path" for REST) with f.
func (g *Gate) FailOperation(operation string, f Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults.failOps[operation] = f
}

// FailFraction answers about p of the calls with f, reproducibly (seeded).
func (g *Gate) FailFraction(p float64, f Fault, seed int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults.fraction, g.faults.fractionFault, g.faults.rnd = p, f, rand.New(rand.NewSource(seed))
}

// SetLatency delays every AWS call by d before it is answered.
func (g *Gate) SetLatency(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults.latency = d
}

// AbortAfter lets k more calls through, then cuts every later call (the
// network is gone) and runs abort once, as the (k+1)-th call arrives —
// e.g. to kill the process under test at exactly that point.
func (g *Gate) AbortAfter(k int, abort func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults.abortAfter, g.faults.abort = len(g.calls)+k, abort
}

// AbortAfterMutating lets k more mutating calls through, then cuts every
// later call and runs abort once, as the next call arrives: a run killed
// right after a change it made (k = 1: after its first), however many reads
// came before.
func (g *Gate) AbortAfterMutating(k int, abort func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults.mutatingLeft, g.faults.abort = k, abort
}

// admit logs the call and decides its fate; n is its place in the log of epoch.
func (g *Gate) admit(c *Call) (f Fault, latency time.Duration, abort func(), n, epoch int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	plan := &g.faults
	n = len(g.calls) + 1
	f = plan.failAt[n]
	if op := plan.failOps[c.Operation]; op != "" {
		f = op
	}
	if f == "" && plan.fraction > 0 && plan.rnd.Float64() < plan.fraction {
		f = plan.fractionFault
	}
	switch {
	case plan.abortAfter > 0 && n > plan.abortAfter, plan.mutatingLeft == 0:
		f, abort, plan.abort = ConnectionReset, plan.abort, nil
	case plan.mutatingLeft > 0 && c.Mutating:
		plan.mutatingLeft--
	}
	c.Injected = f
	g.calls = append(g.calls, *c)
	return f, plan.latency, abort, n, g.epoch
}

func injectFault(w http.ResponseWriter, service string, f Fault) {
	switch f {
	case ConnectionReset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
	case InternalError:
		(&apiError{http.StatusInternalServerError, "InternalError", "injected by the test gate"}).write(w, service)
	case AccessDenied:
		(&apiError{http.StatusForbidden, "AccessDenied", "User is not authorized to perform this action (injected by the test gate)"}).write(w, service)
	default:
		e := &apiError{http.StatusBadRequest, "Throttling", "Rate exceeded (injected by the test gate)"}
		if service == "s3" {
			e.status, e.code = http.StatusServiceUnavailable, "SlowDown"
		}
		e.write(w, service)
	}
}

// apiError is an AWS error answer.
type apiError struct {
	status  int
	code    string
	message string
}

// write answers in the error shape of the service's protocol, so the SDK
// classifies it as AWS's own (Throttling is retried with backoff).
func (e *apiError) write(w http.ResponseWriter, service string) {
	var m strings.Builder
	xml.EscapeText(&m, []byte(e.message))
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", "gate")
	w.WriteHeader(e.status)
	if service == "s3" {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>gate</RequestId></Error>`, e.code, m.String())
		return
	}
	kind := "Sender"
	if e.status >= 500 {
		kind = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>gate</RequestId></ErrorResponse>`, kind, e.code, m.String())
}
