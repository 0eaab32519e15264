package poison_test

import (
	"bytes"
	"testing"

	"github.com/duet-rtc/duet/internal/poison"
)

func TestFill(t *testing.T) {
	b := []byte("victim-room")
	poison.Fill(b)
	want := []byte("victim-room")
	if poison.Enabled {
		want = bytes.Repeat([]byte{poison.Byte}, len(b))
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("Fill left %q, want %q (Enabled=%v)", b, want, poison.Enabled)
	}
}
