package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/promgate/promgate/internal/export"
)

// credentialHint names every way to give the CLI a credential.
const credentialHint = "set PROMGATE_KEY and PROMGATE_TOKEN, or pass --key and --token " +
	"(or put KEY:TOKEN@ in --url / PROMGATE_URL); create one with `promgate admin credential create` " +
	"or on the API Credentials page"

// errNoCredential is returned before any request when a promgate data source
// URL is given without a credential: promgate answers nothing without one.
func errNoCredential() error {
	return usageError{"no credential given: " + credentialHint}
}

// explainQueryError adds to err what a user can do about it: a base URL
// without the data source path, a missing or refused credential, a data
// source the credential may not use. It asks the server which data sources
// the credential can use, so the message can list the URLs to use instead.
func explainQueryError(ctx context.Context, c *export.Client, err error) error {
	var ae *export.APIError
	if !errors.As(err, &ae) {
		return err
	}
	var b strings.Builder
	switch {
	case ae.StatusCode == http.StatusUnauthorized && !c.HasCredential():
		fmt.Fprintf(&b, "\nno credential given: %s", credentialHint)
	case ae.StatusCode == http.StatusUnauthorized:
		fmt.Fprintf(&b, "\nthe server refused the credential (wrong, revoked or expired): check PROMGATE_KEY and PROMGATE_TOKEN, or --key and --token")
	case !c.IsDataSourceURL() && (ae.HTML || ae.StatusCode == http.StatusNotFound):
		fmt.Fprintf(&b, "\nthe URL must end in %s (got %s): set --url or PROMGATE_URL to a data source's URL", export.DataSourcePathHint, c.BaseURL())
		listDataSources(ctx, c, &b)
	case ae.StatusCode == http.StatusNotFound || ae.StatusCode == http.StatusForbidden:
		listDataSources(ctx, c, &b)
	}
	if b.Len() == 0 {
		return err
	}
	return &explainedError{err: err, hint: b.String()}
}

// listDataSources writes the data sources the client's credential may use.
func listDataSources(ctx context.Context, c *export.Client, b *strings.Builder) {
	if !c.HasCredential() {
		fmt.Fprintf(b, "\nto list the data sources you may use, give a credential: %s", credentialHint)
		return
	}
	list, err := c.DataSources(ctx)
	if err != nil {
		fmt.Fprintf(b, "\n(could not list the data sources this credential can use: %v)", err)
		return
	}
	if len(list) == 0 {
		b.WriteString("\nthis credential may use no data source")
		return
	}
	b.WriteString("\ndata sources this credential can use:\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, ds := range list {
		where := ds.Env
		if ds.Site != "" {
			where = strings.TrimPrefix(where+"/"+ds.Site, "/")
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", ds.ID, ds.Name, where, ds.URL)
	}
	_ = tw.Flush()
	s := strings.TrimRight(b.String(), "\n")
	b.Reset()
	b.WriteString(s)
}

// explainedError is an error with advice after it; errors.Is/As see the cause.
type explainedError struct {
	err  error
	hint string
}

func (e *explainedError) Error() string { return e.err.Error() + e.hint }
func (e *explainedError) Unwrap() error { return e.err }
