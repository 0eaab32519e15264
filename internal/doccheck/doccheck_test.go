package doccheck

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
)

// TestDocSnippets runs every code block of the docs that a reader would
// copy (README.md, CONTRIBUTING.md, web/README.md, docs/*.md), against real
// servers, as CONTRIBUTING.md describes:
//
//   - sh: in a network namespace of its own (localhost:5080 is free there),
//     one shell session per file, servers in the background;
//   - go: compiled in a scratch module and run (a fragment inside its
//     harness);
//   - js: in two Chromium tabs (a call needs two), or in Node.js with a
//     harness;
//   - yaml: loaded as a duet configuration file; json: parsed.
//
// A failure names the file and line of the block.
func TestDocSnippets(t *testing.T) {
	root := repoRoot(t)
	files, err := Files(root)
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string][]Block{}
	need := map[string]bool{}
	for _, file := range files {
		blocks, err := Extract(root, file)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		byFile[file] = blocks
		for _, b := range blocks {
			if _, skip := b.Has("skip"); !skip {
				need[kindOf(b)] = true
				if _, ok := b.Has("open"); ok {
					need["open"] = true
				}
				if _, ok := b.Has("harness"); !ok && kindOf(b) == "js" {
					need["browser"] = true
				}
			}
		}
	}
	// What the blocks need is set up here, once, for the whole run.
	env := newRunEnv(t, root, need)
	for _, file := range files {
		var sh *shellSession
		for _, b := range byFile[file] {
			kind := kindOf(b)
			if kind == "" {
				continue
			}
			t.Run(strings.ReplaceAll(b.Where(), "/", "_"), func(t *testing.T) {
				if d, ok := b.Has("skip"); ok {
					t.Skipf("%s: not run: %s", b.Where(), d.Arg)
				}
				switch kind {
				case "sh":
					if env.noNS != nil {
						t.Skipf("%s: shell blocks run in a network namespace of their own: %v", b.Where(), env.noNS)
					}
					if sh == nil {
						sh = env.shell(t, file)
					}
					sh.run(t, b)
				case "go":
					env.runGo(t, b)
				case "js":
					env.runJS(t, b)
				case "yaml":
					checkYAML(t, b)
				case "json":
					if !json.Valid([]byte(b.Text)) {
						t.Errorf("%s: the JSON block does not parse", b.Where())
					}
				}
			})
		}
		if sh != nil {
			sh.close()
		}
	}
}

// kindOf is how a block is run: by its language, "" for blocks that are
// not run (output, diagrams, other programs' configuration).
func kindOf(b Block) string {
	switch b.Lang {
	case "sh", "bash", "shell", "console":
		return "sh"
	case "go":
		return "go"
	case "js", "javascript", "mjs":
		return "js"
	case "yaml", "yml":
		return "yaml"
	case "json":
		return "json"
	}
	return ""
}

// checkYAML loads a YAML block as duet's configuration file: every key
// must exist and every value parse and validate.
func checkYAML(t *testing.T, b Block) {
	path := filepath.Join(t.TempDir(), "duet.yaml")
	if err := os.WriteFile(path, []byte(b.Text), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("doc", flag.ContinueOnError)
	if _, err := config.Load(fs, []string{"--config", path}, func(string) string { return "" }); err != nil {
		// Point at the block's lines rather than the temporary file's.
		msg := err.Error()
		for n := strings.Count(b.Text, "\n"); n >= 1; n-- {
			msg = strings.ReplaceAll(msg, fmt.Sprintf("%s:%d:", path, n), fmt.Sprintf("%s:%d:", b.File, b.Line+n))
		}
		t.Errorf("%s: the YAML block is not a valid duet configuration (a YAML block that is something else needs <!-- snippet: skip REASON -->):\n%s",
			b.Where(), strings.ReplaceAll(msg, path, b.Where()))
	}
}

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s", dir)
	}
	return dir
}

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }
