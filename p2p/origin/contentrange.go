package origin

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseContentRange parses a "bytes first-last/total" Content-Range header
// value (RFC 9110 §14.4) as sent with a 206 response. The unsatisfied form
// "bytes */total" and an unknown total "/*" are errors here because a chunk
// response must name its bytes and the track's size. It never panics, and
// rejects values that do not fit an int64.
func ParseContentRange(v string) (first, last, total int64, err error) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, 0, fmt.Errorf("%w: %q does not start with \"bytes \"", ErrBadContentRange, clip(v))
	}
	span, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, fmt.Errorf("%w: %q has no total", ErrBadContentRange, clip(v))
	}
	a, b, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, 0, fmt.Errorf("%w: %q has no range", ErrBadContentRange, clip(v))
	}
	if first, err = parseDecimal(a); err != nil {
		return 0, 0, 0, fmt.Errorf("%w: first byte: %v", ErrBadContentRange, err)
	}
	if last, err = parseDecimal(b); err != nil {
		return 0, 0, 0, fmt.Errorf("%w: last byte: %v", ErrBadContentRange, err)
	}
	if total, err = parseDecimal(size); err != nil {
		return 0, 0, 0, fmt.Errorf("%w: total: %v", ErrBadContentRange, err)
	}
	if first > last || last >= total {
		return 0, 0, 0, fmt.Errorf("%w: %q is not a range within the total", ErrBadContentRange, clip(v))
	}
	return first, last, total, nil
}

// parseDecimal accepts only ASCII digits (no sign, no spaces), at most 19 of them.
func parseDecimal(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, fmt.Errorf("%q is not a byte position", clip(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a byte position", clip(s))
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", clip(s))
	}
	return n, nil
}

// clip bounds untrusted text before it goes into an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
