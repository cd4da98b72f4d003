package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/starling-audio/starling/p2p/track"
)

// SelfCheck opens a cache in dir (with its own device key there), stores a
// small verified track with its key, reads every chunk and the key back,
// checks that a corrupt chunk is refused, evicts the track, and closes.
// The firmware self-test calls it on a scratch directory.
func SelfCheck(ctx context.Context, dir string) (err error) {
	c, err := Open(ctx, Options{Dir: dir, CapacityBytes: 64 << 20, Badger: BadgerOptions{ValueLogFileSize: 1 << 20}},
		slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("cache self-check: %w", err)
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("cache self-check: %w", cerr)
		}
	}()
	key, err := track.NewKey()
	if err != nil {
		return err
	}
	plain := make([]byte, 2*track.ChunkSize+123)
	for i := range plain {
		plain[i] = byte(i % 251)
	}
	m, enc, err := track.Seal(key, plain, track.Format{DurationMs: 1000, SampleRate: 44100, Channels: 2})
	if err != nil {
		return err
	}
	raw, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	id, err := m.ID()
	if err != nil {
		return err
	}
	if err := c.PutManifest(id, raw); err != nil {
		return fmt.Errorf("cache self-check: %w", err)
	}
	if err := c.PutKey(id, key); err != nil {
		return fmt.Errorf("cache self-check: %w", err)
	}
	bad := bytes.Clone(enc[:track.ChunkSize])
	bad[0] ^= 0xff
	if err := c.PutChunk(id, 0, bad); !errors.Is(err, track.ErrChunkHash) {
		return fmt.Errorf("cache self-check: corrupt chunk not refused: %v", err)
	}
	for i := m.NumChunks() - 1; i >= 0; i-- { // out of order on purpose
		off := m.ChunkOffset(i)
		if err := c.PutChunk(id, i, enc[off:off+int64(m.ChunkLen(i))]); err != nil {
			return fmt.Errorf("cache self-check: %w", err)
		}
	}
	if !c.Complete(id) {
		return errors.New("cache self-check: track not complete after every chunk")
	}
	gotKey, err := c.Key(id)
	if err != nil || gotKey != key {
		return fmt.Errorf("cache self-check: key round trip: %v", err)
	}
	var buf []byte
	for i := range m.NumChunks() {
		if buf, err = c.ReadChunk(id, i, buf); err != nil {
			return fmt.Errorf("cache self-check: %w", err)
		}
		off := m.ChunkOffset(i)
		if !bytes.Equal(buf, enc[off:off+int64(len(buf))]) {
			return fmt.Errorf("cache self-check: chunk %d read back different", i)
		}
	}
	if err := c.Remove(ctx, id); err != nil {
		return fmt.Errorf("cache self-check: %w", err)
	}
	if _, err := c.ReadChunk(id, 0, buf); !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("cache self-check: chunk still readable after eviction: %v", err)
	}
	return nil
}
