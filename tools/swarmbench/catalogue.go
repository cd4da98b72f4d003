package swarmbench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// trackInfo is what the summary needs of a catalogue track.
type trackInfo struct {
	size     int64         // encrypted bytes = what travels
	duration time.Duration // playing time (simulated)
}

// readManifests reads and verifies each track's manifest from the
// catalogue directory (DIR/public/manifests/<id>; tools/catalog). The
// files are untrusted: read through a limit and checked against the ID.
func readManifests(catDir string, ids []track.ID) ([]trackInfo, error) {
	out := make([]trackInfo, len(ids))
	for i, id := range ids {
		path := filepath.Join(catDir, "public", "manifests", id.String())
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the manifest of %s: %w", id.Short(), err)
		}
		raw, err := io.ReadAll(io.LimitReader(f, track.MaxManifestSize+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if len(raw) > track.MaxManifestSize {
			return nil, fmt.Errorf("%s: larger than a manifest can be (%d bytes)", path, track.MaxManifestSize)
		}
		m, err := track.ParseVerifiedManifest(id, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if m.DurationMs == 0 {
			return nil, fmt.Errorf("%s: track of zero duration", path)
		}
		out[i] = trackInfo{size: m.Size, duration: time.Duration(m.DurationMs) * time.Millisecond}
	}
	return out, nil
}
