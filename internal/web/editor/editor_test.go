package editor_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/promgate/promgate/internal/web/editor"
)

// esbuild is for the build program only: the promgate binary embeds the
// bundle and never links the bundler.
func TestBinaryDoesNotLinkEsbuild(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no go command on PATH")
		}
		t.Skip("no go command on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "list", "-deps", "github.com/promgate/promgate/cmd/promgate").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "esbuild") {
			t.Errorf("cmd/promgate depends on %s", pkg)
		}
	}
}

func TestInputsHash(t *testing.T) {
	base := fstest.MapFS{
		"package.json":      {Data: []byte(`{"a":1}`)},
		"package-lock.json": {Data: []byte(`{}`)},
		"src/editor.js":     {Data: []byte("x\n")},
		"node_modules/x.js": {Data: []byte("not an input")},
	}
	h := func(fsys fstest.MapFS) string {
		t.Helper()
		s, err := editor.InputsHash(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := h(base)
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		same   bool
	}{
		{"CRLF line endings", func(m fstest.MapFS) { m["src/editor.js"] = &fstest.MapFile{Data: []byte("x\r\n")} }, true},
		{"node_modules is not an input", func(m fstest.MapFS) { m["node_modules/x.js"] = &fstest.MapFile{Data: []byte("changed")} }, true},
		{"a source changes", func(m fstest.MapFS) { m["src/editor.js"] = &fstest.MapFile{Data: []byte("y\n")} }, false},
		{"a new source", func(m fstest.MapFS) { m["src/more.js"] = &fstest.MapFile{Data: []byte("")} }, false},
		{"the lock changes", func(m fstest.MapFS) { m["package-lock.json"] = &fstest.MapFile{Data: []byte(`{"v":2}`)} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fstest.MapFS{}
			for k, v := range base {
				m[k] = v
			}
			tt.change(m)
			if got := h(m); (got == want) != tt.same {
				t.Errorf("hash %s vs %s: same = %v, want %v", got, want, got == want, tt.same)
			}
		})
	}
	if _, err := editor.InputsHash(fstest.MapFS{"src/a.js": {}}); err == nil {
		t.Error("no error without package.json")
	}
}
