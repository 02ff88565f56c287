package doctor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Check is one live check.
type Check struct {
	Name string
	// Root: the check needs root; run by anyone else it is skipped and
	// says so.
	Root bool
	// Needs names earlier checks that must have passed; if one did not,
	// this check is skipped and names it.
	Needs []string
	// Timeout is the check's own deadline (Options.CheckTimeout when 0),
	// cut to what is left of the run's.
	Timeout time.Duration
	// Run performs the check. It returns the measured value and nil (pass),
	// a *Failure (fail; the value is kept), an error from Skipf (skipped),
	// or another error (fail, the error as the reason). It must return when
	// ctx is done; one that does not is reported as hung and abandoned.
	Run func(ctx context.Context, d *Doctor) (string, error)
}

// Failure is a failed check's reason and next step.
type Failure struct {
	Reason string
	Next   string
}

func (f *Failure) Error() string { return f.Reason }

// failf returns a *Failure with the next step and the formatted reason.
func failf(next, format string, args ...any) error {
	return &Failure{Reason: fmt.Sprintf(format, args...), Next: next}
}

type skipError struct{ reason string }

func (s *skipError) Error() string { return s.reason }

// Skipf returns the error a check returns to be reported as skipped.
func Skipf(format string, args ...any) error {
	return &skipError{reason: fmt.Sprintf(format, args...)}
}

// nextBundle is the next step of a failure only a maintainer can act on.
const nextBundle = "send the bundle: sudo macsensor doctor --bundle ~/macsensor-doctor.tar.gz (docs/DOCTOR.md)"

// runChecks runs checks in order within ctx (the whole run's deadline).
// Each check runs on its own goroutine under its own deadline; one that
// does not return by then is reported as failed and abandoned (it must
// not hold anything a later check needs: the Doctor's shared state is
// taken with a context, see Doctor.lockSensor).
func runChecks(ctx context.Context, d *Doctor, checks []Check, root bool, perCheck time.Duration) []Result {
	results := make([]Result, 0, len(checks))
	byName := map[string]Status{}
	for _, c := range checks {
		r := runOne(ctx, d, c, root, perCheck, byName)
		byName[c.Name] = r.Status
		results = append(results, r)
	}
	return results
}

func runOne(ctx context.Context, d *Doctor, c Check, root bool, perCheck time.Duration, done map[string]Status) Result {
	r := Result{Name: c.Name}
	if ctx.Err() != nil {
		// It applies and did not run: a failure, so that a run cut short
		// never exits 0.
		r.Status, r.Reason = Fail, "not run: the run's deadline (--timeout) passed before this check started"
		r.Next = "run again with a larger --timeout; if a check hangs, send the bundle"
		return r
	}
	if c.Root && !root {
		r.Status, r.Reason = Skip, "needs root: run it with sudo"
		return r
	}
	for _, n := range c.Needs {
		if st, ok := done[n]; !ok || st != Pass {
			r.Status, r.Reason = Skip, fmt.Sprintf("needs %s, which did not pass", n)
			return r
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = perCheck
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type outcome struct {
		value string
		err   error
	}
	ch := make(chan outcome, 1)
	t0 := time.Now()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- outcome{err: failf(nextBundle, "the check panicked: %v", p)}
			}
		}()
		v, err := c.Run(cctx, d)
		ch <- outcome{v, err}
	}()
	var o outcome
	select {
	case o = <-ch:
	case <-cctx.Done():
		// Give a check that honours its context a moment to say why.
		grace := time.NewTimer(250 * time.Millisecond)
		select {
		case o = <-ch:
		case <-grace.C:
			which := fmt.Sprintf("its own deadline (%s)", timeout)
			if ctx.Err() != nil {
				which = "the run's deadline (--timeout)"
			}
			o.err = failf(nextBundle, "did not finish within %s: abandoned", which)
		}
		grace.Stop()
	}
	r.DurationMS = float64(time.Since(t0).Microseconds()) / 1000
	r.Value = o.value
	var f *Failure
	var s *skipError
	switch {
	case o.err == nil:
		r.Status = Pass
	case errors.As(o.err, &s):
		r.Status, r.Reason, r.Value = Skip, s.reason, ""
	case errors.As(o.err, &f):
		r.Status, r.Reason, r.Next = Fail, f.Reason, f.Next
	default:
		r.Status, r.Reason, r.Next = Fail, o.err.Error(), nextBundle
	}
	return r
}
