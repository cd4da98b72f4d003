package control

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParsePosition parses a playback position as people write it: "83",
// "1:23", "1:02:03", "1:23.5", or a Go duration such as "83s" or "1m23s".
// The result is within [0, MaxSeek].
func ParsePosition(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("%w: position %q: want seconds, m:ss, h:mm:ss or a duration like 1m23s", ErrInvalid, s)
	}
	if s == "" || len(s) > 32 {
		return bad()
	}
	var d time.Duration
	if strings.ContainsAny(s, "hms") {
		v, err := time.ParseDuration(s)
		if err != nil {
			return bad()
		}
		d = v
	} else {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return bad()
		}
		var minutes int64
		for i, p := range parts[:len(parts)-1] {
			n, err := strconv.ParseInt(p, 10, 64)
			if err != nil || p[0] == '+' || p[0] == '-' || n < 0 || (i > 0 && n > 59) {
				return bad()
			}
			minutes = minutes*60 + n
			if minutes > int64(MaxSeek/time.Minute) {
				return bad()
			}
		}
		last := parts[len(parts)-1]
		if last == "" || last[0] == '+' || last[0] == '-' {
			return bad()
		}
		sec, err := strconv.ParseFloat(last, 64)
		if err != nil || sec != sec || sec < 0 || sec > MaxSeek.Seconds() || (len(parts) > 1 && sec >= 60) {
			return bad()
		}
		d = time.Duration(minutes)*time.Minute + time.Duration(sec*float64(time.Second))
	}
	if d < 0 || d > MaxSeek {
		return bad()
	}
	return d, nil
}

// FormatPosition writes a position as m:ss, or h:mm:ss from one hour.
func FormatPosition(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
