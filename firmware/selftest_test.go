package firmware

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSelfTestPasses(t *testing.T) {
	var out bytes.Buffer
	if err := SelfTest(context.Background(), SelfTestOptions{Version: "test", Dir: t.TempDir(), Out: &out}); err != nil {
		t.Fatalf("self-test failed: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), SelfTestSuccess) {
		t.Fatalf("no success line in:\n%s", out.String())
	}
}

func TestSelfTestReportsFailure(t *testing.T) {
	var out bytes.Buffer
	// A regular file as the scratch "directory": nothing can be made under
	// it, even by root.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := SelfTest(context.Background(), SelfTestOptions{Version: "test", Dir: notDir, Out: &out})
	if err == nil {
		t.Fatal("self-test passed with an unwritable scratch directory")
	}
	if strings.Contains(out.String(), SelfTestSuccess) {
		t.Fatalf("success line printed despite a failure:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "FAIL") {
		t.Fatalf("failure not reported:\n%s", out.String())
	}
	if !strings.Contains(err.Error(), "scratch directory") {
		t.Fatalf("error does not name the failed check: %v", err)
	}
}
