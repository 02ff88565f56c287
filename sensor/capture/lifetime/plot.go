package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"slices"
	"strconv"
)

func plotCmd(args []string) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	in := fs.String("in", "sensor/capture/lifetime/results.csv", "CSV written by lifetime measure")
	out := fs.String("out", "docs/capture-lifetime.png", "PNG to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	pts, _, err := readCSV(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	img, err := render(pts)
	if err != nil {
		return err
	}
	w, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Print(summary(pts))
	return nil
}

// The plot's geometry, in pixels.
const (
	plotW, plotH             = 1100, 720
	areaL, areaR             = 90, 1070
	areaT, areaB             = 70, 470
	minLifetime, maxLifetime = 4.0, 4000.0 // the x axis, ms, log scale
)

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	gray  = color.RGBA{120, 120, 120, 255}
	light = color.RGBA{225, 225, 225, 255}
	// One colour per poll interval, in order (the "tab10" palette's first
	// four, distinguishable by most colour-blind readers).
	palette = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}}
)

// Line styles: on/off lengths in pixels (nil: solid).
var (
	dashed = []float64{12, 7}
	dotted = []float64{2, 4}
)

func xOf(lifetimeMS float64) float64 {
	f := (math.Log10(lifetimeMS) - math.Log10(minLifetime)) / (math.Log10(maxLifetime) - math.Log10(minLifetime))
	return areaL + f*(areaR-areaL)
}

func yOf(fraction float64) float64 { return areaB - fraction*(areaB-areaT) }

