package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// point is one (mode, lifetime) cell of the measurement.
type point struct {
	IntervalMS int  // poll interval
	Trigger    bool // with the connection trigger
	LifetimeMS int  // how long the helper held its connection
	Runs       int  // helpers started (and connected)
	Captured   int  // with their network event under the right name
	Unnamed    int  // with a network event but no or another process name
}

// mode is a (poll interval, trigger) pair.
type mode struct {
	IntervalMS int
	Trigger    bool
}

func (m mode) String() string {
	s := "poll " + formatMS(m.IntervalMS)
	if m.Trigger {
		s += " + SYN trigger"
	}
	return s
}

func formatMS(ms int) string {
	if ms >= 1000 && ms%1000 == 0 {
		return strconv.Itoa(ms/1000) + " s"
	}
	return strconv.Itoa(ms) + " ms"
}

const csvHeader = "interval_ms,trigger,lifetime_ms,runs,captured,unnamed"

// writeCSV writes the points, after comment lines ("# ...").
func writeCSV(w io.Writer, comments []string, pts []point) error {
	bw := bufio.NewWriter(w)
	for _, c := range comments {
		fmt.Fprintf(bw, "# %s\n", c)
	}
	fmt.Fprintln(bw, csvHeader)
	for _, p := range pts {
		t := 0
		if p.Trigger {
			t = 1
		}
		fmt.Fprintf(bw, "%d,%d,%d,%d,%d,%d\n", p.IntervalMS, t, p.LifetimeMS, p.Runs, p.Captured, p.Unnamed)
	}
	return bw.Flush()
}

// readCSV reads what writeCSV wrote; it returns the comments too.
func readCSV(r io.Reader) ([]point, []string, error) {
	var pts []point
	var comments []string
	sc := bufio.NewScanner(r)
	line := 0
	header := false
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "":
			continue
		case strings.HasPrefix(l, "#"):
			comments = append(comments, strings.TrimSpace(strings.TrimPrefix(l, "#")))
			continue
		case !header:
			if l != csvHeader {
				return nil, nil, fmt.Errorf("line %d: header %q, want %q", line, l, csvHeader)
			}
			header = true
			continue
		}
		f := strings.Split(l, ",")
		if len(f) != 6 {
			return nil, nil, fmt.Errorf("line %d: %d fields, want 6", line, len(f))
		}
		var v [6]int
		for i, s := range f {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, nil, fmt.Errorf("line %d: field %d: %q is not a count", line, i+1, s)
			}
			v[i] = n
		}
		p := point{IntervalMS: v[0], Trigger: v[1] == 1, LifetimeMS: v[2], Runs: v[3], Captured: v[4], Unnamed: v[5]}
		if v[1] > 1 || p.IntervalMS == 0 || p.LifetimeMS == 0 || p.Captured+p.Unnamed > p.Runs {
			return nil, nil, fmt.Errorf("line %d: impossible values %q", line, l)
		}
		pts = append(pts, p)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if !header {
		return nil, nil, fmt.Errorf("no header line %q", csvHeader)
	}
	return pts, comments, nil
}

// modes lists the modes of pts: by interval, polling alone first.
func modes(pts []point) []mode {
	var ms []mode
	for _, p := range pts {
		m := mode{p.IntervalMS, p.Trigger}
		if !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b mode) int {
		if a.Trigger != b.Trigger {
			if a.Trigger {
				return 1
			}
			return -1
		}
		return a.IntervalMS - b.IntervalMS
	})
	return ms
}

// series returns m's points by lifetime.
func series(pts []point, m mode) []point {
	var s []point
	for _, p := range pts {
		if p.IntervalMS == m.IntervalMS && p.Trigger == m.Trigger {
			s = append(s, p)
		}
	}
	slices.SortFunc(s, func(a, b point) int { return a.LifetimeMS - b.LifetimeMS })
	return s
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

// summary renders a Markdown table of the modes: capture at each lifetime
// and where it reaches 99 %.
func summary(pts []point) string {
	var b strings.Builder
	ms := modes(pts)
	var lifetimes []int
	for _, p := range pts {
		if !slices.Contains(lifetimes, p.LifetimeMS) {
			lifetimes = append(lifetimes, p.LifetimeMS)
		}
	}
	slices.Sort(lifetimes)
	b.WriteString("| mode | ")
	for _, l := range lifetimes {
		fmt.Fprintf(&b, "%s | ", formatMS(l))
	}
	b.WriteString("99 % from | min(1, L/P) reaches 99 % at |\n|---|")
	for range lifetimes {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|\n")
	for _, m := range ms {
		s := series(pts, m)
		fmt.Fprintf(&b, "| %s | ", m)
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
		if m.Trigger {
			b.WriteString("– |\n")
		} else {
			fmt.Fprintf(&b, "%s |\n", strconv.FormatFloat(0.99*float64(m.IntervalMS), 'f', -1, 64)+" ms")
		}
	}
	return b.String()
}
