package export

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// jreader is a minimal pull tokenizer for the Prometheus API's JSON. It keeps
// one fixed buffer, so decoding a response of any size uses constant memory,
// and it hands out raw number text so values are never re-formatted.
type jreader struct {
	r        io.Reader
	buf      []byte
	pos, end int
	err      error
	off      int64 // bytes consumed before buf[0], for error messages
}

func newJReader(r io.Reader) *jreader {
	return &jreader{r: r, buf: make([]byte, 64<<10)}
}

var errUnexpectedEOF = io.ErrUnexpectedEOF

func (j *jreader) fill() bool {
	if j.err != nil {
		return false
	}
	if j.pos > 0 {
		copy(j.buf, j.buf[j.pos:j.end])
		j.off += int64(j.pos)
		j.end -= j.pos
		j.pos = 0
	}
	for j.end < len(j.buf) {
		n, err := j.r.Read(j.buf[j.end:])
		j.end += n
		if err != nil {
			j.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	return true
}

func (j *jreader) readErr() error {
	if j.err == nil || j.err == io.EOF {
		return errUnexpectedEOF
	}
	return j.err
}

func (j *jreader) syntax(format string, args ...any) error {
	return fmt.Errorf("decoding response: %s at byte %d", fmt.Sprintf(format, args...), j.off+int64(j.pos))
}

// peek skips whitespace and returns the next byte without consuming it.
func (j *jreader) peek() (byte, error) {
	for {
		for j.pos < j.end {
			c := j.buf[j.pos]
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				return c, nil
			}
			j.pos++
		}
		if !j.fill() {
			return 0, j.readErr()
		}
	}
}

func (j *jreader) expect(c byte) error {
	got, err := j.peek()
	if err != nil {
		return err
	}
	if got != c {
		return j.syntax("expected %q, found %q", c, got)
	}
	j.pos++
	return nil
}

// more reports whether another element follows in an object or array, consuming
// the ',' or the closing delimiter. first is true before the first element.
func (j *jreader) more(closing byte, first bool) (bool, error) {
	c, err := j.peek()
	if err != nil {
		return false, err
	}
	if c == closing {
		j.pos++
		return false, nil
	}
	if first {
		return true, nil
	}
	if c != ',' {
		return false, j.syntax("expected ',' or %q, found %q", closing, c)
	}
	j.pos++
	return true, nil
}

// object reads a JSON object, calling member for each member with its
// key (decoded into *key, reused; valid during the call) and the reader at
// the member's value, which member must consume.
func (j *jreader) object(key *[]byte, member func(key []byte) error) error {
	if err := j.expect('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		ok, err := j.more('}', first)
		if err != nil || !ok {
			return err
		}
		if *key, err = j.str((*key)[:0]); err != nil {
			return err
		}
		if err := j.expect(':'); err != nil {
			return err
		}
		if err := member(*key); err != nil {
			return err
		}
	}
}

// array reads a JSON array, calling elem for each element with the reader
// at it; elem must consume it.
func (j *jreader) array(elem func() error) error {
	if err := j.expect('['); err != nil {
		return err
	}
	return j.elements(elem)
}

// elements reads the rest of an array whose '[' was read.
func (j *jreader) elements(elem func() error) error {
	for first := true; ; first = false {
		ok, err := j.more(']', first)
		if err != nil || !ok {
			return err
		}
		if err := elem(); err != nil {
			return err
		}
	}
}

// text reads a JSON string as a Go string.
func (j *jreader) text() (string, error) {
	b, err := j.str(nil)
	return string(b), err
}

// str reads a JSON string, appending its decoded content to dst.
func (j *jreader) str(dst []byte) ([]byte, error) {
	if err := j.expect('"'); err != nil {
		return dst, err
	}
	for {
		// Copy the plain run in one go: the common case for label values.
		start := j.pos
		for j.pos < j.end {
			c := j.buf[j.pos]
			if c == '"' || c == '\\' {
				break
			}
			j.pos++
		}
		dst = append(dst, j.buf[start:j.pos]...)
		if j.pos == j.end {
			if !j.fill() {
				return dst, j.readErr()
			}
			continue
		}
		c := j.buf[j.pos]
		j.pos++
		if c == '"' {
			return dst, nil
		}
		var err error
		if dst, err = j.escape(dst); err != nil {
			return dst, err
		}
	}
}

func (j *jreader) byte() (byte, error) {
	if j.pos == j.end && !j.fill() {
		return 0, j.readErr()
	}
	c := j.buf[j.pos]
	j.pos++
	return c, nil
}

