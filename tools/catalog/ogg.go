package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jfreymuth/oggvorbis"

	"github.com/starling-audio/starling/audio/oggpage"
)

const (
	maxTagRunes   = 256 // longest title/artist/album kept
	maxTrackNo    = 9999
	decodeBufSize = 4096 // frames per decoder read
)

// sniffKind says what the first bytes of a file are.
type sniffKind int

const (
	sniffOther        sniffKind = iota // not Ogg at all
	sniffOggVorbis                     // an Ogg stream whose first packet is a Vorbis ident header
	sniffOggNotVorbis                  // Ogg, another codec (Opus, FLAC, ...)
)

// sniff classifies a file by its first page.
func sniff(head []byte) sniffKind {
	if len(head) < oggpage.HeaderLen || !bytes.HasPrefix(head, []byte(oggpage.CapturePattern)) {
		return sniffOther
	}
	start := oggpage.HeaderLen + int(head[26])
	if len(head) >= start+7 && bytes.Equal(head[start:start+7], []byte("\x01vorbis")) {
		return sniffOggVorbis
	}
	return sniffOggNotVorbis
}

// oggInfo is what the page walk learns.
type oggInfo struct {
	Pages   int
	Granule int64 // granule position of the last page: total samples
}

// scanOgg walks every page of a single-stream Ogg file and checks its
// framing: capture pattern, version, CRC, one serial number, contiguous
// sequence numbers, BOS first, EOS last and nothing after it. Pages are
// read by oggpage, whose buffers are fixed (a page is at most
// oggpage.MaxPage bytes), so hostile input cannot make it allocate.
func scanOgg(r io.Reader) (oggInfo, error) {
	var (
		info   oggInfo
		pages  = oggpage.NewReader(r)
		serial uint32
	)
	for {
		pg, err := pages.Next()
		if err != nil {
			switch {
			case err == io.EOF:
				return info, fmt.Errorf("%w: stream ends after %d pages without an end-of-stream page", ErrTruncated, info.Pages)
			case errors.Is(err, oggpage.ErrTruncated):
				return info, fmt.Errorf("%w: page %d: %v", ErrTruncated, info.Pages, err)
			case errors.Is(err, oggpage.ErrMalformed), errors.Is(err, oggpage.ErrChecksum):
				return info, fmt.Errorf("%w: page %d: %w", ErrCorrupt, info.Pages, err)
			default:
				return info, fmt.Errorf("reading page %d: %w", info.Pages, err)
			}
		}
		flags, granule, pSerial, seq := pg.Flags, pg.Granule, pg.Serial, pg.Seq
		first := info.Pages == 0
		if first {
			serial = pSerial
			if flags&oggpage.FlagBOS == 0 {
				return info, fmt.Errorf("%w: first page is not a beginning-of-stream page", ErrCorrupt)
			}
		} else {
			if pSerial != serial || flags&oggpage.FlagBOS != 0 {
				return info, fmt.Errorf("%w: more than one logical stream (chained or multiplexed Ogg)", ErrUnsupported)
			}
		}
		if seq != uint32(info.Pages) {
			return info, fmt.Errorf("%w: page %d has sequence number %d (pages missing?)", ErrCorrupt, info.Pages, seq)
		}
		info.Pages++
		if granule != -1 {
			if granule < info.Granule {
				return info, fmt.Errorf("%w: granule position goes backwards at page %d", ErrCorrupt, info.Pages-1)
			}
			info.Granule = granule
		}
		if flags&oggpage.FlagEOS != 0 { // end of stream
			var one [1]byte
			if k, _ := io.ReadFull(r, one[:]); k != 0 {
				return info, fmt.Errorf("%w: bytes after the end-of-stream page", ErrUnsupported)
			}
			return info, nil
		}
	}
}

// audioInfo is what ingest learns from a decodable Ogg Vorbis file.
type audioInfo struct {
	SampleRate uint32
	Channels   uint8
	Frames     int64 // decoded samples per channel
	Title      string
	Artist     string
	Album      string
	TrackNo    int
}

