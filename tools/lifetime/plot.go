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

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func plotCmd(args []string) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	in := fs.String("in", "tools/lifetime/results.csv", "CSV written by lifetime measure")
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

// The picture: its size and resolution, and the lifetime axis's range
// (ms, log scale).
const (
	plotW, plotH             = 11 * vg.Inch, 7.2 * vg.Inch
	plotDPI                  = 100
	minLifetime, maxLifetime = 0.8, 4000.0
)

// palette gives one colour per poll interval, in order: matplotlib's
// "tab10", distinguishable by most colour-blind readers.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// kindStyles gives each kind (results.go) its line dashes and marker.
var kindStyles = map[kind]struct {
	dashes []vg.Length
	glyph  draw.GlyphDrawer
}{
	pollAlone:  {nil, draw.BoxGlyph{}},
	synTrigger: {[]vg.Length{vg.Points(7), vg.Points(4)}, draw.PyramidGlyph{}},
	execPoll:   {[]vg.Length{vg.Points(2), vg.Points(3)}, draw.CircleGlyph{}},
	procEvents: {[]vg.Length{vg.Points(12), vg.Points(3), vg.Points(2), vg.Points(3)}, draw.RingGlyph{}},
}

var (
	gray         = color.RGBA{120, 120, 120, 255}
	dotted       = []vg.Length{vg.Points(1), vg.Points(2.5)}
	dashed99     = []vg.Length{vg.Points(5), vg.Points(3)}
	measureWidth = vg.Points(2)
)

