package cli

import (
	"errors"
	"flag"
	"slices"
	"testing"
	"time"
)

func TestSuggest(t *testing.T) {
	known := []string{"listen", "max-message-bytes", "max-connections", "max-connections-per-ip", "idle-timeout", "json"}
	for name, want := range map[string]string{
		"listn":             "listen",
		"lsiten":            "listen",
		"max_message_bytes": "max-message-bytes",
		"idle-timout":       "idle-timeout",
		"jsn":               "json",
		"idle-":             "idle-timeout", // a prefix of one name
		"max-conn":          "",             // a prefix of two
		"frobnicate":        "",
		"x":                 "",
	} {
		if got := Suggest(name, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	on := fs.Bool("on", false, "")
	d := fs.Duration("d", time.Second, "")
	n := fs.Int("n", 0, "")
	pos, err := Parse(fs, []string{"a", "--on", "-d=2s", "b", "--n", "3", "--", "--on"})
	if err != nil || !*on || *d != 2*time.Second || *n != 3 || !slices.Equal(pos, []string{"a", "b", "--on"}) {
		t.Fatalf("pos %q err %v on %v d %v n %v", pos, err, *on, *d, *n)
	}
	if _, err := Parse(fs, []string{"--on=false"}); err != nil || *on {
		t.Errorf("--on=false: %v %v", *on, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--d", "45"}, "--d: 45 is not a duration; write 45s"},
		{[]string{"--n", "2.5"}, "--n: 2.5 is not a whole number; write e.g. 2"},
		{[]string{"--n"}, "--n needs a value, e.g. --n 100"},
		{[]string{"--on=yes please"}, `--on: "yes please" is not true or false`},
		{[]string{"---n", "1"}, "unknown flag --" + "-n; did you mean --n?"},
	} {
		_, err := Parse(fs, tc.args)
		if err == nil || err.Error() != tc.want || !IsUsage(err) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := Parse(fs, []string{"a", "-help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
	args := []string{"--on", "false"}
	pos, _ = Parse(fs, args)
	if err := NoArgs(fs, args, pos); err == nil || err.Error() != `unexpected argument "false" after --on: a boolean flag takes its value with =, as in --on=false` {
		t.Errorf("stray: %v", err)
	}
}
