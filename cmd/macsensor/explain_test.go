package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRulesExplain(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := dispatch([]string{"rules", "explain", "5d9f8cfc-0d03-443e-a167-2b0597ce0965"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{
		"stage 1 of 2: table \"process\"",
		"      process.name == \"automator\"\n",
		"stage 2 of 2: table \"network\"",
		"      process.name ==~ \"COM.APPLE.AUTOMATOR.RUNNER\"\n",
		"left to test once a key holds: host.os.type == \"macos\"\n",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if code := dispatch([]string{"rules", "explain"}, &stdout, &stderr); code != 0 ||
		!strings.HasPrefix(stdout.String(), "1 rules, 2 targets: 2 indexed, 0 always run, 0 never run\n") {
		t.Errorf("summary: exit %d:\n%s", code, stdout.String())
	}
	stderr.Reset()
	if code := dispatch([]string{"rules", "explain", "nope"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no rule with rule_id nope") {
		t.Errorf("unknown rule: exit %d, stderr %q", code, stderr.String())
	}
}
