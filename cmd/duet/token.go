package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/duet-rtc/duet/auth"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/internal/cli"
)

// tokenMain mints a room access token and prints it. The key comes from
// --key-file (a PEM private key for RS256/ES256, or a file holding the
// HS256 secret), --key, or $DUET_TOKEN_SECRET (the server's own setting,
// which keeps the secret out of shell history).
func tokenMain(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("duet token", flag.ContinueOnError)
	var (
		key     = fs.String("key", "", "HS256 secret (default $DUET_TOKEN_SECRET)")
		keyFile = fs.String("key-file", "", "PEM private key (RS256/ES256) or a file holding the HS256 secret")
		alg     = fs.String("alg", "", "HS256, RS256 or ES256 (default: from the key)")
		kid     = fs.String("kid", "", "key id, when the server's JWKS holds several keys")
		app     = fs.String("app", "WebRTCAppEE", "app the token is for (the path in /{app}/websocket)")
		room    = fs.String("room", "", "room (streamId) the token opens (required)")
		role    = fs.String("role", "", "publish or play (default: both)")
		ttl     = fs.Duration("ttl", time.Hour, "lifetime")
		nbf     = fs.Duration("not-before", 0, "delay before the token becomes valid")
		sub     = fs.String("subscriber", "", "mint a push token proving this subscriberId instead (registerPushNotificationToken, sendPushNotification), for the app of --app (an empty --app: any app)")
	)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: duet token --room ROOM [--app APP] [--ttl 1h] [--role publish|play] (--key SECRET | --key-file FILE)\n       duet token --subscriber ID [--app APP] [--ttl 1h] (--key SECRET | --key-file FILE)\n\nPrints a JWT for a join into ROOM (or proving subscriber ID in push commands), for a server with token_secret or token_key_file.\n\nflags:")
		cli.PrintFlags(fs.Output(), fs)
	}
	if code, ok := parseFlags(fs, "duet token", args, stdout, stderr); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		return cli.Fail(stderr, "duet token", fmt.Errorf(format, a...))
	}
	if *room == "" && *sub == "" {
		return fail("--room is required, e.g. --room standup (or --subscriber for a push token)")
	}
	if *role != "" && *role != auth.RolePublish && *role != auth.RolePlay {
		return fail("--role: %q is not publish or play", *role)
	}
	if *ttl <= 0 {
		return fail("--ttl: %s is not positive; write e.g. 1h", *ttl)
	}
	var signKey any
	keyAlg := "HS256"
	switch {
	case *keyFile != "":
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fail("%v", err)
		}
		if strings.Contains(string(b), "-----BEGIN") {
			if signKey, keyAlg, err = auth.ParsePrivateKeyPEM(b); err != nil {
				return fail("%v", err)
			}
		} else {
			signKey = []byte(strings.TrimSpace(string(b)))
		}
	case *key != "":
		signKey = []byte(*key)
	case getenv("DUET_TOKEN_SECRET") != "":
		signKey = []byte(getenv("DUET_TOKEN_SECRET"))
	default:
		return fail("no key: set DUET_TOKEN_SECRET to the server's token_secret, or give --key-file (or --key)")
	}
	if secret, ok := signKey.([]byte); ok {
		// The server refuses to start with such a secret: a token made
		// with it would open nothing.
		if p := config.TokenSecretProblem(string(secret)); p != "" {
			return fail("the HS256 secret (--key, --key-file or DUET_TOKEN_SECRET): %s; the server refuses such a token_secret", p)
		}
	}
	if *alg == "" {
		*alg = keyAlg
	}
	if *alg != keyAlg {
		return fail("--alg %s does not fit the key (%s)", *alg, keyAlg)
	}
	var tok string
	var err error
	if *sub != "" {
		tok, err = auth.MintSubscriber(*alg, *kid, signKey, *app, *sub, time.Now(), *ttl)
	} else {
		tok, err = auth.Mint(*alg, *kid, signKey, *app, *room, *role, time.Now(), *ttl, *nbf)
	}
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
