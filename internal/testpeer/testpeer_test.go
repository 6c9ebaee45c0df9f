package testpeer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestChildMissing is run by TestMissing in a child process; alone it does nothing.
func TestChildMissing(t *testing.T) {
	if os.Getenv("TESTPEER_CHILD") != "1" {
		t.Skip("run by TestMissing")
	}
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			Missing(t, Chromium, "apt-get install chromium")
			t.Error("Missing returned")
		})
	}
}

func runChild(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildMissing$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{"TESTPEER_CHILD=1"}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestMissing: a missing peer skips the test and records the skip locally,
// and fails it under CI=true.
func TestMissing(t *testing.T) {
	log := filepath.Join(t.TempDir(), "peers.log")
	out, err := runChild(t, "CI=", EnvLog+"="+log)
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	if strings.Count(out, "--- SKIP") != 2 || !strings.Contains(out, "chromium is missing; apt-get install chromium") {
		t.Fatalf("child did not skip with the message:\n%s", out)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	skips, err := ReadLog(string(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Skip{
		{Chromium, "internal/testpeer", "TestChildMissing/first", "apt-get install chromium"},
		{Chromium, "internal/testpeer", "TestChildMissing/second", "apt-get install chromium"},
	}
	if len(skips) != len(want) {
		t.Fatalf("log %q", data)
	}
	for i := range want {
		if skips[i] != want[i] {
			t.Errorf("skip %d = %+v, want %+v", i, skips[i], want[i])
		}
	}

	ciLog := filepath.Join(t.TempDir(), "ci.log")
	out, err = runChild(t, "CI=true", EnvLog+"="+ciLog)
	if err == nil || !strings.Contains(out, "--- FAIL") || !strings.Contains(out, "CI=true") {
		t.Fatalf("under CI=true the child should fail: %v\n%s", err, out)
	}
	if _, err := os.Stat(ciLog); !os.IsNotExist(err) {
		t.Fatalf("a failure was recorded as a skip: %v", err)
	}
}

func TestReadLogRejectsGarbage(t *testing.T) {
	if _, err := ReadLog("chromium\tinternal/web\n"); err == nil {
		t.Fatal("accepted a line with 2 fields")
	}
}
