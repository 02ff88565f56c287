package logfile_test

// End-to-end tests with a real forwarder: rsyslogd (imfile) tails the alert
// log that logfile.Writer writes and rotates, and sends each line it reads
// to an output file (omfile) or a TCP server (omfwd); what arrives is
// compared with what was written.
//
// The rsyslog configuration is testdata/rsyslog/alerts.conf.tmpl, the one
// docs/FORWARDING.md shows rendered with the macOS paths
// (TestForwardingDocShowsTestedConfig keeps them identical). rsyslogd runs
// in the foreground as a child process with a private work directory and no
// system input (no imuxsock, no imklog). Without rsyslogd the tests fail,
// or skip with MACSENSOR_SKIP_TOOLS=1; -short skips them.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/macsensor/macsensor/sensor/logfile"
)

// rsyslogConfig fills the template's placeholders.
type rsyslogConfig struct {
	WorkDir     string // imfile state files (and omfwd's queue files)
	AlertLog    string // the file tailed
	Output      string // where each line read is written (omfile), unless Collector is set
	Diagnostics string // rsyslogd's own messages
	Collector   string // if set, lines go to Collector:Port over TCP (omfwd) instead of Output
	Port        int
	Mode        string // imfile mode: inotify or polling
}

// rsyslogd is one rsyslogd child process (started again after a stop).
type rsyslogd struct {
	t      *testing.T
	bin    string
	conf   string
	stdout string // rsyslogd's stdout and stderr, appended across runs

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// findRsyslogd returns the rsyslogd binary, or fails (skips with
// MACSENSOR_SKIP_TOOLS=1) when it is missing.
func findRsyslogd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	if fi, err := os.Stat("/usr/sbin/rsyslogd"); err == nil && fi.Mode().IsRegular() {
		return "/usr/sbin/rsyslogd"
	}
	const msg = "rsyslogd not found: install rsyslog (make deps)"
	if os.Getenv("MACSENSOR_SKIP_TOOLS") == "1" {
		t.Skip(msg + "; skipped: MACSENSOR_SKIP_TOOLS=1")
	}
	t.Fatal(msg)
	return ""
}

