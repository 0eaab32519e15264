package e2e

import (
	"testing"

	"github.com/duet-rtc/duet/internal/testkit/browsertest"
)

// TestIceServersFrom checks in the browser how the SDK reads an
// iceServerConfig answer: a full iceServers list wins, a stun:/turn: URI is
// used alone (with credentials for TURN), anything else means none, as the
// Ant Media SDK does.
func TestIceServersFrom(t *testing.T) {
	srv := startServer(t)
	tab := openDemo(t, browsertest.Browser(t), srv.HTTP()+"/")
	cases := map[string]string{
		`{stunServerUri:"", turnServerUsername:"", turnServerCredential:""}`:                            `[]`,
		`{stunServerUri:"stun:s.example:3478", turnServerUsername:"u", turnServerCredential:"p"}`:       `[{"urls":"stun:s.example:3478"}]`,
		`{stunServerUri:"turn:t.example:3478", turnServerUsername:"u", turnServerCredential:"p"}`:       `[{"urls":"turn:t.example:3478","username":"u","credential":"p"}]`,
		`{stunServerUri:"http://bad", turnServerUsername:"", turnServerCredential:""}`:                  `[]`,
		`{stunServerUri:"stun:a", iceServers:[{urls:["stun:a","turn:b"],username:"u",credential:"p"}]}`: `[{"urls":["stun:a","turn:b"],"username":"u","credential":"p"}]`,
	}
	for in, want := range cases {
		got := evalAsync[string](t, tab, `import('/sdk/duet.js').then(m => JSON.stringify(m.iceServersFrom(`+in+`)))`)
		if got != want {
			t.Errorf("iceServersFrom(%s) = %s, want %s", in, got, want)
		}
	}
}
