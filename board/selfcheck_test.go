package board

import (
	"context"
	"testing"
)

func TestSelfCheck(t *testing.T) {
	for _, name := range []string{ProfileFake, ProfileNone, ProfileRPiPCM5122} {
		if err := SelfCheck(context.Background(), Profile{Name: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := SelfCheck(context.Background(), Profile{Name: "nope"}); err == nil {
		t.Error("unknown profile must fail")
	}
}
