package procevents

// SetRawTap makes fn see every datagram the source reads, before it is
// decoded (ParseConnector), on the reading goroutine: fn must not keep b.
// Call it before the first Read. It exists for `macsensor doctor`, which
// keeps the datagrams of its own child in its bundle.
func (s *Source) SetRawTap(fn func(b []byte)) { s.raw = fn }
