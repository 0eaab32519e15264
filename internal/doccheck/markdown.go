// Package doccheck finds the code blocks of duet's Markdown documentation,
// with the snippet directives written before them, for the snippet runner
// (doccheck_test.go) that runs every example a user would copy. The
// directives are described in CONTRIBUTING.md.
package doccheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Block is one fenced code block.
type Block struct {
	File string // path relative to the repository root
	Line int    // line of the opening fence, from 1
	Lang string // the fence's info string up to the first space: sh, go, js, …
	Text string // the content, without the fence lines and the list indentation
	// Directives are the block's <!-- snippet: … --> comments, in order.
	Directives []Directive
	Indent     string // what the fence was indented with (a list item's block)
}

// Where names the block for messages: README.md:51.
func (b Block) Where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Directive is one snippet directive: its verb and the rest of its text.
type Directive struct {
	Verb string // skip, expect, open, harness
	Arg  string
	Line int
}

// Verbs the runner knows, with whether the directive needs an argument.
var Verbs = map[string]bool{
	"skip":    true, // skip REASON: the block is not run; the reason says why
	"expect":  true, // expect TEXT: the block's output must contain TEXT
	"open":    false,
	"harness": true, // harness NAME: the block runs inside testdata/harness/NAME
}

var directiveRE = regexp.MustCompile(`^<!--\s*snippet:\s*(.*?)\s*-->$`)

// Extract reads the fenced code blocks of the Markdown file root/path. The
// directives of a block are the snippet comments on the lines right before
// its fence (blank lines between them are allowed). A malformed directive
// or an unknown verb is an error naming the line.
func Extract(root, path string) ([]Block, error) {
	f, err := os.Open(filepath.Join(root, path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks  []Block
		pending []Directive
		cur     *Block
		body    []string
		fence   string
		n       int
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur != nil {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				cur.Text = strings.Join(body, "\n")
				if len(body) > 0 {
					cur.Text += "\n"
				}
				blocks = append(blocks, *cur)
				cur, body = nil, nil
				continue
			}
			body = append(body, strings.TrimPrefix(line, cur.Indent))
			continue
		}
		if m := directiveRE.FindStringSubmatch(trimmed); m != nil {
			parts := strings.Split(m[1], ";")
			for i := 0; i < len(parts); i++ {
				part := parts[i]
				if strings.HasPrefix(strings.TrimSpace(part), "skip ") {
					// A reason may have semicolons of its own: it is the
					// rest of the comment.
					part, i = strings.Join(parts[i:], ";"), len(parts)
				}
				d, err := parseDirective(strings.TrimSpace(part), n)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", path, n, err)
				}
				pending = append(pending, d)
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			for len(fence) < len(trimmed) && trimmed[len(fence)] == fence[0] {
				fence += fence[:1]
			}
			info := strings.TrimSpace(trimmed[len(fence):])
			lang, _, _ := strings.Cut(info, " ")
			cur = &Block{File: path, Line: n, Lang: strings.ToLower(lang), Directives: pending,
				Indent: line[:len(line)-len(strings.TrimLeft(line, " \t"))]}
			pending = nil
			continue
		}
		if trimmed != "" {
			pending = nil // a directive belongs to the block right after it
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: code block not closed", path, cur.Line)
	}
	return blocks, nil
}

func parseDirective(s string, line int) (Directive, error) {
	verb, arg, _ := strings.Cut(s, " ")
	arg = strings.TrimSpace(arg)
	needsArg, ok := Verbs[verb]
	switch {
	case !ok:
		return Directive{}, fmt.Errorf("unknown snippet directive %q (known: skip REASON, expect TEXT, open, harness NAME; see CONTRIBUTING.md)", verb)
	case needsArg && arg == "":
		return Directive{}, fmt.Errorf("snippet directive %q needs an argument (e.g. <!-- snippet: skip needs a phone -->)", verb)
	case !needsArg && arg != "":
		return Directive{}, fmt.Errorf("snippet directive %q takes no argument", verb)
	}
	return Directive{Verb: verb, Arg: arg, Line: line}, nil
}

// Has returns the first directive with verb, if any.
func (b Block) Has(verb string) (Directive, bool) {
	for _, d := range b.Directives {
		if d.Verb == verb {
			return d, true
		}
	}
	return Directive{}, false
}

// Files lists the Markdown files under root that the snippet runner reads:
// README.md, CONTRIBUTING.md, web/README.md and everything in docs/.
func Files(root string) ([]string, error) {
	files := []string{"README.md", "CONTRIBUTING.md", "web/README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		files = append(files, rel)
	}
	var out []string
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			out = append(out, f)
		}
	}
	return out, nil
}