// DurationMs is the playing time, rounded down.
func (a audioInfo) DurationMs() uint32 {
	if a.SampleRate == 0 {
		return 0
	}
	ms := a.Frames * 1000 / int64(a.SampleRate)
	return uint32(min(ms, int64(^uint32(0))))
}

// probeOgg checks the framing of an Ogg Vorbis file, then decodes it to the
// end. A file that does not fully decode is refused as corrupt.
func probeOgg(ctx context.Context, rs io.ReadSeeker) (ai audioInfo, err error) {
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return ai, fmt.Errorf("rewinding: %w", err)
	}
	info, err := scanOgg(rs)
	if err != nil {
		return ai, err
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return ai, fmt.Errorf("rewinding: %w", err)
	}
	// The framing is sound, but the Vorbis decoder is third-party code fed
	// untrusted packets: turn any panic of it into a refusal of the file.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: the Vorbis decoder failed: %v", ErrCorrupt, p)
		}
	}()
	r, err := oggvorbis.NewReader(rs)
	if err != nil {
		return ai, fmt.Errorf("%w: reading Vorbis headers: %v", ErrCorrupt, err)
	}
	rate, ch := r.SampleRate(), r.Channels()
	if rate < 8000 || rate > 192000 {
		return ai, fmt.Errorf("%w: sample rate %d Hz (want 8000..192000)", ErrUnsupported, rate)
	}
	if ch < 1 || ch > 8 {
		return ai, fmt.Errorf("%w: %d channels (want 1..8)", ErrUnsupported, ch)
	}
	ai.SampleRate, ai.Channels = uint32(rate), uint8(ch)
	buf := make([]float32, decodeBufSize*ch)
	var values int64
	for i := 0; ; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return ai, err
			}
		}
		n, rerr := r.Read(buf)
		values += int64(n)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return ai, fmt.Errorf("%w: decoding audio after %d samples: %v", ErrCorrupt, values/int64(ch), rerr)
		}
		if n == 0 {
			return ai, fmt.Errorf("%w: decoder made no progress after %d samples", ErrCorrupt, values/int64(ch))
		}
	}
	ai.Frames = values / int64(ch)
	if ai.Frames == 0 {
		return ai, fmt.Errorf("%w: no audio", ErrCorrupt)
	}
	if ai.Frames != info.Granule {
		return ai, fmt.Errorf("%w: decoded %d samples but the stream says %d", ErrCorrupt, ai.Frames, info.Granule)
	}
	applyComments(&ai, r.CommentHeader().Comments)
	return ai, nil
}

// applyComments takes title, artist, album and track number from Vorbis
// comments (first occurrence of each wins).
func applyComments(ai *audioInfo, comments []string) {
	for _, c := range comments {
		k, v, ok := strings.Cut(c, "=")
		if !ok {
			continue
		}
		v = cleanTag(v)
		switch strings.ToUpper(k) {
		case "TITLE":
			if ai.Title == "" {
				ai.Title = v
			}
		case "ARTIST":
			if ai.Artist == "" {
				ai.Artist = v
			}
		case "ALBUM":
			if ai.Album == "" {
				ai.Album = v
			}
		case "TRACKNUMBER":
			if ai.TrackNo == 0 {
				ai.TrackNo = parseTrackNo(v)
			}
		}
	}
}

// cleanTag makes untrusted text safe to store and show: valid UTF-8, no
// control characters, spaces collapsed, at most maxTagRunes runes.
func cleanTag(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space, n := false, 0
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		need := 1
		if space {
			need = 2
		}
		if n+need > maxTagRunes {
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// parseTrackNo reads "3" or "3/12"; anything else is 0.
func parseTrackNo(s string) int {
	s, _, _ = strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > maxTrackNo {
		return 0
	}
	return n
}

func validTag(s string) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= maxTagRunes && cleanTag(s) == s
}
