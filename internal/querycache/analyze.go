package querycache

import (
	"fmt"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// analysis is what the frontend needs to know of a query's text.
type analysis struct {
	// query is the text to send: the caller's, or with `@ start()` and
	// `@ end()` replaced by the whole query's start and end, which a split
	// part would otherwise read as its own.
	query string
	// lookahead is how far past an evaluation timestamp the query may read
	// data (negative offsets, summed along the path: a bound, not exact).
	lookahead int64
	// atMax is the latest data an `@ <time>` modifier may read (ms), or
	// minInt64 without one.
	atMax int64
	hasAt bool
}

// parseOptions accept everything a backend might: a query the backend
// refuses comes back as its error, never cached.
var parseOptions = parser.Options{EnableExperimentalFunctions: true}

// analyze parses q; start and end are the whole range's (ms). A query
// that does not parse is not split or cached (the backend says why).
func analyze(q string, start, end int64) (a analysis, err error) {
	defer func() {
		if r := recover(); r != nil { // the parser must never take the server down
			err = fmt.Errorf("parser failure: %v", r)
		}
	}()
	expr, err := parser.NewParser(parseOptions).ParseExpr(q)
	if err != nil {
		return analysis{}, fmt.Errorf("parse query: %w", err)
	}
	a = analysis{query: q}
	rewritten := false
	var neg time.Duration
	at := func(ts **int64, startOrEnd *parser.ItemType, offset time.Duration) {
		if offset < 0 {
			neg -= offset
		}
		switch *startOrEnd {
		case parser.START:
			v := start
			*ts, *startOrEnd, rewritten = &v, 0, true
		case parser.END:
			v := end
			*ts, *startOrEnd, rewritten = &v, 0, true
		}
		if *ts != nil {
			if !a.hasAt || **ts > a.atMax {
				a.atMax = **ts
			}
			a.hasAt = true
		}
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			at(&n.Timestamp, &n.StartOrEnd, n.OriginalOffset)
		case *parser.SubqueryExpr:
			at(&n.Timestamp, &n.StartOrEnd, n.OriginalOffset)
		}
		return nil
	})
	a.lookahead = neg.Milliseconds()
	if a.hasAt {
		a.atMax += a.lookahead
	}
	if rewritten {
		a.query = expr.String()
	}
	return a, nil
}

// latestRead is the latest sample time evaluating steps up to last may read.
func (a analysis) latestRead(last int64) int64 {
	t := last + a.lookahead
	if a.hasAt && a.atMax > t {
		t = a.atMax
	}
	return t
}
