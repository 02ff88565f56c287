package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/capture"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
)

// Defaults of Options.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultCheckTimeout = 10 * time.Second
)

// Options configure a run.
type Options struct {
	// Version is the macsensor version reported.
	Version string
	// Timeout bounds the whole run (DefaultTimeout when 0).
	Timeout time.Duration
	// CheckTimeout is a check's own deadline (DefaultCheckTimeout when 0).
	CheckTimeout time.Duration
	// Executable is the binary copied for the children (os.Executable()
	// when ""). ChildArgs are the arguments that put it in the client mode
	// RunChild serves, before the mode's own ({"doctor", "child"} when
	// nil). The children get an empty environment.
	Executable string
	ChildArgs  []string
	// TempDir is where the run's temporary folder is made (os.TempDir()
	// when "").
	TempDir string
	// Layout is the installed layout to check (DefaultLayout() when zero).
	Layout Layout
	// Checks replaces the list of checks (tests); nil runs Checks().
	Checks []Check
}

// Doctor is one run: its state while the checks run, then its report and
// the raw buffers the checks read (WriteBundle).
type Doctor struct {
	opt   Options
	root  bool
	nonce string

	// work is the temporary folder, "" until the workdir check; set and
	// read by cleanup under mu (a workdir check abandoned at the run's
	// deadline may set it after cleanup: cleaned tells it to remove it).
	work          string
	automatorPath string // copies of the executable in work/bin
	runnerPath    string

	host host.Info

	// The loopback listener and the connections it accepted.
	ln       net.Listener
	lnAddr   netip.AddrPort
	accepted chan netip.AddrPort

	// sensorSem guards the sensor and its tables: a check that hangs while
	// holding it makes the next user time out instead of racing it.
	sensorSem chan struct{}
	sens      *sensor.Sensor
	socks     *recordingSockets
	closeSens func()

	pev *procEvents // the process-event source, opened by process.poll

	capture  *capture.Source
	capStop  context.CancelFunc
	capDone  chan struct{}
	synSeen  chan capture.SYN
	capPorts sync.Map // uint16 → true: ports whose frames are kept

	mu       sync.Mutex
	cleaned  bool // cleanup has run
	children []*child
	events   []*ecs.Event // events of the doctor's children and of the doctor
	facts    Facts
	files    []bundleFile // raw buffers, in the order read
	frames   []capture.Frame

	report Report
}

// Run runs the checks and returns the Doctor with its report. ctx bounds
// the run together with Options.Timeout. Children, listeners, the capture
// and the temporary folder are released before Run returns.
func Run(ctx context.Context, opt Options) *Doctor {
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.CheckTimeout <= 0 {
		opt.CheckTimeout = DefaultCheckTimeout
	}
	if opt.ChildArgs == nil {
		opt.ChildArgs = []string{"doctor", "child"}
	}
	if opt.TempDir == "" {
		opt.TempDir = os.TempDir()
	}
	if opt.Layout == (Layout{}) {
		opt.Layout = DefaultLayout()
	}
	var nb [6]byte
	rand.Read(nb[:])
	d := &Doctor{
		opt:       opt,
		root:      os.Geteuid() == 0,
		nonce:     hex.EncodeToString(nb[:]),
		accepted:  make(chan netip.AddrPort, 16),
		sensorSem: make(chan struct{}, 1),
		synSeen:   make(chan capture.SYN, 16),
	}
	d.facts.DoctorPID = int32(os.Getpid())
	d.report = Report{Tool: "macsensor doctor", Version: opt.Version, Started: time.Now().UTC(),
		System: System{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, UID: os.Geteuid(), Root: d.root}}
	if hi, err := host.Read(); err == nil || hi.OS.Type != "" {
		d.host = hi
		d.fillSystem(hi)
	}
	checks := opt.Checks
	if checks == nil {
		checks = Checks()
	}
	rctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	d.report.Checks = runChecks(rctx, d, checks, d.root, opt.CheckTimeout)
	cancel()
	d.cleanup()
	d.mu.Lock()
	d.report.Facts = d.facts
	d.mu.Unlock()
	d.report.Finished = time.Now().UTC()
	d.report.summarize()
	return d
}

