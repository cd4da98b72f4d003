package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/starling-audio/starling/firmware/control"
)

func formatTrack(t control.Track) string {
	s := t.Title
	if t.Artist != "" {
		s = t.Artist + " - " + s
	}
	if t.Album != "" {
		s += " [" + t.Album + "]"
	}
	return s + " (" + control.FormatPosition(time.Duration(t.DurationMs)*time.Millisecond) + ")"
}

// formatBytes writes a byte count in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func formatStatus(st control.Status) string {
	var b strings.Builder
	if st.Track != nil {
		fmt.Fprintf(&b, "%s: %s - %s  %s / %s\n", st.State, st.Track.Artist, st.Track.Title,
			control.FormatPosition(st.Position()), control.FormatPosition(st.Duration()))
	} else {
		fmt.Fprintf(&b, "%s\n", st.State)
	}
	login := "logged in"
	if !st.LoggedIn {
		login = "NOT logged in"
	}
	fmt.Fprintf(&b, "volume %d%%  buffer %.1f s  queue %d  neighbours %d  %s\n",
		st.Volume, st.BufferSeconds, st.QueueLength, st.Neighbours, login)
	fmt.Fprintf(&b, "sources: origin %s, peers %s, cache %s\n",
		formatBytes(st.Sources.Origin), formatBytes(st.Sources.Peers), formatBytes(st.Sources.Cache))
	fmt.Fprintf(&b, "firmware %s\n", st.Version)
	return b.String()
}

// formatEvent writes one line: time, type and a short rendering of the data.
func formatEvent(ev control.Event) string {
	detail := string(ev.Data)
	switch ev.Type {
	case control.EventStatus:
		var st control.Status
		if json.Unmarshal(ev.Data, &st) == nil {
			detail = strings.ReplaceAll(strings.TrimSpace(formatStatus(st)), "\n", " | ")
		}
	case control.EventTrack:
		var t control.Track
		if json.Unmarshal(ev.Data, &t) == nil {
			detail = formatTrack(t)
		}
	}
	return fmt.Sprintf("%s %-10s %s\n", ev.Time.Local().Format("15:04:05"), ev.Type, detail)
}
