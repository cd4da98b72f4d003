package swarmbench

import "errors"

// Plot writes a PNG of bytes per source over time.
func Plot(path string, series []Sample, r Result) error {
	return errors.New("swarmbench: --plot is not built yet")
}
