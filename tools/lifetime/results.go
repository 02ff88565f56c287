package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// kind is how the sensor learned of connections in a measurement: the
// "trigger" column of the CSV.
type kind int

const (
	pollAlone  kind = 0 // the poll loop alone
	synTrigger kind = 1 // the poll loop and the capture's SYN-triggered polls
	execPoll   kind = 2 // exec events (not connections), the poll loop alone
	procEvents kind = 3 // exec events, the poll loop and process events (issue 10)
)

// kindInfo describes a kind for the summary and the plot. A new way of
// learning of connections is a new row of kinds (and of kindStyles in
// plot.go); the CSV, the curves and the legend follow from it.
type kindInfo struct {
	kind     kind
	suffix   string // of its curves' labels, after "poll <interval>"
	legend   string // its line's legend entry
	expected bool   // min(1, L/P) applies: drawn and summarised
}

var kinds = []kindInfo{
	{pollAlone, "", "polling alone, measured", true},
	{synTrigger, " + SYN trigger", "polling + SYN-triggered read, measured", false},
	{execPoll, ", exec", "exec event (exact args, parent), polling alone, measured", true},
	{procEvents, " + process events, exec", "exec event (exact args, parent), polling + process events, measured", false},
}

func kindIndex(k kind) int {
	return slices.IndexFunc(kinds, func(ki kindInfo) bool { return ki.kind == k })
}

func infoOf(k kind) (kindInfo, bool) {
	if i := kindIndex(k); i >= 0 {
		return kinds[i], true
	}
	return kindInfo{}, false
}

// point is one (curve, lifetime) cell of the measurement.
type point struct {
	IntervalMS int  // poll interval
	Kind       kind // how connections were learned of
	LifetimeMS int  // how long the helper held its connection
	Runs       int  // helpers started (and connected)
	Captured   int  // with their network event under the right name (exec kinds: their exec event with exact args and parent)
	Unnamed    int  // with a network event but no or another process name (exec kinds: wrong args or parent)
}

// curve is the points of one (poll interval, kind) pair; its label is
// String.
type curve struct {
	IntervalMS int
	Kind       kind
}

func (c curve) String() string {
	ki, _ := infoOf(c.Kind)
	return "poll " + formatMS(c.IntervalMS) + ki.suffix
}

func formatMS(ms int) string {
	if ms >= 1000 && ms%1000 == 0 {
		return strconv.Itoa(ms/1000) + " s"
	}
	return strconv.Itoa(ms) + " ms"
}

var csvHeader = []string{"interval_ms", "trigger", "lifetime_ms", "runs", "captured", "unnamed"}

