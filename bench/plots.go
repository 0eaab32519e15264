package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type figure struct{ alt, file string }

// writePlots draws the report's figures into svgDir: server memory per
// idle socket against the number of sockets, from idle-<n>-<target>.json,
// and the latency distribution of the half-load relay run.
func writePlots(dir, svgDir string, half map[string]*Summary) ([]figure, error) {
	var figs []figure
	mem := &plot{title: "Server memory per idle joined socket", xLabel: "sockets held", yLabel: "RSS per socket (KiB)"}
	for _, t := range reportTargets {
		files, _ := filepath.Glob(filepath.Join(dir, "idle-*-"+t.key+".json"))
		var pts [][2]float64
		for _, f := range files {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "idle-"), "-"+t.key+".json"))
			if err != nil {
				continue
			}
			if s := loadSummary(dir, strings.TrimSuffix(filepath.Base(f), ".json")); s != nil && s.RSSBytes > 0 {
				pts = append(pts, [2]float64{float64(n), s.RSSPerSocket / 1024})
			}
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i][0] < pts[j][0] })
		if len(pts) > 0 {
			mem.series = append(mem.series, series{name: t.title, points: pts})
		}
	}
	if len(mem.series) > 0 {
		if err := os.WriteFile(filepath.Join(svgDir, "bench-memory.svg"), []byte(mem.svg()), 0o644); err != nil {
			return nil, err
		}
		figs = append(figs, figure{"server memory per idle socket against the number of sockets, for each server", "bench-memory.svg"})
	}
	lat := &plot{yLabel: "one-way latency (ms, log scale)", xLabel: "percentile", logY: true}
	for _, p := range plotPercentiles {
		lat.xCats = append(lat.xCats, "p"+strconv.FormatFloat(p, 'f', -1, 64))
	}
	for _, t := range reportTargets {
		s := half[t.key]
		if s == nil || len(s.Percentiles) != len(plotPercentiles) {
			continue
		}
		if lat.title == "" {
			lat.title = fmt.Sprintf("Relay latency at %.0f messages/s (half duet's peak)", s.RateOffered)
		}
		var pts [][2]float64
		for i, v := range s.Percentiles {
			pts = append(pts, [2]float64{float64(i), v})
		}
		lat.series = append(lat.series, series{name: t.title, points: pts})
	}
	if len(lat.series) > 0 {
		if err := os.WriteFile(filepath.Join(svgDir, "bench-latency.svg"), []byte(lat.svg()), 0o644); err != nil {
			return nil, err
		}
		figs = append(figs, figure{"relay latency by percentile at half load, for each server", "bench-latency.svg"})
	}
	return figs, nil
}
