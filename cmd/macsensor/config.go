package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/macsensor/macsensor/internal/rootfile"
	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/files"
	"github.com/macsensor/macsensor/sensor/reload"
)

// Config is the daemon's configuration: built-in defaults, then the TOML
// file, then (macOS) the MDM managed preferences. Every key is documented in
// docs/CONFIG.md; keep the two in step.
type Config struct {
	Sensor  SensorConfig  `toml:"sensor"`
	Rules   RulesConfig   `toml:"rules"`
	Alerts  LogConfig     `toml:"alerts"`
	Events  EventsConfig  `toml:"events"`
	Status  StatusConfig  `toml:"status"`
	Log     DaemonLog     `toml:"log"`
	Capture CaptureConfig `toml:"capture"`
	// files.go: persistence file events, self-reload, workflows.
	Files    FilesConfig    `toml:"files"`
	Reload   ReloadConfig   `toml:"reload"`
	Workflow WorkflowConfig `toml:"workflow"`
	// respond.go: response actions.
	Response ResponseConfig `toml:"response"`
}

// SensorConfig is the [sensor] table.
type SensorConfig struct {
	ProcessInterval Duration `toml:"process_interval"`
	SocketInterval  Duration `toml:"socket_interval"`
	EmitExisting    bool     `toml:"emit_existing"`
	QueuePolls      int      `toml:"queue_polls"`
	ProcessEvents   bool     `toml:"process_events"`
	ExitEvents      bool     `toml:"exit_events"`
	// Code signatures of executables (docs/CODESIGN.md).
	CodeSignatures           bool     `toml:"code_signatures"`
	CodeSignatureMaxFileSize Size     `toml:"code_signature_max_file_size"`
	CodeSignatureBudget      Duration `toml:"code_signature_budget"`
}

// CaptureConfig is the [capture] table: the optional packet capture of
// outbound TCP SYNs (immediate socket reads) and DNS responses
// (destination.domain, dns events).
type CaptureConfig struct {
	Enabled            bool     `toml:"enabled"`
	Loopback           bool     `toml:"loopback"`
	Interfaces         []string `toml:"interfaces"`
	DNSCacheSize       int      `toml:"dns_cache_size"`
	TriggerMinInterval Duration `toml:"trigger_min_interval"`
	DNSEvents          bool     `toml:"dns_events"`
}

// equal reports whether two [capture] tables are the same settings.
func (c CaptureConfig) equal(o CaptureConfig) bool {
	return c.Enabled == o.Enabled && c.Loopback == o.Loopback && slices.Equal(c.Interfaces, o.Interfaces) &&
		c.DNSCacheSize == o.DNSCacheSize && c.TriggerMinInterval == o.TriggerMinInterval && c.DNSEvents == o.DNSEvents
}

// RulesConfig is the [rules] table.
type RulesConfig struct {
	Paths      []string `toml:"paths"`
	Exceptions string   `toml:"exceptions"`
	Builtin    bool     `toml:"builtin"`
	MaxPending int      `toml:"max_pending"`
}

// LogConfig is the [alerts] table, and the file part of [events].
type LogConfig struct {
	Path       string `toml:"path"`
	MaxSize    Size   `toml:"max_size"`
	Keep       int    `toml:"keep"`
	MaxLine    Size   `toml:"max_line"`
	QueueBytes Size   `toml:"queue_bytes"`
	Fsync      bool   `toml:"fsync"`
}

// EventsConfig is the [events] table: the optional log of every event.
type EventsConfig struct {
	Enabled bool `toml:"enabled"`
	LogConfig
}

// StatusConfig is the [status] table.
type StatusConfig struct {
	Path     string   `toml:"path"`
	Interval Duration `toml:"interval"`
}

// DaemonLog is the [log] table: the daemon's own diagnostics on stderr.
type DaemonLog struct {
	Level string `toml:"level"`
}

