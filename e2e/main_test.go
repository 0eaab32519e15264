package e2e

import (
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/testserver"
)

func TestMain(m *testing.M) { testserver.VerifyTestMain(m) }
