package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/launchd"
	"github.com/macsensor/macsensor/sensor"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	for _, goos := range []string{"darwin", "linux"} {
		c := defaultConfig(goos, "")
		if err := c.validate("defaults"); err != nil {
			t.Errorf("%s defaults: %v", goos, err)
		}
	}
	mac := defaultConfig("darwin", "")
	if mac.Alerts.Path != "/var/log/macsensor/alerts.ndjson" || mac.Rules.Paths[0] != "/Library/macsensor/rules.d" {
		t.Errorf("macOS default paths: %+v", mac)
	}
	lin := defaultConfig("linux", "/tmp/st")
	if lin.Alerts.Path != "/tmp/st/log/alerts.ndjson" || lin.Status.Path != "/tmp/st/status.json" {
		t.Errorf("state-dir paths: %+v", lin)
	}
}

func TestNoFileIsFine(t *testing.T) {
	dir := t.TempDir()
	c, sources, err := loadConfig("linux", dir, "", nil, false)
	if err != nil || len(sources) != 0 || time.Duration(c.Sensor.ProcessInterval) != time.Second {
		t.Fatalf("loadConfig with no file: %+v %v %v", c.Sensor, sources, err)
	}
	// An explicit file that does not exist is an error.
	if _, _, err := loadConfig("linux", dir, filepath.Join(dir, "nope.toml"), nil, false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing --config file: %v", err)
	}
}

func TestConfigFileAndManagedPrecedence(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "m.toml", `
[sensor]
process_interval = "250ms"
socket_interval = "500ms"
[alerts]
max_size = "1MiB"
keep = 9
[log]
level = "debug"
`)
	managed := map[string]any{"sensor": map[string]any{"socket_interval": "2s"}, "alerts": map[string]any{"keep": uint64(3)}}
	c, sources, err := loadConfig("linux", dir, p, managed, false)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Sensor.ProcessInterval) != 250*time.Millisecond || time.Duration(c.Sensor.SocketInterval) != 2*time.Second ||
		c.Alerts.MaxSize != 1<<20 || c.Alerts.Keep != 3 || c.Log.Level != "debug" || len(sources) != 2 {
		t.Fatalf("effective config %+v (sources %v)", c, sources)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ text, want string }{
		{"[sensor]\nprocess_intervall = \"1s\"\n", "sensor.process_intervall: unknown key"},
		{"[sensor]\nprocess_interval = 5\n", "sensor.process_interval"},
		{"[sensor]\nprocess_interval = \"fast\"\n", "not a duration"},
		{"[sensor]\nprocess_interval = \"1ms\"\n", "sensor.process_interval: must be between 10ms and 1h"},
		{"[alerts]\nkeep = 0\n", "alerts.keep: must be between 1 and 1000"},
		{"[alerts]\nmax_size = \"12 parsecs\"\n", "not a size"},
		{"[alerts]\nmax_line = 100\n", "alerts.max_line"},
		{"[log]\nlevel = \"loud\"\n", "log.level"},
		{"[events]\nenabled = true\npath = \"/tmp/a\"\n[alerts]\npath = \"/tmp/a\"\n", "events.path: must differ"},
		{"[bogus]\nx = 1\n", "bogus: unknown key"},
		{"[capture]\nenable = true\n", "capture.enable: unknown key"},
		{"[capture]\nenabled = \"yes\"\n", "capture.enabled"},
		{"[capture]\ndns_cache_size = 0\n", "capture.dns_cache_size: must be between 1 and 1000000, not 0"},
		{"[capture]\ndns_cache_size = 5000000\n", "capture.dns_cache_size: must be between 1 and 1000000"},
		{"[capture]\ntrigger_min_interval = \"100us\"\n", "capture.trigger_min_interval: must be between 1ms and 10s, not 100µs"},
		{"[capture]\ntrigger_min_interval = \"1m\"\n", "capture.trigger_min_interval: must be between 1ms and 10s"},
		{"[capture]\ntrigger_min_interval = \"soon\"\n", "not a duration"},
		{"[capture]\ninterfaces = [\"en0\", \"en0\"]\n", `capture.interfaces: "en0" is listed twice`},
		{"[capture]\ninterfaces = [\"\"]\n", `capture.interfaces: "" is not an interface name`},
		{"[capture]\ninterfaces = [\"a-very-long-interface0\"]\n", "capture.interfaces: \"a-very-long-interface0\" is not an interface name"},
		{"[capture]\ninterfaces = [\"../en0\"]\n", "capture.interfaces"},
		{"[capture]\ninterfaces = \"en0\"\n", "capture.interfaces"},
		{"[sensor\n", "m.toml:2: expected"},
		{"[sensor]\ncode_signatures = \"yes\"\n", "sensor.code_signatures"},
		{"[sensor]\ncode_signature_max_file_size = \"512KiB\"\n", "sensor.code_signature_max_file_size: must be between 1MiB and 16GiB, not 524288 bytes"},
		{"[sensor]\ncode_signature_max_file_size = \"32GiB\"\n", "sensor.code_signature_max_file_size: must be between 1MiB and 16GiB"},
		{"[sensor]\ncode_signature_budget = \"2s\"\n", "sensor.code_signature_budget: must be between 0 (no wait) and 1s, not 2s"},
		{"[sensor]\ncode_signature_budget = \"-1ms\"\n", "sensor.code_signature_budget: must be between 0 (no wait) and 1s"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		p := writeFile(t, dir, "m.toml", tc.text)
		_, _, err := loadConfig("linux", dir, p, nil, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.text, err, tc.want)
		}
	}
}

