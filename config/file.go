package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/duet-rtc/duet/internal/cli"
)

// loadFile sets c's fields from the YAML file at path. Each problem names
// the file, the line, the key and what to write instead; all of them are
// reported, not only the first.
func loadFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		at := path
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			at, msg = path+":"+m[1], msg[len(m[0]):]
		}
		return fmt.Errorf("%s: not valid YAML: %s (write one key: value a line, e.g. listen: :5080)", at, msg)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file (or only comments) changes nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: the file must be YAML keys with values, one per line, e.g. \"listen: :5080\"", path, root.Line)
	}
	fields := map[string]reflect.Value{}
	eachField(c, func(key, _ string, v reflect.Value) { fields[key] = v })
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := fmt.Sprintf("%s:%d", path, k.Line)
		fv, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("%s: unknown key %s", at, k.Value)
			if s := cli.Suggest(k.Value, Keys()); s != "" {
				msg += "; did you mean " + s + "?"
			}
			errs = append(errs, errors.New(msg+" (duet serve --help lists the keys, as flags)"))
			continue
		}
		if err := setFromNode(k.Value, newField(fv), v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", at, k.Value, err))
		}
	}
	return errors.Join(errs...)
}

// setFromNode sets f from a YAML value: a scalar through f.Set, as a flag
// would be; a list from a YAML sequence or from one comma-separated string.
func setFromNode(key string, f *field, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		f.v.Set(reflect.Zero(f.v.Type()))
		return nil
	}
	if f.Kind() == cli.KindList {
		switch n.Kind {
		case yaml.ScalarNode:
			return f.Set(n.Value)
		case yaml.SequenceNode:
			var l []string
			for _, e := range n.Content {
				if e.Kind != yaml.ScalarNode {
					return fmt.Errorf("the entry on line %d is not a single value; write a list of strings, e.g. %s", e.Line, listExample(key))
				}
				if s := strings.TrimSpace(e.Value); s != "" {
					l = append(l, s)
				}
			}
			f.v.Set(reflect.ValueOf(l))
			return nil
		}
		return fmt.Errorf("a mapping here, but it takes a list; write e.g. %s, or the same comma-separated in one string", listExample(key))
	}
	if n.Kind != yaml.ScalarNode {
		what := map[yaml.Kind]string{yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}[n.Kind]
		return fmt.Errorf("%s here, but it takes one value; write e.g. %s", what, scalarExample(f))
	}
	return f.Set(n.Value)
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// listExamples are values to show for the list settings.
var listExamples = map[string]string{
	"tls_acme_domains":   "[call.example.com, www.example.com]",
	"allowed_origins":    "[https://call.example.com, https://www.example.com]",
	"trusted_proxies":    "[10.0.0.0/16, 127.0.0.1]",
	"turn_uris":          "[turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349?transport=tcp]",
	"turn_allowed_peers": "[10.20.0.0/16]",
	"webhook_urls":       "[https://app.example.com/duet-events]",
}

func listExample(key string) string {
	if e, ok := listExamples[key]; ok {
		return e
	}
	return "[a, b]"
}

func scalarExample(f *field) string {
	switch f.Kind() {
	case cli.KindBool:
		return "true"
	case cli.KindDuration:
		if f.def != "0s" {
			return f.def
		}
		return "30s"
	}
	if f.def != "" {
		return f.def
	}
	return `"text"`
}
