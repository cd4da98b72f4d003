//go:build !linux

package cache

// adviseRandom is Linux-only; elsewhere the kernel's read-ahead stands.
func adviseRandom(string) int { return 0 }
