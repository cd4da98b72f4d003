package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// maxSourceSize bounds a source file that needs transcoding (a WAV of a
// long recording is large; its Vorbis output must still fit MaxTrackSize).
const maxSourceSize = 8 << 30

// IngestOptions adjust one Ingest.
type IngestOptions struct {
	// Title, Artist and Album replace the Vorbis comments when non-empty.
	Title, Artist, Album string
	// TrackNo replaces the TRACKNUMBER comment when positive.
	TrackNo int
	// Duplicate adds a new track even if a track made from the same source
	// bytes is already published (it gets its own key, so its own ID).
	Duplicate bool
}

func (o IngestOptions) validate() error {
	if o.TrackNo < 0 || o.TrackNo > maxTrackNo {
		return fmt.Errorf("track number %d out of range 0..%d", o.TrackNo, maxTrackNo)
	}
	return nil
}

// Ingest adds the audio file at path to the catalogue and returns its
// entry. Ogg Vorbis files go in as they are; other formats are transcoded
// to Vorbis q5 when ffmpeg or oggenc is on PATH. If the same source bytes
// were ingested before and o.Duplicate is false, Ingest returns the
// existing entry and added=false. The track becomes visible only once all
// its files are durably in place.
func (c *Catalog) Ingest(ctx context.Context, path string, o IngestOptions) (e Entry, added bool, err error) {
	e, added, err = c.ingest(ctx, path, o)
	if err != nil {
		return Entry{}, false, fmt.Errorf("ingesting %s: %w", path, err)
	}
	return e, added, nil
}

func (c *Catalog) ingest(ctx context.Context, path string, o IngestOptions) (Entry, bool, error) {
	if err := o.validate(); err != nil {
		return Entry{}, false, err
	}
	p := layout(c.dir)
	lock, _, err := lockDir(p.lock, false, true)
	if err != nil {
		return Entry{}, false, err
	}
	defer lock.unlock()

	src, err := os.Open(path)
	if err != nil {
		return Entry{}, false, fmt.Errorf("opening source: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading source: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return Entry{}, false, fmt.Errorf("%w: not a regular file", ErrNotOgg)
	case st.Size() == 0:
		return Entry{}, false, fmt.Errorf("%w: empty file", ErrNotOgg)
	case st.Size() > maxSourceSize:
		return Entry{}, false, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, st.Size(), int64(maxSourceSize))
	}
	srcHash := sha256.New()
	if _, err := io.Copy(srcHash, &ctxReader{ctx: ctx, r: src}); err != nil {
		return Entry{}, false, fmt.Errorf("hashing source: %w", err)
	}
	srcSum := hex.EncodeToString(srcHash.Sum(nil))
	if !o.Duplicate {
		if e, ok := c.bySource(srcSum); ok {
			c.log.Debug("source already ingested", "path", path, "id", e.ID)
			return e, false, nil
		}
	}

	head := make([]byte, 512)
	n, err := src.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return Entry{}, false, fmt.Errorf("reading source: %w", err)
	}
	ogg := src
	native := sniff(head[:n]) == sniffOggVorbis
	if !native {
		tpath, err := c.transcode(ctx, path, p.tmp)
		if err != nil {
			return Entry{}, false, err
		}
		defer os.Remove(tpath)
		if ogg, err = os.Open(tpath); err != nil {
			return Entry{}, false, fmt.Errorf("opening transcoder output: %w", err)
		}
		defer ogg.Close()
	}
	ost, err := ogg.Stat()
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading Ogg file: %w", err)
	}
	if ost.Size() > track.MaxTrackSize {
		return Entry{}, false, fmt.Errorf("%w: %d bytes of Ogg Vorbis (limit %d)", ErrTooLarge, ost.Size(), track.MaxTrackSize)
	}
	ai, err := c.probe(ctx, ogg, srcSum, native)
	if err != nil {
		return Entry{}, false, err
	}
	applyOverrides(&ai, o, path)

	key, err := track.NewKey()
	if err != nil {
		return Entry{}, false, err
	}
	var check hash.Hash
	if native {
		check = sha256.New() // the source must not change under us
	}
	blob, m, err := encryptTo(ctx, p.tracks, ogg, ost.Size(), key, check)
	if err != nil {
		return Entry{}, false, err
	}
	defer os.Remove(blob) // a no-op once renamed
	if native && hex.EncodeToString(check.Sum(nil)) != srcSum {
		return Entry{}, false, errors.New("the source file changed while it was being ingested; try again")
	}
	m.DurationMs = ai.DurationMs()
	m.SampleRate = ai.SampleRate
	m.Channels = ai.Channels
	raw, err := m.MarshalBinary()
	if err != nil {
		return Entry{}, false, fmt.Errorf("encoding manifest: %w", err)
	}
	e := Entry{
		ID:           sha256.Sum256(raw),
		Title:        ai.Title,
		Artist:       ai.Artist,
		Album:        ai.Album,
		TrackNo:      ai.TrackNo,
		DurationMs:   m.DurationMs,
		Size:         m.Size,
		SampleRate:   m.SampleRate,
		Channels:     m.Channels,
		SourceSHA256: srcSum,
		Added:        c.now().UTC().Truncate(time.Millisecond),
	}
	if err := e.validate(); err != nil {
		return Entry{}, false, fmt.Errorf("building entry: %w", err)
	}
	return c.publish(ctx, e, raw, key, blob, o.Duplicate)
}

