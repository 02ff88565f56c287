//go:build unix

package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/launchd"
)

// fakeInstall lays out an installed macsensor under a temporary root, as
// the .pkg does on macOS, and returns its Layout.
func fakeInstall(t *testing.T) Layout {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the installed layout is owned by root: run as root")
	}
	root := t.TempDir()
	prefix := filepath.Join(root, "Library", "macsensor")
	l := Layout{
		Label:      launchd.DefaultLabel,
		Plist:      filepath.Join(root, "Library", "LaunchDaemons", launchd.DefaultLabel+".plist"),
		Binary:     filepath.Join(prefix, "bin", "macsensor"),
		Config:     filepath.Join(prefix, "macsensor.toml"),
		RulesDir:   filepath.Join(prefix, "rules.d"),
		AlertLog:   filepath.Join(root, "var", "log", "macsensor", "alerts.ndjson"),
		StatusPath: filepath.Join(root, "var", "run", "macsensor.status.json"),
	}
	for _, d := range []string{filepath.Dir(l.Plist), filepath.Dir(l.Binary), l.RulesDir, filepath.Dir(l.AlertLog), filepath.Dir(l.StatusPath)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	job, err := launchd.DaemonJob(launchd.DefaultLabel, "/Library/macsensor")
	if err != nil {
		t.Fatal(err)
	}
	job.ProgramArguments[0] = l.Binary
	pl, err := launchd.Render(job)
	if err != nil {
		t.Fatal(err)
	}
	write := func(p string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write(l.Plist, pl, 0o644)
	write(l.Binary, []byte("#!/bin/false\n"), 0o755)
	write(l.AlertLog, nil, 0o640)
	writeStatus(t, l.StatusPath, time.Now())
	return l
}

func writeStatus(t *testing.T, p string, updated time.Time) {
	t.Helper()
	s := fmt.Sprintf(`{"version":"0.1.0","pid":4242,"updated":%q,"status_interval":"5s"}`, updated.UTC().Format(time.RFC3339Nano))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func installChecks(t *testing.T, l Layout) map[string]Result {
	t.Helper()
	d := Run(context.Background(), Options{Layout: l, TempDir: t.TempDir(), Checks: []Check{
		{Name: "install.files", Run: checkInstallFiles},
		{Name: "install.alert_log", Run: checkInstallAlertLog},
		{Name: "install.status", Run: checkInstallStatus},
	}})
	m := map[string]Result{}
	for _, r := range d.Report().Checks {
		m[r.Name] = r
	}
	return m
}

func TestInstallChecksPass(t *testing.T) {
	l := fakeInstall(t)
	for name, r := range installChecks(t, l) {
		if r.Status != Pass {
			t.Errorf("%s: %s %s %s", name, r.Status, r.Value, r.Reason)
		}
	}
}

func TestInstallChecksFail(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(l Layout)
		check  string
		reason string
	}{
		{"rules writable by others", func(l Layout) { os.Chmod(l.RulesDir, 0o777) }, "install.files", "writable by group or others"},
		{"binary not root's", func(l Layout) { os.Chown(l.Binary, 501, 20) }, "install.files", "owned by uid 501"},
		{"config a symlink", func(l Layout) { os.Symlink("/etc/hosts", l.Config) }, "install.files", "symbolic link"},
		{"plist names another binary", func(l Layout) {
			data, _ := os.ReadFile(l.Plist)
			os.WriteFile(l.Plist, []byte(strings.Replace(string(data), l.Binary, "/tmp/evil", 1)), 0o644)
		}, "install.files", "ProgramArguments"},
		{"alert log 0644", func(l Layout) { os.Chmod(l.AlertLog, 0o644) }, "install.alert_log", "want 0640"},
		{"alert log missing", func(l Layout) { os.Remove(l.AlertLog) }, "install.alert_log", "does not exist"},
		{"status stale", func(l Layout) { writeStatus(t, l.StatusPath, time.Now().Add(-time.Hour)) }, "install.status", "stale"},
		{"status missing", func(l Layout) { os.Remove(l.StatusPath) }, "install.status", "no status file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := fakeInstall(t)
			c.break_(l)
			r := installChecks(t, l)[c.check]
			if r.Status != Fail || !strings.Contains(r.Reason, c.reason) || r.Next == "" {
				t.Errorf("%s: %s %q next %q, want fail with %q", c.check, r.Status, r.Reason, r.Next, c.reason)
			}
		})
	}
}

func TestInstallChecksNotInstalled(t *testing.T) {
	l := DefaultLayout()
	l.Plist = filepath.Join(t.TempDir(), "absent.plist")
	for name, r := range installChecks(t, l) {
		if r.Status != Skip || !strings.HasPrefix(r.Reason, "not installed: no ") {
			t.Errorf("%s: %s %q", name, r.Status, r.Reason)
		}
	}
}
