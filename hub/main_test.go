package hub

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running (a
// probe, or a hold timer's callback).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
