package doctor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/macsensor/macsensor/sensor/capture"
)

// bundleFile is one file of a bundle.
type bundleFile struct {
	name string
	data []byte
}

// snapshotFiles returns the raw buffers recorded so far by name. The
// caller holds d.mu.
func (d *Doctor) snapshotFiles() map[string][]byte {
	m := make(map[string][]byte, len(d.files))
	for _, f := range d.files {
		m[f.name] = f.data
	}
	return m
}

// bundleReadme is the README.txt of every bundle.
const bundleReadme = `macsensor doctor bundle
=======================

Made by 'macsensor doctor --bundle' for the maintainers of macsensor: it holds
the raw buffers the doctor's checks read from the kernel, so that a failure
on this Mac can be reproduced and turned into a regression test without it.
The test suite loads a bundle and replays its buffers through the same
decoders the sensor uses (internal/doctor: ReadBundle, Bundle.Replay).

Files
  README.txt              this text
  system.json             OS, version, kernel, architecture, Go GOOS/GOARCH, uid
  report.json             the doctor's report (the same document as --json)
  proc/kern.proc.all      macOS: the sysctl kern.proc.all buffer, every process
                          as a struct kinfo_proc (648 bytes each)
  proc/procargs2/<pid>    macOS: sysctl kern.procargs2 of the doctor's own
                          children only, cut after their arguments
  proc/stat/<pid>         Linux: /proc/<pid>/stat of every process
  proc/cmdline/<pid>      Linux: /proc/<pid>/cmdline of the doctor's own children only
  socket/*                macOS: the net.inet.tcp.pcblist_n and
                          net.inet.udp.pcblist_n buffers; Linux: the four
                          inet_diag dumps; socket/index.json names them
  capture/<iface>.pcap    the frames the capture checks saw on the loopback
                          interface: the SYN to the doctor's listener and the
                          answer of its DNS responder (pcap, nanosecond times)
  procevents/events.json  the process events (fork, exec) of the doctor's child, decoded
  procevents/connector/NN Linux: the proc connector datagrams that carry them (pids and
                          times only); macOS returns kevents, translated as they are
                          read, so only the decoded events are kept

What is not in it
  - No environment variable of any process: the doctor's children run with
    an empty environment, and their kern.procargs2 buffers are cut after
    argv, before the environment and the "apple" strings that follow it.
  - No argument of any other process: arguments exist only in kern.procargs2
    (macOS) and /proc/<pid>/cmdline (Linux), and the bundle keeps those of
    the doctor's own children only. struct kinfo_proc and /proc/<pid>/stat
    hold no arguments; they do hold, for every process, its pid, parent pid,
    start time, uids, gids and its short command name (16 bytes: p_comm,
    comm). In kinfo_proc the e_login field (a login name) is blanked; xnu
    leaves it and every kernel pointer zero anyway (fill_user64_eproc and
    fill_user64_externproc, bsd/kern/kern_sysctl.c).
  - No packet other than the checks' own on the loopback interface.
  The socket buffers list every TCP and UDP socket of the host with its
  addresses, ports and owning pids, as netstat would show them.

The file is written readable by root only (mode 0600). Read it before you
send it: 'sudo tar -tzvf FILE' lists it, 'sudo tar -xzf FILE' unpacks it.
`

// WriteBundle writes the run's bundle, a tar.gz readable by its owner only
// (mode 0600, also when the file existed): README.txt, system.json,
// report.json, the raw buffers and the capture frames as pcap files.
func (d *Doctor) WriteBundle(path string) error {
	d.mu.Lock()
	files := append([]bundleFile(nil), d.files...)
	frames := append([]capture.Frame(nil), d.frames...)
	d.mu.Unlock()
	sys, err := json.MarshalIndent(d.report.System, "", "  ")
	if err != nil {
		return err
	}
	var rep bytes.Buffer
	if err := d.report.WriteJSON(&rep); err != nil {
		return err
	}
	all := []bundleFile{{"README.txt", []byte(bundleReadme)}, {"system.json", append(sys, '\n')}, {"report.json", rep.Bytes()}}
	all = append(all, files...)
	all = append(all, framesToPcap(frames)...)

	f, err := createPrivate(path)
	if err != nil {
		return fmt.Errorf("doctor: bundle: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("doctor: bundle: %w", err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, bf := range all {
		h := &tar.Header{Name: bf.name, Mode: 0o600, Size: int64(len(bf.data)), ModTime: d.report.Started,
			Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return fmt.Errorf("doctor: bundle: %w", err)
		}
		if _, err := tw.Write(bf.data); err != nil {
			f.Close()
			return fmt.Errorf("doctor: bundle: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("doctor: bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("doctor: bundle: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("doctor: bundle: %w", err)
	}
	return f.Close()
}

// framesToPcap writes the frames as one pcap file per interface.
func framesToPcap(frames []capture.Frame) []bundleFile {
	by := map[string][]capture.Frame{}
	for _, f := range frames {
		by[f.Interface] = append(by[f.Interface], f)
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []bundleFile
	for _, n := range names {
		b := appendPcapHeader(nil, by[n][0].LinkType)
		for _, f := range by[n] {
			b = appendPcapRecord(b, f.Time, f.Data)
		}
		out = append(out, bundleFile{name: "capture/" + n + ".pcap", data: b})
	}
	return out
}