// maxProbes bounds Catalog.probes.
const maxProbes = 256

// probe probes ogg, or returns what an earlier probe of the same native
// source (srcSum) found in this process: --duplicate ingests the same file
// many times, and each probe decodes all of it.
func (c *Catalog) probe(ctx context.Context, ogg io.ReadSeeker, srcSum string, native bool) (audioInfo, error) {
	if native {
		c.probeMu.Lock()
		ai, ok := c.probes[srcSum]
		c.probeMu.Unlock()
		if ok {
			return ai, nil
		}
	}
	ai, err := probeOgg(ctx, ogg)
	if err != nil || !native {
		return ai, err
	}
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	if c.probes == nil || len(c.probes) >= maxProbes {
		c.probes = map[string]audioInfo{}
	}
	c.probes[srcSum] = ai
	return ai, nil
}

func (c *Catalog) bySource(sum string) (Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range c.idx.bySource[sum] {
		return c.idx.byID[id].Entry, true
	}
	return Entry{}, false
}

// applyOverrides puts the caller's fields over the comments and falls back
// to the file name for a missing title.
func applyOverrides(ai *audioInfo, o IngestOptions, path string) {
	for _, f := range []struct {
		dst *string
		v   string
	}{{&ai.Title, o.Title}, {&ai.Artist, o.Artist}, {&ai.Album, o.Album}} {
		if v := cleanTag(f.v); v != "" {
			*f.dst = v
		}
	}
	if o.TrackNo > 0 {
		ai.TrackNo = o.TrackNo
	}
	if ai.Title == "" {
		base := filepath.Base(path)
		ai.Title = cleanTag(strings.TrimSuffix(base, filepath.Ext(base)))
	}
}

