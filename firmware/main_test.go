package firmware

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// self-test starts the whole daemon in process and must stop all of it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
