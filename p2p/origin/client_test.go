package origin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/p2p/origin"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
	"github.com/starling-audio/starling/p2p/track"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, h http.Handler) *origin.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	c, err := origin.New(origin.Config{BaseURL: srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	return c
}

// strip removes the /v1 prefix so streamtest.Origin sees its own paths.
func strip(h http.Handler) http.Handler { return http.StripPrefix("/v1", h) }

func TestFetchChunksAllSizes(t *testing.T) {
	for _, size := range []int{1, track.ChunkSize, track.ChunkSize + 1, 7*track.ChunkSize + 999} {
		tr := streamtest.NewTrack(t, size, 5000)
		o := streamtest.NewOrigin(tr)
		c := newClient(t, strip(o))
		n := tr.M.NumChunks()
		for _, span := range [][2]int{{0, n}, {n - 1, 1}, {0, 1}} {
			var got []byte
			next := span[0]
			err := c.FetchChunks(context.Background(), tr.ID, tr.M, span[0], span[1], func(i int, d []byte) error {
				if i != next {
					return fmt.Errorf("chunk %d out of order, want %d", i, next)
				}
				next++
				got = append(got, d...)
				return nil
			})
			if err != nil {
				t.Fatalf("size %d span %v: %v", size, span, err)
			}
			want := tr.Cipher[tr.M.ChunkOffset(span[0]):min(tr.M.ChunkOffset(span[0]+span[1]), int64(size))]
			if !bytes.Equal(got, want) {
				t.Fatalf("size %d span %v: bytes differ", size, span)
			}
		}
	}
}

func TestManifest(t *testing.T) {
	tr := streamtest.NewTrack(t, 3*track.ChunkSize, 5000)
	c := newClient(t, strip(streamtest.NewOrigin(tr)))
	m, raw, err := c.Manifest(context.Background(), tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, tr.Raw) || m.Size != tr.M.Size {
		t.Fatal("manifest differs")
	}
	other := streamtest.NewTrack(t, 10, 10)
	if _, _, err := c.Manifest(context.Background(), other.ID); !errors.Is(err, origin.ErrNotFound) {
		t.Fatalf("unknown manifest: %v", err)
	}
	// An origin that serves another track's manifest under this ID.
	liar := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(other.Raw) })
	c2 := newClient(t, liar)
	if _, _, err := c2.Manifest(context.Background(), tr.ID); !errors.Is(err, track.ErrManifestID) {
		t.Fatalf("wrong manifest accepted: %v", err)
	}
	huge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(track.MaxManifestSize+1))
		w.Write(make([]byte, 10))
	})
	if _, _, err := newClient(t, huge).Manifest(context.Background(), tr.ID); !errors.Is(err, origin.ErrBadLength) {
		t.Fatalf("oversized manifest: %v", err)
	}
}

func TestHostileOrigins(t *testing.T) {
	tr := streamtest.NewTrack(t, 4*track.ChunkSize, 5000)
	body := tr.Cipher
	cases := []struct {
		name string
		h    http.HandlerFunc
		want error
	}{
		{"ignores range", func(w http.ResponseWriter, r *http.Request) { w.Write(body) }, origin.ErrStatus},
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", 500) }, origin.ErrStatus},
		{"not found", http.NotFound, origin.ErrNotFound},
		{"no content-range", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(206); w.Write(body[:track.ChunkSize]) }, origin.ErrBadContentRange},
		{"other range", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", track.ChunkSize, 2*track.ChunkSize-1, len(body)))
			w.WriteHeader(206)
			w.Write(body[track.ChunkSize : 2*track.ChunkSize])
		}, origin.ErrBadContentRange},
		{"wrong total", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", track.ChunkSize-1, len(body)+1))
			w.WriteHeader(206)
			w.Write(body[:track.ChunkSize])
		}, origin.ErrBadContentRange},
		{"truncated", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", track.ChunkSize-1, len(body)))
			w.Header().Set("Content-Length", fmt.Sprint(track.ChunkSize))
			w.WriteHeader(206)
			w.Write(body[:100])
		}, io.ErrUnexpectedEOF},
		{"corrupt", func(w http.ResponseWriter, r *http.Request) {
			bad := bytes.Clone(body)
			bad[5] ^= 0xff
			http.ServeContent(w, r, "", timeZero, bytes.NewReader(bad))
		}, track.ErrChunkHash},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.h)
			called := 0
			err := c.FetchChunks(context.Background(), tr.ID, tr.M, 0, 1, func(int, []byte) error { called++; return nil })
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if called != 0 {
				t.Fatal("a bad chunk reached the callback")
			}
		})
	}
}

