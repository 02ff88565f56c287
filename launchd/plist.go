package launchd

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"howett.net/plist"
)

// Defaults of the installed layout (see DESIGN.md, "Deployment").
const (
	// DefaultLabel is the launchd label of the daemon and the name of its
	// managed-preferences domain.
	DefaultLabel = "com.macsensor.daemon"
	// DefaultPrefix is where the package installs bin/, rules.d/ and doc/.
	DefaultPrefix = "/Library/macsensor"
	// DefaultLogPath receives the daemon's stderr (its zerolog diagnostics).
	DefaultLogPath = "/var/log/macsensor/macsensor.log"
	// LaunchDaemonsDir is where launchd looks for system-wide daemons.
	LaunchDaemonsDir = "/Library/LaunchDaemons"
	// ManagedPreferencesDir is where macOS writes the payloads of
	// configuration profiles installed by MDM, one <domain>.plist each.
	ManagedPreferencesDir = "/Library/Managed Preferences"
)

// Job is the LaunchDaemon property list of the daemon. The plist tags are
// the keys documented in launchd.plist(5). Field order does not matter for
// the output: howett.net/plist sorts dictionary keys when it writes XML
// (xml_generator.go, writeDictionary calls dict.sort()), so the rendering is
// deterministic byte for byte.
//
// There is deliberately no UserName or GroupName: a LaunchDaemon without
// them runs as root, which the sensor needs to read every process's
// arguments (kern.procargs2) and every socket's owner.
type Job struct {
	Label            string   `plist:"Label"`
	ProgramArguments []string `plist:"ProgramArguments"`
	RunAtLoad        bool     `plist:"RunAtLoad"`
	// KeepAlive true restarts the daemon whenever it exits, whatever the
	// exit status; ThrottleInterval spaces those restarts.
	KeepAlive        bool `plist:"KeepAlive"`
	ThrottleInterval int  `plist:"ThrottleInterval"`
	// ExitTimeOut is how long launchd waits after SIGTERM before SIGKILL;
	// the daemon flushes its alert log in that time.
	ExitTimeOut int `plist:"ExitTimeOut"`
	// ProcessType is "Standard", never "Background". launchd.plist(5)
	// (launchd-842, man/launchd.plist.5): "The resource limits applied to
	// Background jobs are intended to prevent them from disrupting the user
	// experience" -- CPU and I/O throttling, under which a polling sensor
	// misses short-lived processes and delays alerts. "Standard jobs are
	// equivalent to no ProcessType being set" (the default class; the man
	// page says it gets only "light resource limits"). "Interactive" is
	// reserved for jobs an app's responsiveness depends on, and "Adaptive"
	// for XPC services; neither fits a daemon. The key is written anyway so
	// that nobody "optimises" it to Background later.
	ProcessType        string         `plist:"ProcessType"`
	SoftResourceLimits ResourceLimits `plist:"SoftResourceLimits"`
	StandardErrorPath  string         `plist:"StandardErrorPath"`
}

// ResourceLimits is the setrlimit(2) dictionary of launchd.plist(5).
type ResourceLimits struct {
	// NumberOfFiles is RLIMIT_NOFILE. The default soft limit of a launchd
	// job is 256; the daemon keeps the alert log, the event log, the rules
	// folder watch and (on Linux) /proc fds open, so it gets headroom.
	NumberOfFiles int `plist:"NumberOfFiles"`
}

// Job defaults.
const (
	DefaultThrottleInterval = 10
	DefaultExitTimeOut      = 20
	DefaultNumberOfFiles    = 4096
)

// DaemonJob returns the job for label and install prefix: it runs
// <prefix>/bin/macsensor run at boot, as root, kept alive.
func DaemonJob(label, prefix string) (Job, error) {
	if err := ValidateLabel(label); err != nil {
		return Job{}, err
	}
	if err := ValidatePrefix(prefix); err != nil {
		return Job{}, err
	}
	return Job{
		Label:              label,
		ProgramArguments:   []string{BinaryPath(prefix), "run"},
		RunAtLoad:          true,
		KeepAlive:          true,
		ThrottleInterval:   DefaultThrottleInterval,
		ExitTimeOut:        DefaultExitTimeOut,
		ProcessType:        "Standard",
		SoftResourceLimits: ResourceLimits{NumberOfFiles: DefaultNumberOfFiles},
		StandardErrorPath:  DefaultLogPath,
	}, nil
}

// Render returns the job as an XML property list, tab-indented like the
// plists Apple ships, ending in a newline.
func Render(j Job) ([]byte, error) {
	b, err := plist.MarshalIndent(j, plist.XMLFormat, "\t")
	if err != nil {
		return nil, fmt.Errorf("launchd: render %s: %w", j.Label, err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b, nil
}

// BinaryPath is the installed daemon binary under prefix.
func BinaryPath(prefix string) string { return path.Join(prefix, "bin", "macsensor") }

// PlistPath is where the job's property list is installed.
func PlistPath(label string) string { return path.Join(LaunchDaemonsDir, label+".plist") }

// ManagedPreferencesPath is the managed-preferences file of the domain
// label, as an MDM configuration profile with PayloadType == label installs it.
func ManagedPreferencesPath(label string) string {
	return path.Join(ManagedPreferencesDir, label+".plist")
}

// ValidateLabel accepts a reverse-DNS label made of ASCII letters, digits,
// '.', '-' and '_'. The label ends up in file names and, through the
// install scripts, in shell variables, so nothing else is allowed.
func ValidateLabel(label string) error {
	if label == "" {
		return errors.New("launchd: empty label")
	}
	if len(label) > 128 {
		return fmt.Errorf("launchd: label %q longer than 128 bytes", label)
	}
	if label[0] == '.' || label[0] == '-' || strings.Contains(label, "..") {
		return fmt.Errorf("launchd: label %q: must not start with '.' or '-' or contain \"..\"", label)
	}
	for _, c := range []byte(label) {
		if !isWordByte(c) && c != '.' && c != '-' {
			return fmt.Errorf("launchd: label %q: byte %q not allowed (letters, digits, '.', '-', '_')", label, c)
		}
	}
	return nil
}

// ValidatePrefix accepts an absolute, clean install prefix of at least two
// elements (/Library/macsensor, /opt/macsensor: the uninstall script
// removes the prefix wholesale, so "/opt" alone is refused), made of ASCII
// letters, digits, '/', '.', '-' and '_' (no spaces: the prefix is written
// into launchd's ProgramArguments and the install scripts).
func ValidatePrefix(prefix string) error {
	if !strings.HasPrefix(prefix, "/") || strings.Count(prefix, "/") < 2 {
		return fmt.Errorf("launchd: prefix %q: must be an absolute path of at least two elements", prefix)
	}
	if path.Clean(prefix) != prefix {
		return fmt.Errorf("launchd: prefix %q: not clean (want %q)", prefix, path.Clean(prefix))
	}
	for _, c := range []byte(prefix) {
		if !isWordByte(c) && c != '.' && c != '-' && c != '/' {
			return fmt.Errorf("launchd: prefix %q: byte %q not allowed (letters, digits, '/', '.', '-', '_')", prefix, c)
		}
	}
	return nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
