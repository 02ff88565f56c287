package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/codesign"
	"github.com/macsensor/macsensor/sensor/codesign/fixture"
)

// The code-signature rule check (issue 11, item 6): every Elastic macOS
// rule whose query tests process.code_signature.* or
// process.parent.code_signature.* runs over events that carry those
// fields in four variants, and must fire on the three untrusted ones and
// stay quiet on the trusted one. The rules are copied into
// testdata/codesign/rules (a fresh clone needs no ../shared); the events
// are generated from the templates below into testdata/codesign/<rule>.ndjson
// and the alerts compared with <rule>.alerts.golden (-update rewrites both).

// Variant pids: the code signature each variant's event carries.
const (
	pidUnsigned = 101 // Go's darwin/amd64 output: no signature
	pidAdhoc    = 102 // Go's darwin/arm64 output: ad-hoc, linker-signed
	pidTampered = 103 // sentry-cli with one __TEXT byte flipped
	pidTrusted  = 104 // sentry-cli as published (or the rule's allow-listed signer)
)

// The variants' ECS fields, exactly what `macsensor codesign` prints for
// the fixtures (TestCodesignRuleVariants checks them against the real
// files when the registries are reachable).
var (
	sigUnsigned = map[string]any{"exists": false, "trusted": false, "status": codesign.StatusUnsigned}
	sigAdhoc    = map[string]any{"exists": true, "trusted": false, "status": codesign.StatusUntrusted, "signing_id": "a.out"}
	sigTampered = map[string]any{"exists": true, "trusted": false, "status": codesign.StatusModified,
		"signing_id": "sentry_cli-ed605fe0983d3ac0", "team_id": "97JCY7859U"}
	sigTrusted = map[string]any{"exists": true, "trusted": true, "status": codesign.StatusTrusted,
		"signing_id": "sentry_cli-ed605fe0983d3ac0", "team_id": "97JCY7859U",
		"subject_name": "Developer ID Application: GetSentry LLC (97JCY7859U)"}
	// appleSig is what an Apple platform binary carries (leaf "Software
	// Signing", no team). No Apple-signed fixture reaches CI: these values
	// follow the package's mapping, they are not read from a file.
	appleSig = func(id string) map[string]any {
		return map[string]any{"exists": true, "trusted": true, "status": codesign.StatusTrusted,
			"signing_id": id, "subject_name": "Software Signing"}
	}
)

type ruleCase struct {
	rule   string           // file name in testdata/codesign/rules
	prefix string           // where the variant's signature goes: "process" or "process.parent"
	events []map[string]any // dotted keys; a sequence has several, the first carries the variant
	// trusted replaces sigTrusted for rules whose allow-list names a signer.
	trusted map[string]any
}

