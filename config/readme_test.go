package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEverySetting keeps the README's configuration table in step
// with the struct: regenerate it with `go run ./internal/docgen`.
func TestREADMEListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Describe() {
		row := "| `" + s.Key + "` | `" + s.Flag + "` | `" + s.Env + "` |"
		if !strings.Contains(string(b), row) {
			t.Errorf("README.md has no row for %s (run go run ./internal/docgen)", s.Key)
		}
	}
}
