package catalog

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/tools/fixtures"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogger logs through t.Log, so failures show what the catalogue said.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Helper(); w.t.Log(string(p)); return len(p), nil }

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openTest opens a catalogue in a fresh temp dir with a fixed clock and no
// transcoder on PATH.
func openTest(t testing.TB) *Catalog {
	t.Helper()
	return reopen(t, t.TempDir())
}

func reopen(t testing.TB, dir string) *Catalog {
	t.Helper()
	c, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return fixedNow }
	c.lookPath = noTranscoder
	return c
}

func noTranscoder(name string) (string, error) { return "", os.ErrNotExist }

// writeFixture copies a fixture into a temp dir and returns its path.
func writeFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := fixtures.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, name, b)
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
