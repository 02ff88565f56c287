package doctor

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/macsensor/macsensor/sensor/capture"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

// Limits of ReadBundle: a bundle is a few MiB; these refuse a hostile one.
const (
	maxBundleFiles = 1 << 16
	maxBundleBytes = 256 << 20
)

// Bundle is a loaded bundle.
type Bundle struct {
	Files  map[string][]byte
	Report Report
}

// ReadBundle reads a bundle (tar.gz) and its report.
func ReadBundle(r io.Reader) (*Bundle, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("doctor: bundle: %w", err)
	}
	tr := tar.NewReader(zr)
	b := &Bundle{Files: map[string][]byte{}}
	total := int64(0)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("doctor: bundle: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("doctor: bundle: %s: not a regular file (type %q)", h.Name, h.Typeflag)
		}
		total += h.Size
		if len(b.Files) >= maxBundleFiles || total > maxBundleBytes {
			return nil, fmt.Errorf("doctor: bundle: more than %d files or %d bytes", maxBundleFiles, maxBundleBytes)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("doctor: bundle: %s: %w", h.Name, err)
		}
		b.Files[h.Name] = data
	}
	rep, ok := b.Files["report.json"]
	if !ok {
		return nil, errors.New("doctor: bundle: no report.json")
	}
	if err := json.Unmarshal(rep, &b.Report); err != nil {
		return nil, fmt.Errorf("doctor: bundle: report.json: %w", err)
	}
	return b, nil
}

// Replay decodes the bundle's buffers with the sensor's decoders and
// compares them with the facts of its report: the children's processes
// and arguments, the runner's connection, the SYN and the DNS answer.
// Parts the run did not reach are skipped.
func (b *Bundle) Replay() []Result {
	f := &b.Report.Facts
	goos := b.Report.System.GOOS
	var out []Result
	for _, p := range []struct {
		name string
		run  func(map[string][]byte, *Facts, string) replayResult
	}{
		{"replay.process", replayProcesses},
		{"replay.socket", replaySockets},
		{"replay.capture", replayCapture},
		{"replay.procevents", replayProcEvents},
	} {
		t0 := time.Now()
		res := p.run(b.Files, f, goos)
		r := Result{Name: p.name, Value: res.value, DurationMS: float64(time.Since(t0).Microseconds()) / 1000}
		switch {
		case res.skip != "":
			r.Status, r.Reason, r.Value = Skip, res.skip, ""
		case res.err != nil:
			r.Status, r.Reason = Fail, res.err.Error()
		default:
			r.Status = Pass
		}
		out = append(out, r)
	}
	return out
}

// replayResult is one replay's outcome: pass (err nil), fail, or skipped.
type replayResult struct {
	value string
	err   error
	skip  string
}

