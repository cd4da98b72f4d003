package audio

import (
	"context"
	"testing"
	"time"

	"github.com/starling-audio/starling/tools/fixtures"
)

// TestFetcherKeepsHeadersAcrossAnEarlySeek: a seek requested before the
// headers are out (Seek right after Enqueue) must not cost a header packet,
// or the track fails with "not a Vorbis setup header". The fetcher's send
// selects between delivering and taking the seek, so a dropped header
// showed up in about half the runs before the fix.
func TestFetcherKeepsHeadersAcrossAnEarlySeek(t *testing.T) {
	for run := range 20 {
		f := newFetcher(newMem(t, fixtures.Tones48kMono))
		gen := f.requestSeek(5 * time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		go f.run(ctx)
		headers := 0
		for {
			m := <-f.pkts
			if m.reset {
				if m.gen != gen || m.err != nil {
					t.Fatalf("run %d: reset gen %d (want %d), err %v", run, m.gen, gen, m.err)
				}
				break
			}
			if m.err != nil {
				t.Fatalf("run %d: %v", run, m.err)
			}
			// The first three packets must be the identification (1),
			// comment (3) and setup (5) headers; later ones of the first
			// page may follow (the consumer drops them as stale).
			if m.data != nil && headers < 3 {
				if want := byte(2*headers + 1); len(m.data) < 7 || m.data[0] != want || string(m.data[1:7]) != "vorbis" {
					t.Fatalf("run %d: packet %d is not header type %d", run, headers+1, want)
				}
				headers++
			}
		}
		cancel()
		<-f.done
		if headers != 3 {
			t.Fatalf("run %d: %d of 3 header packets before the seek's reset", run, headers)
		}
	}
}
