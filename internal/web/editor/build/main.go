// Command build bundles the Explore page's PromQL editor with esbuild's Go
// API: it installs the pinned npm packages (npm ci, from package-lock.json),
// bundles src/editor.js into one minified script, and writes the licence of
// every package that ended up in the bundle beside it. Run it with
//
//	go generate ./internal/web
//
// Only this program imports esbuild; the promgate binary embeds its output.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/promgate/promgate/internal/web/editor"
)

const (
	bundleName   = "promql-editor.js"
	licencesName = "THIRD_PARTY_LICENSES.txt"
)

func main() {
	src := flag.String("src", "editor", "the editor's source directory (package.json, package-lock.json, src/)")
	out := flag.String("out", "static/editor", "where to write "+bundleName+" and "+licencesName)
	npm := flag.String("npm", "ci", `"ci": run npm ci first; "skip": use the node_modules already there`)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), log, *src, *out, *npm); err != nil {
		log.Error("build the PromQL editor", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, src, out, npm string) error {
	src, err := filepath.Abs(src)
	if err != nil {
		return fmt.Errorf("source directory: %w", err)
	}
	switch npm {
	case "ci":
		// --ignore-scripts: nothing from the registry runs on this machine.
		cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
		cmd.Dir = src
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("npm ci in %s (needs Node.js and npm): %w", src, err)
		}
	case "skip":
	default:
		return fmt.Errorf("-npm must be ci or skip, not %q", npm)
	}
	hash, err := editor.InputsHash(os.DirFS(src))
	if err != nil {
		return err
	}
	res := api.Build(api.BuildOptions{
		AbsWorkingDir:     src,
		EntryPoints:       []string{"src/editor.js"},
		Outfile:           bundleName,
		Bundle:            true,
		Write:             false,
		Metafile:          true,
		Format:            api.FormatIIFE,
		Platform:          api.PlatformBrowser,
		Target:            api.ES2020,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		// The licences go to their own file, complete; comments in the
		// bundle would only repeat part of them.
		LegalComments: api.LegalCommentsNone,
		Banner: map[string]string{"js": "/* promgate PromQL editor: @prometheus-io/codemirror-promql and CodeMirror 6, bundled by " +
			"internal/web/editor/build from internal/web/editor. Licences: " + licencesName + ". " +
			editor.HashMarker + hash + " */"},
		LogLevel: api.LogLevelSilent,
	})
	if len(res.Errors) > 0 {
		msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return fmt.Errorf("esbuild:\n%s", strings.Join(msgs, ""))
	}
	for _, w := range api.FormatMessages(res.Warnings, api.FormatMessagesOptions{Kind: api.WarningMessage}) {
		log.Warn("esbuild", "msg", w)
	}
	var bundle []byte
	for _, f := range res.OutputFiles {
		if filepath.Base(f.Path) == bundleName {
			bundle = f.Contents
		}
	}
	if bundle == nil {
		return errors.New("esbuild wrote no " + bundleName)
	}
	pkgs, err := bundledPackages(res.Metafile)
	if err != nil {
		return err
	}
	licences, err := licenceText(src, pkgs)
	if err != nil {
		return err
	}
	esb, err := esbuildLicence(ctx)
	if err != nil {
		return err
	}
	licences = append(licences, esb...)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	if err := os.WriteFile(filepath.Join(out, bundleName), bundle, 0o644); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, licencesName), licences, 0o644); err != nil {
		return fmt.Errorf("write licences: %w", err)
	}
	log.Info("wrote the PromQL editor", "bundle", filepath.Join(out, bundleName), "bytes", len(bundle), "packages", len(pkgs), "inputs_sha256", hash)
	return nil
}

