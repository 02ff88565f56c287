package workflow

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"howett.net/plist"
)

// Limits bound what is read from a document and what reaches the alert.
type Limits struct {
	// MaxBytes is the largest document.wflow parsed. A larger file is
	// hashed (up to MaxHashBytes) but not parsed.
	MaxBytes int64
	// MaxHashBytes is the largest document.wflow hashed.
	MaxHashBytes int64
	// MaxDepth is the deepest element nesting accepted in the XML
	// (<plist> counts as 1). Automator's documents nest about 8 deep.
	MaxDepth int
	// MaxActions is how many actions are listed; ActionsCount says how many
	// the document holds.
	MaxActions int
	// MaxSource is the longest script source kept per action, in bytes
	// (cut on a UTF-8 boundary, Script.Truncated set).
	MaxSource int
	// MaxSourceTotal is the budget of script source over all actions: the
	// alert line has a size cap (32 KiB by default).
	MaxSourceTotal int
}

// DefaultLimits are the limits the daemon uses.
var DefaultLimits = Limits{
	MaxBytes:       1 << 20,
	MaxHashBytes:   64 << 20,
	MaxDepth:       32,
	MaxActions:     32,
	MaxSource:      4096,
	MaxSourceTotal: 8192,
}

// Action is one action of a workflow.
type Action struct {
	BundleID string  // BundleIdentifier (AMBundleIdentifier in old documents)
	Name     string  // ActionName (AMName), as localized when the workflow was saved
	Script   *Script // the script of a script action, nil for any other
}

// Script is the script of a Run Shell Script, Run AppleScript or Run
// JavaScript action.
type Script struct {
	// Language is "shell", "applescript" or "javascript".
	Language string
	// Interpreter is Run Shell Script's "shell" parameter (/bin/zsh,
	// /usr/bin/python3, ...), "" for the others.
	Interpreter string
	// Source is the script, cut at Limits.MaxSource bytes.
	Source string
	// Length is the length of the whole script in bytes.
	Length int
	// Truncated is set when Source is shorter than the script.
	Truncated bool
}

// Script action bundle identifiers, compared case-insensitively (both
// "com.apple.Automator.RunScript" and "com.apple.automator.runscript" are
// found in saved documents).
const (
	bundleShell       = "com.apple.runshellscript"
	bundleAppleScript = "com.apple.automator.runscript"
	bundleJavaScript  = "com.apple.automator.runjavascript"
)

// Parse decodes a document.wflow and lists its actions: at most
// lim.MaxActions of them, with count the number the document holds. A
// document that cannot be decoded returns an error and no actions; a
// decodable document with malformed entries returns the actions it could
// read and an error naming the first bad entry.
func Parse(data []byte, lim Limits) (actions []Action, count int, err error) {
	if lim.MaxBytes > 0 && int64(len(data)) > lim.MaxBytes {
		return nil, 0, fmt.Errorf("workflow: document is %d bytes, over the %d-byte cap", len(data), lim.MaxBytes)
	}
	if err := checkXML(data, lim.MaxDepth); err != nil {
		return nil, 0, err
	}
	var doc any
	if _, err := plist.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("workflow: %w", err) // "plist: ..."
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, 0, fmt.Errorf("workflow: top level is %s, not a dict", kind(doc))
	}
	raw, present := root["actions"]
	if !present {
		return nil, 0, errors.New("workflow: no actions array")
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, 0, fmt.Errorf("workflow: actions is %s, not an array", kind(raw))
	}
	budget := lim.MaxSourceTotal
	for i, item := range list {
		entry, ok := item.(map[string]any)
		if !ok {
			err = firstErr(err, fmt.Errorf("workflow: actions[%d] is %s, not a dict", i, kind(item)))
			continue
		}
		a, ok := entry["action"].(map[string]any)
		if !ok {
			err = firstErr(err, fmt.Errorf("workflow: actions[%d].action is %s, not a dict", i, kind(entry["action"])))
			continue
		}
		count++
		if len(actions) >= lim.MaxActions {
			continue
		}
		act := Action{
			BundleID: cutUTF8(first(a, "BundleIdentifier", "AMBundleIdentifier"), 256),
			Name:     cutUTF8(first(a, "ActionName", "AMName"), 256),
		}
		params, _ := a["ActionParameters"].(map[string]any)
		if params == nil {
			params, _ = a["AMParameters"].(map[string]any)
		}
		act.Script = script(act.BundleID, params, lim.MaxSource, &budget)
		actions = append(actions, act)
	}
	return actions, count, err
}

// script extracts the script of a script action; nil for any other action
// or a script action without a source.
func script(bundleID string, params map[string]any, maxSource int, budget *int) *Script {
	var s Script
	var src string
	switch strings.ToLower(bundleID) {
	case bundleShell:
		s.Language = "shell"
		src, _ = params["COMMAND_STRING"].(string)
		sh, _ := params["shell"].(string)
		s.Interpreter = cutUTF8(sh, 256)
	case bundleAppleScript:
		s.Language = "applescript"
		src, _ = params["source"].(string)
	case bundleJavaScript:
		s.Language = "javascript"
		src, _ = params["source"].(string)
	default:
		return nil
	}
	s.Length = len(src)
	n := min(maxSource, *budget)
	if n < 0 {
		n = 0
	}
	s.Source = cutUTF8(src, n)
	s.Truncated = len(s.Source) < len(src)
	*budget -= len(s.Source)
	return &s
}

// checkXML accepts an XML plist whose element nesting stays within
// maxDepth, or a binary one whose containers do (checkBinary). The plist
// decoder recurses once per level, so the depth is checked first, by scans
// that do not recurse. OpenStep plists are refused: Automator saves XML,
// and NSPropertyListSerialization reads binary too (plutil -convert).
func checkXML(data []byte, maxDepth int) error {
	if bytes.HasPrefix(data, []byte("bplist00")) {
		return checkBinary(data, maxDepth)
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(t) == 0 || t[0] != '<' {
		return errors.New("workflow: not an XML or binary plist")
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("workflow: xml: line %d: %w", lineOf(d), err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return fmt.Errorf("workflow: xml: line %d: nesting deeper than %d", lineOf(d), maxDepth)
			}
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func lineOf(d *xml.Decoder) int {
	line, _ := d.InputPos()
	return line
}

// first returns the first of keys whose value in m is a string.
func first(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok {
			return s
		}
	}
	return ""
}

// kind names the plist type of v for an error message.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "missing"
	case map[string]any:
		return "a dict"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []byte:
		return "data"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func firstErr(have, e error) error {
	if have != nil {
		return have
	}
	return e
}

// cutUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
