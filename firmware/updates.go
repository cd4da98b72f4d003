package firmware

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/starling-audio/starling/audio"
	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/firmware/update"
	"github.com/starling-audio/starling/p2p/wire"
)

// PushRelease is the push kind `starling-release publish` sends; its payload
// is only a hint: the agent always fetches and verifies the signed manifest.
const PushRelease = "firmware-release"

// ErrRestartRequested is returned by Run when the update agent asked for a
// restart (a new version installed, or a rollback): the caller restarts the
// process (starlingd exits with status 75 for systemd, or re-execs).
var ErrRestartRequested = errors.New("restart requested by the update agent")

// NewUpdateAgent builds the agent from cfg for the daemon and for the
// `starlingd update` commands.
func NewUpdateAgent(cfg Config, version string, r update.Restarter, log *slog.Logger) (*update.Agent, error) {
	keys := make([]ed25519.PublicKey, 0, len(cfg.Update.Keys))
	for _, k := range cfg.Update.Keys {
		pk, err := update.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("update.keys: %w", err)
		}
		keys = append(keys, pk)
	}
	_, health, err := cfg.Update.Durations()
	if err != nil {
		return nil, err
	}
	base := cfg.Service.Origin
	if base == "" {
		if creds, err := loadCredentials(cfg.Service.Credentials); err == nil {
			base = creds.OriginURL
		}
	}
	return update.New(update.Config{
		Dir: cfg.Update.Dir, Keys: keys, Channel: cfg.Update.Channel, Version: version, BaseURL: base,
		Restarter: r, HealthTimeout: health, MaxAttempts: cfg.Update.MaxAttempts,
		Logger: log, Invocation: os.Getenv("INVOCATION_ID"),
	})
}

// restartFlag is the daemon's Restarter: it records the request and ends
// Run, whose caller restarts the process.
type restartFlag struct {
	requested atomic.Bool
	cancel    context.CancelFunc
}

var _ update.Restarter = (*restartFlag)(nil)

func (r *restartFlag) Restart(context.Context) error {
	r.requested.Store(true)
	r.cancel()
	return nil
}

// updates is the daemon's side of the agent: boot gate, checks on pushes
// and a timer, health gate, status for the control API and metrics.
type updates struct {
	agent   *update.Agent
	d       *Daemon
	trigger chan struct{}
	checks  *prometheus.CounterVec
}

func (u *updates) register(reg prometheus.Registerer) {
	u.checks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_update_checks_total",
		Help: "Release checks by result (installed, none, error)."}, []string{"result"})
	steps := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "starling_update_step",
		Help: "1 for the update agent's current step."}, []string{"step"})
	bad := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_update_bad_versions",
		Help: "Versions rolled back and never to be retried."}, func() float64 { return float64(len(u.agent.Status().Bad)) })
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_update_pending",
		Help: "1 while a new version is on probation."}, func() float64 {
		if u.agent.Status().Pending != nil {
			return 1
		}
		return 0
	})
	reg.MustRegister(u.checks, steps, bad, pending)
	u.agent.Observe(func(s update.State) {
		steps.Reset()
		steps.WithLabelValues(string(s.Step)).Set(1)
	})
}

// check runs one check; a triggered install ends Run through the restarter.
func (u *updates) check(ctx context.Context) {
	v, err := u.agent.Check(ctx)
	switch {
	case err != nil:
		u.checks.WithLabelValues("error").Inc()
		if ctx.Err() == nil {
			u.d.log.Warn("update check failed", "err", err)
		}
	case v != "":
		u.checks.WithLabelValues("installed").Inc()
	default:
		u.checks.WithLabelValues("none").Inc()
	}
}

// loop checks on pushes, on the timer and on Trigger, one at a time.
func (u *updates) loop(ctx context.Context, link *serviceLink, every time.Duration) error {
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	poll := time.NewTicker(time.Second) // notices a new session's push channel
	defer poll.Stop()
	for {
		var pushes <-chan wire.Push
		if c, err := link.client(); err == nil {
			pushes = c.Pushes()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			u.check(ctx)
		case <-u.trigger:
			u.check(ctx)
		case p := <-pushes:
			if p.Kind != PushRelease {
				u.d.log.Debug("ignoring push", "kind", p.Kind)
				continue
			}
			u.d.log.Info("release announced by the service; checking")
			u.check(ctx)
		case <-poll.C:
		}
	}
}

// Trigger asks for a check now (the control API); false if one is queued.
func (u *updates) Trigger() bool {
	select {
	case u.trigger <- struct{}{}:
		return true
	default:
		return false
	}
}

// health is the gate: sd_notify READY sent, the audio device calling back
// (two samples differ) and the session logged in.
func (u *updates) health(p *audio.Player, link *serviceLink) func(context.Context) error {
	var last uint64
	var seen bool
	return func(ctx context.Context) error {
		if !u.d.readySent.Load() {
			return errors.New("not ready (sd_notify READY not sent)")
		}
		st, err := p.Stats(ctx)
		if err != nil {
			return fmt.Errorf("audio pipeline: %w", err)
		}
		advancing := seen && st.Callbacks != last
		last, seen = st.Callbacks, true
		if !advancing {
			return errors.New("audio device not calling back")
		}
		if !link.online() {
			return errors.New("not logged in to the catalogue service")
		}
		return nil
	}
}

// UpdateStatus is the JSON of GET /update on the control listener.
type UpdateStatus struct {
	Running string       `json:"running"`
	State   update.State `json:"state"`
}

// statusHandler serves GET /update (read-only, like /metrics) and
// POST /update/check (needs the control token).
func (u *updates) mounts(token string) []control.Mount {
	return []control.Mount{
		{Pattern: "GET /update", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(UpdateStatus{Running: u.d.version, State: u.agent.Status()})
		})},
		{Pattern: "POST /update/check", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !control.CheckBearer(r, token) {
				http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
				return
			}
			queued := u.Trigger()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, "{\"queued\":%v}\n", queued)
		})},
	}
}
