package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/duet-rtc/duet/access"
	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/protocol"
)

// TestSubscriberTokens: a push token proves one subscriber (of one app
// when it names one), and is no room or admin token; a room token proves
// no subscriber.
func TestSubscriberTokens(t *testing.T) {
	a, err := auth.New(auth.Options{Keys: auth.HMACKey([]byte(secret))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mint := func(app, who string, ttl time.Duration) string {
		tok, err := auth.MintSubscriber("HS256", "", []byte(secret), app, who, now, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	bob := mint("", "bob@example.com", time.Hour)
	if err := a.CheckSubscriber(bob, app, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	room, _ := auth.Mint("HS256", "", []byte(secret), app, "r1", "", now, time.Hour, 0)
	other, _ := auth.MintSubscriber("HS256", "", []byte("another-secret-of-32-bytes-or-more"), "", "bob@example.com", now, time.Hour)
	for name, c := range map[string]struct{ token, app, who string }{
		"another subscriber": {bob, app, "alice@example.com"},
		"another app":        {mint("OtherApp", "bob@example.com", time.Hour), app, "bob@example.com"},
		"expired":            {mint("", "bob@example.com", -time.Minute), app, "bob@example.com"},
		"a room token":       {room, app, "bob@example.com"},
		"another key":        {other, app, "bob@example.com"},
		"none":               {"", app, "bob@example.com"},
	} {
		err := a.CheckSubscriber(c.token, c.app, c.who)
		if !errors.Is(err, protocol.ErrTokenNotValid) && !errors.Is(err, protocol.ErrUnauthorized) {
			t.Errorf("%s: CheckSubscriber = %v", name, err)
		}
	}
	if err := a.AuthorizeJoin(t.Context(), access.JoinRequest{App: app, StreamID: "r1", Token: bob}); err == nil {
		t.Fatal("a push token opened a room")
	}
	if err := a.CheckAdmin(bob); err == nil {
		t.Fatal("a push token opened the admin API")
	}
}
