package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/macsensor/macsensor/sensor/host"
)

// Names of the children: process.name is the executable's base name, and
// the seed rule looks for these two.
const (
	automatorName = "automator"
	runnerName    = "com.apple.automator.runner"
)

// checkWorkdir makes the run's temporary folder (0700) and copies the
// running binary into it under the two children's names.
func checkWorkdir(ctx context.Context, d *Doctor) (string, error) {
	work, err := os.MkdirTemp(d.opt.TempDir, "macsensor-doctor-")
	if err != nil {
		return "", failf("set TMPDIR to a writable folder on a local disk and run again",
			"cannot make a temporary folder in %s: %v", d.opt.TempDir, err)
	}
	d.mu.Lock()
	cleaned := d.cleaned
	if !cleaned {
		d.work = work
	}
	d.mu.Unlock()
	if cleaned {
		// Abandoned at the run's deadline, and the run has cleaned up.
		os.RemoveAll(work)
		return "", ctx.Err()
	}
	exe := d.opt.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return "", failf(nextBundle, "cannot find the running binary: %v", err)
		}
	}
	bin := filepath.Join(work, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		return "", failf("free space in "+d.opt.TempDir+" or set TMPDIR elsewhere", "%v", err)
	}
	for _, n := range []struct {
		name string
		dst  *string
	}{{automatorName, &d.automatorPath}, {runnerName, &d.runnerPath}} {
		p := filepath.Join(bin, n.name)
		if err := copyFile(exe, p); err != nil {
			return "", failf("free space in "+d.opt.TempDir+" or set TMPDIR elsewhere",
				"cannot copy %s to %s: %v", exe, p, err)
		}
		// The kernel reports the resolved path (proc_pidpath, /proc/<pid>/exe):
		// on macOS the temporary folder is under the /var -> private/var link.
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		*n.dst = p
	}
	return work, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// checkHost reads the host identity twice and the boot time twice: both
// must be complete and equal (the boot time within a second: on Linux it
// is computed from two clocks).
func checkHost(ctx context.Context, d *Doctor) (string, error) {
	a, err := host.Read()
	if err != nil {
		return "", failf(nextBundle, "host identity: %v", err)
	}
	bootA, err := bootTime()
	if err != nil {
		return "", failf(nextBundle, "boot time: %v", err)
	}
	b, err := host.Read()
	if err != nil {
		return "", failf(nextBundle, "host identity, second read: %v", err)
	}
	bootB, err := bootTime()
	if err != nil {
		return "", failf(nextBundle, "boot time, second read: %v", err)
	}
	d.host = a
	d.fillSystem(a)
	value := fmt.Sprintf("host.id %s, %s %s (%s), %s, booted %s", a.ID, a.OS.Name, a.OS.Version, a.OS.Kernel,
		a.Architecture, bootA.UTC().Format(time.RFC3339))
	var missing []string
	for _, f := range []struct{ name, v string }{{"host.id", a.ID}, {"host.os.type", a.OS.Type},
		{"host.os.name", a.OS.Name}, {"host.os.version", a.OS.Version}, {"host.architecture", a.Architecture}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return value, failf(nextBundle, "empty: %v", missing)
	}
	if a.ID != b.ID || a.OS != b.OS || a.Architecture != b.Architecture {
		return value, failf(nextBundle, "two reads differ: %+v then %+v", a, b)
	}
	if diff := bootB.Sub(bootA).Abs(); diff > time.Second {
		return value, failf(nextBundle, "boot time moved by %s between two reads", diff)
	}
	return value, nil
}

// checkLoopback opens the TCP listener the runner connects to, on
// 127.0.0.1, and accepts in the background (connections are held until the
// run ends).
func checkLoopback(ctx context.Context, d *Doctor) (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", failf("bring the loopback interface up with 127.0.0.1 (macOS: sudo ifconfig lo0 127.0.0.1 up; Linux: ip link set lo up)",
			"cannot listen on 127.0.0.1: %v", err)
	}
	d.ln = ln
	// Binding can succeed with loopback down (Linux accepts 127.0.0.1 in
	// a namespace whose lo is down); a connection to itself proves it up.
	var dl net.Dialer
	self, err := dl.DialContext(ctx, "tcp4", ln.Addr().String())
	if err != nil {
		return "", failf("bring the loopback interface up with 127.0.0.1 (macOS: sudo ifconfig lo0 127.0.0.1 up; Linux: ip link set lo up)",
			"cannot connect to 127.0.0.1: %v", err)
	}
	if c, err := ln.Accept(); err == nil {
		c.Close()
	}
	self.Close()
	d.lnAddr = ln.Addr().(*net.TCPAddr).AddrPort()
	d.lnAddr = netip.AddrPortFrom(d.lnAddr.Addr().Unmap(), d.lnAddr.Port())
	d.capPorts.Store(d.lnAddr.Port(), true)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				select {
				case d.accepted <- netip.AddrPortFrom(ra.AddrPort().Addr().Unmap(), ra.AddrPort().Port()):
				default:
				}
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return "listening on " + d.lnAddr.String(), nil
}
