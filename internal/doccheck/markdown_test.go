package doccheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	doc := "# t\n\n<!-- snippet: skip needs a phone -->\n\n```sh\nduet serve\n```\n\ntext\n<!-- snippet: open -->\ntext between\n```js\nx()\n```\n\n- item:\n\n  <!-- snippet: harness go-sdk; expect peer says hello -->\n  ```go\n  a := 1\n    b := 2\n  ```\n"
	if err := os.WriteFile(filepath.Join(dir, "d.md"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	blocks, err := Extract(dir, "d.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 {
		t.Fatalf("%d blocks", len(blocks))
	}
	if b := blocks[0]; b.Where() != "d.md:5" || b.Lang != "sh" || b.Text != "duet serve\n" || len(b.Directives) != 1 || b.Directives[0].Arg != "needs a phone" {
		t.Errorf("block 1: %+v", b)
	}
	if b := blocks[1]; len(b.Directives) != 0 {
		t.Errorf("a directive separated by text counted for the next block: %+v", b)
	}
	b := blocks[2]
	if b.Text != "a := 1\n  b := 2\n" || b.Lang != "go" {
		t.Errorf("indented block: %q", b.Text)
	}
	if d, ok := b.Has("expect"); !ok || d.Arg != "peer says hello" {
		t.Errorf("directives %+v", b.Directives)
	}
	if d, ok := b.Has("harness"); !ok || d.Arg != "go-sdk" {
		t.Errorf("directives %+v", b.Directives)
	}

	for doc, want := range map[string]string{
		"<!-- snippet: skp x -->\n```sh\nx\n```\n": `d.md:1: unknown snippet directive "skp"`,
		"<!-- snippet: skip -->\n```sh\nx\n```\n":  `d.md:1: snippet directive "skip" needs an argument`,
		"```sh\nx\n": "d.md:1: code block not closed",
	} {
		os.WriteFile(filepath.Join(dir, "d.md"), []byte(doc), 0o644)
		if _, err := Extract(dir, "d.md"); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %s…", doc, err, want)
		}
	}
}

func TestMarkServers(t *testing.T) {
	in := "export X=1\ngo run ./cmd/duet        # comment\nduet token --room r\n./duet serve --listen :5081 \\\n  --node-id two &   # bg\nDUET_X=1 duet --tls-self-signed\nduet serve --help\nduet peer --room r\n"
	got, n := markServers(in)
	want := "export X=1\n__duet_serve go run ./cmd/duet        # comment\nduet token --room r\n__duet_serve ./duet serve --listen :5081 \\\n  --node-id two   # bg\nDUET_X=1 __duet_serve duet --tls-self-signed\nduet serve --help\nduet peer --room r\n"
	if got != want || n != 3 {
		t.Errorf("got %d:\n%s\nwant:\n%s", n, got, want)
	}
}

// TestREADMEGoVersion: the Go version the README asks for is go.mod's.
func TestREADMEGoVersion(t *testing.T) {
	root := repoRoot(t)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "Go " + string(m[1]) + " or newer"
	if n := strings.Count(string(readme), want); n < 2 {
		t.Errorf("README.md says %q %d times, want it in Two commands and in Install (go.mod: go %s)", want, n, m[1])
	}
	if stated := regexp.MustCompile(`Go (\d+\.\d+(?:\.\d+)?) or newer`).FindAllStringSubmatch(string(readme), -1); len(stated) > 0 {
		for _, s := range stated {
			if s[1] != string(m[1]) {
				t.Errorf("README.md asks for Go %s; go.mod says %s", s[1], m[1])
			}
		}
	}
}
