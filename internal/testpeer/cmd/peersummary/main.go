// Command peersummary prints, after a test run, which real peers were
// missing and how many tests skipped for want of them, from the log that
// testpeer.Missing appends to (test.sh passes it).
//
//	go run ./internal/testpeer/cmd/peersummary LOGFILE
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/promgate/promgate/internal/testpeer"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: peersummary LOGFILE")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil && !os.IsNotExist(err) {
		fmt.Fprintln(os.Stderr, "peersummary:", err)
		os.Exit(1)
	}
	if err := summarize(os.Stdout, string(data)); err != nil {
		fmt.Fprintln(os.Stderr, "peersummary:", err)
		os.Exit(1)
	}
}

// summarize writes one line naming the missing peers and the number of
// tests skipped, then a line per peer with its packages and how to get it.
func summarize(w io.Writer, log string) error {
	skips, err := testpeer.ReadLog(log)
	if err != nil {
		return err
	}
	if len(skips) == 0 {
		_, err := fmt.Fprintln(w, "peers: none missing, no test skipped for want of one")
		return err
	}
	type peer struct {
		tests    map[string]bool // package + test, so -count=2 counts once
		packages map[string]bool
		how      string
	}
	peers := map[string]*peer{}
	total := map[string]bool{}
	for _, s := range skips {
		p := peers[s.Peer]
		if p == nil {
			p = &peer{tests: map[string]bool{}, packages: map[string]bool{}, how: s.How}
			peers[s.Peer] = p
		}
		key := s.Package + " " + s.Test
		p.tests[key], p.packages[s.Package], total[key] = true, true, true
	}
	names := make([]string, 0, len(peers))
	for n := range peers {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintf(w, "peers missing: %s (%s skipped)\n", strings.Join(names, ", "), plural(len(total), "test"))
	for _, n := range names {
		p := peers[n]
		pkgs := make([]string, 0, len(p.packages))
		for k := range p.packages {
			pkgs = append(pkgs, k)
		}
		slices.Sort(pkgs)
		fmt.Fprintf(w, "  %s: %s skipped in %s; %s\n", n, plural(len(p.tests), "test"), strings.Join(pkgs, ", "), p.how)
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
