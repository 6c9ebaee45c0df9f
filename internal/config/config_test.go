package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"query.timeout": "PROMGATE_QUERY_TIMEOUT",
		"data-dir":      "PROMGATE_DATA_DIR",
		"store.url":     "PROMGATE_STORE_URL",
	} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestApplyDefaultsPrecedence(t *testing.T) {
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "promgate.yml")
	if err := os.WriteFile(yamlPath, []byte("listen: \":9000\"\ndata-dir: /from/file\nquery.timeout: 1m\nheader: [a, b]\noidc:\n  issuer: https://idp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		args             []string
		env              map[string]string
		wantListen, want string // listen and data-dir
		wantTimeout      time.Duration
	}{
		{"file only", nil, nil, ":9000", "/from/file", time.Minute},
		{"env beats file", nil, map[string]string{"PROMGATE_DATA_DIR": "/from/env", "PROMGATE_QUERY_TIMEOUT": "30s"}, ":9000", "/from/env", 30 * time.Second},
		{"flag beats env", []string{"--data-dir", "/from/flag"}, map[string]string{"PROMGATE_DATA_DIR": "/from/env"}, ":9000", "/from/flag", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"PROMGATE_DATA_DIR", "PROMGATE_QUERY_TIMEOUT", "PROMGATE_LISTEN"} {
				t.Setenv(k, tt.env[k])
			}
			app := kingpin.New("t", "")
			flag := func(name string) *kingpin.FlagClause { return app.Flag(name, "").Envar(EnvName(name)) }
			listen := flag("listen").Default(":8030").String()
			dataDir := flag("data-dir").Default("./data").String()
			timeout := flag("query.timeout").Default("2m").Duration()
			headers := app.Flag("header", "").Strings()
			f, err := Load(yamlPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := ApplyDefaults(f, []string{"oidc"}, app); err != nil {
				t.Fatal(err)
			}
			if _, err := app.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if *listen != tt.wantListen || *dataDir != tt.want || *timeout != tt.wantTimeout || len(*headers) != 2 {
				t.Fatalf("got listen=%s data-dir=%s timeout=%s headers=%v", *listen, *dataDir, *timeout, *headers)
			}
			var oidc struct {
				Issuer string `yaml:"issuer"`
			}
			if ok, err := f.Section("oidc", &oidc); !ok || err != nil || oidc.Issuer != "https://idp" {
				t.Fatalf("section: %v %v %+v", ok, err, oidc)
			}
		})
	}
}

func TestLoadAndApplyRefuseMistakes(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		loadErr    bool
	}{
		{"unknown key", "lisen: x\n", false},
		{"unknown section", "oidc:\n  issuer: x\n", false},
		{"hidden flag", "secret: x\n", false},
		{"bad yaml", "listen: [\n", true},
		{"not a mapping", "- a\n- b\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".yml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Load(p)
			if (err != nil) != tt.loadErr {
				t.Fatalf("Load: %v", err)
			}
			if err != nil {
				return
			}
			app := kingpin.New("t", "")
			app.Flag("listen", "").String()
			app.Flag("secret", "").Hidden().String()
			if err := ApplyDefaults(f, nil, app); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.yml")); err == nil {
		t.Fatal("missing file: want an error")
	}
	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil {
		t.Fatal("oversized file: want an error")
	}
}