// writeCSV writes the points, after comment lines ("# ...").
func writeCSV(w io.Writer, comments []string, pts []point) error {
	bw := bufio.NewWriter(w)
	for _, c := range comments {
		if strings.ContainsAny(c, "\r\n") {
			return fmt.Errorf("comment %q spans lines", c)
		}
		fmt.Fprintf(bw, "# %s\n", c)
	}
	cw := csv.NewWriter(bw)
	cw.Write(csvHeader)
	for _, p := range pts {
		cw.Write([]string{strconv.Itoa(p.IntervalMS), strconv.Itoa(int(p.Kind)), strconv.Itoa(p.LifetimeMS),
			strconv.Itoa(p.Runs), strconv.Itoa(p.Captured), strconv.Itoa(p.Unnamed)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// readCSV reads what writeCSV wrote; it returns the comments too.
func readCSV(r io.Reader) ([]point, []string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	// encoding/csv skips comment lines; collect them first.
	var comments []string
	for l := range strings.Lines(string(data)) {
		if c, ok := strings.CutPrefix(l, "#"); ok {
			comments = append(comments, strings.TrimSpace(c))
		}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comment = '#'
	cr.FieldsPerRecord = len(csvHeader)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("no header line %q", strings.Join(csvHeader, ","))
	}
	if err != nil {
		return nil, nil, err // *csv.ParseError: line and column
	}
	if !slices.Equal(header, csvHeader) {
		line, _ := cr.FieldPos(0)
		return nil, nil, fmt.Errorf("line %d: header %q, want %q", line, strings.Join(header, ","), strings.Join(csvHeader, ","))
	}
	var pts []point
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		var v [6]int
		for i, s := range rec {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, nil, fmt.Errorf("line %d: field %d (%s): %q is not a count", line, i+1, csvHeader[i], s)
			}
			v[i] = n
		}
		p := point{IntervalMS: v[0], Kind: kind(v[1]), LifetimeMS: v[2], Runs: v[3], Captured: v[4], Unnamed: v[5]}
		if kindIndex(p.Kind) < 0 {
			return nil, nil, fmt.Errorf("line %d: field 2 (trigger): unknown kind %d", line, v[1])
		}
		if p.IntervalMS == 0 || p.LifetimeMS == 0 || p.Captured+p.Unnamed > p.Runs {
			return nil, nil, fmt.Errorf("line %d: impossible values %q", line, strings.Join(rec, ","))
		}
		pts = append(pts, p)
	}
	return pts, comments, nil
}

// curves lists the curves of pts: in the order of kinds, then by interval.
func curves(pts []point) []curve {
	var cs []curve
	for _, p := range pts {
		if c := (curve{p.IntervalMS, p.Kind}); !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(a, b curve) int {
		if a.Kind != b.Kind {
			return kindIndex(a.Kind) - kindIndex(b.Kind)
		}
		return a.IntervalMS - b.IntervalMS
	})
	return cs
}

// series returns c's points by lifetime.
func series(pts []point, c curve) []point {
	var s []point
	for _, p := range pts {
		if p.IntervalMS == c.IntervalMS && p.Kind == c.Kind {
			s = append(s, p)
		}
	}
	slices.SortFunc(s, func(a, b point) int { return a.LifetimeMS - b.LifetimeMS })
	return s
}

// distinct returns the sorted distinct values of f over pts.
func distinct(pts []point, f func(point) int) []int {
	var vs []int
	for _, p := range pts {
		if v := f(p); !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return vs
}

// reach99 returns the shortest measured lifetime from which every longer
// measured lifetime too is captured in at least 99 % of runs; ok false
// when even the longest is not.
func reach99(s []point) (ms int, ok bool) {
	ms, ok = 0, false
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Runs == 0 || 100*s[i].Captured < 99*s[i].Runs {
			break
		}
		ms, ok = s[i].LifetimeMS, true
	}
	return ms, ok
}

// expected is the analytic capture probability of polling alone: a
// connection that lives L is seen when a poll falls inside it, with
// probability min(1, L/P) for a uniform phase.
func expected(lifetimeMS, intervalMS float64) float64 { return min(1, lifetimeMS/intervalMS) }

func frac(p point) float64 {
	if p.Runs == 0 {
		return 0
	}
	return float64(p.Captured) / float64(p.Runs)
}

// summary renders a Markdown table of the curves: capture at each
// lifetime and where it reaches 99 %.
func summary(pts []point) string {
	var b strings.Builder
	lifetimes := distinct(pts, func(p point) int { return p.LifetimeMS })
	b.WriteString("| mode | ")
	for _, l := range lifetimes {
		fmt.Fprintf(&b, "%s | ", formatMS(l))
	}
	b.WriteString("99 % from | min(1, L/P) reaches 99 % at |\n|---|")
	for range lifetimes {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|\n")
	for _, c := range curves(pts) {
		s := series(pts, c)
		fmt.Fprintf(&b, "| %s | ", c)
		for _, l := range lifetimes {
			i := slices.IndexFunc(s, func(p point) bool { return p.LifetimeMS == l })
			if i < 0 || s[i].Runs == 0 {
				b.WriteString("– | ")
				continue
			}
			fmt.Fprintf(&b, "%d/%d | ", s[i].Captured, s[i].Runs)
		}
		if l, ok := reach99(s); ok {
			fmt.Fprintf(&b, "**%s** | ", formatMS(l))
		} else {
			b.WriteString("not reached | ")
		}
		if ki, _ := infoOf(c.Kind); ki.expected {
			fmt.Fprintf(&b, "%s |\n", strconv.FormatFloat(0.99*float64(c.IntervalMS), 'f', -1, 64)+" ms")
		} else {
			b.WriteString("– |\n")
		}
	}
	return b.String()
}
