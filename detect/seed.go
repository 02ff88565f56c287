package detect

import (
	"embed"
	"fmt"
	"sync"
)

// builtin holds the rules compiled into the binary: the seed rule, Elastic's
// "Suspicious Automator Workflows Execution" (rule_id
// 5d9f8cfc-0d03-443e-a167-2b0597ce0965) as published on 2025-02-05, with
// version = 107 (Elastic's rule version of that text) added to [rule].
//
//go:embed rules/*.toml
var builtin embed.FS

// SeedRuleFile is the seed rule's path inside the embedded rules.
const SeedRuleFile = "rules/execution_script_via_automator_workflows.toml"

var seed = sync.OnceValues(func() (*Rule, error) {
	data, err := builtin.ReadFile(SeedRuleFile)
	if err != nil {
		return nil, fmt.Errorf("detect: seed rule: %w", err)
	}
	r, lerr := ParseRule("builtin:"+SeedRuleFile, data)
	if lerr != nil {
		return nil, lerr
	}
	r.File = ""
	r.Builtin = true
	return r, nil
})

// SeedRule returns the built-in seed rule, compiled. The rule is shared:
// do not modify it.
func SeedRule() (*Rule, error) { return seed() }

// SeedRuleTOML returns the seed rule's TOML text.
func SeedRuleTOML() []byte {
	data, _ := builtin.ReadFile(SeedRuleFile)
	return data
}
