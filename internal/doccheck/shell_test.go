package doccheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shellSession is one terminal of a reader going through one file: the
// variables a block exports are there for the next, and the servers a
// block starts keep running for the blocks after it, until a block starts
// servers again (the reader pressed Ctrl-C first) or the file ends.
type shellSession struct {
	env   *runEnv
	file  string
	dir   string // state: the exported variables, server pids and output
	cwd   string // the reader's checkout: the repository's files, linked
	home  string
	count int
}

// shellBlockTimeout bounds one block: a `go run` of duet on a loaded
// 2-core machine takes a minute or two.
const shellBlockTimeout = 5 * time.Minute

func (e *runEnv) shell(t *testing.T, file string) *shellSession {
	dir, err := os.MkdirTemp("", "doccheck-sh-")
	if err != nil {
		t.Fatal(err)
	}
	s := &shellSession{env: e, file: file, dir: dir, cwd: filepath.Join(dir, "checkout"), home: filepath.Join(dir, "home")}
	for _, d := range []string{s.cwd, s.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A checkout the blocks may write into (go build -o duet, a data
	// directory) without touching the repository: its top-level entries
	// are links to the repository's, .git left out (no VCS stamping).
	entries, err := os.ReadDir(e.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if en.Name() == ".git" {
			continue
		}
		if err := os.Symlink(filepath.Join(e.root, en.Name()), filepath.Join(s.cwd, en.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// preamble starts every block: the session's variables, strict errors,
// and __duet_serve, which starts a server in the background and returns
// once it listens (as when it runs in a terminal of its own).
const preamble = `__duet_block="$DUET_DOC_BLOCK"
[ -f "$DUET_DOC_STATE/env" ] && . "$DUET_DOC_STATE/env" >/dev/null 2>&1
export DUET_DOC_BLOCK="$__duet_block"
cd "$DUET_DOC_CWD"
__duet_serve() {
  local out log pid i
  out=$(mktemp "$DUET_DOC_BLOCK/server.XXXXXX")
  log="$out.log"
  setsid "$@" >"$out" 2>"$log" </dev/null &
  pid=$!
  echo "$pid" >>"$DUET_DOC_STATE/pids"
  for i in $(seq 1 3000); do
    if grep -q 'duet listening' "$log"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "doccheck: the server ($*) exited before it listened:" >&2
      cat "$out" "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "doccheck: the server ($*) did not listen within 5 minutes:" >&2
  cat "$log" >&2
  return 1
}
set -eo pipefail
`

const epilogue = `
export -p >"$DUET_DOC_STATE/env"
`

// run runs block b in the session, inside the isolated namespace.
func (s *shellSession) run(t *testing.T, b Block) {
	s.count++
	blockDir := filepath.Join(s.dir, fmt.Sprintf("block%d", s.count))
	if err := os.MkdirAll(blockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	text, servers := markServers(b.Text)
	if servers > 0 {
		s.stopServers(t)
	}
	script := preamble + text + epilogue
	ctx, cancel := context.WithTimeout(context.Background(), shellBlockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script, "doc")
	s.env.ns.Command(cmd)
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Dir = s.cwd
	cmd.Env = append(s.env.shellEnv(s.home),
		"DUET_DOC_STATE="+s.dir, "DUET_DOC_CWD="+s.cwd, "DUET_DOC_BLOCK="+blockDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s: shell block failed (%v after %s):\n%s\n--- the block, with its lines in %s:\n%s%s",
			b.Where(), err, time.Since(began).Round(time.Millisecond), s.serverOutput(blockDir, out.String()),
			b.File, numbered(b), markerHint)
	}
	t.Logf("%s: ran in %s", b.Where(), time.Since(began).Round(time.Millisecond))
	if d, ok := b.Has("expect"); ok && !strings.Contains(out.String()+s.serverOutput(blockDir, ""), d.Arg) {
		t.Errorf("%s: the output lacks %q:\n%s", b.Where(), d.Arg, out.String())
	}
	if _, ok := b.Has("open"); ok {
		s.env.openCall(t, b, s.serverOutput(blockDir, ""), func() string { return s.serverLogs(blockDir) })
	}
}

// markerHint tells the author of a block that cannot run here what to do.
const markerHint = "\n(A block that cannot run in the suite needs <!-- snippet: skip REASON --> on the line before it; see CONTRIBUTING.md.)"

// serverOutput is what the block's servers printed on stdout, after extra.
func (s *shellSession) serverOutput(blockDir, extra string) string {
	outs, _ := filepath.Glob(filepath.Join(blockDir, "server.*"))
	var b strings.Builder
	b.WriteString(extra)
	for _, o := range outs {
		if strings.HasSuffix(o, ".log") {
			continue
		}
		if data, err := os.ReadFile(o); err == nil && len(data) > 0 {
			b.Write(data)
		}
	}
	return b.String()
}

// stopServers ends the servers earlier blocks started: SIGTERM to each
// one's process group (go run and its child too), SIGKILL to what is left
// after 20 s.
// serverLogs is what the block's servers logged (stderr).
func (s *shellSession) serverLogs(blockDir string) string {
	logs, _ := filepath.Glob(filepath.Join(blockDir, "server.*.log"))
	var b strings.Builder
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		b.Write(data)
	}
	return b.String()
}

func (s *shellSession) stopServers(t *testing.T) {
	pidsFile := filepath.Join(s.dir, "pids")
	data, _ := os.ReadFile(pidsFile)
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			pids = append(pids, pid)
			_ = syscall.Kill(-pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(-pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Logf("doccheck: server %d did not stop on SIGTERM: killed", pid)
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := os.Remove(pidsFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

func (s *shellSession) close() {
	data, _ := os.ReadFile(filepath.Join(s.dir, "pids"))
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	os.RemoveAll(s.dir)
}

// serverLine matches a command that starts duet's server: duet (or
// ./duet, or go run ./cmd/duet) with no command, serve, or flags first,
// after optional VAR=value assignments.
var serverLine = regexp.MustCompile(`^(\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)((?:\S*/)?duet|go run \./cmd/duet)(\s+serve\b|\s+-[^\s]*|\s*$|\s+#)`)

// markServers puts __duet_serve before every command of text that starts
// a server, and drops a trailing & from it (__duet_serve backgrounds it
// and waits until it listens). Lines keep their numbers.
func markServers(text string) (string, int) {
	lines := strings.Split(text, "\n")
	n := 0
	for i := 0; i < len(lines); i++ {
		start := i
		for strings.HasSuffix(lines[i], "\\") && i+1 < len(lines) {
			i++
		}
		m := serverLine.FindStringSubmatch(lines[start])
		if m == nil || isHelp(lines[start]) {
			continue
		}
		lines[start] = m[1] + "__duet_serve " + lines[start][len(m[1]):]
		lines[i] = backgroundAmp.ReplaceAllString(lines[i], "$1")
		n++
	}
	return strings.Join(lines, "\n"), n
}

var backgroundAmp = regexp.MustCompile(`\s&(\s*(?:#.*)?)$`)

func isHelp(line string) bool {
	for _, f := range strings.Fields(line) {
		if f == "--help" || f == "-h" || f == "--version" {
			return true
		}
	}
	return false
}

// numbered is the block with the line numbers of its file.
func numbered(b Block) string {
	var out strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(b.Text, "\n"), "\n") {
		fmt.Fprintf(&out, "%5d  %s\n", b.Line+1+i, l)
	}
	return out.String()
}
