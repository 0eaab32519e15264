package config

import (
	"net/url"
)

// validateOps checks the operators' settings: the admin API and webhooks.
func (c *Config) validateOps(bad func(field, format string, args ...any)) {
	if c.AdminKey != "" && len(c.AdminKey) < 32 {
		bad("admin_key", "%d characters is too short; write at least 32, e.g. the output of openssl rand -hex 32", len(c.AdminKey))
	}
	if c.AdminTokens && c.TokenSecret == "" && c.TokenKeyFile == "" {
		bad("admin_tokens", "true needs token_secret or token_key_file to check the tokens with; set one, or write false")
	}
	for _, u := range c.WebhookURLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("webhook_urls", "%q is not an http:// or https:// URL; write e.g. https://app.example.com/duet-events", u)
		}
	}
	if len(c.WebhookURLs) > 0 && len(c.WebhookSecret) < 16 {
		bad("webhook_secret", "%d characters is too short for webhook_urls; write at least 16, e.g. the output of openssl rand -hex 16", len(c.WebhookSecret))
	}
	if c.WebhookQueue < 1 {
		bad("webhook_queue", "%d is below 1; write e.g. 10000", c.WebhookQueue)
	}
	if c.WebhookTimeout <= 0 {
		bad("webhook_timeout", "%s is not positive; write e.g. 5s", short(c.WebhookTimeout))
	}
	if c.WebhookMaxAttempts < 1 {
		bad("webhook_max_attempts", "%d is below 1; write e.g. 12", c.WebhookMaxAttempts)
	}
}
