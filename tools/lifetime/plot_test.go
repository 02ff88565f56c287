package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sample is a small measurement: two intervals, both kinds.
var sample = []point{
	{100, pollAlone, 5, 100, 4, 1}, {100, pollAlone, 50, 100, 48, 0}, {100, pollAlone, 100, 100, 97, 0}, {100, pollAlone, 250, 100, 100, 0},
	{1000, pollAlone, 5, 100, 0, 0}, {1000, pollAlone, 50, 100, 5, 0}, {1000, pollAlone, 100, 100, 11, 0}, {1000, pollAlone, 250, 100, 24, 0},
	{100, synTrigger, 5, 100, 98, 0}, {100, synTrigger, 50, 100, 100, 0}, {100, synTrigger, 100, 100, 100, 0}, {100, synTrigger, 250, 100, 100, 0},
	{1000, synTrigger, 5, 100, 99, 0}, {1000, synTrigger, 50, 100, 100, 0}, {1000, synTrigger, 100, 100, 100, 0}, {1000, synTrigger, 250, 100, 100, 0},
}

const header = "interval_ms,trigger,lifetime_ms,runs,captured,unnamed\n"

func TestCSVRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := writeCSV(&buf, []string{"a note", "another"}, sample); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "# a note\n# another\n"+header+"100,0,5,100,4,1\n") {
		t.Fatalf("CSV starts\n%.200s", buf.String())
	}
	pts, comments, err := readCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != len(sample) || len(comments) != 2 || comments[1] != "another" {
		t.Fatalf("read back %d points, comments %q", len(pts), comments)
	}
	for i := range pts {
		if pts[i] != sample[i] {
			t.Fatalf("point %d: %+v, want %+v", i, pts[i], sample[i])
		}
	}
	if err := writeCSV(&buf, []string{"two\nlines"}, nil); err == nil {
		t.Error("a comment with a newline was written")
	}
}

