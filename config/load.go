package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable duet reads.
const EnvPrefix = "DUET_"

// FlagSet registers one flag per Config field on fs, writing into c. The
// flags' defaults are c's current values, so call it on Default().
func FlagSet(fs *flag.FlagSet, c *Config) {
	eachField(c, func(key, help string, v reflect.Value) {
		name := strings.ReplaceAll(key, "_", "-")
		usage := fmt.Sprintf("%s (env %s)", help, envName(key))
		switch p := v.Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, name, *p, usage)
		case *int:
			fs.IntVar(p, name, *p, usage)
		case *float64:
			fs.Float64Var(p, name, *p, usage)
		case *bool:
			fs.BoolVar(p, name, *p, usage)
		case *time.Duration:
			fs.DurationVar(p, name, *p, usage)
		case *[]string:
			fs.Var((*listValue)(p), name, usage)
		default:
			panic("config: unsupported field type " + v.Type().String())
		}
	})
}

// Load builds the configuration for args (without the program and
// subcommand names): defaults, then the YAML file named by --config, then
// DUET_* variables from getenv, then the flags. It returns flag.ErrHelp
// when -h or --help was asked for, after printing usage to fs's output.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c := Default()
	var path string
	fs.StringVar(&path, "config", getenv(EnvPrefix+"CONFIG"), "YAML configuration file (env DUET_CONFIG)")
	FlagSet(fs, &c)

	// The file comes before the environment and the flags, so find its
	// name first without applying anything else.
	for _, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "config="); ok && strings.HasPrefix(a, "-") {
			path = v
		}
	}
	for i, a := range args {
		if (a == "--config" || a == "-config") && i+1 < len(args) {
			path = args[i+1]
		}
	}
	if path != "" {
		if err := loadFile(path, &c); err != nil {
			return c, err
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		key := strings.ReplaceAll(f.Name, "-", "_")
		if v := getenv(envName(key)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(key), err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func loadFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

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

// listValue is a comma-separated list flag.
type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// Describe lists every setting with its default, for documentation.
func Describe() []Setting {
	c := Default()
	var out []Setting
	eachField(&c, func(key, help string, v reflect.Value) {
		def := fmt.Sprint(v.Interface())
		if l, ok := v.Interface().([]string); ok {
			def = strings.Join(l, ",")
		}
		if s, ok := v.Interface().(float64); ok {
			def = strconv.FormatFloat(s, 'g', -1, 64)
		}
		out = append(out, Setting{Key: key, Flag: "--" + strings.ReplaceAll(key, "_", "-"), Env: envName(key), Default: def, Help: help})
	})
	return out
}

// Setting describes one configuration field.
type Setting struct{ Key, Flag, Env, Default, Help string }
