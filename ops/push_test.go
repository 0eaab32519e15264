package ops_test

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/internal/testkit/fakepush"
	"github.com/duet-rtc/duet/internal/testkit/hookrecv"
	"github.com/duet-rtc/duet/internal/testkit/opsnodes"
	"github.com/duet-rtc/duet/internal/testkit/testserver"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
	"github.com/duet-rtc/duet/server"
)

const pushSecret = "push-test-token-secret-0123456789"

func pushToken(t *testing.T, app, who string) string {
	t.Helper()
	tok, err := auth.MintSubscriber("HS256", "", []byte(pushSecret), app, who, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// pushNodes runs n nodes (clustered when n > 1) with room tokens, push to
// the fakes, and webhooks to hooks.
func pushNodes(t *testing.T, n int, fcm *fakepush.FCM, apns *fakepush.APNs, hooks string) []*testserver.Server {
	t.Helper()
	c := testserver.Config()
	c.TokenSecret = pushSecret
	c.WebhookURLs, c.WebhookSecret = []string{hooks}, hookSecret
	c.PushFCMCredentials, c.PushFCMEndpoint = fcm.Credentials, fcm.Server.URL
	c.PushAPNsKeyFile, c.PushAPNsKeyID, c.PushAPNsTeamID, c.PushAPNsTopic = apns.KeyFile, apns.KeyID, apns.TeamID, apns.Topic
	c.PushAPNsEndpoint, c.PushCAFile = apns.Server.URL, fakepush.CAFile(t, fcm.Server)
	authz, err := auth.FromConfig(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return opsnodes.Start(t, n, c, opsnodes.Options{Authz: authz})
}

// TestPushFromAClient: a callee's app registers its devices over its
// socket, a caller's sendPushNotification (the Ant Media SDKs' fields)
// rings them through the fake FCM and APNs, and the caller is answered;
// one node, and three with the caller on another node than the callee.
func TestPushFromAClient(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+"nodes", func(t *testing.T) { testPushFromAClient(t, n) })
	}
}

func testPushFromAClient(t *testing.T, n int) {
	fcm, apns := fakepush.NewFCM(t), fakepush.NewAPNs(t)
	hooks := hookrecv.New(hookSecret)
	recv := httptest.NewServer(hooks)
	t.Cleanup(recv.Close)
	nodes := pushNodes(t, n, fcm, apns, recv.URL)
	const fcmTok = "cE3x:APA91-bobs-android"
	const apnTok = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

	callee := wstest.Dial(t, nodes[0].URL("WebRTCAppEE"))
	for _, d := range []struct{ typ, tok string }{{"fcm", fcmTok}, {"apn", apnTok}} {
		callee.Send(map[string]any{"command": "registerPushNotificationToken", "subscriberId": "bob",
			"token": pushToken(t, "", "bob"), "pnsRegistrationToken": d.tok, "pnsType": d.typ})
		if m := callee.Expect("notification", "registerPushNotificationToken"); m["success"] != true {
			t.Fatalf("register = %v", m)
		}
	}

	caller := wstest.Dial(t, nodes[n-1].URL("WebRTCAppEE"))
	ring := func(token string) wstest.Msg {
		caller.Send(map[string]any{"command": "sendPushNotification", "subscriberId": "alice", "token": token,
			"pushNotificationContent": map[string]any{"Caller": "alice", "StreamId": "call-42"},
			"subscriberIdsToNotify":   []string{"bob"}})
		return caller.Read()
	}
	// A token proving someone else is refused, and nothing is sent.
	if m := ring(pushToken(t, "", "mallory")); m.Str("command") != "notification" || m["success"] != false ||
		m.Str("definition") != "authenticationTokenNotValid" {
		t.Fatalf("unauthorised send = %v", m)
	}
	// So is a room token: it proves a room, not a subscriber.
	room, err := auth.Mint("HS256", "", []byte(pushSecret), "WebRTCAppEE", "call-42", "", time.Now(), time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m := ring(room); m["success"] != false || m.Str("definition") != "authenticationTokenNotValid" {
		t.Fatalf("send with a room token = %v", m)
	}
	// A push token for another app is no good either.
	if m := ring(pushToken(t, "OtherApp", "alice")); m["success"] != false {
		t.Fatalf("send with another app's token = %v", m)
	}
	if len(fcm.Messages())+len(apns.Pushes()) != 0 {
		t.Fatal("a refused send reached a service")
	}

	m := ring(pushToken(t, "WebRTCAppEE", "alice"))
	if m.Str("definition") != "sendPushNotification" || m["success"] != true || m["delivered"] != 2.0 {
		t.Fatalf("send = %v", m)
	}
	msgs, pushes := fcm.Messages(), apns.Pushes()
	if len(msgs) != 1 || msgs[0].Token != fcmTok || msgs[0].Data["StreamId"] != "call-42" ||
		len(pushes) != 1 || pushes[0].Device != apnTok || pushes[0].Payload["Caller"] != "alice" {
		t.Fatalf("FCM got %+v, APNs got %+v", msgs, pushes)
	}
	if bad := append(fcm.Bad(), apns.Bad()...); len(bad) > 0 {
		t.Fatalf("refused requests: %v", bad)
	}
	// The send's webhook, once, from the caller's node.
	wstest.Eventually(t, "push_sent", func() bool { return len(hooks.Events("push_sent")) == 1 })
	if p := hooks.Events("push_sent")[0]; p.Node != fmt.Sprintf("n%d", n) || p.App != "WebRTCAppEE" {
		t.Fatalf("push_sent = %+v", p)
	}
	if got := metric(t, nodes[n-1], `duet_push_commands_total{command="sendPushNotification",result="unauthorized"}`); got != 3 {
		t.Fatalf("unauthorised sends counted %v", got)
	}
}

// TestPushOff: without credentials the push commands are unknown
// commands, as before.
func TestPushOff(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(), server.Options{})
	c := wstest.Dial(t, srv.URL("app"))
	c.Send(map[string]any{"command": "sendPushNotification", "subscriberId": "a", "token": "t",
		"pushNotificationContent": map[string]any{}, "subscriberIdsToNotify": []string{"b"}})
	c.Expect("error", "unsupportedCommand")
	c.Quiet()
}