// Duration is a time.Duration written as a Go duration string ("1s").
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (like \"500ms\" or \"2s\"): %q", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a byte count written as an integer or a string with a unit
// ("64MiB", "32KiB", "1GB").
type Size int64

// UnmarshalTOML implements toml.Unmarshaler: integers and strings.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		*s = Size(v)
		return nil
	case string:
		n, err := parseSize(v)
		if err != nil {
			return err
		}
		*s = Size(n)
		return nil
	}
	return fmt.Errorf("not a size (an integer or a string like \"64MiB\"): %v", v)
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(formatSize(int64(s))), nil }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("not a size (an integer or a string like \"64MiB\"): %q", s)
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	for _, u := range sizeUnits[:3] {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// Paths of the installed daemon on macOS (DESIGN.md, Deployment).
const (
	macPrefix       = "/Library/macsensor"
	macConfigPath   = macPrefix + "/macsensor.toml"
	macRulesDir     = macPrefix + "/rules.d"
	macLogDir       = "/var/log/macsensor"
	macStatusPath   = "/var/run/macsensor.status.json"
	managedPrefPath = "/Library/Managed Preferences/com.macsensor.daemon.plist"
)

// defaultConfig returns the built-in defaults. On macOS the paths are the
// installed layout; elsewhere everything lives under stateDir (./var unless
// --state-dir says otherwise).
func defaultConfig(goos, stateDir string) Config {
	c := Config{
		Sensor: SensorConfig{
			ProcessInterval: Duration(time.Second),
			SocketInterval:  Duration(time.Second),
			QueuePolls:      1024,
			ProcessEvents:   true,

			CodeSignatures:           true,
			CodeSignatureMaxFileSize: 256 << 20,
			CodeSignatureBudget:      Duration(sensor.DefaultSignatureBudget),
		},
		Rules: RulesConfig{Builtin: true, MaxPending: 10000},
		Alerts: LogConfig{
			MaxSize: 64 << 20, Keep: 5, MaxLine: 32 << 10, QueueBytes: 8 << 20, Fsync: true,
		},
		Events: EventsConfig{LogConfig: LogConfig{
			MaxSize: 256 << 20, Keep: 5, MaxLine: 32 << 10, QueueBytes: 8 << 20, Fsync: false,
		}},
		Status: StatusConfig{Interval: Duration(5 * time.Second)},
		Log:    DaemonLog{Level: "info"},
		Capture: CaptureConfig{
			DNSCacheSize:       10000,
			TriggerMinInterval: Duration(20 * time.Millisecond),
			DNSEvents:          true,
		},
		Files: FilesConfig{
			DefaultPaths: true, MaxDescriptors: files.DefaultMaxDescriptors,
			Settle: Duration(files.DefaultSettle), Rescan: Duration(files.DefaultRescan),
		},
		Reload:   ReloadConfig{Watch: true, Quiet: Duration(reload.DefaultQuiet)},
		Workflow: WorkflowConfig{Enabled: true},
	}
	if goos == "darwin" && stateDir == "" {
		c.Rules.Paths = []string{macRulesDir}
		c.Alerts.Path = filepath.Join(macLogDir, "alerts.ndjson")
		c.Events.Path = filepath.Join(macLogDir, "events.ndjson")
		c.Status.Path = macStatusPath
		return c
	}
	if stateDir == "" {
		stateDir = "var"
	}
	c.Rules.Paths = []string{filepath.Join(stateDir, "rules.d")}
	c.Alerts.Path = filepath.Join(stateDir, "log", "alerts.ndjson")
	c.Events.Path = filepath.Join(stateDir, "log", "events.ndjson")
	c.Status.Path = filepath.Join(stateDir, "status.json")
	return c
}

// defaultConfigPath is where the daemon looks for its file when --config is
// not given: the installed path on macOS, <state dir>/macsensor.toml
// elsewhere. A missing default file is fine; a missing --config file is not.
func defaultConfigPath(goos, stateDir string) string {
	if goos == "darwin" && stateDir == "" {
		return macConfigPath
	}
	if stateDir == "" {
		stateDir = "var"
	}
	return filepath.Join(stateDir, "macsensor.toml")
}

// ConfigError is an error in one configuration source.
type ConfigError struct {
	Source string // file path
	Key    string // dotted key, when known
	Err    error
}

func (e *ConfigError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %v", e.Source, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// decodeConfig applies a TOML document on top of c. Unknown keys and wrong
// types are errors naming the key.
func decodeConfig(c *Config, source string, data []byte) error {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			key := ""
			if pe.LastKey != "" {
				key = pe.LastKey
			}
			return &ConfigError{Source: fmt.Sprintf("%s:%d", source, pe.Position.Line), Key: key, Err: errors.New(strings.TrimPrefix(pe.Message, "toml: "))}
		}
		return &ConfigError{Source: source, Err: err}
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return &ConfigError{Source: source, Key: keys[0], Err: fmt.Errorf("unknown key (known keys are listed in docs/CONFIG.md)")}
	}
	return nil
}