// encryptTo encrypts the whole of r (size bytes) under key into a synced
// temp file in dir, hashing every 16 KiB chunk of ciphertext. If check is
// non-nil it also receives the plaintext. It returns the temp file's path
// and a manifest holding Size, Codec and Chunks.
func encryptTo(ctx context.Context, dir string, r io.ReaderAt, size int64, key track.Key, check hash.Hash) (string, *track.Manifest, error) {
	f, err := createTemp(dir, 0o644)
	if err != nil {
		return "", nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	m := &track.Manifest{Size: size, Codec: track.CodecVorbis, Chunks: make([]track.Hash, 0, (size+track.ChunkSize-1)/track.ChunkSize)}
	buf := make([]byte, track.ChunkSize)
	for off := int64(0); off < size; off += track.ChunkSize {
		if err := ctx.Err(); err != nil {
			return "", nil, err
		}
		chunk := buf[:min(track.ChunkSize, size-off)]
		if _, err := r.ReadAt(chunk, off); err != nil {
			if err == io.EOF {
				err = errors.New("the file shrank while it was being ingested; try again")
			}
			return "", nil, fmt.Errorf("reading at %d: %w", off, err)
		}
		if check != nil {
			check.Write(chunk)
		}
		if err := track.XORKeyStreamAt(key, chunk, chunk, off); err != nil {
			return "", nil, err
		}
		m.Chunks = append(m.Chunks, track.HashChunk(chunk))
		if _, err := f.Write(chunk); err != nil {
			return "", nil, fmt.Errorf("writing encrypted track (disk full?): %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return "", nil, fmt.Errorf("syncing encrypted track: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", nil, fmt.Errorf("closing encrypted track: %w", err)
	}
	ok = true
	return f.Name(), m, nil
}

// publish moves a track's files into place, the entry last, and adds it to
// the index. Under pubMu it re-checks idempotency, so concurrent ingests of
// the same source in one process make one entry.
func (c *Catalog) publish(ctx context.Context, e Entry, manifest []byte, key track.Key, blob string, duplicate bool) (Entry, bool, error) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	if err := ctx.Err(); err != nil {
		return Entry{}, false, err
	}
	if !duplicate {
		if old, ok := c.bySource(e.SourceSHA256); ok {
			return old, false, nil
		}
	}
	if _, ok := c.Entry(e.ID); ok {
		return Entry{}, false, fmt.Errorf("track %s is already published (key reuse?)", e.ID.Short())
	}
	p := layout(c.dir)
	id := e.ID.String()
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return Entry{}, false, fmt.Errorf("encoding entry: %w", err)
	}
	meta = append(meta, '\n')
	published := []string{}
	fail := func(err error) (Entry, bool, error) {
		for _, f := range published {
			os.Remove(f)
		}
		return Entry{}, false, fmt.Errorf("publishing track %s: %w", e.ID.Short(), err)
	}
	if err := writeFileAtomic(p.manifests, id, manifest, 0o644); err != nil {
		return fail(err)
	}
	published = append(published, filepath.Join(p.manifests, id))
	if err := os.Rename(blob, filepath.Join(p.tracks, id)); err != nil {
		return fail(err)
	}
	published = append(published, filepath.Join(p.tracks, id))
	if err := syncDir(p.tracks); err != nil {
		return fail(err)
	}
	if err := writeFileAtomic(p.keys, id, key[:], 0o600); err != nil {
		return fail(err)
	}
	published = append(published, filepath.Join(p.keys, id))
	if err := writeFileAtomic(p.meta, id+".json", meta, 0o600); err != nil {
		return fail(err)
	}
	c.mu.Lock()
	c.idx.add(e)
	c.mu.Unlock()
	c.log.Info("track ingested", "id", e.ID, "artist", e.Artist, "title", e.Title, "bytes", e.Size)
	return e, true, nil
}

// transcode converts src to Ogg Vorbis q5 in a temp file in dir with ffmpeg
// or, failing that, oggenc, and returns the temp file's path.
func (c *Catalog) transcode(ctx context.Context, src, dir string) (string, error) {
	var name string
	var args []string
	out, err := createTemp(dir, 0o600)
	if err != nil {
		return "", err
	}
	out.Close()
	if bin, err := c.lookPath("ffmpeg"); err == nil {
		name = bin
		args = []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", src,
			"-map", "0:a:0", "-map_metadata", "0", "-c:a", "libvorbis", "-q:a", "5", "-f", "ogg", out.Name()}
	} else if bin, err := c.lookPath("oggenc"); err == nil {
		name = bin
		args = []string{"-Q", "-q", "5", "-o", out.Name(), "--", src}
	} else {
		os.Remove(out.Name())
		return "", fmt.Errorf("%w, and to ingest other formats: %w", ErrNotOgg, ErrNoTranscoder)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		os.Remove(out.Name())
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		return "", fmt.Errorf("%w: %s could not transcode it (%v): %s", ErrNotOgg, filepath.Base(name), err, msg)
	}
	return out.Name(), nil
}

func execLookPath(name string) (string, error) { return exec.LookPath(name) }

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
