package catalog_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/starling-audio/starling/tools/catalog"
	"github.com/starling-audio/starling/tools/fixtures"
)

func Example() {
	dir, _ := os.MkdirTemp("", "catalog-example")
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "tones.ogg")
	b, _ := fixtures.Read(fixtures.Tones48kMono)
	os.WriteFile(src, b, 0o644)

	c, err := catalog.Open(filepath.Join(dir, "cat"), slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println(err)
		return
	}
	e, added, err := c.Ingest(context.Background(), src, catalog.IngestOptions{Artist: "Test Tones"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(added, e.Title, e.Artist, e.DurationMs, e.SampleRate, e.Channels)

	results, total := c.Search("test", 0, 10)
	fmt.Println(total, results[0].ID == e.ID)

	srv := httptest.NewServer(c.OriginHandler()) // or nginx with root DIR/public
	defer srv.Close()
	resp, err := srv.Client().Head(srv.URL + "/tracks/" + e.ID.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.ContentLength == e.Size, resp.Header.Get("Cache-Control"))
	// Output:
	// true tones-48k-mono Test Tones 10000 48000 1
	// 1 true
	// 200 true public, max-age=31536000, immutable
}
