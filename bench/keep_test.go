package bench

import "testing"

// TestKeepSections: regenerating the page keeps the sections other
// benchmarks wrote, once each, and replaces nothing of the new page.
func TestKeepSections(t *testing.T) {
	old := "# Benchmarks\nold figures\n\n<!-- media-gaps:begin (x) -->\n## Media\nm\n<!-- media-gaps:end -->\n\ntext\n<!-- go-gaps:begin -->\n## Go\n<!-- go-gaps:end -->\n"
	md := keepSections("# Benchmarks\nnew figures\n", old)
	want := "# Benchmarks\nnew figures\n\n<!-- media-gaps:begin (x) -->\n## Media\nm\n<!-- media-gaps:end -->\n\n<!-- go-gaps:begin -->\n## Go\n<!-- go-gaps:end -->\n"
	if md != want {
		t.Fatalf("got\n%s\nwant\n%s", md, want)
	}
	if again := keepSections(md, old); again != md {
		t.Fatalf("a section was kept twice:\n%s", again)
	}
}
