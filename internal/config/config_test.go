package config

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func TestApplyPrecedence(t *testing.T) {
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "promgate.yml")
	if err := os.WriteFile(yamlPath, []byte("listen: \":9000\"\ndata-dir: /from/file\nquery.timeout: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		args             []string
		env              map[string]string
		wantListen, want string // listen and data-dir
		wantTimeout      string
	}{
		{"file only", nil, nil, ":9000", "/from/file", "1m0s"},
		{"env beats file", nil, map[string]string{"PROMGATE_DATA_DIR": "/from/env", "PROMGATE_QUERY_TIMEOUT": "30s"}, ":9000", "/from/env", "30s"},
		{"flag beats env", []string{"--data-dir", "/from/flag"}, map[string]string{"PROMGATE_DATA_DIR": "/from/env"}, ":9000", "/from/flag", "1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			listen := fs.String("listen", ":8030", "")
			dataDir := fs.String("data-dir", "./data", "")
			timeout := fs.Duration("query.timeout", 0, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if err := Apply(fs, yamlPath, lookup); err != nil {
				t.Fatal(err)
			}
			if *listen != tt.wantListen || *dataDir != tt.want || timeout.String() != tt.wantTimeout {
				t.Fatalf("got listen=%s data-dir=%s timeout=%s", *listen, *dataDir, timeout)
			}
		})
	}
}

func TestApplyRejectsUnknownKeysAndBadValues(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		env        map[string]string
	}{
		{"unknown yaml key", "lisen: x\n", nil},
		{"bad yaml", "listen: [\n", nil},
		{"bad env value", "", map[string]string{"PROMGATE_QUERY_TIMEOUT": "soon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".yml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.String("listen", "", "")
			fs.Duration("query.timeout", 0, "")
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if err := Apply(fs, p, lookup); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
