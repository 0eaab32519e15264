package bench

import (
	"fmt"
	"math"
	"strings"
)

// plot is a line chart drawn as SVG: a few series of points, linear x (or
// evenly spaced labelled categories) and linear or log y. Enough for the
// report's two figures, with no plotting dependency.
type plot struct {
	title, xLabel, yLabel string
	xCats                 []string // when set, x values are indexes into these labels
	logY                  bool
	series                []series
}

type series struct {
	name   string
	points [][2]float64
}

// palette is one colour per server, in reportTargets order.
var palette = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"}

func (p *plot) svg() string {
	const w, h = 720.0, 420.0
	const left, right, top, bottom = 70.0, 190.0, 40.0, 55.0
	pw, ph := w-left-right, h-top-bottom
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range p.series {
		for _, pt := range s.points {
			minX, maxX = math.Min(minX, pt[0]), math.Max(maxX, pt[0])
			minY, maxY = math.Min(minY, pt[1]), math.Max(maxY, pt[1])
		}
	}
	if len(p.xCats) > 0 {
		minX, maxX = 0, float64(len(p.xCats)-1)
	} else {
		minX, maxX = 0, 4*niceCeil(maxX/4) // ticks on round numbers
	}
	if math.IsInf(minX, 0) || maxX <= minX {
		maxX = minX + 1
	}
	ty := func(v float64) float64 { return v }
	if p.logY {
		minY = math.Pow(10, math.Floor(math.Log10(math.Max(minY, 1e-3))))
		maxY = math.Pow(10, math.Ceil(math.Log10(math.Max(maxY, minY*10))))
		ty = func(v float64) float64 { return math.Log10(math.Max(v, minY)) }
	} else {
		minY, maxY = 0, niceCeil(maxY)
	}
	if maxY <= minY {
		maxY = minY + 1
	}
	x := func(v float64) float64 { return left + (v-minX)/(maxX-minX)*pw }
	y := func(v float64) float64 { return top + ph - (ty(v)-ty(minY))/(ty(maxY)-ty(minY))*ph }

	var b strings.Builder
	f := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	f(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	f(`<text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(p.title))
	// Axes, grid and ticks.
	f(`<g stroke="#ccc">`)
	var yTicks []float64
	if p.logY {
		for v := minY; v <= maxY*1.0001; v *= 10 {
			yTicks = append(yTicks, v)
		}
	} else {
		for i := 0; i <= 5; i++ {
			yTicks = append(yTicks, minY+(maxY-minY)*float64(i)/5)
		}
	}
	for _, v := range yTicks {
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, y(v), left+pw, y(v))
	}
	f("</g>\n")
	for _, v := range yTicks {
		f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, num(v))
	}
	if len(p.xCats) > 0 {
		for i, c := range p.xCats {
			f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(float64(i)), top+ph+18, esc(c))
		}
	} else {
		for i := 0; i <= 4; i++ {
			v := minX + (maxX-minX)*float64(i)/4
			f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(v), top+ph+18, num(v))
		}
	}
	f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, top+ph, left+pw, top+ph)
	f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, top, left, top+ph)
	f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", left+pw/2, h-12, esc(p.xLabel))
	f(`<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+ph/2, esc(p.yLabel))
	// Series and legend.
	for i, s := range p.series {
		col := palette[i%len(palette)]
		var pts []string
		for _, pt := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(pt[0]), y(pt[1])))
		}
		f(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		for _, pt := range s.points {
			f(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x(pt[0]), y(pt[1]), col)
		}
		ly := top + 10 + float64(i)*20
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, left+pw+12, ly, left+pw+32, ly, col)
		f(`<text x="%.1f" y="%.1f">%s</text>`+"\n", left+pw+38, ly+4, esc(s.name))
	}
	f("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