func TestCaptureDefaults(t *testing.T) {
	for _, goos := range []string{"darwin", "linux"} {
		c := defaultConfig(goos, "").Capture
		if c.Enabled || c.Loopback || len(c.Interfaces) != 0 || c.DNSCacheSize != 10000 ||
			time.Duration(c.TriggerMinInterval) != 20*time.Millisecond || !c.DNSEvents {
			t.Errorf("%s: [capture] defaults %+v", goos, c)
		}
	}
}

func TestCaptureConfig(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "m.toml", `
[capture]
enabled = true
loopback = true
interfaces = ["en0", "utun3"]
dns_cache_size = 500
trigger_min_interval = "5ms"
dns_events = false
`)
	c, _, err := loadConfig("linux", dir, p, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	want := CaptureConfig{Enabled: true, Loopback: true, Interfaces: []string{"en0", "utun3"}, DNSCacheSize: 500,
		TriggerMinInterval: Duration(5 * time.Millisecond)}
	if !c.Capture.equal(want) {
		t.Fatalf("[capture] %+v, want %+v", c.Capture, want)
	}
	// The managed preferences turn it off again and name other interfaces.
	managed := map[string]any{"capture": map[string]any{"enabled": false, "interfaces": []any{"en1"}}}
	c, _, err = loadConfig("linux", dir, p, managed, false)
	if err != nil {
		t.Fatal(err)
	}
	want.Enabled, want.Interfaces = false, []string{"en1"}
	if !c.Capture.equal(want) {
		t.Fatalf("[capture] with managed preferences %+v, want %+v", c.Capture, want)
	}
	if want.equal(CaptureConfig{}) || !want.equal(want) {
		t.Fatal("CaptureConfig.equal")
	}
	// The effective configuration prints the table.
	out, err := encodeConfig(&c)
	if err != nil || !strings.Contains(string(out), "[capture]") || !strings.Contains(string(out), `trigger_min_interval = "5ms"`) {
		t.Fatalf("encoded: %v\n%s", err, out)
	}
	_, _, err = loadConfig("linux", dir, p, map[string]any{"capture": map[string]any{"dns_cache_size": uint64(0)}}, false)
	if err == nil || !strings.Contains(err.Error(), managedPrefPath) || !strings.Contains(err.Error(), "capture.dns_cache_size") {
		t.Fatalf("managed dns_cache_size 0: %v", err)
	}
}

