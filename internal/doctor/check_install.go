package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/macsensor/macsensor/internal/rootfile"
	"github.com/macsensor/macsensor/launchd"
)

// Layout is the installed layout the install checks read (DESIGN.md,
// Deployment).
type Layout struct {
	Label      string // launchd label
	Plist      string // the LaunchDaemon property list
	Binary     string // the daemon binary
	Config     string // the optional configuration file
	RulesDir   string // the rules folder
	AlertLog   string // the alert log
	StatusPath string // the daemon's status file
}

// DefaultLayout is the layout the .pkg installs on macOS.
func DefaultLayout() Layout {
	return Layout{
		Label:      launchd.DefaultLabel,
		Plist:      launchd.PlistPath(launchd.DefaultLabel),
		Binary:     launchd.BinaryPath(launchd.DefaultPrefix),
		Config:     path.Join(launchd.DefaultPrefix, "macsensor.toml"),
		RulesDir:   path.Join(launchd.DefaultPrefix, "rules.d"),
		AlertLog:   "/var/log/macsensor/alerts.ndjson",
		StatusPath: "/var/run/macsensor.status.json",
	}
}

// installed returns a skip error when the LaunchDaemon plist is absent:
// the install checks apply only to a host the package was installed on.
func (d *Doctor) installed() error {
	if _, err := os.Lstat(d.opt.Layout.Plist); errors.Is(err, fs.ErrNotExist) {
		return Skipf("not installed: no %s", d.opt.Layout.Plist)
	}
	return nil
}

const nextReinstall = "reinstall the package, or fix the owner and mode as the reason says (docs/INSTALL.md)"

// checkInstallFiles reads the LaunchDaemon plist (it is not asked of
// launchctl whether the job is loaded) and checks the files it names: the
// plist, the binary, the rules folder and the configuration file (when
// present) must be owned by root and writable by root only.
func checkInstallFiles(ctx context.Context, d *Doctor) (string, error) {
	l := d.opt.Layout
	if err := d.installed(); err != nil {
		return "", err
	}
	prefs, err := launchd.ReadPreferences(l.Plist, launchd.ReadOptions{})
	if err != nil {
		return "", failf(nextReinstall, "%v", err)
	}
	var bad []string
	if lab, _ := prefs["Label"].(string); lab != l.Label {
		bad = append(bad, fmt.Sprintf("%s: Label %q, want %q", l.Plist, lab, l.Label))
	}
	var args []string
	if pa, ok := prefs["ProgramArguments"].([]any); ok {
		for _, a := range pa {
			s, _ := a.(string)
			args = append(args, s)
		}
	}
	if len(args) < 2 || args[0] != l.Binary || args[1] != "run" {
		bad = append(bad, fmt.Sprintf("%s: ProgramArguments %q, want [%s run ...]", l.Plist, args, l.Binary))
	}
	for _, f := range []struct {
		path     string
		dir      bool
		optional bool
	}{{l.Binary, false, false}, {l.RulesDir, true, false}, {l.Config, false, true}} {
		if err := rootOnly(f.path, f.dir); err != nil {
			if f.optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			bad = append(bad, err.Error())
		}
	}
	value := fmt.Sprintf("%s runs %s", l.Plist, strings.Join(args, " "))
	if len(bad) > 0 {
		return value, failf(nextReinstall, "%s", strings.Join(bad, "; "))
	}
	return value, nil
}

// rootOnly applies the daemon's own trust checks (internal/rootfile) to a
// path: no symbolic link, the right kind, owned by root, not writable by
// group or others.
func rootOnly(p string, dir bool) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	uid, ok := fileOwner(fi)
	if !ok {
		return fmt.Errorf("%s: cannot read its owner", p)
	}
	return rootfile.Check(p, uid, fi.Mode(), dir, rootfile.Options{})
}

// checkInstallAlertLog checks the alert log: a regular file owned by root,
// mode 0640, that root can open for appending (nothing is written).
func checkInstallAlertLog(ctx context.Context, d *Doctor) (string, error) {
	if err := d.installed(); err != nil {
		return "", err
	}
	if !d.root {
		return "", Skipf("needs root: run it with sudo (the alert log is readable by root and its group only)")
	}
	p := d.opt.Layout.AlertLog
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", failf("start the daemon (sudo launchctl kickstart system/"+d.opt.Layout.Label+"): it creates the log",
			"%s does not exist", p)
	}
	if err != nil {
		return "", failf(nextBundle, "%v", err)
	}
	value := fmt.Sprintf("%s mode %04o, %d bytes", p, uint32(fi.Mode().Perm()), fi.Size())
	if err := rootOnly(p, false); err != nil {
		return value, failf(nextReinstall, "%v", err)
	}
	if fi.Mode().Perm() != 0o640 {
		return value, failf("sudo chmod 0640 "+p, "mode %04o, want 0640", uint32(fi.Mode().Perm()))
	}
	f, err := openAppendNoFollow(p)
	if err != nil {
		return value, failf(nextBundle, "cannot open it for appending: %v", err)
	}
	f.Close()
	return value + ", writable", nil
}

// daemonStatus is the part of the daemon's status file the doctor reads.
type daemonStatus struct {
	Version  string    `json:"version"`
	PID      int       `json:"pid"`
	Updated  time.Time `json:"updated"`
	Interval string    `json:"status_interval"`
}

// checkInstallStatus reads the running daemon's status file (as `macsensor
// status` does): it must have been rewritten within three intervals.
func checkInstallStatus(ctx context.Context, d *Doctor) (string, error) {
	if err := d.installed(); err != nil {
		return "", err
	}
	p := d.opt.Layout.StatusPath
	kick := "sudo launchctl print system/" + d.opt.Layout.Label + "; sudo launchctl kickstart -k system/" + d.opt.Layout.Label
	data, err := os.ReadFile(p)
	if err != nil {
		return "", failf(kick, "no status file: %v (is the daemon running?)", err)
	}
	var st daemonStatus
	if err := json.Unmarshal(data, &st); err != nil {
		return "", failf(nextBundle, "%s: %v", p, err)
	}
	interval, err := time.ParseDuration(st.Interval)
	if err != nil || interval <= 0 {
		return "", failf(nextBundle, "%s: status_interval %q: %v", p, st.Interval, err)
	}
	age := time.Since(st.Updated).Round(time.Second)
	value := fmt.Sprintf("daemon %s pid %d, status %s old (every %s)", st.Version, st.PID, age, interval)
	if age > 3*interval {
		return value, failf(kick, "stale: not rewritten for %s", age)
	}
	return value, nil
}