// replayProcesses decodes the process table and the children's argument
// buffers.
func replayProcesses(files map[string][]byte, f *Facts, goos string) replayResult {
	var kids []*ProcessFact
	for _, k := range []*ProcessFact{f.Automator, f.Runner} {
		if k != nil {
			kids = append(kids, k)
		}
	}
	if len(kids) == 0 {
		return replayResult{skip: "the run saw no child process"}
	}
	var entries []proc.Entry
	var slack int64
	switch goos {
	case "darwin":
		buf, ok := files["proc/kern.proc.all"]
		if !ok {
			return replayResult{err: errors.New("no proc/kern.proc.all")}
		}
		var err error
		if entries, err = proc.DecodeKinfoProcs(buf, nil); err != nil {
			return replayResult{err: err}
		}
	case "linux":
		if f.TickNs <= 0 {
			return replayResult{err: errors.New("no boot clock in the facts")}
		}
		// The poll's Table and the raw read each took the boot time from
		// the clocks: they may differ by a little; a start time is cut to
		// a tick.
		slack = f.TickNs + int64(time.Millisecond)
		for name, b := range files {
			if !strings.HasPrefix(name, "proc/stat/") {
				continue
			}
			e, err := proc.ParseStatLine(b, f.BootNs, f.TickNs)
			if err != nil {
				return replayResult{err: fmt.Errorf("%s: %w", name, err)}
			}
			entries = append(entries, e)
		}
		if len(entries) == 0 {
			return replayResult{err: errors.New("no proc/stat/<pid> files")}
		}
		slices.SortFunc(entries, func(a, b proc.Entry) int { return int(a.PID) - int(b.PID) })
	default:
		return replayResult{skip: "no process decoder for " + goos}
	}
	var bad []string
	for _, k := range kids {
		i, found := slices.BinarySearchFunc(entries, k.PID, func(e proc.Entry, pid int32) int { return int(e.PID) - int(pid) })
		if !found {
			bad = append(bad, fmt.Sprintf("pid %d not in the process table", k.PID))
			continue
		}
		e := entries[i]
		if e.PPID != k.PPID {
			bad = append(bad, fmt.Sprintf("pid %d: ppid %d, report %d", k.PID, e.PPID, k.PPID))
		}
		if d := e.Start - k.Start; k.Seen && (d > slack || d < -slack) {
			bad = append(bad, fmt.Sprintf("pid %d: start %d, report %d", k.PID, e.Start, k.Start))
		}
		if comm := e.CommString(); comm == "" || !strings.HasPrefix(k.Name, comm) {
			bad = append(bad, fmt.Sprintf("pid %d: comm %q is not a prefix of %q", k.PID, comm, k.Name))
		}
		if goos == "darwin" && e.UID != k.UID {
			bad = append(bad, fmt.Sprintf("pid %d: uid %d, report %d", k.PID, e.UID, k.UID))
		}
		var args []string
		switch goos {
		case "darwin":
			b, ok := files[fmt.Sprintf("proc/procargs2/%d", k.PID)]
			if !ok {
				bad = append(bad, fmt.Sprintf("pid %d: no procargs2 buffer", k.PID))
				continue
			}
			_, a, _, err := proc.ParseProcargs2(b, proc.MaxArgs, proc.MaxArgBytes)
			if err != nil {
				bad = append(bad, fmt.Sprintf("pid %d: %v", k.PID, err))
				continue
			}
			args = a
		case "linux":
			b, ok := files[fmt.Sprintf("proc/cmdline/%d", k.PID)]
			if !ok {
				bad = append(bad, fmt.Sprintf("pid %d: no cmdline buffer", k.PID))
				continue
			}
			args, _ = proc.SplitCmdline(b)
		}
		if !slices.Equal(args, k.Args) {
			bad = append(bad, fmt.Sprintf("pid %d: args %q, report %q", k.PID, args, k.Args))
		}
	}
	value := fmt.Sprintf("%d processes decoded; the children %s match", len(entries), pidList(kids))
	if len(bad) > 0 {
		return replayResult{value: value, err: errors.New(strings.Join(bad, "; "))}
	}
	return replayResult{value: value}
}

