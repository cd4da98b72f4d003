package firmware

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/dustin/go-humanize"

	"github.com/starling-audio/starling/audio"
	"github.com/starling-audio/starling/board"
	"github.com/starling-audio/starling/firmware/update"
)

// Config is starlingd's configuration, read from a TOML file. Every field has
// a working default (DefaultConfig); Validate reports every problem at once
// with the key's name. The README documents each key.
type Config struct {
	Device  DeviceConfig  `toml:"device"`
	Service ServiceConfig `toml:"service"`
	Cache   CacheConfig   `toml:"cache"`
	Audio   AudioConfig   `toml:"audio"`
	Peer    PeerConfig    `toml:"peer"`
	Stream  StreamConfig  `toml:"stream"`
	Control ControlConfig `toml:"control"`
	Board   board.Profile `toml:"board"`
	Runtime RuntimeConfig `toml:"runtime"`
	Update  UpdateConfig  `toml:"update"`
}

// DeviceConfig names the speaker and where it keeps its state.
type DeviceConfig struct {
	Name     string `toml:"name"`      // shown in mDNS and status; default: the host name
	StateDir string `toml:"state_dir"` // device key, control token, credentials; default /var/lib/starling
	CacheDir string `toml:"cache_dir"` // the track cache; default /var/cache/starling
}

// ServiceConfig says how to reach the catalogue service.
type ServiceConfig struct {
	Address     string `toml:"address"`     // session host:port (TLS); required to stream
	Origin      string `toml:"origin"`      // origin base URL, e.g. http://catalog.example:7441
	Credentials string `toml:"credentials"` // file written by `starling-server device add`; default state_dir/credentials.json
}

// CacheConfig bounds the track cache.
type CacheConfig struct {
	Capacity string `toml:"capacity"` // bytes ("2GB") or percent of free space ("10%"); default 10%
	Cap      string `toml:"cap"`      // upper bound when capacity is a percentage; default 10GB
}

// AudioConfig selects the output.
type AudioConfig struct {
	Backend string  `toml:"backend"` // auto, alsa, pulseaudio, null, virtual; default auto
	Device  string  `toml:"device"`  // backend device name; empty = default device
	Speed   float64 `toml:"speed"`   // backend "virtual" only: plays at this many times real time (benchmarks, demo); default 1
	// Decode is "full" (Vorbis synthesis, the default) or "bitrate": backend
	// "virtual" only, the player checks the Ogg pages and Vorbis headers but
	// renders silence for each page's frames instead of decoding, so the
	// encoded bytes are consumed at the track's bitrate on the same clock
	// (for benchmarks with hundreds of speakers on one machine).
	Decode string `toml:"decode"`
}

// PeerConfig configures the peer overlay.
type PeerConfig struct {
	Listen         string `toml:"listen"`          // peer TLS listener; default :7442; empty disables serving peers
	Advertise      string `toml:"advertise"`       // address announced to the tracker; default derived from listen
	MaxNeighbours  int    `toml:"max_neighbours"`  // hard limit, default 60
	SoftNeighbours int    `toml:"soft_neighbours"` // eviction starts above this, default 50
	MaxUploads     int    `toml:"max_uploads"`     // peers served at once, default 4
	Enabled        bool   `toml:"enabled"`         // default true; false = origin only
	// Tracker and OverlaySearch are the two ways to find peers for a track:
	// the service's tracker and the 2-hop flood through the neighbours.
	// Both default true; turning one off measures the other alone.
	Tracker       bool `toml:"tracker"`
	OverlaySearch bool `toml:"overlay_search"`
}

// StreamConfig holds the buffer policy thresholds, in seconds of audio
// downloaded ahead of the playback point (p2p/stream honours them).
type StreamConfig struct {
	WellFilledSeconds     float64 `toml:"well_filled_seconds"`     // at or above: peers only; default 10
	LowSeconds            float64 `toml:"low_seconds"`             // below: the origin joins; default 5
	VeryLowSeconds        float64 `toml:"very_low_seconds"`        // below: uploading stops; default 2
	OriginAheadSeconds    float64 `toml:"origin_ahead_seconds"`    // origin reads at most this far ahead when peers exist; default 15
	PrefetchSeconds       float64 `toml:"prefetch_seconds"`        // look for the next track among peers this long before the end; default 30
	OriginPrefetchSeconds float64 `toml:"origin_prefetch_seconds"` // take it from the origin this long before the end; default 10
}

