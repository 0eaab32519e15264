// Package cli parses duet's command lines with messages that say what to
// do: an unknown flag gets the closest known one, a bad value the form it
// should have with an example, a stray argument is refused (a boolean flag
// takes its value as --flag=false, not as the next word), and --help goes
// to stdout. It works on the standard library's flag.FlagSet, so the flags
// are declared as usual; only the parsing and its errors are its own.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// UnknownFlagError is a flag the command does not have.
type UnknownFlagError struct {
	Flag    string // as typed, without dashes or value
	Suggest string // the closest known flag, or ""
}

func (e *UnknownFlagError) Error() string {
	if e.Suggest != "" {
		return fmt.Sprintf("unknown flag --%s; did you mean --%s?", e.Flag, e.Suggest)
	}
	return fmt.Sprintf("unknown flag --%s", e.Flag)
}

// ValueError is a flag value that does not parse.
type ValueError struct {
	Flag, Value string
	Problem     string // e.g. "45 is not a duration; write 45s"
}

func (e *ValueError) Error() string { return "--" + e.Flag + ": " + e.Problem }

// MissingValueError is a flag given last without its value.
type MissingValueError struct{ Flag, Example string }

func (e *MissingValueError) Error() string {
	if e.Example != "" {
		return fmt.Sprintf("--%s needs a value, e.g. --%s %s", e.Flag, e.Flag, e.Example)
	}
	return fmt.Sprintf("--%s needs a value", e.Flag)
}

// StrayArgError is a positional argument where the command takes none.
type StrayArgError struct {
	Arg       string
	AfterFlag string // the boolean flag right before it, when there is one
}

func (e *StrayArgError) Error() string {
	if e.AfterFlag != "" {
		return fmt.Sprintf("unexpected argument %q after --%s: a boolean flag takes its value with =, as in --%s=%s",
			e.Arg, e.AfterFlag, e.AfterFlag, e.Arg)
	}
	return fmt.Sprintf("unexpected argument %q (this command takes flags only)", e.Arg)
}

// IsUsage reports whether err is a mistake in the command line (as opposed
// to, say, a configuration value that parsed but is out of range).
func IsUsage(err error) bool {
	var (
		u *UnknownFlagError
		v *ValueError
		m *MissingValueError
		s *StrayArgError
	)
	return errors.As(err, &u) || errors.As(err, &v) || errors.As(err, &m) || errors.As(err, &s)
}

// Parse sets fs's flags from args and returns the positional arguments.
// Flags may come before, between and after positional arguments; "--"
// ends the flags. -h, -help and --help return flag.ErrHelp. Unlike
// fs.Parse it prints nothing: the caller reports the error (see Fail).
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if name == "h" || name == "help" {
			return pos, flag.ErrHelp
		}
		f := fs.Lookup(name)
		if f == nil || name == "" || strings.HasPrefix(name, "-") {
			return pos, &UnknownFlagError{Flag: name, Suggest: Suggest(name, flagNames(fs))}
		}
		if isBool(f) {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				return pos, &MissingValueError{Flag: name, Example: Example(f.Value, f.DefValue)}
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			return pos, &ValueError{Flag: name, Value: value, Problem: Problem(f.Value, value, f.DefValue, err)}
		}
	}
	return pos, nil
}

// NoArgs refuses positional arguments: pos from Parse of args. A word right
// after a boolean flag ("--tls-self-signed false") is named as such, since
// it looks like the flag's value but is not.
func NoArgs(fs *flag.FlagSet, args, pos []string) error {
	if len(pos) == 0 {
		return nil
	}
	e := &StrayArgError{Arg: pos[0]}
	for i, a := range args {
		if a != pos[0] || i == 0 {
			continue
		}
		prev := strings.TrimLeft(args[i-1], "-")
		if f := fs.Lookup(prev); f != nil && isBool(f) && strings.HasPrefix(args[i-1], "-") {
			e.AfterFlag = prev
		}
		break
	}
	return e
}

// Fail prints err for the command cmd ("duet serve") on w, with a pointer
// to the command's help instead of the whole usage, and returns exit code 2.
func Fail(w io.Writer, cmd string, err error) int {
	fmt.Fprintf(w, "%s: %v\n", cmd, err)
	fmt.Fprintf(w, "run '%s --help' for the flags\n", cmd)
	return 2
}

// Help prints fs's usage on stdout (the help was asked for: it is the
// output, not an error) and returns exit code 0.
func Help(fs *flag.FlagSet, stdout io.Writer) int {
	fs.SetOutput(stdout)
	if fs.Usage != nil {
		fs.Usage()
	} else {
		fs.PrintDefaults()
	}
	return 0
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// PrintFlags lists fs's flags on w, two dashes each, with the kind of
// value they take, their help and their default.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind := map[Kind]string{KindString: "string", KindInt: "int", KindFloat: "number", KindDuration: "duration", KindList: "list"}[KindOf(f.Value)]
		fmt.Fprintf(w, "  --%s", f.Name)
		if kind != "" {
			fmt.Fprintf(w, " %s", kind)
		}
		fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(f.Usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
