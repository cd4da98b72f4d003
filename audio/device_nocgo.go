//go:build !cgo

package audio

import (
	"fmt"
	"log/slog"
)

func openMalgo(cfg DeviceConfig, backend string, _ *slog.Logger) (Output, error) {
	return nil, fmt.Errorf("opening the %s backend: %w (rebuild with CGO_ENABLED=1 and a C compiler; tests and benchmarks can use VirtualOutput)", backend, ErrNoCgo)
}

func deviceBackendCheck(string) (string, []string, error) { return "", nil, ErrNoCgo }

func maBackendNumber(string) int { return -1 }

func backendNameFor(string) string { return "" }
