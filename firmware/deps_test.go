package firmware_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyGuard fails if the speaker's binary links code that has no
// place on a speaker: the service, ingest and benchmark tools, test fixtures,
// or test-only libraries.
func TestDependencyGuard(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	cmd := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", "github.com/starling-audio/starling/firmware/cmd/starlingd")
	cmd.Env = append(cmd.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{
		"github.com/starling-audio/starling/tools/",
		"github.com/stretchr/testify",
		"go.uber.org/goleak",
		"testing",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list returned only %d packages; the guard would not guard", len(deps))
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, f) {
				t.Errorf("starlingd links %s: server-side or test code must not reach the speaker (forbidden prefix %q)", d, f)
			}
		}
	}
}
