package config

import (
	"strings"
	"testing"
)

func TestValidateOps(t *testing.T) {
	for _, c := range []struct {
		name, field string
		args        []string
	}{
		{"short admin key", "admin_key", []string{"--admin-key", "short"}},
		{"admin tokens without token keys", "admin_tokens", []string{"--admin-tokens"}},
		{"webhook URL not http", "webhook_urls", []string{"--webhook-urls", "ftp://x/hook", "--webhook-secret", "0123456789abcdef"}},
		{"webhook without secret", "webhook_secret", []string{"--webhook-urls", "https://x/hook"}},
		{"empty queue", "webhook_queue", []string{"--webhook-queue", "0"}},
		{"no attempts", "webhook_max_attempts", []string{"--webhook-max-attempts", "0"}},
		{"no timeout", "webhook_timeout", []string{"--webhook-timeout", "0s"}},
	} {
		_, err := load(t, c.args, nil)
		if err == nil || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: got %v, want an error naming %s", c.name, err, c.field)
		}
	}
	ok := []string{"--admin-key", strings.Repeat("k", 32), "--admin-tokens", "--token-secret", strings.Repeat("s", 32),
		"--webhook-urls", "https://a.example/hook,http://10.0.0.1:8080/x", "--webhook-secret", "0123456789abcdef"}
	c, err := load(t, ok, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.WebhookURLs) != 2 || !c.AdminTokens {
		t.Fatalf("config %+v", c)
	}
}
