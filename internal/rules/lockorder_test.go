package rules

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestLockOrder: in each of lockedPackages, the locks taken while another
// is held, read from the code, follow one order: the graph of "taken
// while holding" has no cycle, and no lock is taken while one of its own
// kind is held (two members' locks, two shards). A cycle is an inversion
// that can deadlock. Locks are named by the type that declares them
// (member.mu) when the code says it (a receiver or a parameter), and by
// the expression otherwise (sh.mu).
func TestLockOrder(t *testing.T) {
	for _, dir := range lockedPackages {
		for _, c := range lockCycles(parseDir(t, dir)) {
			t.Errorf("%s: %s", dir, c)
		}
	}
}

// TestLockOrderCatches: the lock-order check finds an inversion through
// a helper (a link's held() against send), and a lock of one kind taken
// under another of the same kind.
func TestLockOrderCatches(t *testing.T) {
	src := `package p
func (o *Out) send(l *link) {
	o.mu.Lock()
	l.mu.Lock()
	l.mu.Unlock()
	o.mu.Unlock()
}
func (l *link) held(o *Out) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o.count()
}
func (o *Out) count() {
	o.mu.Lock()
	o.mu.Unlock()
}
func (o *Out) fine(l *link) {
	o.mu.Lock()
	o.mu.Unlock()
	l.mu.Lock()
	l.mu.Unlock()
}
func pair(a, b *member) {
	a.mu.Lock()
	b.mu.Lock()
	b.mu.Unlock()
	a.mu.Unlock()
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	got := lockCycles(&pkg{fset: fset, files: []*ast.File{f}})
	if len(got) != 2 || !strings.Contains(got[0], "Out.mu") || !strings.Contains(got[0], "link.mu") || !strings.Contains(got[1], "member.mu") {
		t.Fatalf("found %q, want the Out.mu/link.mu cycle and member.mu under member.mu", got)
	}
}

type lockEdge struct{ from, to string }

// lockCycles reads the "taken while holding" graph of p and returns its
// cycles (one line each, with where each edge was seen).
func lockCycles(p *pkg) []string {
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range p.files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				funcs[funcKey(fd)] = fd
			}
		}
	}
	// takes: the locks each function takes, itself or through functions
	// of the package it calls (outside closures).
	takes := map[string]map[string]bool{}
	for key, fd := range funcs {
		takes[key] = map[string]bool{}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if _, ok := n.(*ast.FuncLit); ok {
				return false
			}
			if s, ok := n.(*ast.ExprStmt); ok {
				if x := lockOf(s); x != "" {
					takes[key][lockName(fd, x)] = true
				}
			}
			return true
		})
	}
	for changed := true; changed; {
		changed = false
		for key, fd := range funcs {
			eachCall(fd.Body, func(call *ast.CallExpr) bool {
				for l := range takes[callee(fd, call)] {
					if !takes[key][l] {
						takes[key][l] = true
						changed = true
					}
				}
				return true
			})
		}
	}
	where := map[lockEdge]string{}
	for _, f := range p.files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			eachLockedRegion(fd, func(lock string, rest []ast.Stmt) {
				held := lockName(fd, lock)
				add := func(to string, at token.Pos, via string) {
					e := lockEdge{held, to}
					if _, seen := where[e]; !seen {
						pos := p.fset.Position(at)
						where[e] = fmt.Sprintf("%s:%d %s%s", filepath.Base(pos.Filename), pos.Line, fd.Name.Name, via)
					}
				}
				scanLocked(rest, lock, func(call *ast.CallExpr) {
					if x, name := callParts(call); (name == "Lock" || name == "RLock") && x != "" {
						add(lockName(fd, x), call.Pos(), "")
						return
					}
					n := callee(fd, call)
					for l := range takes[n] {
						add(l, call.Pos(), " via "+n)
					}
				})
			})
		}
	}
	var out []string
	edges := map[string][]string{}
	for e := range where {
		if e.from == e.to {
			out = append(out, fmt.Sprintf("%s taken while a %s is held (%s)", e.to, e.from, where[e]))
			continue
		}
		edges[e.from] = append(edges[e.from], e.to)
	}
	// A cycle: an edge a→b with a path back from b to a.
	reaches := func(from, to string) []string {
		prev := map[string]string{from: ""}
		queue := []string{from}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			if n == to {
				var path []string
				for ; n != ""; n = prev[n] {
					path = append([]string{n}, path...)
				}
				return path
			}
			for _, m := range edges[n] {
				if _, ok := prev[m]; !ok {
					prev[m] = n
					queue = append(queue, m)
				}
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for e := range where {
		if e.from == e.to {
			continue
		}
		path := reaches(e.to, e.from)
		if path == nil {
			continue
		}
		cycle := append([]string{e.from}, path...)
		id := cycleID(cycle)
		if seen[id] {
			continue
		}
		seen[id] = true
		var steps []string
		for i := 0; i+1 < len(cycle); i++ {
			steps = append(steps, fmt.Sprintf("%s then %s (%s)", cycle[i], cycle[i+1], where[lockEdge{cycle[i], cycle[i+1]}]))
		}
		out = append(out, "lock order inverted: "+strings.Join(steps, "; "))
	}
	sort.Strings(out)
	return out
}

// cycleID names a cycle whatever lock it starts from.
func cycleID(c []string) string {
	nodes := append([]string(nil), c[:len(c)-1]...)
	sort.Strings(nodes)
	return strings.Join(nodes, ",")
}

// eachLockedRegion calls f for each Lock statement in fd (closures
// included: a closure that locks orders its locks too) with the
// statements after it.
func eachLockedRegion(fd *ast.FuncDecl, f func(lock string, rest []ast.Stmt)) {
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		var list []ast.Stmt
		switch n := n.(type) {
		case *ast.BlockStmt:
			list = n.List
		case *ast.CaseClause:
			list = n.Body
		case *ast.CommClause:
			list = n.Body
		default:
			return true
		}
		for i, s := range list {
			lock := lockOf(s)
			if lock == "" {
				continue
			}
			rest := list[i+1:]
			if len(rest) > 0 && isDeferUnlock(rest[0], lock) {
				rest = rest[1:]
			}
			f(lock, rest)
		}
		return true
	})
}

// lockName names lock x (as written in fd): "T.f" when x is field f of a
// receiver or parameter of fd of named type T, x itself otherwise.
func lockName(fd *ast.FuncDecl, x string) string {
	v, field, ok := strings.Cut(x, ".")
	if !ok || strings.Contains(field, ".") {
		return x
	}
	for _, l := range []*ast.FieldList{fd.Recv, fd.Type.Params} {
		if l == nil {
			continue
		}
		for _, fld := range l.List {
			for _, n := range fld.Names {
				if n.Name == v {
					if t := recvType(fld.Type); t != "" {
						return t + "." + field
					}
				}
			}
		}
	}
	return x
}

// callParts splits a call x.name(...) into x (as written) and name.
func callParts(call *ast.CallExpr) (x, name string) {
	return callStmt(&ast.ExprStmt{X: call})
}