// render draws the capture probability of every mode of pts against the
// lifetime, with the analytic expectation of polling alone.
func render(pts []point) (*image.RGBA, error) {
	ms := modes(pts)
	var intervals, lifetimes []int
	runs := 0
	for _, p := range pts {
		if !slices.Contains(intervals, p.IntervalMS) {
			intervals = append(intervals, p.IntervalMS)
		}
		if !slices.Contains(lifetimes, p.LifetimeMS) {
			lifetimes = append(lifetimes, p.LifetimeMS)
		}
		runs = max(runs, p.Runs)
	}
	if len(ms) == 0 {
		return nil, errors.New("plot: no data")
	}
	slices.Sort(intervals)
	slices.Sort(lifetimes)
	if len(intervals) > len(palette) {
		return nil, fmt.Errorf("plot: %d poll intervals, the palette has %d colours", len(intervals), len(palette))
	}
	colorOf := func(iv int) color.RGBA { return palette[slices.Index(intervals, iv)] }

	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	fillRect(img, 0, 0, plotW, plotH, white)
	var errs []error
	text := func(x, y int, s string, c color.RGBA, scale int) {
		if err := drawText(img, x, y, s, c, scale); err != nil {
			errs = append(errs, err)
		}
	}

	title := fmt.Sprintf("Capture probability against process lifetime (Linux, up to %d runs per point)", runs)
	text((plotW-textWidth(title, 2))/2, 18, title, black, 2)

	// Grid, ticks and labels.
	for _, pct := range []int{0, 20, 40, 60, 80, 100} {
		y := int(math.Round(yOf(float64(pct) / 100)))
		drawLine(img, areaL, float64(y), areaR, float64(y), light, 1, nil)
		l := strconv.Itoa(pct) + "%"
		text(areaL-10-textWidth(l, 2), y-7, l, black, 2)
	}
	y99 := yOf(0.99)
	drawLine(img, areaL, y99, areaR, y99, gray, 1, dashed)
	text(areaR-textWidth("99%", 1)-2, int(y99)-10, "99%", gray, 1)
	for _, l := range lifetimes {
		x := xOf(float64(l))
		drawLine(img, x, areaT, x, areaB, light, 1, nil)
		drawLine(img, x, areaB, x, areaB+6, black, 1, nil)
		lab := strconv.Itoa(l)
		if l >= 1000 && l%1000 == 0 {
			lab = strconv.Itoa(l/1000) + "s"
		}
		text(int(x)-textWidth(lab, 2)/2, areaB+12, lab, black, 2)
	}
	drawLine(img, areaL, areaT, areaL, areaB, black, 1, nil)
	drawLine(img, areaL, areaB, areaR, areaB, black, 1, nil)
	xl := "lifetime L (ms, log scale): how long the helper holds its connection, then exits"
	text((areaL+areaR-textWidth(xl, 2))/2, areaB+40, xl, black, 2)
	text(areaL-60, areaT-22, "captured (network event with the right process name)", black, 1)

	// The expectation of polling alone: min(1, L/P).
	for _, iv := range intervals {
		var prev [2]float64
		phase := 0.0
		for i := 0; i <= 400; i++ {
			l := minLifetime * math.Pow(maxLifetime/minLifetime, float64(i)/400)
			cur := [2]float64{xOf(l), yOf(expected(l, float64(iv)))}
			if i > 0 {
				phase = drawLinePhase(img, prev[0], prev[1], cur[0], cur[1], colorOf(iv), 1, dotted, phase)
			}
			prev = cur
		}
	}
	// The measurements.
	for _, m := range ms {
		s := series(pts, m)
		c := colorOf(m.IntervalMS)
		style := []float64(nil)
		if m.Trigger {
			style = dashed
		}
		phase := 0.0
		for i := 1; i < len(s); i++ {
			phase = drawLinePhase(img, xOf(float64(s[i-1].LifetimeMS)), yOf(frac(s[i-1])), xOf(float64(s[i].LifetimeMS)), yOf(frac(s[i])), c, 3, style, phase)
		}
		for _, p := range s {
			x, y := int(math.Round(xOf(float64(p.LifetimeMS)))), int(math.Round(yOf(frac(p))))
			if m.Trigger {
				drawDiamond(img, x, y, 6, c)
			} else {
				fillRect(img, x-4, y-4, 9, 9, c)
			}
		}
	}

	// Legend.
	ly := areaB + 80
	text(areaL, ly, "poll interval P:", black, 2)
	for i, iv := range intervals {
		y := ly + 26 + 22*i
		drawLine(img, areaL, float64(y+7), areaL+40, float64(y+7), colorOf(iv), 3, nil)
		text(areaL+50, y, formatMS(iv), black, 2)
	}
	lx := areaL + 330
	text(lx, ly, "line:", black, 2)
	entries := []struct {
		style  []float64
		width  int
		marker string
		label  string
	}{
		{nil, 3, "square", "polling alone, measured"},
		{dashed, 3, "diamond", "polling + SYN-triggered read, measured"},
		{dotted, 1, "", "polling alone, expected: min(1, L/P)"},
	}
	for i, e := range entries {
		y := ly + 26 + 22*i
		drawLine(img, float64(lx), float64(y+7), float64(lx+50), float64(y+7), gray, e.width, e.style)
		switch e.marker {
		case "square":
			fillRect(img, lx+21, y+3, 9, 9, gray)
		case "diamond":
			drawDiamond(img, lx+25, y+7, 6, gray)
		}
		text(lx+60, y, e.label, black, 2)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return img, nil
}

func frac(p point) float64 {
	if p.Runs == 0 {
		return 0
	}
	return float64(p.Captured) / float64(p.Runs)
}

// drawLine draws a segment width pixels thick, in the on/off pattern
// style (nil: solid).
func drawLine(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA, width int, style []float64) {
	drawLinePhase(img, x0, y0, x1, y1, c, width, style, 0)
}

// drawLinePhase is drawLine starting phase pixels into the pattern; it
// returns the phase at the end, so a polyline's pattern runs on across its
// segments.
func drawLinePhase(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA, width int, style []float64, phase float64) float64 {
	length := math.Hypot(x1-x0, y1-y0)
	period := 0.0
	for _, v := range style {
		period += v
	}
	const step = 0.25
	for d := 0.0; d <= length; d += step {
		if period > 0 {
			pos := math.Mod(phase+d, period)
			on, acc := false, 0.0
			for i, v := range style {
				acc += v
				if pos < acc {
					on = i%2 == 0
					break
				}
			}
			if !on {
				continue
			}
		}
		t := 0.0
		if length > 0 {
			t = d / length
		}
		x := x0 + t*(x1-x0)
		y := y0 + t*(y1-y0)
		fillRect(img, int(math.Round(x))-width/2, int(math.Round(y))-width/2, width, width, c)
	}
	return phase + length
}

func drawDiamond(img *image.RGBA, cx, cy, r int, c color.RGBA) {
	for dy := -r; dy <= r; dy++ {
		w := r - abs(dy)
		fillRect(img, cx-w, cy+dy, 2*w+1, 1, c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
