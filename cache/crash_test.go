package cache

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starling-audio/starling/p2p/track"
)

var crashLoops = flag.Int("cache.crashloops", 6, "kill -9 iterations in TestCrashLoop")

// Environment of a re-executed child test binary.
const (
	envChild = "STARLING_CACHE_CHILD" // "write" or "open"
	envDir   = "STARLING_CACHE_DIR"
)

// crashChild runs the child side when the test binary is re-executed by
// TestCrashLoop or TestBadgerPanicOnOpenRecovered; it reports whether it did.
func crashChild() bool {
	mode := os.Getenv(envChild)
	if mode == "" {
		return false
	}
	dir := os.Getenv(envDir)
	o := Options{Dir: dir, CapacityBytes: 3 << 20, Badger: BadgerOptions{ValueLogFileSize: 1 << 20}}
	c, err := Open(context.Background(), o, nil)
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	if mode == "open" {
		c.Close()
		os.Exit(0)
	}
	out := bufio.NewWriter(os.Stdout)
	for n := 0; ; n++ {
		tt := makeTrack(&childTB{}, (8+n%24)*track.ChunkSize+n%1000)
		unpin := c.Pin(tt.id)
		if err := c.PutManifest(tt.id, tt.raw); err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		if err := c.PutKey(tt.id, tt.key); err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		for _, i := range rand.Perm(len(tt.chunks)) {
			if err := c.PutChunk(tt.id, i, tt.chunks[i]); err != nil {
				fmt.Println("error:", err)
				os.Exit(3)
			}
			out.WriteString("w\n")
			out.Flush()
		}
		c.Touch(tt.id)
		unpin()
		if n%5 == 4 {
			if ids, _ := c.CompleteTracks(); len(ids) > 0 {
				c.Remove(context.Background(), ids[0])
			}
		}
	}
}

// childTB lets makeTrack run outside a test.
type childTB struct{ testing.TB }

func (childTB) Helper() {}
func (childTB) Fatal(args ...any) {
	fmt.Println(args...)
	os.Exit(4)
}

// childCmd re-executes this test binary, under STARLING_TEST_EXEC (e.g.
// qemu-aarch64-static) when set, since the machine has no binfmt_misc.
func childCmd(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{self, "-test.run=^$"}
	if pre := strings.Fields(os.Getenv("STARLING_TEST_EXEC")); len(pre) > 0 {
		args = append(pre, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), envChild+"="+mode, envDir+"="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestCrashLoop(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, uint64(os.Getpid())))
	for loop := range *crashLoops {
		cmd := childCmd(t, "write", dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of chunk writes (and so at a random
		// point of a write, an eviction or a GC).
		want := 30 + rng.IntN(300)
		sc := bufio.NewScanner(stdout)
		got := 0
		for got < want && sc.Scan() {
			if sc.Text() != "w" {
				t.Errorf("child: %s", sc.Text())
			}
			got++
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		if got < want {
			t.Fatalf("loop %d: child stopped after %d writes", loop, got)
		}
		checkCacheConsistent(t, dir, loop)
	}
}

// checkCacheConsistent opens the cache in the parent and reads everything it
// claims to hold: every present chunk verifies, and every complete track
// has its key.
func checkCacheConsistent(t *testing.T, dir string, loop int) {
	t.Helper()
	o := Options{Dir: dir, CapacityBytes: 3 << 20, Badger: BadgerOptions{ValueLogFileSize: 1 << 20}}
	c, err := Open(context.Background(), o, testLogger(t))
	if err != nil {
		t.Fatalf("loop %d: reopen after kill -9: %v", loop, err)
	}
	defer c.Close()
	st := c.Stats()
	if st.Recoveries != 0 {
		t.Fatalf("loop %d: a killed cache had to be moved aside", loop)
	}
	// Let the eviction kicked by Open finish so the index is stable.
	if err := c.Maintain(context.Background()); err != nil && !errors.Is(err, ErrOverCapacity) {
		t.Fatalf("loop %d: Maintain after reopen: %v", loop, err)
	}
	c.mu.Lock()
	ids := make([]track.ID, 0, len(c.tracks))
	for id := range c.tracks {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	var buf []byte
	chunks := 0
	for _, id := range ids {
		m, err := c.Manifest(id)
		if err != nil {
			t.Fatalf("loop %d: manifest of %s: %v", loop, id.Short(), err)
		}
		for i := range m.NumChunks() {
			if !c.HasChunk(id, i) {
				continue
			}
			if buf, err = c.ReadChunk(id, i, buf); err != nil {
				t.Fatalf("loop %d: chunk %d of %s: %v", loop, i, id.Short(), err)
			}
			chunks++
		}
		if c.Complete(id) {
			if _, err := c.Key(id); err != nil {
				t.Fatalf("loop %d: complete track %s without key: %v", loop, id.Short(), err)
			}
		}
	}
	t.Logf("loop %d: %d tracks (%d complete), %d chunks verified, disk %d of %d", loop, st.Tracks, st.CompleteTracks, chunks, st.DiskBytes, st.CapacityBytes)
}

// TestBadgerPanicOnOpenRecovered damages a table file so that Badger
// panics on one of its own goroutines while opening (which kills the
// process: nothing can recover it), then checks that the next Open moves
// the database aside and starts fresh.
func TestBadgerPanicOnOpenRecovered(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, testOptions(dir, 64<<20, nil))
	for range 3 {
		makeTrack(t, 40*track.ChunkSize).store(t, c)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "db", "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table files to damage")
	}
	for _, f := range tables {
		if err := os.Truncate(f, 10); err != nil {
			t.Fatal(err)
		}
	}
	cmd := childCmd(t, "open", dir)
	cmd.Stderr = nil
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child opening a damaged table did not fail: %v %s", err, out)
	}
	c2 := openTest(t, testOptions(dir, 64<<20, nil))
	if st := c2.Stats(); st.Recoveries != 1 || st.Tracks != 0 {
		t.Fatalf("not recovered: %+v", st)
	}
	tt := makeTrack(t, 2*track.ChunkSize)
	tt.store(t, c2)
	if !c2.Complete(tt.id) {
		t.Fatal("fresh cache does not work")
	}
}