// ControlConfig configures the LAN control API.
type ControlConfig struct {
	Listen    string `toml:"listen"`     // default :7410; empty disables the API
	TokenFile string `toml:"token_file"` // default state_dir/control.token (created 0600)
	MDNS      bool   `toml:"mdns"`       // advertise _starling._tcp; default true
}

// UpdateConfig configures the over-the-air update agent (firmware/update).
type UpdateConfig struct {
	Enabled       bool     `toml:"enabled"`        // default false; true needs at least one key
	Keys          []string `toml:"keys"`           // trusted release keys (starling-release-pub-v1:...); several during a rotation
	Channel       string   `toml:"channel"`        // release channel; default "stable" (must match the device's channel on the service)
	CheckInterval string   `toml:"check_interval"` // poll the origin this often besides pushes; default 6h; "0" = pushes only
	HealthTimeout string   `toml:"health_timeout"` // a new version must be healthy within this; default 90s
	MaxAttempts   int      `toml:"max_attempts"`   // starts of a new version before it is rolled back; default 3
	Dir           string   `toml:"dir"`            // slots and state; default state_dir/update
	Restart       string   `toml:"restart"`        // "systemd" (exit 75, the unit restarts) or "exec" (re-exec the current slot, no supervisor); default systemd
}

// Durations parses check_interval and health_timeout.
func (u UpdateConfig) Durations() (check, health time.Duration, err error) {
	if check, err = time.ParseDuration(u.CheckInterval); err != nil || check < 0 {
		return 0, 0, fmt.Errorf("update.check_interval: want a duration like 6h, got %q", u.CheckInterval)
	}
	if check > 0 && check < 10*time.Second {
		return 0, 0, fmt.Errorf("update.check_interval: want 0 or at least 10s, got %q", u.CheckInterval)
	}
	if health, err = time.ParseDuration(u.HealthTimeout); err != nil || health < time.Second {
		return 0, 0, fmt.Errorf("update.health_timeout: want a duration of at least 1s, got %q", u.HealthTimeout)
	}
	return check, health, nil
}

// RuntimeConfig tunes the process.
type RuntimeConfig struct {
	MemoryLimit string `toml:"memory_limit"` // GOMEMLIMIT, e.g. "40MiB"; default 40MiB; "off" leaves Go's default
	LogLevel    string `toml:"log_level"`    // debug, info, warn, error; default info
}

// DefaultConfig returns the configuration used for every key a file omits.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "starling"
	}
	return Config{
		Device:  DeviceConfig{Name: host, StateDir: "/var/lib/starling", CacheDir: "/var/cache/starling"},
		Cache:   CacheConfig{Capacity: "10%", Cap: "10GB"},
		Audio:   AudioConfig{Backend: "auto", Speed: 1, Decode: "full"},
		Peer:    PeerConfig{Listen: ":7442", MaxNeighbours: 60, SoftNeighbours: 50, MaxUploads: 4, Enabled: true, Tracker: true, OverlaySearch: true},
		Stream:  StreamConfig{WellFilledSeconds: 10, LowSeconds: 5, VeryLowSeconds: 2, OriginAheadSeconds: 15, PrefetchSeconds: 30, OriginPrefetchSeconds: 10},
		Control: ControlConfig{Listen: ":7410", MDNS: true},
		Board:   board.Profile{Name: defaultBoardProfile()},
		Runtime: RuntimeConfig{MemoryLimit: "40MiB", LogLevel: "info"},
		Update:  UpdateConfig{Channel: "stable", CheckInterval: "6h", HealthTimeout: "90s", MaxAttempts: 3, Restart: "systemd"},
	}
}

// defaultBoardProfile is "none" on ARM (a speaker without the optional
// hardware) and "fake" elsewhere, so a laptop runs the same board code.
func defaultBoardProfile() string {
	if runtime.GOARCH == "arm64" || runtime.GOARCH == "arm" {
		return board.ProfileNone
	}
	return board.ProfileFake
}

