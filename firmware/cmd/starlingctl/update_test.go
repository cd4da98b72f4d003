package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFormatUpdate(t *testing.T) {
	var u updateState
	js := `{"running":"3.0.0","state":{"step":"verifying","good":"2.0.0","good_slot":"b",
		"pending":{"version":"3.0.0","slot":"a","from_version":"2.0.0","attempts":2},
		"bad":["2.5.0"],"last_error":"2.5.0 rolled back: not healthy"}}`
	if err := json.Unmarshal([]byte(js), &u); err != nil {
		t.Fatal(err)
	}
	out := formatUpdate(u)
	for _, want := range []string{"running   3.0.0 (good: 2.0.0 in slot b)", "step      verifying",
		"pending   3.0.0 in slot a, on probation (start 2, from 2.0.0)", "bad       2.5.0 (never retried)", "error     2.5.0 rolled back"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(formatUpdate(updateState{}), "pending") {
		t.Error("an idle state shows a pending version")
	}
}