// validate checks values no type check catches, naming the key.
func (c *Config) validate(source string) error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Source: source, Key: key, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case c.Sensor.ProcessInterval < Duration(10*time.Millisecond) || c.Sensor.ProcessInterval > Duration(time.Hour):
		return bad("sensor.process_interval", "must be between 10ms and 1h, not %s", time.Duration(c.Sensor.ProcessInterval))
	case c.Sensor.SocketInterval < Duration(10*time.Millisecond) || c.Sensor.SocketInterval > Duration(time.Hour):
		return bad("sensor.socket_interval", "must be between 10ms and 1h, not %s", time.Duration(c.Sensor.SocketInterval))
	case c.Sensor.QueuePolls < 1 || c.Sensor.QueuePolls > 1<<20:
		return bad("sensor.queue_polls", "must be between 1 and 1048576, not %d", c.Sensor.QueuePolls)
	case c.Sensor.CodeSignatureMaxFileSize < 1<<20 || c.Sensor.CodeSignatureMaxFileSize > 16<<30:
		return bad("sensor.code_signature_max_file_size", "must be between 1MiB and 16GiB, not %d bytes", c.Sensor.CodeSignatureMaxFileSize)
	case c.Sensor.CodeSignatureBudget < 0 || c.Sensor.CodeSignatureBudget > Duration(time.Second):
		return bad("sensor.code_signature_budget", "must be between 0 (no wait) and 1s, not %s", time.Duration(c.Sensor.CodeSignatureBudget))
	case c.Rules.MaxPending < 1:
		return bad("rules.max_pending", "must be at least 1, not %d", c.Rules.MaxPending)
	case c.Status.Interval < Duration(100*time.Millisecond):
		return bad("status.interval", "must be at least 100ms, not %s", time.Duration(c.Status.Interval))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if err := c.Capture.validate(source); err != nil {
		return err
	}
	if err := c.validateFiles(source); err != nil {
		return err
	}
	if err := c.Alerts.validate(source, "alerts"); err != nil {
		return err
	}
	if c.Events.Enabled {
		if err := c.Events.LogConfig.validate(source, "events"); err != nil {
			return err
		}
		if filepath.Clean(c.Events.Path) == filepath.Clean(c.Alerts.Path) {
			return bad("events.path", "must differ from alerts.path: nothing but alerts goes to the alert log")
		}
	}
	return nil
}

// maxDNSCacheSize bounds capture.dns_cache_size: the cache allocates its
// entries up front (about 100 bytes per address with its index).
const maxDNSCacheSize = 1000000

// validate checks the [capture] table, also when capture is off, so that a
// mistake is found before someone turns it on.
func (c *CaptureConfig) validate(source string) error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Source: source, Key: "capture." + key, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case c.DNSCacheSize < 1 || c.DNSCacheSize > maxDNSCacheSize:
		return bad("dns_cache_size", "must be between 1 and %d, not %d", maxDNSCacheSize, c.DNSCacheSize)
	case c.TriggerMinInterval < Duration(time.Millisecond) || c.TriggerMinInterval > Duration(10*time.Second):
		return bad("trigger_min_interval", "must be between 1ms and 10s, not %s", time.Duration(c.TriggerMinInterval))
	}
	seen := make(map[string]bool, len(c.Interfaces))
	for _, name := range c.Interfaces {
		// IFNAMSIZ is 16 on Linux and macOS, the NUL included
		// (include/uapi/linux/if.h, xnu bsd/net/if.h).
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n\x00") {
			return bad("interfaces", "%q is not an interface name (1 to 15 bytes, no slash or space)", name)
		}
		if seen[name] {
			return bad("interfaces", "%q is listed twice", name)
		}
		seen[name] = true
	}
	return nil
}

