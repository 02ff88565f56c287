package sensor

import (
	"time"

	"github.com/macsensor/macsensor/sensor/codesign"
	"github.com/macsensor/macsensor/sensor/ecs"
)

// Signatures verifies executables off the poll goroutine and remembers the
// results by file identity; codesign.Cache fits. Lookup must not read the
// file (one stat and a map lookup); Await waits at most timeout for a
// queued file (not at all when timeout <= 0).
type Signatures interface {
	Lookup(path string) (codesign.Info, codesign.Key, bool)
	Await(k codesign.Key, timeout time.Duration) (codesign.Info, bool)
}

// DefaultSignatureBudget is Options.SignatureBudget when 0: the longest a
// poll (or a batch of process events) waits, in total, for the
// verifications of the executables whose events it is about to emit. A
// verification of a small binary (a few MB) ends within it on the first
// sighting; a 100 MB one takes 0.3–0.5 s of the worker, and its first exec
// event leaves without code_signature after the budget (docs/CODESIGN.md).
const DefaultSignatureBudget = 50 * time.Millisecond

// SignatureStats counts the code-signature work of the sensor (the cache
// counts its own: codesign.CacheStats).
type SignatureStats struct {
	Lookups       uint64 // executables looked up (one per process record and exec)
	Waited        uint64 // Await calls of the per-poll budget that found the result
	PendingAtEmit uint64 // events emitted without code_signature: the budget ran out
	Retries       uint64 // executables looked up again (their result was not cached)
	WaitNanos     uint64 // total time the polls waited for results
}

// Signature states of a record.
const (
	sigNone    uint8 = iota // not looked up (no executable, or no Signatures)
	sigPending              // queued: key names the result to wait for
	sigFinal                // cs / sha256 hold what the events carry
)

// sigRecord is what a process record keeps of its executable's
// verification: the fields its events carry, ready to copy.
type sigRecord struct {
	state   uint8
	retried bool // a Lookup was made again after an uncached result
	dropped bool // final only for now: the verifier's queue was full
	checked bool // cs.Exists and cs.Trusted are set (presence bits)
	key     codesign.Key
	cs      ecs.CodeSignature
	sha256  string
}

// sigWait is an event emitted while a verification it needs was pending:
// it gets the fields if the result comes within the poll's budget.
type sigWait struct {
	ev     *ecs.Event
	self   *sigRecord // the process's (nil: already filled)
	path   string     // its executable, for a retry
	parent *sigRecord // the parent's (nil: already filled)
	ppath  string
	hash   bool // a process event: process.hash.sha256 too
}

// lookupSignature starts the verification of a record's executable: one
// stat; never reads the file.
func (s *Sensor) lookupSignature(r *sigRecord, path string) {
	*r = sigRecord{}
	if s.opt.Signatures == nil || path == "" {
		return
	}
	s.sig.Lookups++
	info, k, ok := s.opt.Signatures.Lookup(path)
	r.key = k
	if !ok && info.Status == codesign.StatusPending {
		r.state = sigPending
		return
	}
	s.setSignature(r, &info)
}

// setSignature makes r final with info, mapped to ECS as the codesign
// package documents: exists and trusted only when the file was judged,
// status unless pending, the strings when not empty.
//
// code_signature describes Mach-O files only. On Linux every executable is
// ELF: the verifier hashes it (process.hash.sha256) and calls it "bad
// format", which as exists=false / trusted=false would tell an analyst
// that a signed-code check failed. So a file that was read and is not
// Mach-O gets the hash and no code_signature; a file that was not judged
// (too large, changed while read, gone) gets its "not checked: …" status
// only on a macOS host (host.os.type "macos"), where every executable is
// Mach-O.
func (s *Sensor) setSignature(r *sigRecord, info *codesign.Info) {
	r.state = sigFinal
	r.dropped = info.Status == codesign.StatusDropped
	r.sha256 = info.SHA256
	r.cs = ecs.CodeSignature{}
	r.checked = false
	switch {
	case info.MachO:
		r.checked = info.Checked
		if info.Checked {
			r.cs.Exists, r.cs.Trusted = info.Exists, info.Trusted
		}
		if info.Status != codesign.StatusPending {
			r.cs.Status = info.Status
		}
		r.cs.SigningID, r.cs.TeamID, r.cs.SubjectName = info.SigningID, info.TeamID, info.SubjectName
	case !info.Checked && s.opt.Host.OS.Type == "macos" && info.Status != codesign.StatusPending:
		r.cs.Status = info.Status
	}
}

