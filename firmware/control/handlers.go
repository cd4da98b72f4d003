package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Search paging limits.
const (
	DefaultSearchLimit = 20
	MaxSearchLimit     = 100
	maxSearchOffset    = 10000
)

// MaxSeek bounds a seek position (no track is that long).
const MaxSeek = 24 * time.Hour

// methods maps an HTTP method to its handler for one path.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h(w, r)
		return
	}
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	sort.Strings(allow)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed here; use %s", r.Method, strings.Join(allow, " or ")))
}

func (s *Server) routes() (h http.Handler, err error) {
	mux := http.NewServeMux()
	api := map[string]methods{
		"status":   {http.MethodGet: s.handleStatus},
		"search":   {http.MethodGet: s.handleSearch},
		"play":     {http.MethodPost: s.handlePlay},
		"queue":    {http.MethodPost: s.handleQueue},
		"pause":    {http.MethodPost: s.simple("pause", s.player.Pause)},
		"resume":   {http.MethodPost: s.simple("resume", s.player.Resume)},
		"next":     {http.MethodPost: s.simple("next", s.player.Next)},
		"previous": {http.MethodPost: s.simple("previous", s.player.Previous)},
		"seek":     {http.MethodPost: s.handleSeek},
		"volume":   {http.MethodPut: s.handleVolume, http.MethodPost: s.handleVolume},
		"events":   {http.MethodGet: s.handleEvents},
	}
	for name, m := range api {
		mux.Handle(APIPrefix+name, s.auth(m))
	}
	mux.Handle(APIPrefix+"health", methods{http.MethodGet: s.handleHealth})
	mux.Handle(APIPrefix, s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint "+r.URL.Path+"; see API.md")
	})))
	// ServeMux panics on conflicting patterns; Validate rules out the ones
	// we know of, and this turns anything else into an error.
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("control config: mounting handlers: %v", p)
		}
	}()
	for _, m := range s.cfg.Mounts {
		mux.Handle(m.Pattern, m.Handler)
	}
	return s.common(mux), nil
}

// common sets the headers every answer carries and limits request bodies.
func (s *Server) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			w.Header().Set("Cache-Control", "no-store")
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// auth checks the bearer token in constant time.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !tokenMatches(strings.TrimSpace(tok), s.cfg.Token) {
			s.log.Debug("control API request refused: bad or missing token", "remote", r.RemoteAddr, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="starling"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// playerError answers with the status that err's sentinel asks for.
func (s *Server) playerError(w http.ResponseWriter, r *http.Request, op string, err error) {
	code := statusFor(err)
	if code >= 500 {
		s.log.Warn("control API request failed", "op", op, "err", err)
	}
	writeError(w, code, op+": "+err.Error())
}

// decodeBody decodes one JSON object of at most MaxBodyBytes into v. It
// answers the request itself and returns false on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "request body must be application/json")
			return false
		}
	}
	body, err := io.ReadAll(r.Body) // r.Body is a MaxBytesReader (see common)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return false
	}
	if err := decodeJSON(body, v); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// decodeJSON decodes exactly one JSON value with no unknown fields.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty request body; want a JSON object")
		}
		return fmt.Errorf("decoding request body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decoding request body: trailing data after the JSON object")
	}
	return nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.player.Status(r.Context())
	if err != nil {
		s.playerError(w, r, "status", err)
		return
	}
	if st.Version == "" {
		st.Version = s.cfg.Version
	}
	writeJSON(w, http.StatusOK, st)
}

// parseSearch checks the query parameters of a search.
func parseSearch(q map[string][]string) (query string, offset, limit int, err error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	query = strings.TrimSpace(get("q"))
	if query == "" {
		return "", 0, 0, errors.New("missing search query (add the q parameter)")
	}
	if len(query) > MaxQueryLen {
		return "", 0, 0, fmt.Errorf("search query longer than %d bytes", MaxQueryLen)
	}
	limit = DefaultSearchLimit
	if v := get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > MaxSearchLimit {
			return "", 0, 0, fmt.Errorf("limit %q: want an integer from 1 to %d", v, MaxSearchLimit)
		}
	}
	if v := get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > maxSearchOffset {
			return "", 0, 0, fmt.Errorf("offset %q: want an integer from 0 to %d", v, maxSearchOffset)
		}
	}
	return query, offset, limit, nil
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	query, offset, limit, err := parseSearch(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	tracks, total, err := s.player.Search(r.Context(), query, offset, limit)
	if err != nil {
		s.playerError(w, r, "search", err)
		return
	}
	if tracks == nil {
		tracks = []Track{}
	}
	if len(tracks) > limit {
		tracks = tracks[:limit]
	}
	writeJSON(w, http.StatusOK, SearchResult{Tracks: tracks, Total: total, Offset: offset, Limit: limit})
}

// PlayResult is the answer of play and queue.
type PlayResult struct {
	Track Track `json:"track"`
}

func (s *Server) handlePlay(w http.ResponseWriter, r *http.Request) {
	s.playOrQueue(w, r, "play", s.player.Play)
}

func (s *Server) handleQueue(w http.ResponseWriter, r *http.Request) {
	s.playOrQueue(w, r, "queue", s.player.Queue)
}

func (s *Server) playOrQueue(w http.ResponseWriter, r *http.Request, op string, f func(ctx context.Context, req PlayRequest) (Track, error)) {
	var req PlayRequest
	if !decodeBody(w, r, &req) {
		return
	}
	req.Query = strings.TrimSpace(req.Query)
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, op+": "+err.Error())
		return
	}
	t, err := f(r.Context(), req)
	if err != nil {
		s.playerError(w, r, op, err)
		return
	}
	writeJSON(w, http.StatusOK, PlayResult{Track: t})
}

// simple handles a body-less command answered with 204.
func (s *Server) simple(op string, f func(ctx context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(r.Context()); err != nil {
			s.playerError(w, r, op, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// SeekRequest is the body of POST /api/v1/seek.
type SeekRequest struct {
	PositionMs *int64 `json:"position_ms"`
}

func (s *Server) handleSeek(w http.ResponseWriter, r *http.Request) {
	var req SeekRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.PositionMs == nil || *req.PositionMs < 0 || *req.PositionMs > MaxSeek.Milliseconds() {
		writeError(w, http.StatusBadRequest, "seek: want {\"position_ms\": N} with N from 0 to 86400000")
		return
	}
	if err := s.player.Seek(r.Context(), time.Duration(*req.PositionMs)*time.Millisecond); err != nil {
		s.playerError(w, r, "seek", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// VolumeRequest is the body of PUT /api/v1/volume.
type VolumeRequest struct {
	Volume *int `json:"volume"`
}

func (s *Server) handleVolume(w http.ResponseWriter, r *http.Request) {
	var req VolumeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Volume == nil || *req.Volume < 0 || *req.Volume > 100 {
		writeError(w, http.StatusBadRequest, "volume: want {\"volume\": N} with N from 0 to 100")
		return
	}
	if err := s.player.SetVolume(r.Context(), *req.Volume); err != nil {
		s.playerError(w, r, "volume", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
