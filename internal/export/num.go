package export

import (
	"math"
	"strconv"
)

// appendPromFloat formats a sample value exactly as the Prometheus HTTP API
// does for vector and matrix samples (util/jsonutil.MarshalFloat, without the
// quotes): shortest round-trip digits, fixed notation unless the magnitude is
// below 1e-6 or at least 1e21, and NaN, +Inf, -Inf spelled as Go spells them.
func appendPromFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

// appendScalarFloat formats a scalar result's value the way the API does
// (promql.Scalar.MarshalJSON uses 'f' for every magnitude).
func appendScalarFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendTimestamp writes a millisecond timestamp as seconds in the form the
// reference script prints it: Python's str() of the JSON number the API sent,
// so 1681837357000 -> "1681837357" and 1681837357500 -> "1681837357.5"
// (the API itself sends "1681837357.500"; json.loads turns it into a float).
func appendTimestamp(b []byte, ms int64) []byte {
	if ms < 0 {
		b = append(b, '-')
		ms = -ms // a timestamp of math.MinInt64 is not a real time
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	if frac == 0 {
		return b
	}
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b
}

// appendCanonTimestamp writes a timestamp received as raw JSON number text the
// way Python's str(json.loads(text)) would: integers unchanged, anything else
// as Python's repr of the float. This keeps the CLI byte-compatible with the
// reference script whatever the server's number style.
func appendCanonTimestamp(b []byte, raw []byte) []byte {
	isInt := len(raw) > 0
	for i, c := range raw {
		if (c < '0' || c > '9') && !(i == 0 && c == '-' && len(raw) > 1) {
			isInt = false
			break
		}
	}
	if isInt {
		return append(b, raw...)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return append(b, raw...) // not a number: keep what the server said
	}
	return appendPythonFloat(b, f)
}

// appendPythonFloat mimics Python's repr(float): shortest round-trip digits,
// fixed notation with at least one decimal when the decimal exponent is in
// [-4, 16), scientific notation (e+XX) otherwise.
func appendPythonFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case f == 0:
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	exp := int(math.Floor(math.Log10(math.Abs(f))))
	// Log10 can be off by one near powers of ten; confirm with the 'e' form.
	e := strconv.AppendFloat(nil, f, 'e', -1, 64)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] == 'e' {
			if x, err := strconv.Atoi(string(e[i+1:])); err == nil {
				exp = x
			}
			break
		}
	}
	if exp >= -4 && exp < 16 {
		start := len(b)
		b = strconv.AppendFloat(b, f, 'f', -1, 64)
		for _, c := range b[start:] {
			if c == '.' {
				return b
			}
		}
		return append(b, '.', '0')
	}
	return append(b, e...)
}

// parseTimestampMs converts raw JSON seconds ("1681837357.5") to milliseconds,
// exactly for up to three decimals and rounded beyond.
func parseTimestampMs(raw []byte) (int64, error) {
	var ms int64
	neg := false
	i := 0
	if len(raw) > 0 && raw[0] == '-' {
		neg = true
		i = 1
	}
	digits := 0
	for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
		ms = ms*10 + int64(raw[i]-'0')
		digits++
	}
	if digits == 0 || digits > 15 {
		return parseTimestampFloat(raw)
	}
	ms *= 1000
	if i < len(raw) {
		if raw[i] != '.' {
			return parseTimestampFloat(raw)
		}
		i++
		scale := int64(100)
		for ; i < len(raw); i++ {
			c := raw[i]
			if c < '0' || c > '9' {
				return parseTimestampFloat(raw)
			}
			if scale == 0 {
				continue // finer than a millisecond: truncated
			}
			ms += int64(c-'0') * scale
			scale /= 10
		}
	}
	if neg {
		ms = -ms
	}
	return ms, nil
}

func parseTimestampFloat(raw []byte) (int64, error) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, err
	}
	return int64(math.Round(f * 1000)), nil
}

// parseValue parses a sample value string as the API writes it.
func parseValue(s []byte) (float64, error) {
	return strconv.ParseFloat(string(s), 64)
}
