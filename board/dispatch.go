package board

import (
	"context"
	"fmt"
)

// Controls is what the front panel drives. Firmware adapts its player to
// it; Dispatch is its only caller.
type Controls interface {
	TogglePlay(ctx context.Context) error
	Stop(ctx context.Context) error
	Next(ctx context.Context) error
	Previous(ctx context.Context) error
	SkipAlbum(ctx context.Context) error
	// AdjustVolume moves the software volume by steps encoder steps; it is
	// called only when the board has no DAC (Board.Volume() == nil).
	AdjustVolume(ctx context.Context, steps int) error
}

// Dispatch maps Events to c until the events end (Run returned or Close)
// or ctx ends, and returns nil then. Short play-pause toggles, long
// play-pause stops; short next skips a track, long next skips the album;
// previous (short or long) goes back. Volume turns go to the DAC when there
// is one and to c.AdjustVolume otherwise. A failing control is logged at
// WARN and does not stop the panel.
func (b *Board) Dispatch(ctx context.Context, c Controls) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-b.events:
			if !ok {
				return nil
			}
			if err := b.dispatch(ctx, c, e); err != nil {
				b.log.Warn("front panel action failed", "event", e, "err", err)
			}
		}
	}
}

func (b *Board) dispatch(ctx context.Context, c Controls, e Event) error {
	switch e := e.(type) {
	case Button:
		switch {
		case e.Which == PlayPause && e.Long:
			return c.Stop(ctx)
		case e.Which == PlayPause:
			return c.TogglePlay(ctx)
		case e.Which == Next && e.Long:
			return c.SkipAlbum(ctx)
		case e.Which == Next:
			return c.Next(ctx)
		case e.Which == Previous:
			return c.Previous(ctx)
		}
	case VolumeDelta:
		if b.vol != nil {
			v, err := b.vol.Adjust(e.Steps)
			if err != nil {
				return err
			}
			b.log.Debug("hardware volume", "volume", v)
			return nil
		}
		return c.AdjustVolume(ctx, e.Steps)
	}
	return fmt.Errorf("board: unhandled event %v", e)
}
