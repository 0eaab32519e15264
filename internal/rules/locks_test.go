package rules

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The packages whose locks order room state: the room backends and the
// cluster's parts.
var lockedPackages = []string{"hub", "cluster", "cluster/link", "cluster/live", "cluster/kv"}

// TestLockOrderWritten: every struct type in lockedPackages with a mutex
// field says, in its doc comment, where that lock sits in the lock order.
func TestLockOrderWritten(t *testing.T) {
	for _, dir := range lockedPackages {
		for _, f := range parseDir(t, dir).files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					st, ok := ts.Type.(*ast.StructType)
					if !ok || !hasMutex(st) {
						continue
					}
					doc := ts.Doc
					if doc == nil {
						doc = gd.Doc
					}
					if doc == nil || !strings.Contains(doc.Text(), "Lock order:") {
						t.Errorf("%s: type %s has a mutex but its doc comment says nothing of the lock order (\"Lock order: ...\")", dir, ts.Name.Name)
					}
				}
			}
		}
	}
}

func hasMutex(st *ast.StructType) bool {
	for _, fld := range st.Fields.List {
		if sel, ok := fld.Type.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "sync" && (sel.Sel.Name == "Mutex" || sel.Sel.Name == "RWMutex") {
				return true
			}
		}
	}
	return false
}

// TestNothingBlocksUnderALock: in lockedPackages, no statement between a
// Lock and its Unlock publishes, makes a request, kills or probes a
// connection, or logs — directly or through a function of the same
// package that does (followed transitively, by name). Closures are not
// followed (they mostly run later: timers, spawned goroutines), nor are
// calls into other packages; Conn.Send, which only queues, is allowed.
//
// It reads the code, so it is a heuristic: it cannot see a lock taken in
// one function and released in another, except through the unlock*
// helpers it knows release a lock.
func TestNothingBlocksUnderALock(t *testing.T) {
	for _, dir := range lockedPackages {
		for _, v := range lockViolations(parseDir(t, dir)) {
			t.Errorf("%s: %s", dir, v)
		}
	}
}

