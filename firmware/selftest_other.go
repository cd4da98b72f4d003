//go:build !linux

package firmware

func prepareSelfTestHost() error { return nil }