func TestManagedErrorsNameTheKey(t *testing.T) {
	_, _, err := loadConfig("linux", t.TempDir(), "", map[string]any{"sensor": map[string]any{"process_interval": true}}, false)
	if err == nil || !strings.Contains(err.Error(), managedPrefPath) || !strings.Contains(err.Error(), "process_interval") {
		t.Fatalf("error %v", err)
	}
}

// On the daemon's real paths the configuration, the rules and the
// exceptions are read through the root-only reader (internal/rootfile,
// whose tests cover the swap between check and read): a file anyone but
// root could have written is refused, and a refused rule file is skipped
// with its reason while the others load.
func TestTrustedReads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the trusted reads refuse files not owned by uid 0")
	}
	dir := t.TempDir()
	p := writeFile(t, dir, "c.toml", "")
	os.Chmod(p, 0o666)
	if _, err := readTrusted(p, true); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("world-writable file: %v", err)
	}
	if _, err := readTrusted(p, false); err != nil {
		t.Fatalf("unchecked read: %v", err)
	}
	os.Chmod(p, 0o644)
	if _, err := readTrusted(p, true); err != nil {
		t.Fatalf("root-owned 0644 file refused: %v", err)
	}
	os.Chown(p, 501, 20)
	if _, err := readTrusted(p, true); err == nil || !strings.Contains(err.Error(), "owned by uid 501") {
		t.Fatalf("file owned by 501: %v", err)
	}
	l := filepath.Join(dir, "link.toml")
	os.Symlink(p, l)
	if _, err := readTrusted(l, true); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symlink: %v", err)
	}

	rules := filepath.Join(dir, "rules.d")
	os.Mkdir(rules, 0o755)
	os.Chmod(rules, 0o755)
	seed := writeFile(t, rules, "seed.toml", string(detect.SeedRuleTOML()))
	os.Chmod(seed, 0o644)
	planted := writeFile(t, rules, "planted.toml", "")
	os.Chmod(planted, 0o644)
	os.Chown(planted, 501, 20)
	exc := writeFile(t, dir, "exceptions.toml", "")
	os.Chmod(exc, 0o644)
	os.Chown(exc, 501, 20)
	set, errs := detect.LoadRuleSet(ruleSetOptions([]string{rules, filepath.Join(dir, "absent")}, nil, false, exc, true))
	if len(set.Rules) != 1 || set.Rules[0].File != seed {
		t.Errorf("rules %v, want the root-owned seed.toml", set.Rules)
	}
	if len(errs) != 2 || errs[0].File != planted || !strings.Contains(errs[0].Error(), "owned by uid 501") ||
		errs[1].File != exc || !set.ExceptionsFailed {
		for _, e := range errs {
			t.Log(e)
		}
		t.Errorf("%d errors (exceptions failed %v), want the planted rule and the exceptions refused", len(errs), set.ExceptionsFailed)
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "32KiB": 32 << 10, "1GB": 1e9, "100": 100, " 2 MiB": 2 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "1TiB", "x"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
	if formatSize(64<<20) != "64MiB" || formatSize(1000) != "1000" {
		t.Error("formatSize")
	}
}

// TestManagedPreferencesFixtures reads managed preferences in both plist
// encodings through the launchd reader, as the daemon does, on top of the
// defaults.
func TestManagedPreferencesFixtures(t *testing.T) {
	for _, name := range []string{"settings.xml.plist", "settings.binary.plist"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "managed", name)
			os.Chmod(path, 0o644) // a fresh clone may carry the umask's group-write bit
			c, sources, err := loadEffectiveConfig(t.TempDir(), "", path, false)
			if err != nil {
				t.Fatal(err)
			}
			if time.Duration(c.Sensor.ProcessInterval) != 500*time.Millisecond || time.Duration(c.Sensor.SocketInterval) != 750*time.Millisecond ||
				len(c.Rules.Paths) != 2 || c.Rules.Paths[1] != "/Library/Application Support/macsensor/rules" || c.Rules.MaxPending != 5000 ||
				c.Alerts.Keep != 10 || c.Alerts.MaxSize != 32<<20 || !c.Alerts.Fsync || len(sources) != 1 {
				t.Fatalf("effective config %+v, sources %v", c, sources)
			}
		})
	}
	path := filepath.Join("testdata", "managed", "wrongtype.xml.plist")
	os.Chmod(path, 0o644)
	_, _, err := loadEffectiveConfig(t.TempDir(), "", path, false)
	if err == nil || !strings.Contains(err.Error(), "alerts.keep") || !strings.Contains(err.Error(), managedPrefPath) {
		t.Fatalf("wrong type: %v", err)
	}
}