// resolveSignature asks, waiting at most wait, for the result of a
// pending record; it reports whether r is final. A result that was not
// cached (the file changed while read, or was evicted first) is looked up
// once more by path; a second one stands as StatusChanged.
func (s *Sensor) resolveSignature(r *sigRecord, path string, wait time.Duration) bool {
	if r.state != sigPending {
		return r.state == sigFinal
	}
	info, ok := s.opt.Signatures.Await(r.key, wait)
	switch {
	case ok:
	case info.Status == codesign.StatusPending:
		return false
	case info.Status == "" && !r.retried && path != "":
		// Finished uncached before this call: the worker's word is lost.
		s.sig.Retries++
		s.lookupSignature(r, path)
		r.retried = true
		return r.state == sigFinal
	case info.Status == "":
		info = codesign.Info{Status: codesign.StatusChanged}
	}
	s.setSignature(r, &info)
	return true
}

// fillSignature copies a final record into the process.* fields of ev
// (hash: process events only). It neither allocates nor calls the cache.
func fillSignature(ev *ecs.Event, r *sigRecord, hash bool) {
	ev.Process.CodeSignature = r.cs
	if r.checked {
		ev.Has |= ecs.HasProcessCodeSignatureExists | ecs.HasProcessCodeSignatureTrusted
	}
	if hash {
		ev.Process.Hash.SHA256 = r.sha256
	}
}

// fillParentSignature copies a final record into process.parent.*.
func fillParentSignature(ev *ecs.Event, r *sigRecord) {
	ev.Process.Parent.CodeSignature = r.cs
	if r.checked {
		ev.Has |= ecs.HasProcessParentCodeSignatureExists | ecs.HasProcessParentCodeSignatureTrusted
	}
}

// signEvent fills the code-signature fields of ev from the records of its
// process and parent (either may be nil), or notes ev to wait for them
// within the poll's budget (settleSignatures).
func (s *Sensor) signEvent(ev *ecs.Event, self *sigRecord, path string, parent *sigRecord, ppath string, hash bool) {
	if s.opt.Signatures == nil {
		return
	}
	w := sigWait{ev: ev, hash: hash}
	// A record not looked up yet (made before SetSignatures) or refused by
	// a full queue is looked up now.
	if self != nil && (self.state == sigNone && path != "" || self.dropped) {
		s.lookupSignature(self, path)
	}
	if parent != nil && (parent.state == sigNone && ppath != "" || parent.dropped) {
		s.lookupSignature(parent, ppath)
	}
	if self != nil && self.state != sigNone {
		if s.resolveSignature(self, path, 0) {
			fillSignature(ev, self, hash)
		} else {
			w.self, w.path = self, path
		}
	}
	if parent != nil && parent.state != sigNone {
		if s.resolveSignature(parent, ppath, 0) {
			fillParentSignature(ev, parent)
		} else {
			w.parent, w.ppath = parent, ppath
		}
	}
	if w.self != nil || w.parent != nil {
		s.sigWaits = append(s.sigWaits, w)
	}
}

func (s *Sensor) signatureBudget() time.Duration {
	if s.opt.SignatureBudget == 0 {
		return DefaultSignatureBudget
	}
	return s.opt.SignatureBudget
}