// bundledPackages lists the npm packages (by their node_modules directory)
// that contributed at least one file to the bundle, from esbuild's metafile.
func bundledPackages(metafile string) ([]string, error) {
	var meta struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(metafile), &meta); err != nil {
		return nil, fmt.Errorf("read esbuild metafile: %w", err)
	}
	seen := map[string]bool{}
	for in := range meta.Inputs {
		i := strings.LastIndex(in, "node_modules/")
		if i < 0 {
			continue // our own sources
		}
		parts := strings.Split(in[i+len("node_modules/"):], "/")
		n := 1
		if strings.HasPrefix(parts[0], "@") {
			n = 2
		}
		if len(parts) <= n {
			return nil, fmt.Errorf("cannot tell the package of bundled file %s", in)
		}
		seen[in[:i]+"node_modules/"+strings.Join(parts[:n], "/")] = true
	}
	pkgs := make([]string, 0, len(seen))
	for p := range seen {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	return pkgs, nil
}

// esbuildLicence is esbuild's own licence: the bundle holds a few of its
// runtime helpers. It is read from the module the build program runs with.
func esbuildLicence(ctx context.Context) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", "github.com/evanw/esbuild").Output()
	if err != nil {
		return nil, fmt.Errorf("find the esbuild module: %w", err)
	}
	version, dir, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || dir == "" {
		return nil, fmt.Errorf("find the esbuild module: go list said %q", out)
	}
	text, err := os.ReadFile(filepath.Join(dir, "LICENSE.md"))
	if err != nil {
		return nil, fmt.Errorf("read esbuild's licence: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n\n--------------------------------------------------------------------------\n")
	fmt.Fprintf(&b, "esbuild %s (MIT), the bundler; the bundle holds a few of its runtime helpers\n", strings.TrimPrefix(version, "v"))
	fmt.Fprintf(&b, "https://github.com/evanw/esbuild\n\nLICENSE.md:\n\n%s\n", strings.TrimSpace(strings.ReplaceAll(string(text), "\r\n", "\n")))
	return b.Bytes(), nil
}

var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice)(\.(md|txt))?$`)

// licenceText is every bundled package's name, version, declared licence
// and licence files, in package order. A package without a licence file
// stops the build: shipping it would break its licence.
func licenceText(src string, pkgs []string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("Third-party software in promql-editor.js\n")
	b.WriteString("========================================\n\n")
	b.WriteString("promql-editor.js bundles the npm packages below (versions pinned by\n")
	b.WriteString("internal/web/editor/package-lock.json). Each one's licence follows.\n")
	for _, dir := range pkgs {
		raw, err := os.ReadFile(filepath.Join(src, dir, "package.json"))
		if err != nil {
			return nil, fmt.Errorf("read package.json of %s: %w", dir, err)
		}
		var pj struct {
			Name, Version, License, Homepage string
		}
		if err := json.Unmarshal(raw, &pj); err != nil {
			return nil, fmt.Errorf("parse package.json of %s: %w", dir, err)
		}
		entries, err := os.ReadDir(filepath.Join(src, dir))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		var files []string
		for _, e := range entries {
			if !e.IsDir() && licenceFile.MatchString(e.Name()) {
				files = append(files, e.Name())
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("package %s@%s has no licence file to ship with the bundle", pj.Name, pj.Version)
		}
		fmt.Fprintf(&b, "\n\n--------------------------------------------------------------------------\n")
		fmt.Fprintf(&b, "%s %s (%s)\n", pj.Name, pj.Version, pj.License)
		if pj.Homepage != "" {
			fmt.Fprintf(&b, "%s\n", pj.Homepage)
		}
		for _, f := range files {
			text, err := os.ReadFile(filepath.Join(src, dir, f))
			if err != nil {
				return nil, fmt.Errorf("read %s of %s: %w", f, pj.Name, err)
			}
			fmt.Fprintf(&b, "\n%s:\n\n%s\n", f, strings.TrimSpace(strings.ReplaceAll(string(text), "\r\n", "\n")))
		}
	}
	return b.Bytes(), nil
}
