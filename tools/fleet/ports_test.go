package fleet

import "testing"

// TestFreePortNeverRepeats: 200 speakers need hundreds of ports; random
// picks from a 12,000-port range collided (two daemons on one control port).
func TestFreePortNeverRepeats(t *testing.T) {
	f := &Fleet{}
	seen := map[int]bool{}
	for range 600 {
		p, err := f.freePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
