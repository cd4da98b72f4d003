package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CgroupV1Memory is where the cgroup v1 memory controller is mounted.
const CgroupV1Memory = "/sys/fs/cgroup/memory"

// ErrNoCgroup means memory cgroups are not available here.
var ErrNoCgroup = errors.New("fleet: no cgroup v1 memory controller at " + CgroupV1Memory + " (needs root; cgroup v2-only hosts are not supported)")

// CgroupStats are the counters of a speaker's memory cgroup.
type CgroupStats struct {
	LimitBytes  int64
	MaxUsage    int64 // memory.max_usage_in_bytes
	FailCount   int64 // memory.failcnt: times the limit was hit
	OOMKills    int64 // oom_kill in memory.oom_control (kernels >= 4.13)
	UnderOOMNow bool
	Unavailable bool // the group has gone (speaker stopped and group removed)
}

func makeCgroupParent() (string, error) {
	if _, err := os.Stat(filepath.Join(CgroupV1Memory, "memory.limit_in_bytes")); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	dir := filepath.Join(CgroupV1Memory, fmt.Sprintf("starling-fleet-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("fleet: creating memory cgroup %s: %w (run as root?)", dir, err)
	}
	return dir, nil
}

func makeCgroup(parent, name string, limit int64) (string, error) {
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("fleet: creating memory cgroup %s: %w", dir, err)
	}
	if err := writeFile(filepath.Join(dir, "memory.limit_in_bytes"), strconv.FormatInt(limit, 10)); err != nil {
		return "", err
	}
	// Swap would hide the limit; ignore the error where swap accounting
	// is off (the file is then absent).
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
		_ = writeFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), strconv.FormatInt(limit, 10))
	}
	_ = writeFile(filepath.Join(dir, "memory.swappiness"), "0")
	return dir, nil
}

func joinCgroup(dir string, pid int) error {
	return writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid))
}

func writeFile(path, v string) error {
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return fmt.Errorf("fleet: writing %s to %s: %w", v, path, err)
	}
	return nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// CgroupStats reads the speaker's memory cgroup counters.
func (s *Speaker) CgroupStats() (CgroupStats, error) {
	var st CgroupStats
	if s.Cgroup == "" {
		return st, ErrNoCgroup
	}
	var err error
	if st.LimitBytes, err = readInt(filepath.Join(s.Cgroup, "memory.limit_in_bytes")); err != nil {
		if os.IsNotExist(err) {
			st.Unavailable = true
			return st, nil
		}
		return st, fmt.Errorf("fleet: reading cgroup of %s: %w", s.Name, err)
	}
	st.MaxUsage, _ = readInt(filepath.Join(s.Cgroup, "memory.max_usage_in_bytes"))
	st.FailCount, _ = readInt(filepath.Join(s.Cgroup, "memory.failcnt"))
	b, err := os.ReadFile(filepath.Join(s.Cgroup, "memory.oom_control"))
	if err != nil {
		return st, fmt.Errorf("fleet: reading oom_control of %s: %w", s.Name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) != 2 {
			continue
		}
		v, _ := strconv.ParseInt(fs[1], 10, 64)
		switch fs[0] {
		case "oom_kill":
			st.OOMKills = v
		case "under_oom":
			st.UnderOOMNow = v != 0
		}
	}
	return st, nil
}

// removeCgroups removes the speakers' groups and the parent; the processes
// have exited by then, so the groups are empty.
func removeCgroups(parent string, speakers []*Speaker) error {
	var errs []error
	for _, s := range speakers {
		if s.Cgroup != "" {
			if err := os.Remove(s.Cgroup); err != nil && !os.IsNotExist(err) {
				errs = append(errs, fmt.Errorf("fleet: removing %s: %w", s.Cgroup, err))
			}
		}
	}
	if err := os.Remove(parent); err != nil && !os.IsNotExist(err) {
		errs = append(errs, fmt.Errorf("fleet: removing %s: %w", parent, err))
	}
	return errors.Join(errs...)
}