// TestDocumentedProfile loads the settings payload of the example profile
// in docs/ through the daemon's configuration code, so the documentation
// cannot drift from the keys.
func TestDocumentedProfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "macsensor-settings.mobileconfig"))
	if err != nil {
		t.Fatal(err)
	}
	prefs, err := launchd.DecodePreferences(data)
	if err != nil {
		t.Fatal(err)
	}
	content, ok := prefs["PayloadContent"].([]any)
	if !ok || len(content) != 1 {
		t.Fatalf("PayloadContent: %T %v", prefs["PayloadContent"], prefs["PayloadContent"])
	}
	payload, ok := content[0].(map[string]any)
	if !ok || payload["PayloadType"] != "com.macsensor.daemon" {
		t.Fatalf("payload: %v", content[0])
	}
	// The exceptions file it names does not exist here: check the keys
	// and values, not the files.
	c, _, err := loadConfig("darwin", "", "", payload, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rules.Exceptions != "/Library/macsensor/exceptions.toml" || c.Alerts.MaxSize != 64<<20 || c.Log.Level != "info" ||
		!c.Sensor.ProcessEvents || c.Sensor.ExitEvents || !c.Sensor.CodeSignatures || c.Sensor.CodeSignatureMaxFileSize != 256<<20 ||
		!c.Reload.Watch || !c.Files.Enabled || !c.Files.DefaultPaths || !c.Workflow.Enabled || len(c.Response.KillProcess) != 0 {
		t.Fatalf("effective config %+v", c)
	}
}

// Code signatures are on by default, with a 256 MiB file limit and the
// sensor's default budget; 0 means no wait.
func TestCodeSignatureConfig(t *testing.T) {
	c := defaultConfig("darwin", "")
	if !c.Sensor.CodeSignatures || c.Sensor.CodeSignatureMaxFileSize != 256<<20 || time.Duration(c.Sensor.CodeSignatureBudget) != 50*time.Millisecond {
		t.Fatalf("defaults %+v", c.Sensor)
	}
	dir := t.TempDir()
	p := writeFile(t, dir, "m.toml", "[sensor]\ncode_signatures = false\ncode_signature_max_file_size = \"64MiB\"\ncode_signature_budget = \"0s\"\n")
	c, _, err := loadConfig("linux", dir, p, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sensor.CodeSignatures || c.Sensor.CodeSignatureMaxFileSize != 64<<20 || c.Sensor.CodeSignatureBudget != 0 {
		t.Fatalf("%+v", c.Sensor)
	}
	if s := openSignatures(c.Sensor); s.sensorSignatures() != nil {
		t.Fatal("code_signatures = false opened a cache")
	}
	c.Sensor.CodeSignatures = true
	s := openSignatures(c.Sensor)
	defer s.close()
	if s.sensorSignatures() == nil || s.budget >= 0 {
		t.Fatalf("%+v", s)
	}
	if st := s.status(sensor.SignatureStats{PendingAtEmit: 3}); st.State != "on" || st.PendingAtEmit != 3 {
		t.Fatalf("%+v", st)
	}
	if !signaturesChanged(defaultConfig("darwin", "").Sensor, c.Sensor) {
		t.Fatal("change not seen")
	}
}
