package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/fixtures"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// TestCrashLeftovers simulates crashes at each step of an ingest: temp files
// in every directory, and a track whose files were all renamed into place
// but whose entry was never written. None is visible, and the next Open
// removes them all.
func TestCrashLeftovers(t *testing.T) {
	c := openTest(t)
	dir := c.Dir()
	kept, _, err := c.Ingest(context.Background(), writeFixture(t, fixtures.Tones48kMono), IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A complete track, then "crash" before its entry: delete the entry.
	lost, _, err := c.Ingest(context.Background(), writeFixture(t, fixtures.Pluck44kStereo), IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "private", "meta", lost.ID.String()+".json")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"public/tracks", "public/manifests", "private/keys", "private/meta", "private/tmp"} {
		if err := os.WriteFile(filepath.Join(dir, d, tmpPrefix+"deadbeef"), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// While an ingest holds the lock (any process), Open leaves files alone.
	l, ok, err := lockDir(filepath.Join(dir, "private", "ingest.lock"), false, true)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	c2 := reopen(t, dir)
	l.unlock()
	if c2.Len() != 1 {
		t.Fatalf("%d tracks visible, want 1", c2.Len())
	}
	if _, ok := c2.Entry(lost.ID); ok {
		t.Fatal("track without an entry is visible")
	}
	if _, err := c2.ManifestRaw(lost.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest of unpublished track: %v", err)
	}
	if _, err := c2.Key(lost.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("key of unpublished track: %v", err)
	}
	if n := len(listDir(t, filepath.Join(dir, "private", "tmp"))); n != 1 {
		t.Fatalf("temp file removed while an ingest held the lock (%d left)", n)
	}

	c3 := reopen(t, dir)
	if c3.Len() != 1 {
		t.Fatalf("%d tracks after cleanup", c3.Len())
	}
	for d, want := range map[string][]string{
		"public/tracks":    {kept.ID.String()},
		"public/manifests": {kept.ID.String()},
		"private/keys":     {kept.ID.String()},
		"private/meta":     {kept.ID.String() + ".json"},
		"private/tmp":      nil,
	} {
		got := listDir(t, filepath.Join(dir, d))
		if len(got) != len(want) || (len(want) == 1 && got[0] != want[0]) {
			t.Errorf("%s after cleanup: %q, want %q", d, got, want)
		}
	}
}

func TestReloadSeesOtherProcess(t *testing.T) {
	server := openTest(t)
	ingester := reopen(t, server.Dir())
	e, _, err := ingester.Ingest(context.Background(), writeFixture(t, fixtures.Chord44kStereo), IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := server.Entry(e.ID); ok {
		t.Fatal("visible before Reload")
	}
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, ok := server.Entry(e.ID); !ok || got != e {
		t.Fatalf("after Reload: %v %+v", ok, got)
	}
}

func TestBadEntriesSkipped(t *testing.T) {
	c := openTest(t)
	good, _, err := c.Ingest(context.Background(), writeFixture(t, fixtures.Chord44kStereo), IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(c.Dir(), "private", "meta")
	raw, _ := os.ReadFile(filepath.Join(meta, good.ID.String()+".json"))
	other := track.ID{9}.String()
	os.WriteFile(filepath.Join(meta, other+".json"), raw, 0o600)                // names another track
	os.WriteFile(filepath.Join(meta, track.ID{8}.String()+".json"), nil, 0o600) // empty
	os.WriteFile(filepath.Join(meta, "notanid.json"), raw, 0o600)
	c2 := reopen(t, c.Dir())
	if c2.Len() != 1 {
		t.Fatalf("%d entries loaded, want only the good one", c2.Len())
	}
	// A missing blob makes an entry invalid; a damaged manifest is never served.
	os.WriteFile(filepath.Join(c.Dir(), "public", "manifests", good.ID.String()), []byte("STMF garbage"), 0o644)
	if _, err := c2.ManifestRaw(good.ID); !errors.Is(err, track.ErrManifestID) {
		t.Fatalf("damaged manifest: %v", err)
	}
	os.Remove(filepath.Join(c.Dir(), "public", "tracks", good.ID.String()))
	if err := c2.Reload(); err != nil {
		t.Fatal(err)
	}
	if c2.Len() != 0 {
		t.Fatal("entry without its blob loaded")
	}
}
