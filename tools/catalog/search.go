package catalog

import (
	"sort"
	"strings"
)

// Search limits.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 500
	maxQueryLen        = 256
)

// Match tiers, best first.
const (
	tierExact     = iota // a field equals the whole query
	tierPrefix           // a field starts with the whole query
	tierWordStart        // every word starts a word of some field
	tierSubstring        // every word is inside some field
)

// Search finds published tracks whose title, artist or album contain every
// word of query (case-insensitive). Results are ranked: a field equal to
// the whole query first, then a field starting with it, then every word
// starting a word, then plain substrings; ties by artist, album, track
// number, title. offset and limit page through them (limit <= 0 means
// DefaultSearchLimit, at most MaxSearchLimit); total counts every match.
// An empty query lists the whole catalogue in browse order.
func (c *Catalog) Search(query string, offset, limit int) (results []Entry, total int) {
	q := normalizeQuery(query)
	words := strings.Fields(q)
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	offset = max(offset, 0)

	type hit struct {
		ie   *indexed
		tier int
	}
	c.mu.RLock()
	var hits []hit
	for _, ie := range c.idx.sorted { // browse order, so a stable sort keeps ties right
		if t, ok := matchTier(ie, q, words); ok {
			hits = append(hits, hit{ie, t})
		}
	}
	c.mu.RUnlock()
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].tier < hits[j].tier })
	total = len(hits)
	if offset >= total {
		return []Entry{}, total
	}
	hits = hits[offset:min(total, offset+limit)]
	results = make([]Entry, len(hits))
	for i, h := range hits {
		results[i] = h.ie.Entry
	}
	return results, total
}

// normalizeQuery lower-cases the query, collapses white space and bounds
// its length.
func normalizeQuery(s string) string {
	s = cleanTag(s)
	if len(s) > maxQueryLen {
		s = strings.ToValidUTF8(s[:maxQueryLen], "")
	}
	return strings.ToLower(s)
}

func matchTier(ie *indexed, q string, words []string) (int, bool) {
	if len(words) == 0 {
		return tierSubstring, true
	}
	fields := [3]string{ie.title, ie.artist, ie.album}
	for _, f := range fields {
		if f == q {
			return tierExact, true
		}
	}
	for _, f := range fields {
		if strings.HasPrefix(f, q) {
			return tierPrefix, true
		}
	}
	tier := tierWordStart
	for _, w := range words {
		found, start := false, false
		for _, f := range fields {
			if i := strings.Index(f, w); i >= 0 {
				found = true
				if wordStart(f, w) {
					start = true
					break
				}
			}
		}
		if !found {
			return 0, false
		}
		if !start {
			tier = tierSubstring
		}
	}
	return tier, true
}

// wordStart reports whether w occurs in f at the start of a word.
func wordStart(f, w string) bool {
	for i := 0; i+len(w) <= len(f); {
		j := strings.Index(f[i:], w)
		if j < 0 {
			return false
		}
		j += i
		if j == 0 || f[j-1] == ' ' || f[j-1] == '-' || f[j-1] == '(' {
			return true
		}
		i = j + 1
	}
	return false
}
