// Package config is promgate's settings vocabulary outside the command
// line: the PROMGATE_* environment variable of each flag, and the YAML
// --config.file whose flat keys are flag names and whose mappings are
// sections of structured settings. Precedence, highest first: command
// line, environment, file, built-in default.
package config

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable for a flag: "query.timeout" →
// "PROMGATE_QUERY_TIMEOUT".
func EnvName(flagName string) string {
	return "PROMGATE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

// MaxFileSize bounds a config file: it is read whole.
const MaxFileSize = 1 << 20

// File is a parsed config file: Flags holds the flat keys (flag names) with
// their values as a flag would take them; Sections holds the mappings
// (e.g. a future `oidc:`) for the code that owns each to decode.
type File struct {
	Path     string
	Flags    map[string][]string
	Sections map[string]yaml.Node
}

// Load reads and parses the YAML file at path.
func Load(path string) (*File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("config file %s: %d bytes, more than the %d a config file may have", path, fi.Size(), MaxFileSize)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	f := &File{Path: path, Flags: map[string][]string{}, Sections: map[string]yaml.Node{}}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("parse config file %s: %w", path, err)
	}
	for key, node := range top {
		switch node.Kind {
		case yaml.MappingNode:
			f.Sections[key] = node
		case yaml.ScalarNode:
			f.Flags[key] = []string{node.Value}
		case yaml.SequenceNode:
			// A repeatable flag, given once per value.
			var vs []string
			if err := node.Decode(&vs); err != nil {
				return nil, fmt.Errorf("config file %s: setting %s: want a list of values: %w", path, key, err)
			}
			f.Flags[key] = vs
		default:
			return nil, fmt.Errorf("config file %s: setting %s: want a value, a list or a section", path, key)
		}
	}
	return f, nil
}

// Section decodes the section name into v, refusing unknown fields so a
// typo does not pass silently; false when the file has no such section.
func (f *File) Section(name string, v any) (bool, error) {
	node, ok := f.Sections[name]
	if !ok {
		return false, nil
	}
	raw, err := yaml.Marshal(&node)
	if err != nil {
		return true, fmt.Errorf("config file %s: section %s: %w", f.Path, name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return true, fmt.Errorf("config file %s: section %s: %w", f.Path, name, err)
	}
	return true, nil
}

// FlagLookup finds a flag by name: a *kingpin.Application or
// *kingpin.CmdClause.
type FlagLookup interface {
	GetFlag(name string) *kingpin.FlagClause
}

// ApplyDefaults makes each flat key of f the default of the flag of that
// name, found in the first of flags that has it, so that the command line
// and the environment still win. sections names the sections the caller
// decodes; any other flat key or section is an error naming it.
func ApplyDefaults(f *File, sections []string, flags ...FlagLookup) error {
	for _, key := range sortedKeys(f.Flags) {
		var fl *kingpin.FlagClause
		for _, l := range flags {
			if fl = l.GetFlag(key); fl != nil {
				break
			}
		}
		if fl == nil || fl.Model().Hidden {
			return fmt.Errorf("config file %s: unknown setting %q (settings are flag names, e.g. data-dir)", f.Path, key)
		}
		fl.Default(f.Flags[key]...)
	}
	for name := range f.Sections {
		known := false
		for _, s := range sections {
			known = known || s == name
		}
		if !known {
			return fmt.Errorf("config file %s: unknown section %q", f.Path, name)
		}
	}
	return nil
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
