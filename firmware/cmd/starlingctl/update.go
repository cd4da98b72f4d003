package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// updateState mirrors the JSON of firmware.UpdateStatus (GET /update); it
// is decoded loosely so starlingctl does not link the firmware.
type updateState struct {
	Running string `json:"running"`
	State   struct {
		Step     string `json:"step"`
		Good     string `json:"good"`
		GoodSlot string `json:"good_slot"`
		Pending  *struct {
			Version     string    `json:"version"`
			Slot        string    `json:"slot"`
			FromVersion string    `json:"from_version"`
			Attempts    int       `json:"attempts"`
			RollingBack bool      `json:"rolling_back"`
			Since       time.Time `json:"since"`
		} `json:"pending"`
		Bad       []string  `json:"bad"`
		LastError string    `json:"last_error"`
		LastCheck time.Time `json:"last_check"`
		Offered   string    `json:"offered"`
	} `json:"state"`
}

type updateCmd struct {
	Check bool `help:"Ask the speaker to check for a release now (needs the token)."`
}

func (c updateCmd) Run(ctx context.Context, a *app) error {
	if c.Check {
		var queued bool
		if err := a.call(ctx, func(ctx context.Context) (err error) { queued, err = a.client.UpdateCheck(ctx); return }); err != nil {
			return err
		}
		msg := "check queued\n"
		if !queued {
			msg = "a check is already queued\n"
		}
		if err := a.print(map[string]bool{"queued": queued}, msg); err != nil {
			return err
		}
		if a.json {
			return nil
		}
	}
	var st updateState
	if err := a.call(ctx, func(ctx context.Context) error { return a.client.UpdateStatus(ctx, &st) }); err != nil {
		return err
	}
	return a.print(st, formatUpdate(st))
}

func formatUpdate(u updateState) string {
	var b strings.Builder
	s := u.State
	fmt.Fprintf(&b, "running   %s (good: %s in slot %s)\n", u.Running, orDash(s.Good), orDash(s.GoodSlot))
	fmt.Fprintf(&b, "step      %s\n", s.Step)
	if p := s.Pending; p != nil {
		verb := "on probation"
		if p.RollingBack {
			verb = "rolling back"
		}
		fmt.Fprintf(&b, "pending   %s in slot %s, %s (start %d, from %s)\n", p.Version, p.Slot, verb, p.Attempts, p.FromVersion)
	}
	if s.Offered != "" {
		fmt.Fprintf(&b, "offered   %s\n", s.Offered)
	}
	if len(s.Bad) > 0 {
		fmt.Fprintf(&b, "bad       %s (never retried)\n", strings.Join(s.Bad, ", "))
	}
	if !s.LastCheck.IsZero() {
		fmt.Fprintf(&b, "checked   %s\n", s.LastCheck.Local().Format(time.RFC3339))
	}
	if s.LastError != "" {
		fmt.Fprintf(&b, "error     %s\n", s.LastError)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
