package rules

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/duet-rtc/duet"

// imports lists what each production package of the module imports (test
// files left out), module packages by their path inside the module ("."
// for the root, none here).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		p, ok := inModule(f[0])
		if !ok {
			continue
		}
		m[p] = nil
		for _, imp := range f[1:] {
			if q, ok := inModule(imp); ok {
				m[p] = append(m[p], q)
			}
		}
	}
	if len(m) < 20 {
		t.Fatalf("go list found %d packages of the module", len(m))
	}
	return m
}

func inModule(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	return strings.CutPrefix(path, module+"/")
}

// under reports whether package p is dir or below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// deps is every module package p imports, directly or not.
func deps(m map[string][]string, p string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, q := range m[p] {
			if !seen[q] {
				seen[q] = true
				walk(q)
			}
		}
	}
	walk(p)
	return seen
}

// TestImportLayering fails when an import breaks the layering of the
// packages (README, "Packages"):
//   - protocol (the wire) and room (the seat rules) import nothing of
//     duet: every backend and client builds on them;
//   - access sits below auth and server: it imports neither, nor anything
//     that does;
//   - the Go SDK (client) builds on protocol alone, so that it can be its
//     own module;
//   - no production package imports the test kit, and only the load
//     generator's own commands import it (bench): the server (everything
//     `duet serve` is built from) links neither, nor the SDK.
func TestImportLayering(t *testing.T) {
	m := imports(t)
	for _, p := range []string{"protocol", "room"} {
		if _, ok := m[p]; !ok {
			t.Fatalf("no package %s", p)
		}
		for q := range deps(m, p) {
			t.Errorf("%s imports %s: it imports nothing of duet", p, q)
		}
	}
	for q := range deps(m, "access") {
		if under(q, "auth") || under(q, "server") {
			t.Errorf("access imports %s: it sits below auth and server", q)
		}
	}
	for p := range m {
		if !under(p, "client") {
			continue
		}
		for q := range deps(m, p) {
			if q != "protocol" && !under(q, "client") {
				t.Errorf("%s imports %s: the SDK builds on protocol alone", p, q)
			}
		}
	}
	for p, imps := range m {
		for _, q := range imps {
			switch {
			case under(q, "internal/testkit") && !under(p, "internal/testkit"):
				t.Errorf("%s imports %s: production code imports no test kit", p, q)
			case under(q, "bench") && !under(p, "bench") && p != "cmd/duet" && p != "cmd/bare-relay":
				t.Errorf("%s imports %s: only the load generator's commands import it", p, q)
			}
		}
	}
	for q := range deps(m, "server") {
		if under(q, "bench") || under(q, "client") || under(q, "internal/testkit") || under(q, "cmd") {
			t.Errorf("the server links %s", q)
		}
	}
}