// replaySockets decodes the socket buffers and finds the runner's
// connection.
func replaySockets(files map[string][]byte, f *Facts, goos string) replayResult {
	if f.Connection == nil {
		return replayResult{skip: "the run saw no connection"}
	}
	idxData, ok := files["socket/index.json"]
	if !ok {
		if e, ok := files["socket/error.txt"]; ok {
			return replayResult{err: fmt.Errorf("the socket buffers were not read: %s", strings.TrimSpace(string(e)))}
		}
		return replayResult{err: errors.New("no socket/index.json")}
	}
	var idx []rawSocketIndex
	if err := json.Unmarshal(idxData, &idx); err != nil {
		return replayResult{err: fmt.Errorf("socket/index.json: %w", err)}
	}
	local, err1 := netip.ParseAddrPort(f.Connection.Local)
	remote, err2 := netip.ParseAddrPort(f.Connection.Remote)
	if err := errors.Join(err1, err2); err != nil {
		return replayResult{err: fmt.Errorf("report: %w", err)}
	}
	var conns []socket.Conn
	for _, e := range idx {
		data, ok := files[e.File]
		if !ok {
			return replayResult{err: fmt.Errorf("%s: listed in socket/index.json, not in the bundle", e.File)}
		}
		var err error
		conns, err = socket.DecodeRaw(socket.RawBuffer{Name: e.Name, Proto: e.Proto, Seq: e.Seq, Data: data}, conns)
		if err != nil {
			return replayResult{err: fmt.Errorf("%s: %w", e.File, err)}
		}
	}
	value := fmt.Sprintf("%d sockets decoded from %d buffers", len(conns), len(idx))
	c := findConn(conns, local, remote)
	if c == nil {
		return replayResult{value: value, err: fmt.Errorf("no TCP socket %s -> %s", local, remote)}
	}
	if c.State.String() != f.Connection.State {
		return replayResult{value: value, err: fmt.Errorf("%s -> %s: state %s, report %s", local, remote, c.State, f.Connection.State)}
	}
	// Linux: inet_diag gives inodes; the owner came from /proc/<pid>/fd.
	if goos == "darwin" && c.Owner() != f.Connection.PID {
		return replayResult{value: value, err: fmt.Errorf("%s -> %s: owner pid %d, report %d", local, remote, c.Owner(), f.Connection.PID)}
	}
	return replayResult{value: value + fmt.Sprintf("; %s -> %s %s", local, remote, c.State)}
}

// replayCapture decodes the pcap files and finds the SYN and the DNS
// answer of the report.
func replayCapture(files map[string][]byte, f *Facts, goos string) replayResult {
	if f.SYN == nil && f.DNS == nil {
		return replayResult{skip: "the run captured nothing"}
	}
	var names []string
	for n := range files {
		if strings.HasPrefix(n, "capture/") && strings.HasSuffix(n, ".pcap") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return replayResult{err: errors.New("no capture/*.pcap")}
	}
	synOK, dnsOK := f.SYN == nil, f.DNS == nil
	frames := 0
	for _, n := range names {
		link, recs, err := parsePcap(files[n])
		if err != nil {
			return replayResult{err: fmt.Errorf("%s: %w", n, err)}
		}
		var dec capture.Decoded
		for _, rec := range recs {
			data := rec.Data
			frames++
			if err := capture.DecodeFrame(link, data, rec.Time, &dec); err != nil {
				return replayResult{err: fmt.Errorf("%s: frame %d: %w", n, frames, err)}
			}
			switch dec.Kind {
			case capture.KindSYN:
				if f.SYN != nil && dec.SYN.Src.String() == f.SYN.Src && dec.SYN.Dst.String() == f.SYN.Dst {
					synOK = true
				}
			case capture.KindDNS:
				if f.DNS != nil && dec.DNS.Question == f.DNS.Name && slices.ContainsFunc(dec.DNS.ResolvedIPs,
					func(a netip.Addr) bool { return a.String() == f.DNS.IP }) {
					dnsOK = true
				}
			}
		}
	}
	value := fmt.Sprintf("%d frames decoded from %d files", frames, len(names))
	var bad []string
	if !synOK {
		bad = append(bad, fmt.Sprintf("no SYN %s -> %s", f.SYN.Src, f.SYN.Dst))
	}
	if !dnsOK {
		bad = append(bad, fmt.Sprintf("no DNS answer %s A %s", f.DNS.Name, f.DNS.IP))
	}
	if len(bad) > 0 {
		return replayResult{value: value, err: errors.New(strings.Join(bad, "; "))}
	}
	return replayResult{value: value}
}

func pidList(kids []*ProcessFact) string {
	var s []string
	for _, k := range kids {
		s = append(s, fmt.Sprintf("%d", k.PID))
	}
	return strings.Join(s, ", ")
}
