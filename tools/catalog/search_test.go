package catalog

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"testing"
)

func searchCatalog(entries ...Entry) *Catalog {
	for i := range entries {
		binary.BigEndian.PutUint32(entries[i].ID[:], uint32(i+1))
	}
	return &Catalog{log: slog.New(slog.DiscardHandler), idx: newIndex(entries)}
}

func titles(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Title
	}
	return out
}

func TestSearchRanking(t *testing.T) {
	c := searchCatalog(
		Entry{Title: "Yellow Submarine", Artist: "The Beatles", Album: "Revolver", TrackNo: 6},
		Entry{Title: "Yellow", Artist: "Coldplay", Album: "Parachutes", TrackNo: 5},
		Entry{Title: "Mellow Yellow", Artist: "Donovan", Album: "Mellow Yellow", TrackNo: 1},
		Entry{Title: "Goodbye Yellow Brick Road", Artist: "Elton John", Album: "Goodbye Yellow Brick Road", TrackNo: 2},
		Entry{Title: "Yellowish", Artist: "Aardvark", Album: "B", TrackNo: 1},
		Entry{Title: "Help!", Artist: "The Beatles", Album: "Help!", TrackNo: 1},
		Entry{Title: "Unrelated", Artist: "Nobody", Album: "Nothing"},
	)
	cases := []struct {
		q    string
		want []string
	}{
		// exact, then prefixes (ties by artist), then word starts (by artist), none of the rest.
		{"yellow", []string{"Yellow", "Yellowish", "Yellow Submarine", "Mellow Yellow", "Goodbye Yellow Brick Road"}},
		{"YELLOW sub", []string{"Yellow Submarine"}},
		{"beatles help", []string{"Help!"}}, // words may match different fields
		{"beatles", []string{"Help!", "Yellow Submarine"}},
		{"ellow", []string{"Yellowish", "Yellow", "Mellow Yellow", "Goodbye Yellow Brick Road", "Yellow Submarine"}},
		{"beatles zzz", []string{}},
		{"  the   beatles ", []string{"Help!", "Yellow Submarine"}}, // artist prefix; album Help! sorts first
	}
	for _, tc := range cases {
		got, total := c.Search(tc.q, 0, 0)
		if fmt.Sprint(titles(got)) != fmt.Sprint(tc.want) || total != len(tc.want) {
			t.Errorf("Search(%q) = %q (total %d), want %q", tc.q, titles(got), total, tc.want)
		}
	}
	if got, total := c.Search("", 0, 0); total != 7 || len(got) != 7 || got[0].Artist != "Aardvark" {
		t.Errorf("empty query: %d of %d, first %q", len(got), total, got[0].Artist)
	}
}

func TestSearchPaging(t *testing.T) {
	var es []Entry
	for i := range 25 {
		es = append(es, Entry{Title: fmt.Sprintf("Song %02d", 25-i), Artist: "Band", Album: "Album", TrackNo: 25 - i})
	}
	c := searchCatalog(es...)
	var all []string
	for off := 0; ; off += 10 {
		page, total := c.Search("song", off, 10)
		if total != 25 {
			t.Fatalf("total %d, want 25", total)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, titles(page)...)
	}
	if len(all) != 25 || all[0] != "Song 01" || all[24] != "Song 25" {
		t.Fatalf("pages joined: %q", all)
	}
	if page, total := c.Search("song", 100, 10); len(page) != 0 || total != 25 {
		t.Fatalf("offset past the end: %d results, total %d", len(page), total)
	}
	if page, _ := c.Search("song", -5, 3); len(page) != 3 || page[0].Title != "Song 01" {
		t.Fatalf("negative offset: %q", titles(page))
	}
	if page, _ := c.Search("song", 0, 1<<30); len(page) != 25 {
		t.Fatalf("huge limit: %d", len(page))
	}
}