func TestReadCSVBlankLinesAndComments(t *testing.T) {
	pts, comments, err := readCSV(strings.NewReader("# one\n\n" + header + "\n100,1,5,10,9,0\n# two\n1000,0,5,10,0,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []point{{100, synTrigger, 5, 10, 9, 0}, {1000, pollAlone, 5, 10, 0, 0}}
	if len(pts) != 2 || pts[0] != want[0] || pts[1] != want[1] {
		t.Errorf("points %+v, want %+v", pts, want)
	}
	if len(comments) != 2 || comments[0] != "one" || comments[1] != "two" {
		t.Errorf("comments %q", comments)
	}
}

func TestReadCSVErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "no header"},
		{"# only a comment\n", "no header"},
		{"x,y,z,a,b,c\n", `line 1: header "x,y,z,a,b,c"`},
		{"x,y\n", "record on line 1: wrong number of fields"},
		{header + "100,0,5,10\n", "record on line 2: wrong number of fields"},
		{header + "100,0,5,10,x,0\n", `line 2: field 5 (captured): "x" is not a count`},
		{header + "100,0,5,10,-1,0\n", `line 2: field 5 (captured): "-1" is not a count`},
		{header + "\n# c\n100,0,5,10,8,3\n", `line 4: impossible values "100,0,5,10,8,3"`},
		{header + "100,7,5,10,8,0\n", "line 2: field 2 (trigger): unknown kind 7"},
		{header + "0,0,5,10,8,0\n", "line 2: impossible"},
		{header + "100,0,0,10,8,0\n", "line 2: impossible"},
		{header + "100,\"0,5,10,8,0\n", "line 2"},
	} {
		if _, _, err := readCSV(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestCurves(t *testing.T) {
	got := curves(sample)
	want := []string{"poll 100 ms", "poll 1 s", "poll 100 ms + SYN trigger", "poll 1 s + SYN trigger"}
	if len(got) != len(want) {
		t.Fatalf("curves %v", got)
	}
	for i := range got {
		if got[i].String() != want[i] {
			t.Errorf("curve %d: %q, want %q", i, got[i], want[i])
		}
	}
	if s := series(sample, curve{1000, synTrigger}); len(s) != 4 || s[0].LifetimeMS != 5 || s[3].LifetimeMS != 250 {
		t.Errorf("series %+v", s)
	}
}

func TestReach99(t *testing.T) {
	if l, ok := reach99(series(sample, curve{100, pollAlone})); !ok || l != 250 {
		t.Errorf("poll 100 ms: %d %v, want 250 (100 ms has 97 %%)", l, ok)
	}
	if _, ok := reach99(series(sample, curve{1000, pollAlone})); ok {
		t.Error("poll 1 s: reached")
	}
	if l, ok := reach99(series(sample, curve{1000, synTrigger})); !ok || l != 5 {
		t.Errorf("trigger 1 s: %d %v, want 5", l, ok)
	}
	if l, ok := reach99(series(sample, curve{100, synTrigger})); !ok || l != 50 {
		t.Errorf("trigger 100 ms: %d %v, want 50 (98 %% at 5 ms)", l, ok)
	}
	if expected(50, 100) != 0.5 || expected(300, 100) != 1 {
		t.Error("expected")
	}
}

func TestSummary(t *testing.T) {
	s := summary(sample)
	for _, want := range []string{
		"| mode | 5 ms | 50 ms | 100 ms | 250 ms | 99 % from | min(1, L/P) reaches 99 % at |",
		"| poll 100 ms | 4/100 | 48/100 | 97/100 | 100/100 | **250 ms** | 99 ms |",
		"| poll 1 s | 0/100 | 5/100 | 11/100 | 24/100 | not reached | 990 ms |",
		"| poll 1 s + SYN trigger | 99/100 | 100/100 | 100/100 | 100/100 | **5 ms** | – |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "| poll 1 s |") > strings.Index(s, "| poll 100 ms + SYN") {
		t.Errorf("polling alone must come first:\n%s", s)
	}
}

// near reports whether a pixel within r of pt has colour c.
func near(img image.Image, pt image.Point, r int, c color.RGBA) bool {
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			cr, cg, cb, _ := img.At(pt.X+dx, pt.Y+dy).RGBA()
			if uint8(cr>>8) == c.R && uint8(cg>>8) == c.G && uint8(cb>>8) == c.B {
				return true
			}
		}
	}
	return false
}

