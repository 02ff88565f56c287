package main

import (
	"strings"
	"testing"

	"github.com/macsensor/macsensor/detect"
)

func TestResponseConfig(t *testing.T) {
	var c Config
	if err := decodeConfig(&c, "m.toml", []byte("[response]\nkill_process = [\"r1\"]\n")); err != nil {
		t.Fatal(err)
	}
	byConfig := &detect.Rule{ID: "r1"}
	byFile := &detect.Rule{ID: "r2", Actions: []string{"kill_process"}}
	none := &detect.Rule{ID: "r3"}
	if !c.Response.wantsKill(byConfig) || !c.Response.wantsKill(byFile) || c.Response.wantsKill(none) {
		t.Errorf("wantsKill: config %v, file %v, none %v", c.Response.wantsKill(byConfig), c.Response.wantsKill(byFile), c.Response.wantsKill(none))
	}
	c.Response.Disabled = true
	if c.Response.wantsKill(byConfig) || c.Response.wantsKill(byFile) {
		t.Error("disabled: a rule still acts")
	}
	var d Config
	if (Config{}).Response.wantsKill(byConfig) {
		t.Error("off by default: a rule named nowhere acts")
	}
	err := decodeConfig(&d, "m.toml", []byte("[response]\nkill = [\"r1\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "response.kill: unknown key") {
		t.Errorf("unknown key: %v", err)
	}
}