// newPlot lays out the capture probability of every curve of pts against
// the lifetime, with the analytic expectation of polling alone.
func newPlot(pts []point) (*plot.Plot, error) {
	cs := curves(pts)
	if len(cs) == 0 {
		return nil, errors.New("plot: no data")
	}
	intervals := distinct(pts, func(p point) int { return p.IntervalMS })
	lifetimes := distinct(pts, func(p point) int { return p.LifetimeMS })
	runs := 0
	for _, p := range pts {
		runs = max(runs, p.Runs)
	}
	if len(intervals) > len(palette) {
		return nil, fmt.Errorf("plot: %d poll intervals, the palette has %d colours", len(intervals), len(palette))
	}
	colorOf := func(iv int) color.Color {
		for i, v := range intervals {
			if v == iv {
				return palette[i]
			}
		}
		return gray
	}

	// The lifetime axis is log10(L) on a linear axis, labelled in ms:
	// plot.LogScale would do, but gonum/plot pads a centred axis label by
	// the linear midpoint of the range (axis.go, horizontalAxis.GlyphBoxes),
	// a fifth of the picture here.
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Capture probability against process lifetime (Linux, up to %d runs per point)", runs)
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Title.Padding = vg.Points(10)
	p.X.Label.Text = "lifetime L (ms, log scale): how long the helper holds its connection (exec kinds: sleeps), then exits"
	p.Y.Label.Text = "captured (network event with the right name; exec event with exact args and parent)"
	p.X.Min, p.X.Max = math.Log10(minLifetime), math.Log10(maxLifetime)
	p.Y.Min, p.Y.Max = 0, 1.02
	var xt []plot.Tick
	for _, l := range lifetimes {
		lab := strconv.Itoa(l)
		if l >= 1000 && l%1000 == 0 {
			lab = strconv.Itoa(l/1000) + " s"
		}
		xt = append(xt, plot.Tick{Value: math.Log10(float64(l)), Label: lab})
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	var yt []plot.Tick
	for pct := 0; pct <= 100; pct += 10 {
		t := plot.Tick{Value: float64(pct) / 100}
		if pct%20 == 0 {
			t.Label = strconv.Itoa(pct) + " %"
		}
		yt = append(yt, t)
	}
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(12)
		a.Tick.Label.Font.Size = vg.Points(11)
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = color.Gray{225}, color.Gray{225}
	p.Add(grid)

	// The 99 % line.
	l99, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: 0.99}, {X: p.X.Max, Y: 0.99}})
	if err != nil {
		return nil, err
	}
	l99.Color, l99.Dashes = gray, dashed99
	p.Add(l99)

	// The expectation of polling alone, min(1, L/P), sampled evenly on the
	// log axis.
	for _, iv := range intervals {
		if !slices.ContainsFunc(cs, func(c curve) bool { ki, _ := infoOf(c.Kind); return ki.expected && c.IntervalMS == iv }) {
			continue
		}
		const n = 200
		xys := make(plotter.XYs, n+1)
		for i := range xys {
			l := minLifetime * math.Pow(maxLifetime/minLifetime, float64(i)/n)
			xys[i] = plotter.XY{X: math.Log10(l), Y: expected(l, float64(iv))}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		line.Color, line.Dashes = colorOf(iv), dotted
		p.Add(line)
	}

	// The measurements.
	for _, c := range cs {
		s := series(pts, c)
		xys := make(plotter.XYs, len(s))
		for i, pt := range s {
			xys[i] = plotter.XY{X: math.Log10(float64(pt.LifetimeMS)), Y: frac(pt)}
		}
		line, marks, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: %s: %w", c, err)
		}
		st := kindStyles[c.Kind]
		line.Color, line.Width, line.Dashes = colorOf(c.IntervalMS), measureWidth, st.dashes
		marks.Color, marks.Shape, marks.Radius = colorOf(c.IntervalMS), st.glyph, vg.Points(3.5)
		p.Add(line, marks)
	}

	// The legend: one entry per poll interval (its colour), then one per
	// kind of line (in gray).
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(10), -vg.Points(75) // below the curves that reach 90 % from 1 ms
	p.Legend.ThumbnailWidth = vg.Points(36)
	p.Legend.Padding = vg.Points(3)
	p.Legend.TextStyle.Font.Size = vg.Points(11)
	for _, iv := range intervals {
		sw := &plotter.Line{LineStyle: draw.LineStyle{Color: colorOf(iv), Width: measureWidth}}
		p.Legend.Add("poll interval P = "+formatMS(iv), sw)
	}
	for _, ki := range kinds {
		if !hasKind(cs, ki.kind) {
			continue
		}
		st := kindStyles[ki.kind]
		line := &plotter.Line{LineStyle: draw.LineStyle{Color: gray, Width: measureWidth, Dashes: st.dashes}}
		marks := &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: gray, Shape: st.glyph, Radius: vg.Points(3.5)}}
		p.Legend.Add(ki.legend, line, marks)
	}
	if hasExpected(cs) {
		p.Legend.Add("polling alone, expected: min(1, L/P)", &plotter.Line{LineStyle: draw.LineStyle{Color: gray, Width: vg.Points(1), Dashes: dotted}})
	}
	p.Legend.Add("99 %", &plotter.Line{LineStyle: draw.LineStyle{Color: gray, Width: vg.Points(1), Dashes: dashed99}})
	return p, nil
}

func hasKind(cs []curve, k kind) bool {
	return slices.ContainsFunc(cs, func(c curve) bool { return c.Kind == k })
}

func hasExpected(cs []curve) bool {
	return slices.ContainsFunc(cs, func(c curve) bool { ki, _ := infoOf(c.Kind); return ki.expected })
}

// render draws newPlot(pts) as an image.
func render(pts []point) (image.Image, error) {
	p, err := newPlot(pts)
	if err != nil {
		return nil, err
	}
	img, _ := drawPlot(p)
	return img, nil
}

// drawPlot draws p; at maps a point (lifetime in ms, fraction captured) to
// its pixel in the image.
func drawPlot(p *plot.Plot) (img image.Image, at func(x, y float64) image.Point) {
	c := vgimg.NewWith(vgimg.UseWH(plotW, plotH), vgimg.UseDPI(plotDPI), vgimg.UseBackgroundColor(color.White))
	margin := vg.Points(10)
	dc := draw.Crop(draw.New(c), margin, -margin, margin, -margin)
	p.Draw(dc)
	da := p.DataCanvas(dc)
	tx, ty := p.Transforms(&da)
	img = c.Image()
	h := img.Bounds().Dy()
	dots := func(l vg.Length) int { return int(math.Round(l.Dots(plotDPI))) }
	return img, func(ms, y float64) image.Point { return image.Pt(dots(tx(math.Log10(ms))), h-dots(ty(y))) }
}