// nearTint reports whether a pixel within r of pt is c blended with the
// white background (an antialiased line in colour c).
func nearTint(img image.Image, pt image.Point, r int, c color.RGBA) bool {
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			pr, pg, pb, _ := img.At(pt.X+dx, pt.Y+dy).RGBA()
			px := [3]float64{float64(pr >> 8), float64(pg >> 8), float64(pb >> 8)}
			want := [3]float64{float64(c.R), float64(c.G), float64(c.B)}
			// px = a*want + (1-a)*255: estimate a from the channel
			// furthest from white, check the others.
			best, a := 0.0, 0.0
			for i := range 3 {
				if d := 255 - want[i]; d > best {
					best, a = d, (255-px[i])/d
				}
			}
			if a < 0.3 {
				continue
			}
			ok := true
			for i := range 3 {
				if math.Abs(a*want[i]+(1-a)*255-px[i]) > 12 {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
	}
	return false
}

func TestPlot(t *testing.T) {
	p, err := newPlot(sample)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Title.Text, "up to 100 runs per point") {
		t.Errorf("title %q", p.Title.Text)
	}
	if p.X.Min != math.Log10(minLifetime) || p.X.Max != math.Log10(maxLifetime) {
		t.Errorf("lifetime axis [%g, %g], want log10 of [%g, %g]", p.X.Min, p.X.Max, minLifetime, maxLifetime)
	}
	if ticks := p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max); len(ticks) != 4 || ticks[3].Label != "250" {
		t.Errorf("lifetime ticks %+v, want the 4 measured lifetimes", ticks)
	}
	img, at := drawPlot(p)
	if b := img.Bounds(); b.Dx() != 1100 || b.Dy() != 720 {
		t.Fatalf("size %v", b)
	}
	// Each measured point carries its interval's colour at its centre:
	// 100 ms is the first colour, 1 s the second.
	for _, c := range []struct {
		lifetime, frac float64
		col            color.RGBA
	}{{50, 0.48, palette[0]}, {250, 0.24, palette[1]}, {100, 0.11, palette[1]}, {5, 0.98, palette[0]}} {
		if pt := at(c.lifetime, c.frac); !near(img, pt, 1, c.col) {
			t.Errorf("point (%g ms, %.2f) at %v: no %v", c.lifetime, c.frac, pt, c.col)
		}
	}
	// The log scale: 50 ms lies halfway between 5 and 500 ms.
	x5, x50, x500 := at(5, 0).X, at(50, 0).X, at(500, 0).X
	if d := (x50 - x5) - (x500 - x50); d < -1 || d > 1 {
		t.Errorf("x of 5, 50, 500 ms: %d %d %d, not a log scale", x5, x50, x500)
	}
	// The expectation min(1, L/P) for 1 s, dotted and antialiased,
	// passes (500 ms, 0.5).
	if !nearTint(img, at(500, 0.5), 4, palette[1]) {
		t.Error("no expectation line for 1 s at 500 ms")
	}
	// Nothing is drawn where no curve goes.
	if nearTint(img, at(30, 0.6), 4, palette[0]) || nearTint(img, at(30, 0.6), 4, palette[1]) {
		t.Error("a curve at (20 ms, 60 %)")
	}
	if _, err := newPlot(nil); err == nil {
		t.Error("no data: no error")
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
}

// TestCommittedResults checks that the committed measurement parses and
// renders, and that docs/capture-lifetime.png is what it renders to.
func TestCommittedResults(t *testing.T) {
	f, err := os.Open("results.csv")
	if err != nil {
		t.Fatalf("the committed measurement: %v", err)
	}
	defer f.Close()
	pts, _, err := readCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	img, err := render(pts)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "capture-lifetime.png"))
	if err != nil {
		t.Fatalf("the committed plot: %v (go run ./tools/lifetime plot)", err)
	}
	committed, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if committed.Bounds() != img.Bounds() {
		t.Fatalf("committed plot %v, rendered %v", committed.Bounds(), img.Bounds())
	}
	// Antialiased edges may differ by a few levels between machines (the
	// compiler may fuse multiply-adds on arm64); a stale plot moves whole
	// markers and lines.
	const tolerance, maxDiffering = 24, 20
	b := img.Bounds()
	differing, first := 0, image.Point{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r0, g0, b0, _ := committed.At(x, y).RGBA()
			r1, g1, b1, _ := img.At(x, y).RGBA()
			d := max(absDiff(r0>>8, r1>>8), absDiff(g0>>8, g1>>8), absDiff(b0>>8, b1>>8))
			if d > tolerance {
				if differing == 0 {
					first = image.Pt(x, y)
				}
				differing++
			}
		}
	}
	if differing > maxDiffering {
		t.Fatalf("docs/capture-lifetime.png differs from results.csv rendered in %d pixels, the first at %v: regenerate it with `go run ./tools/lifetime plot`", differing, first)
	}
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestKeptComments(t *testing.T) {
	old := []string{
		"lifetime measure: run A", "poll 1 s: a", "poll 1 s + SYN trigger: b", "load average at the end: 1",
		"lifetime measure: run B", "poll 1 s, exec: c", "poll 1 s + process events, exec: d", "load average at the end: 2",
	}
	got := keptComments(old, map[kind]bool{execPoll: true, procEvents: true})
	want := []string{"lifetime measure: run A", "poll 1 s: a", "poll 1 s + SYN trigger: b", "load average at the end: 1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q", got)
	}
}
