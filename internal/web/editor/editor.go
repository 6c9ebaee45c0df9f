// Package editor holds the sources of the Explore page's PromQL editor:
// src/ (plain JavaScript), package.json and package-lock.json (pinned npm
// packages: Prometheus' @prometheus-io/codemirror-promql and CodeMirror 6).
// The program in build/ bundles them with esbuild into
// ../static/editor/promql-editor.js with the licences of every bundled
// package; the bundle is committed, so building promgate needs no npm.
//
// This package only computes the hash of those sources that the bundle
// records, so a test can tell a stale bundle without npm or esbuild.
package editor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Inputs are the files, relative to this directory, whose content decides
// the bundle: the two npm manifests and everything under src/.
func Inputs(fsys fs.FS) ([]string, error) {
	files := []string{"package.json", "package-lock.json"}
	err := fs.WalkDir(fsys, "src", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list editor sources: %w", err)
	}
	slices.Sort(files)
	return files, nil
}

// InputsHash is the SHA-256 over the inputs' names and contents, in name
// order, as hex. Line endings are normalised so a checkout with CRLF gives
// the same hash.
func InputsHash(fsys fs.FS) (string, error) {
	files, err := Inputs(fsys)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return "", fmt.Errorf("read editor input: %w", err)
		}
		body := strings.ReplaceAll(string(b), "\r\n", "\n")
		fmt.Fprintf(h, "%s\x00%d\x00%s", path.Clean(f), len(body), body)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashMarker precedes the inputs hash in the bundle's first comment.
const HashMarker = "inputs-sha256:"
