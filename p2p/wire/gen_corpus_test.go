package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteSeedCorpus regenerates testdata/fuzz when STARLING_WRITE_CORPUS=1.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("STARLING_WRITE_CORPUS") != "1" {
		t.Skip("set STARLING_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	write := func(fuzz, name, body string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range messageSeeds(t) {
		write("FuzzDecodeMessage", fmt.Sprintf("seed%02d", i), fmt.Sprintf("[]byte(%q)", s))
	}
	write("FuzzReadFrame", "ping", fmt.Sprintf("[]byte(%q)", mustFrame(Header{Type: TypePing, ID: 7}, nil)))
	write("FuzzReadFrame", "huge", fmt.Sprintf("[]byte(%q)", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}))
	write("FuzzReadFrame", "fragment", fmt.Sprintf("[]byte(%q)", mustFrame(Header{Type: 0x0103, Flags: FlagMore | FlagResponse, ID: 3}, []byte("abc"))))
	write("FuzzParsePeerID", "valid", fmt.Sprintf("string(%q)", PeerIDFromSPKI([]byte("k")).String()))
	write("FuzzParsePeerID", "short", `string("ABC-DEF")`)
}
