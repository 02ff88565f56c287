package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sample is a small measurement: two intervals, both modes.
var sample = []point{
	{100, false, 5, 100, 4, 1}, {100, false, 50, 100, 48, 0}, {100, false, 100, 100, 97, 0}, {100, false, 250, 100, 100, 0},
	{1000, false, 5, 100, 0, 0}, {1000, false, 50, 100, 5, 0}, {1000, false, 100, 100, 11, 0}, {1000, false, 250, 100, 24, 0},
	{100, true, 5, 100, 98, 0}, {100, true, 50, 100, 100, 0}, {100, true, 100, 100, 100, 0}, {100, true, 250, 100, 100, 0},
	{1000, true, 5, 100, 99, 0}, {1000, true, 50, 100, 100, 0}, {1000, true, 100, 100, 100, 0}, {1000, true, 250, 100, 100, 0},
}

func TestCSVRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := writeCSV(&buf, []string{"a note", "another"}, sample); err != nil {
		t.Fatal(err)
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
}

func TestReadCSVErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "no header"},
		{"x,y\n", "header"},
		{csvHeader + "\n100,0,5,10\n", "4 fields"},
		{csvHeader + "\n100,0,5,10,x,0\n", `field 5: "x"`},
		{csvHeader + "\n100,0,5,10,8,3\n", "impossible"},
		{csvHeader + "\n100,2,5,10,8,0\n", "impossible"},
		{csvHeader + "\n0,0,5,10,8,0\n", "impossible"},
	} {
		if _, _, err := readCSV(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestReach99(t *testing.T) {
	poll100 := series(sample, mode{100, false})
	if l, ok := reach99(poll100); !ok || l != 250 {
		t.Errorf("poll 100 ms: %d %v, want 250 (100 ms has 97 %%)", l, ok)
	}
	if _, ok := reach99(series(sample, mode{1000, false})); ok {
		t.Error("poll 1 s: reached")
	}
	// A dip below 99 % after the curve reached it moves the answer up.
	if l, ok := reach99(series(sample, mode{1000, true})); !ok || l != 5 {
		t.Errorf("trigger 1 s: %d %v, want 5", l, ok)
	}
	if l, ok := reach99(series(sample, mode{100, true})); !ok || l != 50 {
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

func TestFontGlyphs(t *testing.T) {
	for r, g := range glyphs {
		for i, row := range g {
			if len(row) != glyphW || strings.Trim(row, "#.") != "" {
				t.Errorf("glyph %q row %d: %q", r, i, row)
			}
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	if err := drawText(img, 0, 0, "µs", black, 1); err == nil {
		t.Error("a rune without a glyph drew")
	}
	if textWidth("ab", 2) != 22 || textWidth("", 2) != 0 {
		t.Errorf("textWidth %d", textWidth("ab", 2))
	}
	// "1" at scale 1: its stem is column 2, rows 0-6.
	img = image.NewRGBA(image.Rect(0, 0, 10, 10))
	if err := drawText(img, 1, 1, "1", black, 1); err != nil {
		t.Fatal(err)
	}
	for row := range glyphH {
		if img.RGBAAt(3, 1+row) != black {
			t.Errorf("row %d of the stem of 1 is not set", row)
		}
	}
	if img.RGBAAt(1, 1) == black {
		t.Error("the corner of 1 is set")
	}
	// "p" hangs below the line: its stem reaches row 8.
	img = image.NewRGBA(image.Rect(0, 0, 10, 12))
	if err := drawText(img, 0, 0, "p", black, 1); err != nil {
		t.Fatal(err)
	}
	if img.RGBAAt(0, glyphH+descent-1) != black || img.RGBAAt(0, 1) == black {
		t.Error("p is not drawn as a descender")
	}
}

func TestRender(t *testing.T) {
	img, err := render(sample)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != plotW || b.Dy() != plotH {
		t.Fatalf("size %v", b)
	}
	at := func(lifetime int, frac float64) (int, int) {
		return int(math.Round(xOf(float64(lifetime)))), int(math.Round(yOf(frac)))
	}
	// Each measured point carries its interval's colour at its centre:
	// 100 ms is the first colour, 1 s the second.
	for _, c := range []struct {
		lifetime int
		frac     float64
		col      color.RGBA
	}{{50, 0.48, palette[0]}, {250, 0.24, palette[1]}, {100, 0.11, palette[1]}} {
		x, y := at(c.lifetime, c.frac)
		if got := img.RGBAAt(x, y); got != c.col {
			t.Errorf("point (%d ms, %.2f) at (%d, %d): %v, want %v", c.lifetime, c.frac, x, y, got, c.col)
		}
	}
	// The expectation min(1, L/P) for 1 s, dotted: some pixel near its
	// value at 500 ms (0.5) is in the second colour.
	x, y := at(500, 0.5)
	found := false
	for dx := -6; dx <= 6 && !found; dx++ {
		for dy := -2; dy <= 2; dy++ {
			if img.RGBAAt(x+dx, y+dy) == palette[1] {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("no dotted expectation line for 1 s at 500 ms")
	}
	// The title is drawn: black pixels in its band.
	black := 0
	for y := 18; y < 18+2*glyphH; y++ {
		for x := range plotW {
			if img.RGBAAt(x, y) == (color.RGBA{0, 0, 0, 255}) {
				black++
			}
		}
	}
	if black < 500 {
		t.Errorf("title band has %d black pixels", black)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := render(nil); err == nil {
		t.Error("no data: no error")
	}
}

// TestCommittedResults checks that the committed measurement parses and
// renders, and that docs/capture-lifetime.png is what it renders to.
func TestCommittedResults(t *testing.T) {
	f, err := os.Open("results.csv")
	if err != nil {
		t.Skipf("no committed results: %v", err)
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
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "capture-lifetime.png"))
	if err != nil {
		t.Skipf("no committed plot: %v", err)
	}
	committed, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if committed.Bounds() != img.Bounds() {
		t.Fatalf("committed plot %v, rendered %v", committed.Bounds(), img.Bounds())
	}
	for y := range plotH {
		for x := range plotW {
			r, g, b, _ := committed.At(x, y).RGBA()
			if c := img.RGBAAt(x, y); uint8(r>>8) != c.R || uint8(g>>8) != c.G || uint8(b>>8) != c.B {
				t.Fatalf("docs/capture-lifetime.png differs from results.csv rendered at (%d, %d): regenerate it with `go run ./sensor/capture/lifetime plot`", x, y)
			}
		}
	}
}
