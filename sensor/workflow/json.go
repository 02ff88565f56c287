package workflow

import (
	"bytes"
	"encoding/json"
)

// The JSON shape of macsensor.workflow.
type jsonWorkflow struct {
	Path             string       `json:"path,omitempty"`
	File             *jsonFile    `json:"file,omitempty"`
	Actions          []jsonAction `json:"actions,omitempty"`
	ActionsCount     *int         `json:"actions_count,omitempty"`
	ActionsTruncated bool         `json:"actions_truncated,omitempty"`
	Error            string       `json:"error,omitempty"`
}

type jsonFile struct {
	Path string    `json:"path"`
	Size *int64    `json:"size,omitempty"`
	Hash *jsonHash `json:"hash,omitempty"`
}

type jsonHash struct {
	SHA256 string `json:"sha256"`
}

type jsonAction struct {
	BundleID string      `json:"bundle_id,omitempty"`
	Name     string      `json:"name,omitempty"`
	Script   *jsonScript `json:"script,omitempty"`
}

type jsonScript struct {
	Language    string `json:"language"`
	Interpreter string `json:"interpreter,omitempty"`
	Source      string `json:"source"`
	Length      int    `json:"length"`
	Truncated   bool   `json:"truncated"`
}

// AppendJSON appends w as the JSON object that an alert carries under
// macsensor.workflow:
//
//	{"path":"/Users/a/x.workflow",
//	 "file":{"path":".../Contents/document.wflow","size":2211,"hash":{"sha256":"…"}},
//	 "actions":[{"bundle_id":"com.apple.RunShellScript","name":"Run Shell Script",
//	   "script":{"language":"shell","interpreter":"/bin/zsh","source":"curl …","length":41,"truncated":false}}],
//	 "actions_count":1}
//
// Strings are JSON-escaped by encoding/json without HTML escaping (invalid
// UTF-8 becomes U+FFFD; an XML plist cannot carry it).
func (w *Workflow) AppendJSON(dst []byte) []byte {
	j := jsonWorkflow{Path: w.Path, Error: w.Error}
	if w.Document != "" {
		j.File = &jsonFile{Path: w.Document}
		if w.HasFile {
			size := w.Size
			j.File.Size = &size
		}
		if w.SHA256 != "" {
			j.File.Hash = &jsonHash{SHA256: w.SHA256}
		}
	}
	if w.SHA256 != "" && w.Error == "" || len(w.Actions) > 0 || w.ActionsCount > 0 {
		n := w.ActionsCount
		j.ActionsCount = &n
	}
	j.ActionsTruncated = len(w.Actions) < w.ActionsCount
	for _, a := range w.Actions {
		ja := jsonAction{BundleID: a.BundleID, Name: a.Name}
		if s := a.Script; s != nil {
			ja.Script = &jsonScript{Language: s.Language, Interpreter: s.Interpreter,
				Source: s.Source, Length: s.Length, Truncated: s.Truncated}
		}
		j.Actions = append(j.Actions, ja)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)              // scripts are full of & and <
	if err := enc.Encode(j); err != nil { // cannot happen: only strings, numbers and booleans
		return append(dst, `{"error":"workflow: json encoding failed"}`...)
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
