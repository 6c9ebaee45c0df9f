// Package config fills a flag set from, in falling priority, the command
// line, PROMGATE_* environment variables and an optional YAML file whose
// keys are the flag names, and the `oidc:` section of that file (LoadOIDC).
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable for a flag: "query.timeout" →
// "PROMGATE_QUERY_TIMEOUT".
func EnvName(flagName string) string {
	return "PROMGATE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

// Apply sets every flag of fs that the command line left unset from the
// environment (lookupEnv, usually os.LookupEnv) or, failing that, from the
// YAML file at yamlPath (skipped when empty). Unknown YAML keys are errors,
// so a typo does not pass silently.
func Apply(fs *flag.FlagSet, yamlPath string, lookupEnv func(string) (string, bool)) error {
	fileValues := map[string]any{}
	if yamlPath != "" {
		raw, err := os.ReadFile(yamlPath)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		if err := yaml.Unmarshal(raw, &fileValues); err != nil {
			return fmt.Errorf("parse config file %s: %w", yamlPath, err)
		}
		// The oidc section is a structure, read by LoadOIDC.
		delete(fileValues, OIDCKey)
		for key := range fileValues {
			if fs.Lookup(key) == nil {
				return fmt.Errorf("config file %s: unknown setting %q (settings are flag names, e.g. data-dir)", yamlPath, key)
			}
		}
	}
	setOnCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setOnCommandLine[f.Name] = true })

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if setOnCommandLine[f.Name] {
			return
		}
		if v, ok := lookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s: %w", EnvName(f.Name), err))
			}
			return
		}
		if v, ok := fileValues[f.Name]; ok {
			if err := fs.Set(f.Name, fmt.Sprint(v)); err != nil {
				errs = append(errs, fmt.Errorf("config file setting %s: %w", f.Name, err))
			}
		}
	})
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
