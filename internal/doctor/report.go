package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is a check's outcome.
type Status string

// The outcomes of a check.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skipped"
)

// Result is one check's outcome.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Value is what the check measured (pass or fail).
	Value string `json:"value,omitempty"`
	// Reason says why the check failed or was skipped.
	Reason string `json:"reason,omitempty"`
	// Next is the next step for the administrator (failures).
	Next       string  `json:"next,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// Report is what a doctor run found: the document `--json` prints and the
// bundle holds as report.json.
type Report struct {
	Tool     string    `json:"tool"` // "macsensor doctor"
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	System   System    `json:"system"`
	Checks   []Result  `json:"checks"`
	Summary  Summary   `json:"summary"`
	// Facts are the structured values the checks measured: what a bundle's
	// buffers must decode to (Bundle.Replay).
	Facts Facts `json:"facts"`
}

// System is the host the report was made on.
type System struct {
	GOOS         string `json:"goos"`
	GOARCH       string `json:"goarch"`
	OSType       string `json:"os_type,omitempty"` // host.os.type
	OSName       string `json:"os_name,omitempty"`
	OSVersion    string `json:"os_version,omitempty"`
	Kernel       string `json:"kernel,omitempty"`
	Architecture string `json:"architecture,omitempty"` // host.architecture
	UID          int    `json:"uid"`
	Root         bool   `json:"root"`
}

// Summary counts the results. OK is true when no check failed: skipped
// checks do not apply.
type Summary struct {
	Passed  int  `json:"passed"`
	Failed  int  `json:"failed"`
	Skipped int  `json:"skipped"`
	OK      bool `json:"ok"`
}

// Facts are what the checks saw, in a form the bundle replay compares.
type Facts struct {
	DoctorPID int32 `json:"doctor_pid"`
	// Boot clock of the Linux start times (proc.BootClock), for replaying
	// /proc/<pid>/stat.
	BootNs int64 `json:"boot_ns,omitempty"`
	TickNs int64 `json:"tick_ns,omitempty"`

	Automator  *ProcessFact `json:"automator,omitempty"`
	Runner     *ProcessFact `json:"runner,omitempty"`
	Connection *ConnFact    `json:"connection,omitempty"`
	SYN        *SYNFact     `json:"syn,omitempty"`
	DNS        *DNSFact     `json:"dns,omitempty"`
}

// ProcessFact is one of the doctor's children as the process poll saw it
// (Seen), or, when the poll did not see it, as the doctor started it: the
// bundle of a failed run still says what its buffers should decode to.
type ProcessFact struct {
	Seen       bool     `json:"seen"`
	PID        int32    `json:"pid"`
	PPID       int32    `json:"ppid"`
	UID        uint32   `json:"uid"`
	Name       string   `json:"name"`
	Executable string   `json:"executable"`
	Args       []string `json:"args"`
	Start      int64    `json:"start_ns"` // process.start, Unix ns; 0 when not seen
}

// ConnFact is the runner's connection as the socket poll saw it (Seen), or
// as the runner reported it when the poll did not see it.
type ConnFact struct {
	Seen      bool   `json:"seen"`
	PID       int32  `json:"pid"`
	Transport string `json:"transport"`
	Local     string `json:"local"`  // ip:port of the runner's end
	Remote    string `json:"remote"` // the listener
	State     string `json:"state"`
	Direction string `json:"direction"`
}

// SYNFact is the runner's SYN as the capture saw it.
type SYNFact struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// DNSFact is the responder's answer as the capture decoded it.
type DNSFact struct {
	Name   string `json:"name"`
	IP     string `json:"ip"`
	Server string `json:"server"`
	Client string `json:"client"`
}

// summarize fills Summary from Checks.
func (r *Report) summarize() {
	r.Summary = Summary{}
	for _, c := range r.Checks {
		switch c.Status {
		case Pass:
			r.Summary.Passed++
		case Fail:
			r.Summary.Failed++
		default:
			r.Summary.Skipped++
		}
	}
	r.Summary.OK = r.Summary.Failed == 0
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "a -> b" stays readable
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// TableWidth is the width WriteTable keeps to.
const TableWidth = 100

const (
	nameCol   = 24
	statusCol = 6
	textCol   = TableWidth - nameCol - statusCol
)

// WriteTable writes the report for a person: a header, one row per check
// (name, PASS / FAIL / SKIP, the measured value or the reason, and for a
// failure the next step), wrapped so that no line is longer than
// TableWidth columns, and a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "macsensor doctor %s on %s %s (%s), uid %d\n", r.Version, r.System.OSName, r.System.OSVersion, r.System.Architecture, r.System.UID)
	fmt.Fprintf(&b, "%-*s%-*s%s\n", nameCol, "CHECK", statusCol, "", "RESULT")
	for _, c := range r.Checks {
		var text []string
		switch c.Status {
		case Pass:
			text = append(text, c.Value)
		case Fail:
			if c.Value != "" {
				text = append(text, c.Value)
			}
			text = append(text, c.Reason)
			if c.Next != "" {
				text = append(text, "next: "+c.Next)
			}
		default:
			text = append(text, c.Reason)
		}
		var lines []string
		for _, t := range text {
			lines = append(lines, wrap(t, textCol)...)
		}
		if len(lines) == 0 {
			lines = []string{""}
		}
		name := c.Name
		if len(name) > nameCol-1 {
			name = name[:nameCol-1]
		}
		for i, l := range lines {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s%-*s%s\n", nameCol, name, statusCol, statusWord(c.Status), l)
			} else {
				fmt.Fprintf(&b, "%*s%s\n", nameCol+statusCol, "", l)
			}
		}
	}
	verdict := "OK: every check that applies passed"
	if !r.Summary.OK {
		verdict = "NOT OK: see the failed checks"
	}
	fmt.Fprintf(&b, "%d passed, %d failed, %d skipped. %s\n", r.Summary.Passed, r.Summary.Failed, r.Summary.Skipped, verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

func statusWord(s Status) string {
	switch s {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	}
	return "SKIP"
}

// wrap cuts s into lines of at most width bytes, at spaces where it can,
// mid-word where a word is longer than a line.
func wrap(s string, width int) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			for len(word) > width {
				if line != "" {
					out = append(out, line)
					line = ""
				}
				out = append(out, word[:width])
				word = word[width:]
			}
			switch {
			case line == "":
				line = word
			case len(line)+1+len(word) <= width:
				line += " " + word
			default:
				out = append(out, line)
				line = word
			}
		}
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}
