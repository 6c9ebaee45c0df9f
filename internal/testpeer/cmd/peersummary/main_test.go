package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name, log, want string
	}{
		{"nothing skipped", "", "peers: none missing, no test skipped for want of one\n"},
		{
			"two peers",
			"postgresql\tinternal/store/postgres\tTestConformance\teval \"$(bash .ci/postgres.sh)\"\n" +
				"chromium\tinternal/web\tTestBrowser\tapt-get install chromium\n" +
				"postgresql\tinternal/app\tTestReplicas\teval \"$(bash .ci/postgres.sh)\"\n" +
				"postgresql\tinternal/app\tTestReplicas\teval \"$(bash .ci/postgres.sh)\"\n", // -count=2
			"peers missing: chromium, postgresql (3 tests skipped)\n" +
				"  chromium: 1 test skipped in internal/web; apt-get install chromium\n" +
				"  postgresql: 2 tests skipped in internal/app, internal/store/postgres; eval \"$(bash .ci/postgres.sh)\"\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := summarize(&b, tc.log); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
	if err := summarize(&strings.Builder{}, "garbage\n"); err == nil {
		t.Fatal("garbage accepted")
	}
}