// LoadConfig reads a TOML file over the defaults. Unknown keys are an error
// (a typo must not silently fall back to a default).
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		return cfg, fmt.Errorf("reading config %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("config %s: unknown keys %s (see the README's configuration table)", path, strings.Join(keys, ", "))
	}
	cfg.resolvePaths()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func (c *Config) resolvePaths() {
	if c.Service.Credentials == "" {
		c.Service.Credentials = filepath.Join(c.Device.StateDir, "credentials.json")
	}
	if c.Control.TokenFile == "" {
		c.Control.TokenFile = filepath.Join(c.Device.StateDir, "control.token")
	}
	if c.Update.Dir == "" {
		c.Update.Dir = filepath.Join(c.Device.StateDir, "update")
	}
}

// Validate checks every key and returns all problems joined.
func (c *Config) Validate() error {
	c.resolvePaths()
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.Device.StateDir == "" {
		bad("device.state_dir", "must be set")
	}
	if c.Device.CacheDir == "" {
		bad("device.cache_dir", "must be set")
	}
	if c.Service.Address != "" {
		if _, _, err := net.SplitHostPort(c.Service.Address); err != nil {
			bad("service.address", "want host:port, got %q", c.Service.Address)
		}
	}
	if c.Service.Origin != "" {
		if u, err := url.Parse(c.Service.Origin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("service.origin", "want an http(s) URL, got %q", c.Service.Origin)
		}
	}
	if _, _, err := c.Cache.CapacitySpec(); err != nil {
		bad("cache.capacity", "%v", err)
	}
	switch c.Audio.Backend {
	case "auto", "alsa", "pulseaudio", "null", "virtual":
	default:
		bad("audio.backend", "want auto, alsa, pulseaudio, null or virtual, got %q (null plays headless)", c.Audio.Backend)
	}
	if c.Audio.Speed < 0.1 || c.Audio.Speed > 1000 {
		bad("audio.speed", "want 0.1..1000, got %g", c.Audio.Speed)
	} else if c.Audio.Speed != 1 && c.Audio.Backend != "virtual" {
		bad("audio.speed", "only the virtual backend plays faster or slower than real time (backend is %q)", c.Audio.Backend)
	}
	switch mode, err := audio.ParseDecodeMode(c.Audio.Decode); {
	case err != nil:
		bad("audio.decode", "want full or bitrate, got %q", c.Audio.Decode)
	case mode == audio.DecodeBitrate && c.Audio.Backend != "virtual":
		bad("audio.decode", "bitrate renders silence: only for the virtual backend (backend is %q)", c.Audio.Backend)
	}
	if c.Peer.Enabled && !c.Peer.Tracker && !c.Peer.OverlaySearch {
		bad("peer", "tracker and overlay_search are both off: no way to find peers (set enabled = false for origin only)")
	}
	if c.Peer.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Peer.Listen); err != nil {
			bad("peer.listen", "want [host]:port, got %q", c.Peer.Listen)
		}
	}
	if c.Peer.MaxNeighbours < 1 || c.Peer.MaxNeighbours > 1000 {
		bad("peer.max_neighbours", "want 1..1000, got %d", c.Peer.MaxNeighbours)
	}
	if c.Peer.SoftNeighbours < 1 || c.Peer.SoftNeighbours > c.Peer.MaxNeighbours {
		bad("peer.soft_neighbours", "want 1..max_neighbours (%d), got %d", c.Peer.MaxNeighbours, c.Peer.SoftNeighbours)
	}
	if c.Peer.MaxUploads < 0 || c.Peer.MaxUploads > 64 {
		bad("peer.max_uploads", "want 0..64, got %d", c.Peer.MaxUploads)
	}
	s := c.Stream
	if !(s.VeryLowSeconds > 0 && s.VeryLowSeconds < s.LowSeconds && s.LowSeconds < s.WellFilledSeconds && s.WellFilledSeconds <= s.OriginAheadSeconds) {
		bad("stream", "want 0 < very_low_seconds (%g) < low_seconds (%g) < well_filled_seconds (%g) <= origin_ahead_seconds (%g)",
			s.VeryLowSeconds, s.LowSeconds, s.WellFilledSeconds, s.OriginAheadSeconds)
	}
	if !(s.OriginPrefetchSeconds > 0 && s.OriginPrefetchSeconds < s.PrefetchSeconds) {
		bad("stream", "want 0 < origin_prefetch_seconds (%g) < prefetch_seconds (%g)", s.OriginPrefetchSeconds, s.PrefetchSeconds)
	}
	if c.Control.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Control.Listen); err != nil {
			bad("control.listen", "want host:port, got %q", c.Control.Listen)
		}
	}
	if rp, err := c.Board.Resolve(); err != nil {
		bad("board", "%v", err)
	} else if err := rp.Validate(); err != nil {
		bad("board", "%v", err)
	}
	if _, err := c.Runtime.MemoryLimitBytes(); err != nil {
		bad("runtime.memory_limit", "%v", err)
	}
	if _, err := c.Runtime.Level(); err != nil {
		bad("runtime.log_level", "%v", err)
	}
	if _, _, err := c.Update.Durations(); err != nil {
		errs = append(errs, err)
	}
	for i, k := range c.Update.Keys {
		if _, err := update.ParsePublicKey(k); err != nil {
			bad(fmt.Sprintf("update.keys[%d]", i), "%v (paste the .pub file `starling-release keygen` wrote)", err)
		}
	}
	if c.Update.Enabled && len(c.Update.Keys) == 0 {
		bad("update.keys", "updates are enabled but no release key is trusted")
	}
	if c.Update.MaxAttempts < 1 || c.Update.MaxAttempts > 20 {
		bad("update.max_attempts", "want 1..20, got %d", c.Update.MaxAttempts)
	}
	if c.Update.Restart != "systemd" && c.Update.Restart != "exec" {
		bad("update.restart", "want systemd or exec, got %q", c.Update.Restart)
	}
	if c.Update.Channel == "" || strings.ContainsAny(c.Update.Channel, "/\\ .") {
		bad("update.channel", "want a name like stable, got %q", c.Update.Channel)
	}
	return errors.Join(errs...)
}