func TestArgumentsAndClose(t *testing.T) {
	tr := streamtest.NewTrack(t, 2*track.ChunkSize, 5000)
	c := newClient(t, strip(streamtest.NewOrigin(tr)))
	nop := func(int, []byte) error { return nil }
	for _, a := range [][2]int{{-1, 1}, {0, 0}, {0, 3}, {2, 1}, {1, 2}} {
		if err := c.FetchChunks(context.Background(), tr.ID, tr.M, a[0], a[1], nop); !errors.Is(err, origin.ErrRange) {
			t.Fatalf("range %v: %v", a, err)
		}
	}
	stop := errors.New("stop")
	if err := c.FetchChunks(context.Background(), tr.ID, tr.M, 0, 2, func(int, []byte) error { return stop }); err != stop {
		t.Fatalf("callback error not returned: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.FetchChunks(ctx, tr.ID, tr.M, 0, 1, nop); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled fetch: %v", err)
	}
	if err := c.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if err := c.FetchChunks(context.Background(), tr.ID, tr.M, 0, 1, nop); !errors.Is(err, origin.ErrClosed) {
		t.Fatalf("closed client: %v", err)
	}
	if s := c.Stats(); s.Requests < 3 || s.Bytes < track.ChunkSize || s.Failures < 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "::"} {
		if _, err := origin.New(origin.Config{BaseURL: u}); !errors.Is(err, origin.ErrConfig) {
			t.Fatalf("%q: %v", u, err)
		}
	}
	if _, err := origin.New(origin.Config{BaseURL: "http://127.0.0.1:1", MaxIdleConnsPerHost: -1}); !errors.Is(err, origin.ErrConfig) {
		t.Fatal(err)
	}
}

func TestFetchHead(t *testing.T) {
	for _, size := range []int{1, track.ChunkSize, 3*track.ChunkSize + 5} {
		tr := streamtest.NewTrack(t, size, 5000)
		c := newClient(t, strip(streamtest.NewOrigin(tr)))
		var got []byte
		err := c.FetchHead(context.Background(), tr.ID, 2, func(i int, d []byte) error {
			if off := i * track.ChunkSize; off != len(got) {
				return fmt.Errorf("piece %d at byte %d, want %d", i, len(got), off)
			}
			got = append(got, d...)
			return nil
		})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if want := tr.Cipher[:min(size, 2*track.ChunkSize)]; !bytes.Equal(got, want) {
			t.Fatalf("size %d: got %d bytes, want the first %d", size, len(got), len(want))
		}
		if err := tr.M.VerifyChunk(0, got[:tr.M.ChunkLen(0)]); err != nil {
			t.Fatalf("size %d: chunk 0 of the head does not verify: %v", size, err)
		}
	}
	tr := streamtest.NewTrack(t, 4*track.ChunkSize, 5000)
	for name, h := range map[string]http.HandlerFunc{
		"ignores Range": func(w http.ResponseWriter, r *http.Request) { w.Write(tr.Cipher) },
		"too long": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", 3*track.ChunkSize-1, len(tr.Cipher)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(tr.Cipher[:3*track.ChunkSize])
		},
		"short body": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", track.ChunkSize-1, len(tr.Cipher)))
			w.Header().Set("Content-Length", fmt.Sprint(track.ChunkSize))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(tr.Cipher[:100])
		},
	} {
		c := newClient(t, h)
		if err := c.FetchHead(context.Background(), tr.ID, 2, func(int, []byte) error { return nil }); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	c := newClient(t, strip(streamtest.NewOrigin(tr)))
	if err := c.FetchHead(context.Background(), tr.ID, origin.MaxHeadChunks+1, nil); !errors.Is(err, origin.ErrRange) {
		t.Errorf("oversized head: %v", err)
	}
}
