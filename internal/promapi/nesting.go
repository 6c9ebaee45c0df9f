package promapi

import (
	"fmt"
	"net/http"

	"github.com/prometheus/prometheus/promql/parser"
)

// MaxQueryNesting bounds how deep a PromQL expression may nest. The
// parser's type checks walk each node's subtree, so parsing costs the square
// of the depth, and no parse honours a timeout: 20,000 levels ("1+1+...",
// "((((1))))", "sum(sum(...))") took a core for tens of seconds, more per
// level from any read credential. Hand-written and generated queries stay
// far below this bound.
const MaxQueryNesting = 1000

// checkNesting bounds, before any parser sees q, the depth of the tree it
// parses to: the deepest bracket nesting plus every operator outside label
// matchers (each may add a level). One pass of Prometheus' own lexer,
// linear in len(q); input it cannot lex is left to the parser to report.
func checkNesting(q string) error {
	l := parser.Lex(q)
	var it parser.Item
	depth, maxDepth, braces, ops := 0, 0, 0, 0
	for {
		l.NextItem(&it)
		switch it.Typ {
		case parser.EOF, parser.ERROR:
			return nil
		case parser.LEFT_PAREN, parser.LEFT_BRACKET:
			depth++
		case parser.LEFT_BRACE:
			depth++
			braces++
		case parser.RIGHT_PAREN, parser.RIGHT_BRACKET:
			depth--
		case parser.RIGHT_BRACE:
			depth--
			braces--
		default:
			if it.Typ.IsOperator() && braces <= 0 {
				ops++
			}
		}
		maxDepth = max(maxDepth, depth)
		if maxDepth+ops > MaxQueryNesting {
			return &Error{Status: http.StatusBadRequest, Type: ErrBadData,
				Msg: fmt.Sprintf("invalid parameter \"query\": the expression nests more than %d levels deep (brackets and operators); split it into smaller queries", MaxQueryNesting)}
		}
	}
}