// Report returns the run's report.
func (d *Doctor) Report() *Report { return &d.report }

func (d *Doctor) fillSystem(hi host.Info) {
	d.report.System.OSType = hi.OS.Type
	d.report.System.OSName = hi.OS.Name
	d.report.System.OSVersion = hi.OS.Version
	d.report.System.Kernel = hi.OS.Kernel
	d.report.System.Architecture = hi.Architecture
}

// Checks returns the checks of a run, in order.
func Checks() []Check {
	return []Check{
		{Name: "workdir", Run: checkWorkdir},
		{Name: "host.identity", Run: checkHost},
		{Name: "loopback", Run: checkLoopback},
		{Name: "capture.open", Root: true, Needs: []string{"loopback"}, Run: checkCaptureOpen},
		{Name: "process.poll", Needs: []string{"workdir"}, Run: checkProcessPoll},
		{Name: "process.decode", Needs: []string{"process.poll"}, Run: checkProcessDecode},
		{Name: "process.events", Needs: []string{"workdir"}, Run: checkProcessEvents},
		{Name: "network.connection", Needs: []string{"workdir", "loopback"}, Run: checkConnection},
		{Name: "network.decode", Needs: []string{"network.connection"}, Run: checkNetworkDecode},
		{Name: "capture.syn", Root: true, Needs: []string{"capture.open", "network.connection"}, Run: checkCaptureSYN},
		{Name: "capture.dns", Root: true, Needs: []string{"capture.open"}, Run: checkCaptureDNS},
		{Name: "engine.seed", Needs: []string{"host.identity", "process.poll", "network.connection"}, Run: checkEngine},
		{Name: "codesign", Run: checkCodesign},
		{Name: "install.files", Run: checkInstallFiles},
		{Name: "install.alert_log", Run: checkInstallAlertLog},
		{Name: "install.status", Run: checkInstallStatus},
	}
}

// lockSensor takes the sensor for the caller until unlock, or fails when
// ctx ends first (an earlier check hung holding it).
func (d *Doctor) lockSensor(ctx context.Context) (unlock func(), err error) {
	select {
	case d.sensorSem <- struct{}{}:
		return func() { <-d.sensorSem }, nil
	case <-ctx.Done():
		return nil, failf(nextBundle, "the process and socket tables are still held by a check that hung")
	}
}

// addFile keeps a raw buffer for the bundle (replacing one of that name).
func (d *Doctor) addFile(name string, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.files {
		if d.files[i].name == name {
			d.files[i].data = data
			return
		}
	}
	d.files = append(d.files, bundleFile{name: name, data: data})
}

// keep records events of the doctor and its children (the only ones the
// engine check needs; other processes' events, with their arguments, are
// not kept).
func (d *Doctor) keep(evs []*ecs.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pids := []int64{int64(d.facts.DoctorPID)}
	for _, c := range d.children {
		pids = append(pids, int64(c.pid))
	}
	for _, ev := range evs {
		if slices.Contains(pids, ev.Process.PID) {
			d.events = append(d.events, ev.Clone())
		}
	}
}

// cleanup stops the children, the capture and the listener and removes
// the temporary folder.
func (d *Doctor) cleanup() {
	d.mu.Lock()
	children, work := d.children, d.work
	d.cleaned = true
	d.mu.Unlock()
	for _, c := range children {
		c.stop()
	}
	if d.pev != nil {
		d.pev.stop()
	}
	if d.capStop != nil {
		d.capStop()
		select {
		case <-d.capDone:
		case <-time.After(2 * time.Second):
		}
		d.capture.Close()
	}
	if d.ln != nil {
		d.ln.Close()
	}
	// The sensor is closed only if no hung check holds it.
	select {
	case d.sensorSem <- struct{}{}:
		if d.closeSens != nil {
			d.closeSens()
		}
	default:
	}
	if work != "" {
		os.RemoveAll(work)
	}
}

func (d *Doctor) String() string { return fmt.Sprintf("doctor run %s", d.nonce) }