// TestLockCheckerCatches: the checker finds what it is for — a log, a
// kill and a publish (one through a helper) under a lock — and accepts
// them after the unlock, in a closure and behind an early unlock.
func TestLockCheckerCatches(t *testing.T) {
	src := `package p
func (c *C) bad1() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.Warn("x")
}
func (c *C) bad2() {
	m.mu.Lock()
	if x {
		m.conn.Kill("r")
	}
	m.mu.Unlock()
}
func (c *C) bad3() {
	c.mu.Lock()
	c.tell()
	c.mu.Unlock()
}
func (c *C) tell() { c.bus.Publish("s", nil) }
func (c *C) good() {
	c.mu.Lock()
	if x {
		c.mu.Unlock()
		c.log.Info("early")
		return
	}
	c.after = func() { c.log.Info("later") }
	c.mu.Unlock()
	c.tell()
	c.log.Info("after")
}
func (c *C) good2() {
	m.mu.Lock()
	m.conn.Send(nil)
	c.unlockFlush(m)
	c.tell()
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	got := lockViolations(&pkg{fset: fset, files: []*ast.File{f}})
	want := []string{"bad1", "bad2", "bad3"}
	if len(got) != len(want) {
		t.Fatalf("found %d, want %d: %q", len(got), len(want), got)
	}
	for i, w := range want {
		if !strings.Contains(got[i], " "+w+": ") {
			t.Errorf("finding %d is %q, want one in %s", i, got[i], w)
		}
	}
}

type pkg struct {
	fset  *token.FileSet
	files []*ast.File
}

// parseDir parses the production files of dir, relative to the module root.
func parseDir(t *testing.T, dir string) *pkg {
	t.Helper()
	root := filepath.Join("..", "..", dir)
	fset := token.NewFileSet()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	p := &pkg{fset: fset}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, n), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		p.files = append(p.files, f)
	}
	if len(p.files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	return p
}

// blocking names what a call does that must not happen under a lock, or
// "" for a call that is fine.
func blocking(call *ast.CallExpr) string {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	switch sel.Sel.Name {
	case "Publish", "PublishAck", "Request", "Gather":
		return "publishes (" + sel.Sel.Name + ")"
	case "Kill":
		return "kills a connection"
	case "Probe":
		return "probes a connection"
	case "Debug", "Info", "Warn", "Error", "Log", "DebugContext", "InfoContext", "WarnContext", "ErrorContext":
		if logger(sel.X) {
			return "logs"
		}
	}
	return ""
}

// logger reports whether x looks like a logger: slog, or a name or field
// called log or logger.
func logger(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name == "slog" || x.Name == "log" || x.Name == "logger"
	case *ast.SelectorExpr:
		return x.Sel.Name == "log" || x.Sel.Name == "logger"
	case *ast.CallExpr: // c.log.With(...).Warn
		if s, ok := x.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "With" {
			return logger(s.X)
		}
	}
	return false
}

// funcKey names a function of the package: "T.f" for a method of T,
// ".f" for a function.
func funcKey(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return "." + fd.Name.Name
	}
	return recvType(fd.Recv.List[0].Type) + "." + fd.Name.Name
}

func recvType(x ast.Expr) string {
	switch x := x.(type) {
	case *ast.StarExpr:
		return recvType(x.X)
	case *ast.IndexExpr:
		return recvType(x.X)
	case *ast.IndexListExpr:
		return recvType(x.X)
	case *ast.Ident:
		return x.Name
	}
	return ""
}

// callee is the key of the function of the package a call in fd is to,
// as far as it can be told without types: f(...), or x.f(...) for a
// receiver or parameter x of fd whose type is named in its declaration;
// "" for any other (a method of a local variable's type is not followed).
func callee(fd *ast.FuncDecl, call *ast.CallExpr) string {
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		return "." + fn.Name
	case *ast.SelectorExpr:
		x, ok := fn.X.(*ast.Ident)
		if !ok {
			return ""
		}
		lists := []*ast.FieldList{fd.Recv, fd.Type.Params}
		for _, l := range lists {
			if l == nil {
				continue
			}
			for _, fld := range l.List {
				for _, n := range fld.Names {
					if n.Name == x.Name {
						return recvType(fld.Type) + "." + fn.Sel.Name
					}
				}
			}
		}
	}
	return ""
}

// lockViolations finds, in p, the calls under a lock that block.
func lockViolations(p *pkg) []string {
	// What each function does that blocks, directly or transitively.
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range p.files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				funcs[funcKey(fd)] = fd
			}
		}
	}
	does := map[string]string{}
	for changed := true; changed; {
		changed = false
		for key, fd := range funcs {
			if does[key] != "" {
				continue
			}
			eachCall(fd.Body, func(call *ast.CallExpr) bool {
				if why := blocking(call); why != "" {
					does[key] = why
				} else if n := callee(fd, call); n != key && does[n] != "" {
					does[key] = "calls " + n + ", which " + does[n]
				}
				return does[key] == ""
			})
			changed = changed || does[key] != ""
		}
	}
	var out []string
	for _, f := range p.files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			eachLockedRegion(fd, func(lock string, rest []ast.Stmt) {
				scanLocked(rest, lock, func(call *ast.CallExpr) {
					why := blocking(call)
					if n := callee(fd, call); why == "" && does[n] != "" {
						why = "calls " + n + ", which " + does[n]
					}
					if why != "" {
						pos := p.fset.Position(call.Pos())
						out = append(out, fmt.Sprintf("%s:%d: %s: under %s: %s", filepath.Base(pos.Filename), pos.Line, fd.Name.Name, lock, why))
					}
				})
			})
		}
	}
	return out
}

// eachCall calls f for each call in n outside closures, until f returns
// false.
func eachCall(n ast.Node, f func(*ast.CallExpr) bool) {
	goOn := true
	ast.Inspect(n, func(n ast.Node) bool {
		if !goOn {
			return false
		}
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.CallExpr:
			goOn = f(n)
		}
		return goOn
	})
}

// lockOf returns the lock s takes ("c.mu"), if s is x.Lock() or x.RLock().
func lockOf(s ast.Stmt) string {
	if x, name := callStmt(s); name == "Lock" || name == "RLock" {
		return x
	}
	return ""
}

// unlocks reports whether s releases lock: lock.Unlock(), lock.RUnlock(),
// or an unlock* helper (which release a member's lock and flush).
func unlocks(s ast.Stmt, lock string) bool {
	x, name := callStmt(s)
	return (x == lock && (name == "Unlock" || name == "RUnlock")) || strings.HasPrefix(name, "unlock")
}

func isDeferUnlock(s ast.Stmt, lock string) bool {
	d, ok := s.(*ast.DeferStmt)
	return ok && unlocks(&ast.ExprStmt{X: d.Call}, lock)
}

// callStmt splits a statement x.name(...) into x (as written) and name.
func callStmt(s ast.Stmt) (x, name string) {
	es, ok := s.(*ast.ExprStmt)
	if !ok {
		return "", ""
	}
	call, ok := es.X.(*ast.CallExpr)
	if !ok {
		return "", ""
	}
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr:
		return exprString(fn.X), fn.Sel.Name
	case *ast.Ident:
		return "", fn.Name
	}
	return "", ""
}

func exprString(x ast.Expr) string {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	}
	return fmt.Sprintf("%T", x)
}

// scanLocked hands f each call the statements make while lock is held:
// up to the statement that releases it, in this list or (for the rest
// of that nested list only) in a nested one.
func scanLocked(list []ast.Stmt, lock string, f func(*ast.CallExpr)) bool {
	each := func(n ast.Node) {
		if n != nil {
			eachCall(n, func(c *ast.CallExpr) bool { f(c); return true })
		}
	}
	for _, s := range list {
		if unlocks(s, lock) {
			return true
		}
		switch s := s.(type) {
		case *ast.BlockStmt:
			scanLocked(s.List, lock, f)
		case *ast.IfStmt:
			each(s.Init)
			each(s.Cond)
			scanLocked(s.Body.List, lock, f)
			if s.Else != nil {
				scanLocked([]ast.Stmt{s.Else}, lock, f)
			}
		case *ast.ForStmt:
			each(s.Init)
			each(s.Cond)
			each(s.Post)
			scanLocked(s.Body.List, lock, f)
		case *ast.RangeStmt:
			each(s.X)
			scanLocked(s.Body.List, lock, f)
		case *ast.SwitchStmt:
			each(s.Init)
			each(s.Tag)
			for _, cc := range s.Body.List {
				c := cc.(*ast.CaseClause)
				for _, e := range c.List {
					each(e)
				}
				scanLocked(c.Body, lock, f)
			}
		case *ast.TypeSwitchStmt:
			each(s.Init)
			each(s.Assign)
			for _, cc := range s.Body.List {
				scanLocked(cc.(*ast.CaseClause).Body, lock, f)
			}
		case *ast.SelectStmt:
			for _, cc := range s.Body.List {
				c := cc.(*ast.CommClause)
				each(c.Comm)
				scanLocked(c.Body, lock, f)
			}
		case *ast.LabeledStmt:
			scanLocked([]ast.Stmt{s.Stmt}, lock, f)
		case *ast.GoStmt:
			// runs elsewhere, after the lock's release as likely as not;
			// its arguments are evaluated here
			for _, a := range s.Call.Args {
				each(a)
			}
		case *ast.DeferStmt:
			// runs when the function returns, maybe after the unlock
		default:
			each(s)
		}
	}
	return false
}
