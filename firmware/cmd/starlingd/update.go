package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/starling-audio/starling/firmware"
	"github.com/starling-audio/starling/firmware/update"
)

type updateCmd struct {
	Config string `help:"Configuration file (TOML)." short:"c" default:"/etc/starling/starlingd.toml" type:"path"`
	Unit   string `help:"systemd unit to restart after an install or rollback." default:"starlingd.service"`

	Check    updateCheckCmd    `cmd:"" help:"Check the origin for a release; install it and restart starlingd (the timer runs this)."`
	Status   updateStatusCmd   `cmd:"" help:"Print the update state (JSON)."`
	Confirm  updateConfirmCmd  `cmd:"" help:"Mark the version on probation good."`
	Rollback updateRollbackCmd `cmd:"" help:"Switch back to the previous slot, mark the version on probation bad, restart starlingd."`
	Boot     updateBootCmd     `cmd:"" help:"Boot gate (ExecStartPre): create the slots, count a start of a new version, roll back a crash loop."`
}

func (u *updateCmd) agent(log *slog.Logger) (*update.Agent, error) {
	cfg, err := firmware.LoadConfig(u.Config)
	if err != nil {
		return nil, err
	}
	return firmware.NewUpdateAgent(cfg, version, firmware.SystemdRestarter{Unit: u.Unit}, log)
}

type updateCheckCmd struct{}

func (updateCheckCmd) Run(ctx context.Context, u *updateCmd, log *slog.Logger) error {
	a, err := u.agent(log)
	if err != nil {
		return err
	}
	v, err := a.Check(ctx)
	if err != nil {
		return err
	}
	if v == "" {
		fmt.Println("up to date")
	} else {
		fmt.Printf("installed %s; starlingd restarting on probation\n", v)
	}
	return nil
}

type updateStatusCmd struct{}

func (updateStatusCmd) Run(u *updateCmd, log *slog.Logger) error {
	a, err := u.agent(log)
	if err != nil {
		return err
	}
	st, err := a.Load()
	if err != nil {
		return err
	}
	e := json.NewEncoder(os.Stdout)
	e.SetIndent("", "  ")
	return e.Encode(st)
}

type updateConfirmCmd struct{}

func (updateConfirmCmd) Run(u *updateCmd, log *slog.Logger) error {
	a, err := u.agent(log)
	if err != nil {
		return err
	}
	return a.Confirm()
}

type updateRollbackCmd struct{}

func (updateRollbackCmd) Run(ctx context.Context, u *updateCmd, log *slog.Logger) error {
	a, err := u.agent(log)
	if err != nil {
		return err
	}
	return a.Rollback(ctx, "operator request")
}

type updateBootCmd struct{}

func (updateBootCmd) Run(u *updateCmd, log *slog.Logger) error {
	a, err := u.agent(log)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, err := a.Boot(exe)
	if err != nil {
		return err
	}
	if r.RolledBack != "" {
		log.Warn("rolled back before start", "bad", r.RolledBack, "slot", r.Slot)
	}
	return nil
}
