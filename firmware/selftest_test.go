package firmware

import (
	"bytes"
	"context"
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
	err := SelfTest(context.Background(), SelfTestOptions{Version: "test", Dir: "/nonexistent/starling", Out: &out})
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
