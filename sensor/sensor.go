package sensor

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

// ProcessTable is what the sensor needs of a process source (proc.Table).
type ProcessTable interface {
	List(dst []proc.Entry) ([]proc.Entry, error)
	// Read reads one pid as List would list it (proc.ErrGone when gone).
	Read(pid int32, e *proc.Entry) error
	Details(pid int32, d *proc.Details) error
}

// SocketTable is what the sensor needs of a socket source (socket.Table).
type SocketTable interface {
	List(dst []socket.Conn) ([]socket.Conn, error)
}

// Options configures a Sensor.
type Options struct {
	Host  host.Info
	Agent ecs.Agent
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// UserName maps a uid to a user name ("" when unknown); nil: names are
	// left out. It is called once per new process or connection and should
	// cache.
	UserName func(uid uint32) string
	// EmitExisting emits start events for the processes already running at
	// the first poll. By default the first poll only learns them, so that
	// starting the sensor does not replay hundreds of old process starts
	// into the rules.
	EmitExisting bool
	// ExitEvents emits an end event (event.type ["end"], event.action
	// "end") when a process exits: at its exit event when process events
	// run, else at the first poll that finds it gone.
	ExitEvents bool
	// IDNonce, if not zero, is the first half of every event.id; zero
	// means a random one per Sensor.
	IDNonce uint64
	// Signatures, if not nil, verifies the executable of every process
	// record (codesign.Cache fits): exec and end events carry
	// process.code_signature.*, process.hash.sha256 and
	// process.parent.code_signature.*, network events the owner's
	// process.code_signature.* (signature.go). nil: none of these fields.
	Signatures Signatures
	// SignatureBudget is the most a poll waits, in total, for pending
	// verifications before emitting its events without them;
	// DefaultSignatureBudget when 0, no wait when negative.
	SignatureBudget time.Duration
}

// Stats counts what the sensor has done. All fields only grow except
// Processes and Connections, which are the sizes of the current tables.
type Stats struct {
	ProcessPolls   uint64
	SocketPolls    uint64
	ProcessEvents  uint64 // exec (and already_running) events: new processes and same-pid execs
	ExitEvents     uint64 // end events of processes
	NetworkEvents  uint64 // connection_attempted and connection_accepted
	EndEvents      uint64 // disconnect_received
	Gone           uint64 // processes that exited between listing and reading their details
	DetailErrors   uint64 // other failures to read a process's details (EPERM, ...)
	Unattributed   uint64 // new connections whose owner pid is 0 or not in the process table
	Refreshes      uint64 // process reads made by a socket poll that found new connections
	Processes      int
	Connections    int
	LastProcessDur time.Duration
	LastSocketDur  time.Duration
	Signatures     SignatureStats
}

// Sensor turns successive snapshots of the process and socket tables into
// ECS events. It is not safe for concurrent use: one goroutine polls.
type Sensor struct {
	opt   Options
	procs ProcessTable
	socks SocketTable

	// prev is the last process snapshot, sorted by pid; info[i] describes
	// prev[i]. cur and curInfo are the buffers of the next poll.
	prev, cur     []proc.Entry
	info, curInfo []*process
	newIdx        []int
	details       proc.Details
	primed        bool
	sockPrimed    bool

	conns   map[connKey]connState
	listen  map[uint16]uint32 // TCP listening port → generation last seen
	connBuf []socket.Conn
	fresh   []int // indexes in connBuf of this poll's new connections
	gen     uint32

	seq          int64
	nonce        [8]byte
	vanished     []*process // scratch of PollProcesses
	pe           peState    // process events (procevent.go)
	peQueue      *ProcessEvents
	lastProcSnap int64 // Unix ns of the last process snapshot
	lastSockSnap int64 // Unix ns of the last socket snapshot
	users        map[uint32]string
	sig          SignatureStats
	sigWaits     []sigWait // events of this poll waiting for a verification
	deferSigs    bool      // a Loop runs: it holds batches instead of waiting
	stats        Stats
	loop         LoopStats
	pub          publishedStats
}

// New returns a Sensor over the given tables. socks may be nil (no network
// events).
func New(procs ProcessTable, socks SocketTable, opt Options) *Sensor {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Sensor{
		opt:    opt,
		procs:  procs,
		socks:  socks,
		conns:  make(map[connKey]connState),
		listen: make(map[uint16]uint32),
		users:  make(map[uint32]string),
	}
	if opt.IDNonce != 0 {
		binary.BigEndian.PutUint64(s.nonce[:], opt.IDNonce)
	} else {
		_, _ = rand.Read(s.nonce[:])
	}
	return s
}

