package cli

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is the form a setting's value takes.
type Kind int

// The kinds of values duet's flags and settings have.
const (
	KindString Kind = iota
	KindInt
	KindFloat
	KindBool
	KindDuration
	KindList
	KindOther
)

// KindOf tells the kind of a flag's value from what its Get returns.
func KindOf(v flag.Value) Kind {
	if k, ok := v.(interface{ Kind() Kind }); ok {
		return k.Kind()
	}
	g, ok := v.(flag.Getter)
	if !ok {
		return KindOther
	}
	switch g.Get().(type) {
	case string:
		return KindString
	case int, int64, uint, uint64:
		return KindInt
	case float64:
		return KindFloat
	case bool:
		return KindBool
	case time.Duration:
		return KindDuration
	case []string:
		return KindList
	}
	return KindOther
}

// Problem says what is wrong with value for a flag of v's kind and how to
// write it; def is the flag's default, used as the example when it is
// one. err is what the value's Set said, used for kinds it knows better.
func Problem(v flag.Value, value, def string, err error) string {
	if p := Expect(KindOf(v), value, def); p != "" {
		return p
	}
	return fmt.Sprintf("%s: %v", quoteIfNeeded(value), err)
}

// Expect describes a value that does not parse as kind k, with the form
// to write instead: "45 is not a duration; write 45s". def, when it is a
// valid value, serves as the example. It returns "" for kinds it does not
// know.
func Expect(k Kind, value, def string) string {
	q := quoteIfNeeded(value)
	switch k {
	case KindDuration:
		if _, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			return fmt.Sprintf("%s is not a duration; write %ss", q, strings.TrimSpace(value))
		}
		return fmt.Sprintf("%s is not a duration; write it with a unit, e.g. %s", q, exampleOr(def, "0", "30s"))
	case KindInt:
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			return fmt.Sprintf("%s is not a whole number; write e.g. %d", q, int64(f))
		}
		return fmt.Sprintf("%s is not a whole number; write digits only, e.g. %s", q, exampleOr(def, "", "100"))
	case KindFloat:
		return fmt.Sprintf("%s is not a number; write e.g. %s", q, exampleOr(def, "", "50"))
	case KindBool:
		return fmt.Sprintf("%s is not true or false", q)
	}
	return ""
}

// Example is a value to show with a flag that needs one: its default when
// that says something, else one of its kind.
func Example(v flag.Value, def string) string {
	switch KindOf(v) {
	case KindDuration:
		return exampleOr(def, "0s", "30s")
	case KindInt:
		return exampleOr(def, "", "100")
	case KindFloat:
		return exampleOr(def, "", "50")
	}
	if def != "" {
		return def
	}
	return ""
}

func exampleOr(def, useless, fallback string) string {
	if def == "" || def == useless || def == "0" {
		return fallback
	}
	return def
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'") {
		return strconv.Quote(s)
	}
	return s
}
