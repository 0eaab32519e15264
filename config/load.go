package config

import (
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/duet-rtc/duet/internal/cli"
)

// EnvPrefix starts every environment variable duet reads.
const EnvPrefix = "DUET_"

// FlagSet registers one flag per Config field on fs, writing into c. The
// flags' defaults are c's current values, so call it on Default().
func FlagSet(fs *flag.FlagSet, c *Config) {
	eachField(c, func(key, help string, v reflect.Value) {
		fs.Var(newField(v), flagName(key), fmt.Sprintf("%s (env %s)", help, envName(key)))
	})
}

// Load builds the configuration for args (without the program and
// subcommand names): defaults, then the YAML file named by --config, then
// DUET_* variables from getenv, then the flags. fs may hold flags of the
// caller's own (healthcheck's --url); Load adds --config and one flag per
// setting. It prints nothing: it returns flag.ErrHelp when -h or --help
// was asked for, a command-line mistake as one of the cli package's errors
// (cli.IsUsage), and invalid settings joined, each naming its key.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c := Default()
	var path string
	fs.StringVar(&path, "config", getenv(EnvPrefix+"CONFIG"), "YAML configuration file (env DUET_CONFIG)")
	FlagSet(fs, &c)

	// The file comes before the environment and the flags, but its name is
	// a flag: parse once for it (and for mistakes, before reading a file),
	// then start again from the defaults and parse again last.
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return c, err
	}
	if err := cli.NoArgs(fs, args, pos); err != nil {
		return c, err
	}
	c = Default()
	if path != "" {
		if err := loadFile(path, &c); err != nil {
			return c, err
		}
	}
	var errs []error
	eachField(&c, func(key, _ string, v reflect.Value) {
		if s := getenv(envName(key)); s != "" {
			if err := newField(v).Set(s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(key), err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if _, err := cli.Parse(fs, args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

func envName(key string) string { return EnvPrefix + strings.ToUpper(key) }

func eachField(c *Config, fn func(key, help string, v reflect.Value)) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("yaml")
		if key == "" || key == "-" {
			continue
		}
		fn(key, f.Tag.Get("help"), v.Field(i))
	}
}

// field is one Config field as a flag.Value. Flags, DUET_* variables and
// the YAML file all set a field through it, so a value means the same and
// is refused in the same words wherever it comes from.
type field struct {
	v   reflect.Value
	def string // the value when it was made: the example in messages
}

func newField(v reflect.Value) *field {
	f := &field{v: v}
	f.def = f.String()
	return f
}

// Kind is the form of the field's values.
func (f *field) Kind() cli.Kind {
	if f == nil || !f.v.IsValid() {
		return cli.KindOther
	}
	switch f.v.Addr().Interface().(type) {
	case *string:
		return cli.KindString
	case *int:
		return cli.KindInt
	case *float64:
		return cli.KindFloat
	case *bool:
		return cli.KindBool
	case *[]string:
		return cli.KindList
	}
	if f.v.Type() == reflect.TypeFor[durationType]() {
		return cli.KindDuration
	}
	panic("config: unsupported field type " + f.v.Type().String())
}

// IsBoolFlag makes a boolean field a flag that needs no value.
func (f *field) IsBoolFlag() bool { return f.Kind() == cli.KindBool }

// Get returns the field's value.
func (f *field) Get() any { return f.v.Interface() }

func (f *field) String() string {
	if f == nil || !f.v.IsValid() {
		return ""
	}
	switch x := f.v.Interface().(type) {
	case []string:
		return strings.Join(x, ",")
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(f.v.Interface())
}

// Set parses s into the field. A list is comma-separated; its entries are
// trimmed and empty ones dropped.
func (f *field) Set(s string) error {
	k := f.Kind()
	bad := func() error { return errors.New(cli.Expect(k, s, f.def)) }
	switch k {
	case cli.KindString:
		f.v.SetString(s)
	case cli.KindInt:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return bad()
		}
		f.v.SetInt(int64(n))
	case cli.KindFloat:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return bad()
		}
		f.v.SetFloat(x)
	case cli.KindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return bad()
		}
		f.v.SetBool(b)
	case cli.KindDuration:
		d, err := parseDuration(s)
		if err != nil {
			return bad()
		}
		f.v.SetInt(int64(d))
	case cli.KindList:
		f.v.Set(reflect.ValueOf(splitList(s)))
	}
	return nil
}

func splitList(s string) []string {
	var l []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l = append(l, p)
		}
	}
	return l
}

// Describe lists every setting with its default, for documentation.
func Describe() []Setting {
	c := Default()
	var out []Setting
	eachField(&c, func(key, help string, v reflect.Value) {
		out = append(out, Setting{Key: key, Flag: "--" + flagName(key), Env: envName(key), Default: newField(v).String(), Help: help})
	})
	return out
}

// Setting describes one configuration field.
type Setting struct{ Key, Flag, Env, Default, Help string }

// Keys lists the YAML keys of every setting.
func Keys() []string {
	var keys []string
	for _, s := range Describe() {
		keys = append(keys, s.Key)
	}
	return keys
}

type durationType = time.Duration

func parseDuration(s string) (time.Duration, error) { return time.ParseDuration(strings.TrimSpace(s)) }