// EventID is the event.id of the event numbered seq by a sensor whose
// IDNonce is nonce: base64 of the nonce and the sequence number, both
// big-endian, 24 characters like Elastic Defend's ids. Unique per sensor
// run (the random nonce) and per event (the sequence).
func EventID(nonce uint64, seq int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], nonce)
	binary.BigEndian.PutUint64(b[8:], uint64(seq))
	return base64.StdEncoding.EncodeToString(b[:])
}

func (s *Sensor) eventID(seq int64) string {
	return EventID(binary.BigEndian.Uint64(s.nonce[:]), seq)
}

// SetExitEvents turns the end events of processes on or off
// (Options.ExitEvents). Call it only while no Loop runs on the Sensor.
func (s *Sensor) SetExitEvents(on bool) { s.opt.ExitEvents = on }

// SetSignatures replaces Options.Signatures and SignatureBudget (nil: off).
// Every record is looked up again at its next event (not all at once: that
// would overflow the verifier's queue). Call it only while no Loop runs on
// the Sensor.
func (s *Sensor) SetSignatures(sig Signatures, budget time.Duration) {
	s.opt.Signatures, s.opt.SignatureBudget = sig, budget
	for _, p := range s.info {
		p.sig = sigRecord{}
	}
}

// Stats returns the counters.
func (s *Sensor) Stats() Stats {
	st := s.stats
	st.Processes = len(s.prev)
	st.Connections = len(s.conns)
	st.Signatures = s.sig
	return st
}

// Watermark is the time, in Unix nanoseconds, up to which every event has
// been delivered: a process alive at the last process snapshot was in it,
// and a connection first seen by a later socket poll is stamped with that
// poll's time. 0 until both tables (or the only one) have been polled.
func (s *Sensor) Watermark() int64 {
	if s.socks == nil {
		return s.lastProcSnap
	}
	return min(s.lastProcSnap, s.lastSockSnap)
}

// Poll polls the socket table, then the process table, and appends the
// events to dst in the order they were observed.
//
// Sockets come first so that the watermark after the poll is the socket
// snapshot's time: the poll's network events (stamped with it) are then
// released at once instead of waiting one more interval behind the process
// snapshot, and a process first seen by the process read, which comes
// later, is stamped no earlier than the previous process snapshot, after
// every connection already released. When the socket poll read the process
// table itself (it does when there are new connections), that read, taken
// after the socket snapshot, stands for this poll's.
func (s *Sensor) Poll(dst []*ecs.Event) ([]*ecs.Event, error) {
	if s.socks == nil {
		return s.PollProcesses(dst)
	}
	refreshes := s.stats.Refreshes
	dst, err := s.PollSockets(dst)
	if err != nil {
		return dst, err
	}
	if s.stats.Refreshes != refreshes {
		return dst, nil
	}
	return s.PollProcesses(dst)
}

func (s *Sensor) nextSeq() int64 {
	s.seq++
	return s.seq
}

func (s *Sensor) userName(uid uint32) string {
	if s.opt.UserName == nil {
		return ""
	}
	if n, ok := s.users[uid]; ok {
		return n
	}
	n := s.opt.UserName(uid)
	s.users[uid] = n
	return n
}

// newEvent returns an event with the host, agent and event.* fields every
// event of this sensor carries.
func (s *Sensor) newEvent(ts, created int64, category, typ []string, action, dataset string) *ecs.Event {
	ev := &ecs.Event{
		Timestamp: ts,
		Host:      ecs.Host{ID: s.opt.Host.ID, Name: s.opt.Host.Name, Hostname: s.opt.Host.Hostname, Architecture: s.opt.Host.Architecture, OS: ecs.OS(s.opt.Host.OS)},
		Agent:     s.opt.Agent,
		Has:       ecs.HasTimestamp | ecs.HasCreated | ecs.HasSequence,
	}
	seq := s.nextSeq()
	ev.Event = ecs.EventMeta{
		ID:       s.eventID(seq),
		Kind:     "event",
		Category: category,
		Type:     typ,
		Action:   action,
		Dataset:  dataset,
		Module:   "endpoint",
		Created:  created,
		Sequence: seq,
	}
	return ev
}

// Shared, never-mutated category and type slices: every event of a kind
// points at the same backing array (cap == len, so an append copies).
var (
	catProcess = []string{"process"}
	catNetwork = []string{"network"}
	typeStart  = []string{"start"}
	typeEnd    = []string{"end"}
)

// connKey identifies a connection: its 5-tuple and its owner.
type connKey struct {
	local, remote netip.AddrPort
	owner         int32
	proto         uint8
}