func exec_(name, executable string, args ...string) map[string]any {
	argv := append([]string{name}, args...)
	return map[string]any{
		"event.category": []string{"process"}, "event.type": []string{"start"}, "event.action": "exec",
		"process.name": name, "process.executable": executable, "process.args": argv,
		"process.args_count": len(argv), "process.command_line": strings.Join(argv, " "),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func fileEv(action, typ, path string) map[string]any {
	return map[string]any{
		"event.category": []string{"file"}, "event.type": []string{typ}, "event.action": action,
		"file.path": path, "file.name": filepath.Base(path),
		"process.name": "payload", "process.executable": "/Users/Shared/payload",
	}
}

func netEv(m map[string]any) map[string]any {
	return with(m, "event.category", []string{"network"}, "event.type", []string{"start"},
		"process.name", "payload", "process.executable", "/Users/Shared/payload")
}

var parentPayload = []any{"process.parent.name", "payload", "process.parent.executable", "/Users/Shared/payload",
	"process.parent.command_line", "/Users/Shared/payload", "process.parent.args", []string{"/Users/Shared/payload"}}

func ruleCases() []ruleCase {
	return []ruleCase{
		{rule: "collection_common_compressed_archived_file.toml", prefix: "process", events: []map[string]any{
			with(fileEv("creation", "creation", `C:\Users\bob\AppData\Local\Temp\a.zip`), "host.os.type", "windows",
				"process.name", "x.exe", "process.executable", `C:\Users\bob\AppData\Local\Temp\x.exe`, "file.Ext.header_bytes", "504B030414000000")}},
		{rule: "command_and_control_common_llm_endpoint.toml", prefix: "process", events: []map[string]any{
			netEv(map[string]any{"event.action": "lookup_result", "dns.question.name": "api.openai.com"})}},
		{rule: "command_and_control_google_calendar_c2_via_script.toml", prefix: "process", events: []map[string]any{
			netEv(map[string]any{"event.action": "connection_attempted", "destination.domain": "calendar.app.google.com", "destination.ip": "142.250.1.1", "destination.port": 443}),
			netEv(map[string]any{"event.action": "connection_attempted", "destination.ip": "203.0.113.9", "destination.port": 8443})}},
		{rule: "command_and_control_suspicious_outbound_network_via_unsigned_binary.toml", prefix: "process", events: []map[string]any{
			exec_("payload", "/Users/Shared/payload"),
			netEv(map[string]any{"event.action": "connection_attempted", "destination.ip": "8.8.4.4", "destination.port": 4444})}},
		{rule: "credential_access_credentials_keychains.toml", prefix: "process", events: []map[string]any{
			exec_("payload", "/Users/Shared/payload", "/Users/alice/Library/Keychains/login.keychain-db")}},
		{rule: "credential_access_mitm_localhost_webproxy.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("networksetup", "/usr/sbin/networksetup", "-setwebproxy", "Wi-Fi", "127.0.0.1", "8080"), parentPayload...)}},
		{rule: "credential_access_suspicious_web_browser_sensitive_file_access.toml", prefix: "process", events: []map[string]any{
			fileEv("open", "access", "/Users/alice/Library/Application Support/Google/Chrome/Default/Cookies")}},
		{rule: "defense_evasion_attempt_del_quarantine_attrib.toml", prefix: "process", events: []map[string]any{
			fileEv("extended_attributes_delete", "change", "/Users/alice/Downloads/Installer.app")}},
		{rule: "defense_evasion_elastic_agent_service_terminated.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("elastic-agent.exe", `C:\Program Files\Elastic\Agent\elastic-agent.exe`, "uninstall", "--force"),
				"host.os.type", "windows", "process.parent.name", "elastic-agent.exe",
				"process.parent.executable", `C:\Program Files\Elastic\Agent\elastic-agent.exe`,
				"process.parent.args", []string{"elastic-agent.exe", "install", "--force"})},
			// The rule's allow-list: Elastic's own signed installer.
			trusted: map[string]any{"exists": true, "trusted": true, "status": codesign.StatusTrusted, "subject_name": "Elasticsearch, Inc."}},
		{rule: "defense_evasion_install_root_certificate.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("security", "/usr/bin/security", "add-trusted-cert", "-d", "/tmp/ca.pem"), parentPayload...)}},
		{rule: "defense_evasion_modify_environment_launchctl.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("launchctl", "/bin/launchctl", "setenv", "DYLD_INSERT_LIBRARIES", "/tmp/x.dylib"), parentPayload...)}},
		{rule: "defense_evasion_privacy_controls_tcc_database_modification.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("sqlite3", "/usr/bin/sqlite3", "/Users/alice/Library/Application Support/com.apple.TCC/TCC.db", "INSERT INTO access VALUES(1)"), parentPayload...)}},
		{rule: "discovery_dns_request_for_ip_lookup_service.toml", prefix: "process", events: []map[string]any{
			netEv(map[string]any{"event.action": "lookup_result", "dns.question.name": "api.ipify.org"})}},
		{rule: "discovery_external_ip_address_discovery_via_curl.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("curl", "/usr/bin/curl", "https://api.ipify.org"), parentPayload...)}},
		{rule: "discovery_full_disk_access_check.toml", prefix: "process", events: []map[string]any{
			fileEv("open", "access", "/Library/Preferences/com.apple.TimeMachine.plist")}},
		{rule: "discovery_users_domain_built_in_commands.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("dscl", "/usr/bin/dscl", "localhost", "-list", "/Users"), parentPayload...)}},
		{rule: "lateral_movement_suspicious_curl_to_jamf_endpoint.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("curl", "/usr/bin/curl", "https://jamf.example.com/JSSResource/computers"), parentPayload...)}},
		{rule: "persistence_docker_shortcuts_plist_modification.toml", prefix: "process", events: []map[string]any{
			fileEv("modification", "change", "/Users/alice/Library/Preferences/com.apple.dock.plist")}},
		{rule: "persistence_finder_sync_plugin_pluginkit.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("pluginkit", "/usr/bin/pluginkit", "-e", "use", "-i", "com.example.findersync"), parentPayload...)}},
		{rule: "persistence_screensaver_plist_file_modification.toml", prefix: "process", events: []map[string]any{
			fileEv("modification", "change", "/Users/alice/Library/Preferences/ByHost/com.apple.screensaver.0000-1111.plist")}},
		// An unsigned binary named like Apple's shove fires; Apple's own is allow-listed.
		{rule: "persistence_startup_item_plist_creation.toml", prefix: "process", events: []map[string]any{
			with(fileEv("creation", "creation", "/Library/StartupItems/Updater/StartupParameters.plist"),
				"process.name", "shove", "process.executable", "/usr/libexec/shove")},
			trusted: appleSig("com.apple.shove")},
		{rule: "persistence_suspicious_launch_agent_or_launch_daemon.toml", prefix: "process", events: []map[string]any{
			with(fileEv("creation", "creation", "/Library/LaunchDaemons/com.example.updater.plist"),
				"file.extension", "plist", "process.name", "cat", "process.executable", "/private/tmp/cat")},
			trusted: appleSig("com.apple.cat")},
		{rule: "privilege_escalation_applescript_with_admin_privs.toml", prefix: "process.parent", events: []map[string]any{
			with(exec_("osascript", "/usr/bin/osascript", "-e", `do shell script "id" with administrator privileges`), parentPayload...)}},
	}
}

// buildRuleEvents renders a case's events for the four variants.
func buildRuleEvents(tc ruleCase) []byte {
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	variants := []struct {
		pid int
		sig map[string]any
	}{{pidUnsigned, sigUnsigned}, {pidAdhoc, sigAdhoc}, {pidTampered, sigTampered}, {pidTrusted, sigTrusted}}
	if tc.trusted != nil {
		variants[3].sig = tc.trusted
	}
	var out bytes.Buffer
	seq := 0
	for vi, v := range variants {
		for ei, tmpl := range tc.events {
			seq++
			ev := map[string]any{
				"@timestamp":        base.Add(time.Duration(vi)*time.Minute + time.Duration(ei)*time.Second).Format("2006-01-02T15:04:05.000Z"),
				"event.kind":        "event",
				"event.sequence":    seq,
				"host.id":           "8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B7F10",
				"host.name":         "mac-01",
				"host.os.type":      "macos",
				"process.pid":       v.pid,
				"process.entity_id": fmt.Sprintf("E-%d", v.pid),
				"user.name":         "alice",
			}
			for k, val := range tmpl {
				ev[k] = val
			}
			if ei == 0 {
				for k, val := range v.sig {
					ev[tc.prefix+".code_signature."+k] = val
				}
				if tc.prefix == "process.parent" && ev["host.os.type"] == "macos" {
					// The child is Apple's own tool.
					for k, val := range appleSig("com.apple." + ev["process.name"].(string)) {
						ev["process.code_signature."+k] = val
					}
				}
			}
			b, err := json.Marshal(nest(ev))
			if err != nil {
				panic(err)
			}
			out.Write(b)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// nest turns dotted keys into nested objects.
func nest(flat map[string]any) map[string]any {
	out := map[string]any{}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts := strings.Split(k, ".")
		if k == "@timestamp" {
			parts = []string{k}
		}
		m := out
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = flat[k]
	}
	return out
}

func TestCodesignRules(t *testing.T) {
	replayNow = func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }
	defer func() { replayNow = time.Now }()
	defer pinReplayAgent()()
	dir := filepath.Join("..", "..", "testdata", "codesign")
	cases := ruleCases()
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.rule] = true
		t.Run(strings.TrimSuffix(tc.rule, ".toml"), func(t *testing.T) {
			events := buildRuleEvents(tc)
			in := filepath.Join(dir, strings.TrimSuffix(tc.rule, ".toml")+".ndjson")
			golden := strings.TrimSuffix(in, ".ndjson") + ".alerts.golden"
			if *update {
				if err := os.WriteFile(in, events, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if b, err := os.ReadFile(in); err != nil || !bytes.Equal(b, events) {
				t.Fatalf("%s is stale or missing (go test ./cmd/macsensor -run CodesignRules -update): %v", in, err)
			}
			var stdout, stderr bytes.Buffer
			args := []string{"replay", "--no-builtin", "--rules", filepath.Join(dir, "rules", tc.rule), in}
			if code := dispatch(args, &stdout, &stderr); code != 0 {
				t.Fatalf("replay exit %d: %s", code, stderr.String())
			}
			var fired []int
			for _, line := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
				if len(line) == 0 {
					continue
				}
				var a struct {
					Events []struct {
						Process struct{ PID int } `json:"process"`
					}
				}
				if err := json.Unmarshal(line, &a); err != nil {
					t.Fatal(err)
				}
				fired = append(fired, a.Events[0].Process.PID)
			}
			if want := []int{pidUnsigned, pidAdhoc, pidTampered}; !reflect.DeepEqual(fired, want) {
				t.Errorf("fired on pids %v, want %v (unsigned, ad-hoc, tampered; not trusted)\nstderr: %s", fired, want, stderr.String())
			}
			if *update {
				if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Errorf("alerts differ from %s", golden)
			}
		})
	}
	// Every copied rule that tests a code signature in its query has a case.
	files, err := filepath.Glob(filepath.Join(dir, "rules", "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("rule %s has no case", filepath.Base(f))
		}
	}
	if len(files) != len(cases) {
		t.Errorf("%d rules copied, %d cases", len(files), len(cases))
	}
}

// TestCodesignRulesCopied checks that testdata/codesign/rules holds exactly
// the Elastic macOS rules whose query tests process(.parent).code_signature,
// byte for byte, when ../shared is present.
func TestCodesignRulesCopied(t *testing.T) {
	src := filepath.Join("..", "..", "..", "shared", "rules", "elastic-macos")
	all, err := filepath.Glob(filepath.Join(src, "*.toml"))
	if err != nil || len(all) == 0 {
		t.Skipf("../shared/rules/elastic-macos not present (%v)", err)
	}
	dst := filepath.Join("..", "..", "testdata", "codesign", "rules")
	n := 0
	for _, f := range all {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		q := ruleQuery(b)
		if !strings.Contains(q, "process.code_signature.") && !strings.Contains(q, "process.parent.code_signature.") {
			continue
		}
		n++
		c, err := os.ReadFile(filepath.Join(dst, filepath.Base(f)))
		if err != nil || !bytes.Equal(b, c) {
			t.Errorf("%s: copy missing or differs from ../shared (%v)", filepath.Base(f), err)
		}
	}
	if n != len(ruleCases()) {
		t.Errorf("%d rules in ../shared test a code signature, %d cases", n, len(ruleCases()))
	}
	t.Logf("%d of %d Elastic macOS rules test process(.parent).code_signature in their query", n, len(all))
}

// ruleQuery returns the text of the TOML's query = ”'...”' block.
func ruleQuery(b []byte) string {
	s := string(b)
	i := strings.Index(s, "\nquery = '''")
	if i < 0 {
		return ""
	}
	s = s[i+len("\nquery = '''"):]
	if j := strings.Index(s, "'''"); j >= 0 {
		s = s[:j]
	}
	return s
}

// TestCodesignRuleVariants checks that the variants' fields are what the
// codesign command prints for the real files.
func TestCodesignRuleVariants(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ecs := func(in codesign.Info) map[string]any {
		b, _ := json.Marshal(codesignRecord("", in).CodeSignature)
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	norm := func(m map[string]any) map[string]any {
		b, _ := json.Marshal(m)
		var out map[string]any
		json.Unmarshal(b, &out)
		return out
	}
	check := func(name string, got codesign.Info, want map[string]any) {
		if g := ecs(got); !reflect.DeepEqual(g, norm(want)) {
			t.Errorf("%s: %v, want %v", name, g, want)
		}
	}
	check("unsigned", codesign.VerifyFile(fixture.BuildGo(t, "amd64", "a.out"), codesign.Options{Arch: "amd64", Now: now}), sigUnsigned)
	check("adhoc", codesign.VerifyFile(fixture.BuildGo(t, "arm64", "a.out"), codesign.Options{Arch: "arm64", Now: now}), sigAdhoc)
	sentry := fixture.SentryCLI(t)
	check("trusted", codesign.VerifyFile(sentry, codesign.Options{Arch: "arm64", Now: now}), sigTrusted)
	b, err := os.ReadFile(sentry)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte in the arm64 slice's __TEXT (the slice starts after
	// the x86_64 one; find it through the command's own output would need
	// the offset: the fat header's second entry).
	off := int64(b[8+20+8])<<24 | int64(b[8+20+9])<<16 | int64(b[8+20+10])<<8 | int64(b[8+20+11])
	b[off+5*4096+17] ^= 1
	p := filepath.Join(t.TempDir(), "sentry-cli")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	check("tampered", codesign.VerifyFile(p, codesign.Options{Arch: "arm64", Now: now}), sigTampered)
}