func (l *LogConfig) validate(source, table string) error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Source: source, Key: table + "." + key, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case l.Path == "" || !filepath.IsAbs(l.Path) && runtime.GOOS == "darwin":
		return bad("path", "must be an absolute path, not %q", l.Path)
	case l.MaxLine < 1024 || l.MaxLine > 16<<20:
		return bad("max_line", "must be between 1KiB and 16MiB, not %d", l.MaxLine)
	case l.MaxSize != 0 && l.MaxSize < 2*l.MaxLine:
		return bad("max_size", "must be 0 (never rotate) or at least twice max_line (%d), not %d", 2*l.MaxLine, l.MaxSize)
	case l.Keep < 1 || l.Keep > 1000:
		return bad("keep", "must be between 1 and 1000, not %d", l.Keep)
	case l.QueueBytes < l.MaxLine:
		return bad("queue_bytes", "must be at least max_line (%d), not %d", l.MaxLine, l.QueueBytes)
	}
	return nil
}

// loadConfig builds the effective configuration: defaults < file < managed
// preferences. path is the --config flag ("" for the default path, where a
// missing file is not an error). checkOwner refuses files writable by
// anyone but root (the daemon's real paths).
func loadConfig(goos, stateDir, path string, managed map[string]any, checkOwner bool) (Config, []string, error) {
	c := defaultConfig(goos, stateDir)
	var sources []string
	explicit := path != ""
	if !explicit {
		path = defaultConfigPath(goos, stateDir)
	}
	data, err := readTrusted(path, checkOwner)
	switch {
	case err == nil:
		if err := decodeConfig(&c, path, data); err != nil {
			return c, nil, err
		}
		sources = append(sources, path)
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	default:
		return c, nil, err
	}
	if managed != nil {
		// A profile's own keys (PayloadUUID, PayloadIdentifier, ...) may
		// come along into the managed preferences file: they are not
		// settings.
		for k := range managed {
			if strings.HasPrefix(k, "Payload") {
				delete(managed, k)
			}
		}
		// Managed preferences carry the same keys as the TOML file, as
		// plist dictionaries: re-encode them as TOML so that one decoder
		// (and its unknown-key and type errors) serves both.
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(managed); err != nil {
			return c, nil, &ConfigError{Source: managedPrefPath, Err: err}
		}
		if err := decodeConfig(&c, managedPrefPath, buf.Bytes()); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.Source = managedPrefPath // a line of the re-encoding means nothing to an admin
			}
			return c, nil, err
		}
		sources = append(sources, managedPrefPath)
	}
	last := "built-in defaults"
	if len(sources) > 0 {
		last = sources[len(sources)-1]
	}
	if err := c.validate(last); err != nil {
		return c, nil, err
	}
	return c, sources, nil
}

// readTrusted reads a configuration file. With checkOwner, it refuses a
// file that anyone but root could have written (owned by another user,
// writable by group or others, a symlink, not a regular file), checking
// the open descriptor it then reads (rootfile.Read). The daemon runs as
// root and must not take orders from an unprivileged user.
func readTrusted(path string, checkOwner bool) ([]byte, error) {
	if checkOwner {
		return rootfile.Read(path, rootfile.Options{})
	}
	return os.ReadFile(path)
}

// encodeConfig renders c as TOML, the effective configuration that
// `macsensor config check` prints.
func encodeConfig(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	err := toml.NewEncoder(&buf).Encode(c)
	return buf.Bytes(), err
}