func (j *jreader) escape(dst []byte) ([]byte, error) {
	c, err := j.byte()
	if err != nil {
		return dst, err
	}
	switch c {
	case '"', '\\', '/':
		return append(dst, c), nil
	case 'b':
		return append(dst, '\b'), nil
	case 'f':
		return append(dst, '\f'), nil
	case 'n':
		return append(dst, '\n'), nil
	case 'r':
		return append(dst, '\r'), nil
	case 't':
		return append(dst, '\t'), nil
	case 'u':
		r, err := j.hex4()
		if err != nil {
			return dst, err
		}
		if utf16.IsSurrogate(r) {
			// A surrogate pair is two \u escapes; a lone half becomes U+FFFD.
			if j.pos+1 >= j.end {
				j.fill()
			}
			if j.end-j.pos >= 2 && j.buf[j.pos] == '\\' && j.buf[j.pos+1] == 'u' {
				j.pos += 2
				r2, err := j.hex4()
				if err != nil {
					return dst, err
				}
				r = utf16.DecodeRune(r, r2)
			} else {
				r = utf8.RuneError
			}
		}
		return utf8.AppendRune(dst, r), nil
	}
	return dst, j.syntax("invalid escape %q", c)
}

func (j *jreader) hex4() (rune, error) {
	var r rune
	for range 4 {
		c, err := j.byte()
		if err != nil {
			return 0, err
		}
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, j.syntax("invalid \\u escape")
		}
		r = r<<4 | rune(c)
	}
	return r, nil
}

func isNumByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// num reads a JSON number and appends its raw text to dst.
func (j *jreader) num(dst []byte) ([]byte, error) {
	if _, err := j.peek(); err != nil {
		return dst, err
	}
	n := len(dst)
	for {
		start := j.pos
		for j.pos < j.end && isNumByte(j.buf[j.pos]) {
			j.pos++
		}
		dst = append(dst, j.buf[start:j.pos]...)
		if j.pos < j.end {
			break
		}
		if !j.fill() {
			if j.err == io.EOF {
				break
			}
			return dst, j.readErr()
		}
	}
	if len(dst) == n {
		return dst, j.syntax("expected a number")
	}
	return dst, nil
}

// skip consumes one JSON value of any kind.
func (j *jreader) skip() error {
	_, err := j.value(nil, false)
	return err
}

// raw consumes one JSON value and appends it to dst without insignificant
// whitespace (used to pass native histograms through unchanged).
func (j *jreader) raw(dst []byte) ([]byte, error) {
	return j.value(dst, true)
}

func (j *jreader) value(dst []byte, keep bool) ([]byte, error) {
	c, err := j.peek()
	if err != nil {
		return dst, err
	}
	switch {
	case c == '"':
		return j.rawString(dst, keep)
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		j.pos++
		if keep {
			dst = append(dst, c)
		}
		for first := true; ; first = false {
			ok, err := j.more(closing, first)
			if err != nil {
				return dst, err
			}
			if !ok {
				break
			}
			if keep && !first {
				dst = append(dst, ',')
			}
			if c == '{' {
				if dst, err = j.rawString(dst, keep); err != nil {
					return dst, err
				}
				if err := j.expect(':'); err != nil {
					return dst, err
				}
				if keep {
					dst = append(dst, ':')
				}
			}
			if dst, err = j.value(dst, keep); err != nil {
				return dst, err
			}
		}
		if keep {
			dst = append(dst, closing)
		}
		return dst, nil
	case isNumByte(c):
		n := len(dst)
		dst, err = j.num(dst)
		if !keep {
			dst = dst[:n]
		}
		return dst, err
	case c == 't' || c == 'f' || c == 'n':
		n := len(dst)
		for {
			b, err := j.byte()
			if err != nil {
				return dst, err
			}
			dst = append(dst, b)
			if lit := string(dst[n:]); lit == "true" || lit == "false" || lit == "null" {
				break
			} else if len(lit) >= 5 {
				return dst, j.syntax("invalid literal")
			}
		}
		if !keep {
			dst = dst[:n]
		}
		return dst, nil
	}
	return dst, j.syntax("unexpected %q", c)
}

// rawString copies a string token verbatim (escapes kept) when keep is set.
func (j *jreader) rawString(dst []byte, keep bool) ([]byte, error) {
	if err := j.expect('"'); err != nil {
		return dst, err
	}
	if keep {
		dst = append(dst, '"')
	}
	escaped := false
	for {
		if j.pos == j.end && !j.fill() {
			return dst, j.readErr()
		}
		start := j.pos
		for j.pos < j.end {
			c := j.buf[j.pos]
			j.pos++
			if escaped {
				escaped = false
				continue
			}
			if c == '\\' {
				escaped = true
				continue
			}
			if c == '"' {
				if keep {
					dst = append(dst, j.buf[start:j.pos]...)
				}
				return dst, nil
			}
		}
		if keep {
			dst = append(dst, j.buf[start:j.pos]...)
		}
	}
}

var errNoData = errors.New("decoding response: no data in a successful response")
