package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/tools/fixtures"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	src := t.TempDir()
	var files []string
	for _, name := range fixtures.All {
		b, _ := fixtures.Read(name)
		p := filepath.Join(src, name)
		os.WriteFile(p, b, 0o644)
		files = append(files, p)
	}
	b, _ := fixtures.Read(fixtures.Chord44kStereo)
	bad := filepath.Join(src, "truncated.ogg")
	os.WriteFile(bad, b[:len(b)/3], 0o644)
	cat := filepath.Join(t.TempDir(), "cat")

	var out, errs bytes.Buffer
	args := append([]string{"--catalog", cat, "--artist", "Fixture Band", "--progress"}, files[0], bad, files[1], files[2])
	if code := run(context.Background(), args, &out, &errs, false); code != 1 {
		t.Fatalf("exit %d with a bad file, want 1\n%s", code, errs.String())
	}
	if n := strings.Count(out.String(), "added "); n != 3 || !strings.Contains(out.String(), "Fixture Band - chord-44k-stereo") {
		t.Fatalf("stdout:\n%s", out.String())
	}
	if !strings.Contains(errs.String(), "truncated.ogg") || !strings.Contains(errs.String(), "3 added, 0 already present, 1 failed; the catalogue holds 3 tracks") {
		t.Fatalf("stderr:\n%s", errs.String())
	}

	out.Reset()
	errs.Reset()
	if code := run(context.Background(), append([]string{"-c", cat}, files...), &out, &errs, false); code != 0 {
		t.Fatalf("second run exit %d\n%s", code, errs.String())
	}
	if !strings.Contains(errs.String(), "0 added, 3 already present, 0 failed") || strings.Contains(errs.String(), "ingesting") {
		t.Fatalf("second run stderr (no bar expected):\n%s", errs.String())
	}
	if code := run(context.Background(), []string{"-c", cat, "--duplicate", files[0]}, &out, &errs, false); code != 0 {
		t.Fatalf("--duplicate exit %d", code)
	}
	if !strings.Contains(errs.String(), "the catalogue holds 4 tracks") {
		t.Fatalf("--duplicate did not add:\n%s", errs.String())
	}
}

func TestRunUsage(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errs, false); code != 0 || !strings.Contains(out.String(), "--catalog") {
		t.Fatalf("--help: exit %d\n%s", code, out.String())
	}
	if code := run(context.Background(), []string{"x.ogg"}, &out, &errs, false); code != 2 || !strings.Contains(errs.String(), "--catalog") {
		t.Fatalf("missing --catalog: exit %d\n%s", code, errs.String())
	}
}