// writeRsyslogConfig renders testdata/rsyslog/alerts.conf.tmpl into dir.
func writeRsyslogConfig(t *testing.T, dir string, c rsyslogConfig) string {
	t.Helper()
	if c.Mode != "inotify" && c.Mode != "polling" {
		t.Fatalf("imfile mode %q: want inotify or polling", c.Mode)
	}
	for _, p := range []string{c.WorkDir, c.AlertLog, c.Output, c.Diagnostics, c.Collector} {
		// The values go into RainerScript double-quoted strings.
		if strings.ContainsAny(p, "\"\\\n`$") {
			t.Fatalf("%q cannot go into the rsyslog configuration", p)
		}
	}
	text, err := renderRsyslogConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, text, 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

func renderRsyslogConfig(c rsyslogConfig) ([]byte, error) {
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "rsyslog", "alerts.conf.tmpl"))
	if err != nil {
		return nil, err
	}
	tmpl.Option("missingkey=error")
	var b bytes.Buffer
	if err := tmpl.Execute(&b, c); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func newRsyslogd(t *testing.T, bin, conf, dir string) *rsyslogd {
	t.Helper()
	r := &rsyslogd{t: t, bin: bin, conf: conf, stdout: filepath.Join(dir, "rsyslogd.stdout")}
	// Config check first: a syntax error is reported as such, not as a
	// forwarder that never forwards.
	out, err := exec.Command(bin, "-N1", "-f", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("rsyslogd -N1 -f %s: %v\n%s", conf, err, out)
	}
	t.Cleanup(func() {
		if r.running() {
			r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

func (r *rsyslogd) running() bool {
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// start runs rsyslogd -n (foreground) -iNONE (no pid file).
func (r *rsyslogd) start() {
	r.t.Helper()
	out, err := os.OpenFile(r.stdout, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(r.bin, "-n", "-f", r.conf, "-iNONE")
	cmd.Stdout, cmd.Stderr = out, out
	// Killed with the test binary if it dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start rsyslogd: %v", err)
	}
	r.cmd, r.exited, r.err = cmd, make(chan struct{}), nil
	go func(exited chan struct{}) {
		r.err = cmd.Wait()
		close(exited)
	}(r.exited)
}

// stop sends SIGTERM and waits for the exit: rsyslogd then reads no more,
// drains its queue into the output and writes imfile's state file.
func (r *rsyslogd) stop(deadline time.Duration) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatalf("SIGTERM rsyslogd: %v", err)
	}
	select {
	case <-r.exited:
	case <-time.After(deadline):
		r.cmd.Process.Kill()
		<-r.exited
		r.t.Fatalf("rsyslogd did not exit within %v of SIGTERM", deadline)
	}
	if r.err != nil {
		r.t.Fatalf("rsyslogd exited: %v", r.err)
	}
}

// lineCounter counts the complete lines and the bytes of a growing file,
// reading only what was appended since the last call.
type lineCounter struct {
	path  string
	f     *os.File
	lines int
	bytes int64
	buf   []byte
}

func (c *lineCounter) count() (int, int64, error) {
	if c.f == nil {
		f, err := os.Open(c.path)
		if errors.Is(err, os.ErrNotExist) {
			return 0, 0, nil
		}
		if err != nil {
			return 0, 0, err
		}
		c.f, c.buf = f, make([]byte, 64<<10)
	}
	for {
		n, err := c.f.Read(c.buf)
		c.lines += bytes.Count(c.buf[:n], []byte{'\n'})
		c.bytes += int64(n)
		if err == io.EOF || (err == nil && n == 0) {
			return c.lines, c.bytes, nil
		}
		if err != nil {
			return c.lines, c.bytes, err
		}
	}
}

func (c *lineCounter) close() {
	if c.f != nil {
		c.f.Close()
	}
}

// forwardLines builds n ndjson alerts, each with its sequence number in
// "seq": 300-2,000 bytes, every 101st one 8-16 KiB, line 1777 exactly
// maxLine bytes. Some start or end with a space, some hold a tab between
// JSON tokens, all hold JSON escapes and multi-byte UTF-8: a forwarder
// must pass them through unchanged.
func forwardLines(n, maxLine int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	lines := make([][]byte, n)
	for i := range lines {
		size := 300 + rng.IntN(1701)
		switch {
		case i == 1777:
			size = maxLine
		case i%101 == 100:
			size = 8<<10 + rng.IntN(8<<10+1)
		}
		var b []byte
		if i%53 == 7 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, `{"seq":%d,"@timestamp":"2026-03-04T05:06:%02d.%03dZ",`, i, i%60, i%1000)
		if i%41 == 3 {
			b = append(b, '\t')
		}
		b = append(b, `"event":{"kind":"alert","code":"behavior"},"message":"automator → com.apple.automator.runner: \"q\" \\ \t \u0000 \u2028 é 日本 🙂","pad":"`...)
		tail := `"}`
		if i%59 == 11 {
			tail += " "
		}
		for len(b)+len(tail) < size {
			b = append(b, letters[rng.IntN(len(letters))])
		}
		lines[i] = append(b, tail...)
	}
	return lines
}

// TestForwardRsyslog writes 3,000 alerts through a logfile.Writer that
// rotates at least 5 times while rsyslogd tails the log, stops rsyslogd
// halfway and starts it again (it resumes from its state file) while
// writing goes on, and checks that every alert arrived exactly once, byte
// for byte. It runs imfile in both modes: inotify (Linux) and polling (the
// only one rsyslog has on macOS, where docs/FORWARDING.md runs it).
//
// imfile watches exactly the alert log's path. It holds the file it reads
// open and, when it sees that the path names another file, reads the old
// one to its end before it opens the new one (rsyslog's imfile
// documentation: "To fully work, rsyslogd must run while the file is
// rotated"). A generation that comes and goes between two of its looks is
// never read, so the writer is paced: it waits while rsyslogd is more than
// maxLag bytes behind, well under MaxSize, so that at most one rotation
// happens between two looks. While rsyslogd is stopped no rotation happens
// (the writer stays below MaxSize), and after the restart the writer waits
// until rsyslogd has caught up: lines written to a file that is rotated
// away while rsyslogd is down, or before its first look after a start, are
// lost, which TestForwardRsyslogRotationWhileStopped shows.
func TestForwardRsyslog(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with rsyslogd; skipped with -short")
	}
	bin := findRsyslogd(t)
	for _, tc := range []struct {
		mode    string
		maxSize int64
		maxLag  int64
	}{
		{"inotify", 256 << 10, 96 << 10},
		// Polling sleeps a second (pollingInterval) each time it has caught
		// up: bigger files and a longer leash keep the run short.
		{"polling", 640 << 10, 288 << 10},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			forwardRsyslog(t, bin, tc.mode, tc.maxSize, tc.maxLag)
		})
	}
}

