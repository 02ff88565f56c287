package main

import (
	"time"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/codesign"
)

// signatureState is the code-signature cache of the running daemon
// ([sensor] code_signatures): nil when off.
type signatureState struct {
	cache  *codesign.Cache
	budget time.Duration
}

// openSignatures starts the verifying worker when code_signatures is on.
func openSignatures(c SensorConfig) signatureState {
	if !c.CodeSignatures {
		return signatureState{}
	}
	return signatureState{
		cache:  codesign.NewCache(codesign.CacheOptions{MaxFileSize: int64(c.CodeSignatureMaxFileSize)}),
		budget: signatureBudget(c.CodeSignatureBudget),
	}
}

// signatureBudget maps the configured budget to sensor.Options: 0 means no
// wait (the sensor's 0 is its default).
func signatureBudget(d Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return time.Duration(d)
}

// sensorSignatures is what sensor.Options takes: a nil interface when off
// (a nil *codesign.Cache in it would not be).
func (s signatureState) sensorSignatures() sensor.Signatures {
	if s.cache == nil {
		return nil
	}
	return s.cache
}

// close stops the worker after the file it is reading.
func (s signatureState) close() {
	if s.cache != nil {
		s.cache.Close()
	}
}

// signaturesChanged reports whether a reload must replace the cache.
func signaturesChanged(old, cur SensorConfig) bool {
	return old.CodeSignatures != cur.CodeSignatures || old.CodeSignatureMaxFileSize != cur.CodeSignatureMaxFileSize ||
		old.CodeSignatureBudget != cur.CodeSignatureBudget
}

// StatusCodeSignatures is the status of the code-signature verification:
// the cache's counters and the events that left without a result.
type StatusCodeSignatures struct {
	State         string  `json:"state"` // "on", "off"
	Hits          uint64  `json:"hits"`
	Misses        uint64  `json:"misses"`
	Verified      uint64  `json:"verified"`
	BytesRead     uint64  `json:"bytes_read"`
	PendingAtEmit uint64  `json:"pending_at_emit"` // events emitted without code_signature: the poll's budget ran out
	TooLarge      uint64  `json:"too_large"`
	Changed       uint64  `json:"changed"` // files changed while read (not cached)
	Dropped       uint64  `json:"dropped"` // files not queued: the worker's queue was full
	Entries       int     `json:"entries"`
	VerifyMS      float64 `json:"verify_ms"` // total worker time
	WaitMS        float64 `json:"wait_ms"`   // total time polls waited within their budget
}

func (s signatureState) status(ss sensor.SignatureStats) *StatusCodeSignatures {
	if s.cache == nil {
		return &StatusCodeSignatures{State: "off"}
	}
	cs := s.cache.Stats()
	return &StatusCodeSignatures{State: "on", Hits: cs.Hits, Misses: cs.Misses, Verified: cs.Verified, BytesRead: cs.BytesRead,
		PendingAtEmit: ss.PendingAtEmit, TooLarge: cs.TooLarge, Changed: cs.Changed, Dropped: cs.QueueDropped,
		Entries: cs.Entries, VerifyMS: float64(cs.VerifyNanos) / 1e6, WaitMS: float64(ss.WaitNanos) / 1e6}
}