// CapacitySpec returns either a fixed byte capacity or a percentage of free
// space, and the cap that bounds a percentage.
func (c CacheConfig) CapacitySpec() (bytes uint64, percent float64, err error) {
	v := strings.TrimSpace(c.Capacity)
	if p, ok := strings.CutSuffix(v, "%"); ok {
		percent, err = strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || percent <= 0 || percent > 90 {
			return 0, 0, fmt.Errorf("want a percentage in (0, 90], got %q", c.Capacity)
		}
		if _, err := c.CapBytes(); err != nil {
			return 0, 0, err
		}
		return 0, percent, nil
	}
	bytes, err = humanize.ParseBytes(v)
	if err != nil || bytes < 16<<20 {
		return 0, 0, fmt.Errorf("want bytes of at least 16MiB (e.g. 2GB) or a percentage (e.g. 10%%), got %q", c.Capacity)
	}
	return bytes, 0, nil
}

// CapBytes parses cache.cap.
func (c CacheConfig) CapBytes() (uint64, error) {
	b, err := humanize.ParseBytes(strings.TrimSpace(c.Cap))
	if err != nil || b < 16<<20 {
		return 0, fmt.Errorf("cache.cap: want bytes of at least 16MiB (e.g. 10GB), got %q", c.Cap)
	}
	return b, nil
}

// MemoryLimitBytes parses runtime.memory_limit; 0 means leave Go's default.
func (r RuntimeConfig) MemoryLimitBytes() (int64, error) {
	v := strings.TrimSpace(r.MemoryLimit)
	if v == "" || v == "off" {
		return 0, nil
	}
	b, err := humanize.ParseBytes(v)
	if err != nil || b < 8<<20 {
		return 0, fmt.Errorf("want bytes of at least 8MiB (e.g. 40MiB) or \"off\", got %q", r.MemoryLimit)
	}
	return int64(b), nil
}

// Level parses runtime.log_level.
func (r RuntimeConfig) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(r.LogLevel)); err != nil {
		return 0, fmt.Errorf("want debug, info, warn or error, got %q", r.LogLevel)
	}
	return l, nil
}