// settleSignatures waits, at most the budget in total (measured with
// Options.Now), for the verifications the events of this poll still need,
// fills the events whose result came and leaves the rest without
// code_signature (counted in PendingAtEmit). Their records get the result
// later, for their later events. Under a Loop it does nothing: the Loop
// holds the batch instead (holdBatch), so that the goroutine that reads
// processes never waits.
func (s *Sensor) settleSignatures() {
	if len(s.sigWaits) == 0 || s.deferSigs {
		return
	}
	budget := s.signatureBudget()
	start := s.opt.Now()
	left := func() time.Duration { return max(budget-s.opt.Now().Sub(start), 0) }
	for i := range s.sigWaits {
		w := &s.sigWaits[i]
		missed := false
		if w.self != nil {
			if s.resolveSignature(w.self, w.path, left()) {
				fillSignature(w.ev, w.self, w.hash)
				s.sig.Waited++
			} else {
				missed = true
			}
		}
		if w.parent != nil {
			if s.resolveSignature(w.parent, w.ppath, left()) {
				fillParentSignature(w.ev, w.parent)
				s.sig.Waited++
			} else {
				missed = true
			}
		}
		if missed {
			s.sig.PendingAtEmit++
		}
	}
	s.sig.WaitNanos += uint64(s.opt.Now().Sub(start))
	clear(s.sigWaits)
	s.sigWaits = s.sigWaits[:0]
}

// sigHold is the Loop's queue of batches held for code signatures.
type sigHold struct {
	budget time.Duration
	held   []heldBatch
	t      *time.Timer
	c      <-chan time.Time // set while batches are held
}

// heldBatch is a batch held until its events' verifications end or its
// deadline passes.
type heldBatch struct {
	b        Batch
	waits    []sigWait
	start    time.Time
	deadline time.Time
}

// sigRecheck is how often the Loop looks at the results a held batch
// waits for.
const sigRecheck = 5 * time.Millisecond

func (h *sigHold) stop() {
	if h.t != nil {
		h.t.Stop()
	}
}

// holdBatch queues b, with the waits of the poll that made it, behind the
// batches already held.
func (s *Sensor) holdBatch(h *sigHold, b Batch) {
	now := time.Now()
	h.held = append(h.held, heldBatch{b: b, waits: s.sigWaits, start: now, deadline: now.Add(max(h.budget, 0))})
	s.sigWaits = nil
}

// releaseHeld fills the held events whose results have come and delivers,
// in order, every batch at the front that waits for nothing more or whose
// deadline passed (all of them when force); the rest stay, and the timer
// is set to look again.
func (s *Sensor) releaseHeld(h *sigHold, force bool, deliver func(Batch)) {
	now := time.Now()
	for len(h.held) > 0 {
		hb := &h.held[0]
		hb.waits = s.resolveWaits(hb.waits)
		if len(hb.waits) > 0 && !force && now.Before(hb.deadline) {
			break
		}
		s.sig.PendingAtEmit += uint64(len(hb.waits))
		s.sig.WaitNanos += uint64(now.Sub(hb.start))
		deliver(hb.b)
		clear(hb.waits)
		h.held[0] = heldBatch{}
		h.held = h.held[1:]
	}
	if len(h.held) == 0 {
		h.held = nil
		h.c = nil
		return
	}
	d := min(sigRecheck, max(time.Until(h.held[0].deadline), time.Microsecond))
	if h.t == nil {
		h.t = time.NewTimer(d)
	} else {
		h.t.Reset(d)
	}
	h.c = h.t.C
}

// resolveWaits fills the events of waits whose results are there (without
// waiting) and returns those still pending, in place.
func (s *Sensor) resolveWaits(waits []sigWait) []sigWait {
	n := 0
	for i := range waits {
		w := waits[i]
		if w.self != nil && s.resolveSignature(w.self, w.path, 0) {
			fillSignature(w.ev, w.self, w.hash)
			s.sig.Waited++
			w.self = nil
		}
		if w.parent != nil && s.resolveSignature(w.parent, w.ppath, 0) {
			fillParentSignature(w.ev, w.parent)
			s.sig.Waited++
			w.parent = nil
		}
		if w.self != nil || w.parent != nil {
			waits[n] = w
			n++
		}
	}
	clear(waits[n:])
	return waits[:n]
}