func forwardRsyslog(t *testing.T, bin, mode string, maxSize, maxLag int64) {
	const (
		n        = 3000
		keep     = 4
		catchUp  = 30 * time.Second
		finalize = 60 * time.Second
	)
	dir := t.TempDir()
	cfg := rsyslogConfig{
		WorkDir:     filepath.Join(dir, "work"),
		AlertLog:    filepath.Join(dir, "log", "alerts.ndjson"),
		Output:      filepath.Join(dir, "out.ndjson"),
		Diagnostics: filepath.Join(dir, "rsyslogd.log"),
		Mode:        mode,
	}
	if err := os.Mkdir(cfg.WorkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	r := newRsyslogd(t, bin, writeRsyslogConfig(t, dir, cfg), dir)
	t.Cleanup(func() {
		if t.Failed() {
			dumpForwardState(t, dir, cfg)
		}
	})

	w, err := logfile.Open(logfile.Options{Path: cfg.AlertLog, MaxSize: maxSize, Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	lines := forwardLines(n, logfile.DefaultMaxLine)
	out := &lineCounter{path: cfg.Output}
	defer out.close()

	wait := func(wantLines int, wantBytes int64, d time.Duration) {
		t.Helper()
		waitForwarded(t, r, out.count, wantLines, wantBytes, d)
	}

	r.start()
	rng := rand.New(rand.NewPCG(3, 4))
	written, writtenBytes, restarted := 0, int64(0), false
	var unreadAtStop, writtenWhileDown int
	// Inode numbers of the generations of the log: ext4 reuses the number of
	// a removed file (Path.Keep), and imfile's state files are named after
	// it (plus a hash of the first 512 bytes).
	inodes, lastIno, reused := map[uint64]bool{}, uint64(0), 0
	put := func(k int) {
		t.Helper()
		if err := w.WriteBatch(lines[written : written+k]); err != nil {
			t.Fatal(err)
		}
		for _, l := range lines[written : written+k] {
			writtenBytes += int64(len(l)) + 1
		}
		written += k
		if fi, err := os.Stat(cfg.AlertLog); err == nil {
			ino := fi.Sys().(*syscall.Stat_t).Ino
			if ino != lastIno {
				if inodes[ino] {
					reused++
				}
				inodes[ino], lastIno = true, ino
			}
		}
	}
	for written < n {
		wait(0, writtenBytes-maxLag, catchUp)
		put(min(1+rng.IntN(16), n-written))
		if restarted || written < n/2 {
			continue
		}
		// Stop right after a batch, when rsyslogd may not have read all of
		// it yet: it must resume from its state file.
		restarted = true
		r.stop(catchUp)
		got, _, err := out.count()
		if err != nil {
			t.Fatal(err)
		}
		if states, _ := filepath.Glob(filepath.Join(cfg.WorkDir, "imfile-state:*")); len(states) == 0 {
			t.Fatal("rsyslogd left no imfile state file at its stop")
		}
		unreadAtStop = written - got
		// Keep writing while it is down, without rotating.
		fi, err := os.Stat(cfg.AlertLog)
		if err != nil {
			t.Fatal(err)
		}
		size := fi.Size()
		for written < n && writtenWhileDown < 100 && size+int64(len(lines[written]))+1 <= maxSize {
			size += int64(len(lines[written])) + 1
			put(1)
			writtenWhileDown++
		}
		if writtenWhileDown == 0 {
			t.Fatal("no room left to write while rsyslogd is down; change the seeds")
		}
		r.start()
		// A rotation before imfile's first look after the start would be
		// one while it is down (TestForwardRsyslogRotationWhileStopped):
		// let it resume the current file first.
		wait(written, writtenBytes, catchUp)
	}
	wait(n, writtenBytes, finalize)
	// Stop: everything read is written out; nothing more can arrive.
	r.stop(catchUp)

	st := w.Stats()
	if st.Rotations < 5 {
		t.Errorf("rotations = %d, want at least 5", st.Rotations)
	}
	if st.Lines != n || st.Dropped != 0 || st.TooLong != 0 {
		t.Fatalf("writer stats: %+v", st)
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	checkForwarded(t, cfg.Output, lines, all)
	t.Logf("%s: rsyslogd forwarded %d lines (%d bytes written, %d rotations, keep %d); %d generation(s) reused an inode number; %d line(s) not yet read when it stopped, %d written while it was down",
		mode, n, st.Bytes, st.Rotations, keep, reused, unreadAtStop, writtenWhileDown)
}

// waitForwarded polls progress (lines and bytes forwarded so far) until it
// reaches wantLines and wantBytes, failing after d or if rsyslogd exits.
func waitForwarded(t *testing.T, r *rsyslogd, progress func() (int, int64, error), wantLines int, wantBytes int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		gotLines, gotBytes, err := progress()
		if err != nil {
			t.Fatal(err)
		}
		if gotLines >= wantLines && gotBytes >= wantBytes {
			return
		}
		if !r.running() {
			t.Fatalf("rsyslogd exited (%v) with %d lines (%d bytes) forwarded, want %d (%d bytes)", r.err, gotLines, gotBytes, wantLines, wantBytes)
		}
		if time.Now().After(deadline) {
			t.Fatalf("forwarder stuck: %d lines (%d bytes) forwarded after %v, want %d (%d bytes)", gotLines, gotBytes, d, wantLines, wantBytes)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkForwarded asserts that the output holds exactly the alerts whose
// sequence numbers are in seqs, each once and byte for byte equal to
// lines[seq], each a JSON document, and reports whether the order was kept.
func checkForwarded(t *testing.T, output string, lines [][]byte, seqs []int) {
	t.Helper()
	expected := make([]bool, len(lines))
	for _, s := range seqs {
		expected[s] = true
	}
	data, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("output ends in a partial line")
	}
	got := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	seen := make([]int, len(lines))
	var bad, outOfOrder int
	last := -1
	for i, l := range got {
		var doc struct {
			Seq *int `json:"seq"`
		}
		if err := json.Unmarshal(l, &doc); err != nil || doc.Seq == nil || *doc.Seq < 0 || *doc.Seq >= len(lines) {
			if bad++; bad <= 5 {
				t.Errorf("output line %d (%d bytes) is not one of the alerts: %v: %.120q", i+1, len(l), err, l)
			}
			continue
		}
		s := *doc.Seq
		seen[s]++
		if !bytes.Equal(l, lines[s]) {
			if bad++; bad <= 5 {
				t.Errorf("alert %d changed in transit: got %d bytes %.120q…, want %d bytes %.120q…", s, len(l), l, len(lines[s]), lines[s])
			}
		}
		if s < last {
			outOfOrder++
		}
		last = s
	}
	var missing, dup, unexpected []int
	for s, c := range seen {
		switch {
		case !expected[s] && c > 0:
			unexpected = append(unexpected, s)
		case expected[s] && c == 0:
			missing = append(missing, s)
		case c > 1:
			dup = append(dup, s)
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("%d alert(s) forwarded that should not have been, first: %v", len(unexpected), unexpected[:min(len(unexpected), 20)])
	}
	if len(missing) > 0 {
		t.Errorf("%d alert(s) missing, first: %v", len(missing), missing[:min(len(missing), 20)])
	}
	if len(dup) > 0 {
		t.Errorf("%d alert(s) forwarded more than once, first: %v", len(dup), dup[:min(len(dup), 20)])
	}
	if len(got) != len(seqs) {
		t.Errorf("output has %d lines, want %d", len(got), len(seqs))
	}
	if outOfOrder > 0 {
		t.Logf("%d line(s) out of order (not required by the contract)", outOfOrder)
	}
}

// TestForwardRsyslogRotationWhileStopped pins down what imfile does, with
// the same configuration, when the log rotates while rsyslogd is down: the
// lines written to the old file after rsyslogd stopped are never read (it
// follows the path, and its state belongs to the old file's inode), the new
// file is read from its start, nothing is read twice. rsyslog documents it
// ("If rsyslogd is stopped during rotation, the new file is read, but any
// not-yet-reported lines from the previous file can no longer be
// obtained"); docs/FORWARDING.md explains the consequence.
func TestForwardRsyslogRotationWhileStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with rsyslogd; skipped with -short")
	}
	bin := findRsyslogd(t)
	const (
		maxSize = 64 << 10
		d       = 30 * time.Second
	)
	dir := t.TempDir()
	cfg := rsyslogConfig{
		WorkDir:     filepath.Join(dir, "work"),
		AlertLog:    filepath.Join(dir, "log", "alerts.ndjson"),
		Output:      filepath.Join(dir, "out.ndjson"),
		Diagnostics: filepath.Join(dir, "rsyslogd.log"),
		Mode:        "inotify",
	}
	if err := os.Mkdir(cfg.WorkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	r := newRsyslogd(t, bin, writeRsyslogConfig(t, dir, cfg), dir)
	t.Cleanup(func() {
		if t.Failed() {
			dumpForwardState(t, dir, cfg)
		}
	})
	w, err := logfile.Open(logfile.Options{Path: cfg.AlertLog, MaxSize: maxSize, Keep: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	lines := forwardLines(400, logfile.DefaultMaxLine)
	out := &lineCounter{path: cfg.Output}
	defer out.close()
	wait := func(want int) {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			got, _, err := out.count()
			if err != nil {
				t.Fatal(err)
			}
			if got == want {
				return
			}
			if got > want {
				t.Fatalf("output has %d lines, want %d", got, want)
			}
			if time.Now().After(deadline) {
				t.Fatalf("forwarder stuck: %d of %d lines after %v", got, want, d)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	put := func(from, to int) {
		t.Helper()
		if err := w.WriteBatch(lines[from:to]); err != nil {
			t.Fatal(err)
		}
	}

	r.start()
	put(0, 20)
	wait(20)
	r.stop(d)
	// While it is down: lines into the current file, then a rotation, then
	// lines into the new file.
	i := 20
	for w.Stats().Rotations == 0 {
		put(i, i+1)
		i++
	}
	rotatedAt := i - 1 // the first line of the new file
	put(i, i+10)
	i += 10
	r.start()
	want := 20 + (i - rotatedAt)
	wait(want)
	put(i, i+10)
	i += 10
	want += 10
	wait(want)
	r.stop(d)

	var forwarded []int
	for s := range i {
		if s < 20 || s >= rotatedAt {
			forwarded = append(forwarded, s)
		}
	}
	checkForwarded(t, cfg.Output, lines, forwarded)
	t.Logf("rotation while rsyslogd was down: lines 20-%d (written to the old file after the stop) lost, %d forwarded", rotatedAt-1, want)
}

// TestForwardRsyslogTCP runs the same configuration rendered with a
// collector: rsyslogd sends each line to a TCP server (omfwd, LF framing)
// instead of a file. The server keeps the byte stream, which must be the
// alerts, each once and unchanged, the 32 KiB one included.
func TestForwardRsyslogTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with rsyslogd; skipped with -short")
	}
	bin := findRsyslogd(t)
	const d = 30 * time.Second
	srv := newCollector(t)
	dir := t.TempDir()
	cfg := rsyslogConfig{
		WorkDir:     filepath.Join(dir, "work"),
		AlertLog:    filepath.Join(dir, "log", "alerts.ndjson"),
		Diagnostics: filepath.Join(dir, "rsyslogd.log"),
		Collector:   "127.0.0.1",
		Port:        srv.port(),
		Mode:        "polling", // as on macOS
	}
	if err := os.Mkdir(cfg.WorkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	r := newRsyslogd(t, bin, writeRsyslogConfig(t, dir, cfg), dir)
	t.Cleanup(func() {
		if t.Failed() {
			dumpForwardState(t, dir, cfg)
		}
	})
	const maxSize, maxLag = 256 << 10, 112 << 10 // paced as in TestForwardRsyslog
	w, err := logfile.Open(logfile.Options{Path: cfg.AlertLog, MaxSize: maxSize, Keep: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	lines := forwardLines(2000, logfile.DefaultMaxLine)
	const from = 1700 // 300 alerts, among them the 32 KiB one (1777)

	r.start()
	var writtenBytes int64
	for i := from; i < len(lines); i += 10 {
		waitForwarded(t, r, srv.count, 0, writtenBytes-maxLag, d)
		if err := w.WriteBatch(lines[i : i+10]); err != nil {
			t.Fatal(err)
		}
		for _, l := range lines[i : i+10] {
			writtenBytes += int64(len(l)) + 1
		}
	}
	waitForwarded(t, r, srv.count, len(lines)-from, writtenBytes, d)
	r.stop(d)
	data := srv.close(t, d)
	out := filepath.Join(dir, "received.ndjson")
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for s := from; s < len(lines); s++ {
		seqs = append(seqs, s)
	}
	checkForwarded(t, out, lines, seqs)
	if st := w.Stats(); st.Rotations == 0 {
		t.Errorf("no rotation happened (%d bytes written)", st.Bytes)
	}
}

// collector is a TCP server that keeps every byte it receives.
type collector struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	data  []byte
	nl    int
	conns []net.Conn
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{ln: ln}
	c.wg.Add(1)
	go c.serve()
	t.Cleanup(func() {
		ln.Close()
		c.mu.Lock()
		for _, conn := range c.conns {
			conn.Close()
		}
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

func (c *collector) port() int { return c.ln.Addr().(*net.TCPAddr).Port }

func (c *collector) serve() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.conns = append(c.conns, conn)
		c.mu.Unlock()
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer conn.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := conn.Read(buf)
				c.mu.Lock()
				c.data = append(c.data, buf[:n]...)
				c.nl += bytes.Count(buf[:n], []byte{'\n'})
				c.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
}

// count returns the lines and bytes received so far.
func (c *collector) count() (int, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nl, int64(len(c.data)), nil
}

// close stops accepting, waits (up to d) for the senders to close their
// connections, and returns what was received.
func (c *collector) close(t *testing.T, d time.Duration) []byte {
	t.Helper()
	c.ln.Close()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("a sender kept its connection open %v after rsyslogd exited", d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data
}

// dumpForwardState logs what helps to understand a failure: rsyslogd's
// messages, the files of the log directory with their inodes, the state
// files.
func dumpForwardState(t *testing.T, dir string, cfg rsyslogConfig) {
	for _, p := range []string{cfg.Diagnostics, filepath.Join(dir, "rsyslogd.stdout")} {
		if b, err := os.ReadFile(p); err == nil {
			t.Logf("%s:\n%s", filepath.Base(p), b)
		}
	}
	for _, d := range []string{filepath.Dir(cfg.AlertLog), cfg.WorkDir} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				continue
			}
			line := fmt.Sprintf("%s: %d bytes, inode %d", filepath.Join(d, e.Name()), fi.Size(), fi.Sys().(*syscall.Stat_t).Ino)
			if d == cfg.WorkDir {
				if b, err := os.ReadFile(filepath.Join(d, e.Name())); err == nil {
					line += ": " + string(b)
				}
			}
			t.Log(line)
		}
	}
}

// TestForwardingDocShowsTestedConfig checks that docs/FORWARDING.md shows
// the rsyslog configurations these tests run, with the macOS paths: each
// block between "tested-config:<name>" markers must equal the template
// rendered with macOSRsyslogConfigs[name].
func TestForwardingDocShowsTestedConfig(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "FORWARDING.md"))
	if err != nil {
		t.Fatalf("read docs/FORWARDING.md: %v", err)
	}
	for name, cfg := range macOSRsyslogConfigs {
		begin := "<!-- tested-config:" + name + ":begin -->\n```\n"
		end := "```\n<!-- tested-config:" + name + ":end -->"
		i := bytes.Index(doc, []byte(begin))
		j := bytes.Index(doc, []byte(end))
		if i < 0 || j < i {
			t.Errorf("docs/FORWARDING.md: no block between %q and %q", begin, end)
			continue
		}
		shown := doc[i+len(begin) : j]
		want, err := renderRsyslogConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shown, want) {
			t.Errorf("docs/FORWARDING.md block %q differs from testdata/rsyslog/alerts.conf.tmpl rendered with %+v: %s", name, cfg, lineDiff(shown, want))
		}
	}
}

// macOSRsyslogConfigs are the values docs/FORWARDING.md renders the
// template with.
var macOSRsyslogConfigs = map[string]rsyslogConfig{
	"file": {
		WorkDir:     "/var/db/macsensor-rsyslog",
		AlertLog:    "/var/log/macsensor/alerts.ndjson",
		Output:      "/var/log/macsensor-forwarded/alerts.ndjson",
		Diagnostics: "/var/log/macsensor-forwarded/rsyslogd.log",
		Mode:        "polling",
	},
	"tcp": {
		WorkDir:     "/var/db/macsensor-rsyslog",
		AlertLog:    "/var/log/macsensor/alerts.ndjson",
		Diagnostics: "/var/log/macsensor-forwarded/rsyslogd.log",
		Collector:   "collector.example.com",
		Port:        5170,
		Mode:        "polling",
	},
}

// lineDiff names the first line where got and want differ.
func lineDiff(got, want []byte) string {
	g := bufio.NewScanner(bytes.NewReader(got))
	w := bufio.NewScanner(bytes.NewReader(want))
	for n := 1; ; n++ {
		gok, wok := g.Scan(), w.Scan()
		if !gok && !wok {
			return "(no line differs: a difference in the final newline)"
		}
		if gok != wok || g.Text() != w.Text() {
			return "line " + strconv.Itoa(n) + ":\n doc:  " + g.Text() + "\n want: " + w.Text()
		}
	}
}
