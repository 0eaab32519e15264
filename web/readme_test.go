package web

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMEMatchesTypes keeps web/README.md's lists of options, methods,
// properties and events in step with sdk/duet.d.ts, the SDK's declared API:
// a name in one and not in the other fails, naming which.
func TestREADMEMatchesTypes(t *testing.T) {
	dts := read(t, "sdk/duet.d.ts")
	readme := read(t, "README.md")

	decl := block(t, dts, "export interface DuetCallOptions {")
	options := names(regexp.MustCompile(`(?m)^  (\w+)\??:`), decl)
	decl = block(t, dts, "export interface DuetEvents {")
	events := names(regexp.MustCompile(`(?m)^  (\w+):`), decl)
	decl = block(t, dts, "export declare class DuetCall extends EventTarget {")
	methods := names(regexp.MustCompile(`(?m)^  (\w+)(?:<[^>]*>)?\(`), decl)
	methods = slices.DeleteFunc(methods, func(s string) bool { return s == "constructor" })
	props := names(regexp.MustCompile(`(?m)^  (?:readonly )?(\w+):`), decl)

	// The README: the options table's first column, the Methods: and
	// Properties: paragraphs, the events table's first column.
	optTable := section(t, readme, "| option |", "\n\n")
	gotOptions := firstColumn(optTable)
	gotMethods := names(regexp.MustCompile("`(\\w+)\\("), section(t, readme, "Methods:", "\n\n"))
	gotProps := names(regexp.MustCompile("`(\\w+)`"), section(t, readme, "Properties:", "\n\n"))
	exports := names(regexp.MustCompile(`(?m)^export declare (?:class|function) (\w+)`), dts)
	gotExports := append(names(regexp.MustCompile("`(\\w+)[`(]"), section(t, readme, "Exports besides `DuetCall`:", "\n\n")), "DuetCall")
	evTable := section(t, readme, "| event | detail | when |", "\n\n")
	gotEvents := firstColumn(evTable)

	for _, c := range []struct {
		what       string
		dts, readm []string
	}{
		{"option (DuetCallOptions)", options, gotOptions},
		{"method (DuetCall)", methods, gotMethods},
		{"property (DuetCall)", props, gotProps},
		{"event (DuetEvents)", events, gotEvents},
		{"export", exports, gotExports},
	} {
		for _, n := range c.dts {
			if !slices.Contains(c.readm, n) {
				t.Errorf("web/README.md lacks the %s %s that duet.d.ts declares", c.what, n)
			}
		}
		for _, n := range c.readm {
			if !slices.Contains(c.dts, n) {
				t.Errorf("web/README.md lists the %s %s, which duet.d.ts does not declare", c.what, n)
			}
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// block is the text from start to the line that closes it ("}" at the
// start of a line).
func block(t *testing.T, s, start string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("duet.d.ts has no %q", start)
	}
	s = s[i+len(start):]
	if j := strings.Index(s, "\n}"); j >= 0 {
		s = s[:j]
	}
	return s
}

// section is the text from start up to end.
func section(t *testing.T, s, start, end string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("web/README.md has no %q", start)
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		s = s[:j]
	}
	return s
}

func names(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// firstColumn is the names in backquotes in the first cell of each row of
// a Markdown table.
func firstColumn(table string) []string {
	var cells strings.Builder
	for line := range strings.Lines(table) {
		if f := strings.Split(line, "|"); len(f) > 2 {
			cells.WriteString(f[1] + "\n")
		}
	}
	return names(regexp.MustCompile("`(\\w+)`"), cells.String())
}

// TestREADMEDocumentsEveryError: every error definition the SDK emits
// itself, and every server error that ends a call, is in web/README.md's
// Errors table.
func TestREADMEDocumentsEveryError(t *testing.T) {
	errs := section(t, read(t, "README.md"), "### Errors", "\n### ")
	documented := firstColumn(errs)
	var emitted []string
	for _, f := range []string{"sdk/duet.js", "sdk/peer.js", "sdk/path.js", "sdk/socket.js"} {
		src := read(t, f)
		emitted = append(emitted, names(regexp.MustCompile(`definition: '(\w+)'`), src)...)
		if f == "sdk/duet.js" {
			_, fatal, _ := strings.Cut(src, "const FATAL = new Set([")
			fatal, _, _ = strings.Cut(fatal, "]);")
			emitted = append(emitted, names(regexp.MustCompile(`'(\w+)'`), fatal)...)
		}
	}
	if len(emitted) < 8 {
		t.Fatalf("found only %v in the SDK", emitted)
	}
	for _, e := range emitted {
		if !slices.Contains(documented, e) {
			t.Errorf("the SDK emits the error %s, which web/README.md's Errors table does not document", e)
		}
	}
}
