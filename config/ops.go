package config

import (
	"net/url"
)

// validateOps checks the operators' settings: the admin API and webhooks.
func (c *Config) validateOps(bad func(field, format string, args ...any)) {
	if c.AdminKey != "" && len(c.AdminKey) < 32 {
		bad("admin_key", "must be at least 32 characters (e.g. openssl rand -hex 32), got %d", len(c.AdminKey))
	}
	if c.AdminTokens && c.TokenSecret == "" && c.TokenKeyFile == "" {
		bad("admin_tokens", "needs token_secret or token_key_file to check the tokens with")
	}
	for _, u := range c.WebhookURLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("webhook_urls", "%q is not an http:// or https:// URL", u)
		}
	}
	if len(c.WebhookURLs) > 0 && len(c.WebhookSecret) < 16 {
		bad("webhook_secret", "must be at least 16 characters when webhook_urls is set, got %d", len(c.WebhookSecret))
	}
	if c.WebhookQueue < 1 {
		bad("webhook_queue", "must be at least 1, got %d", c.WebhookQueue)
	}
	if c.WebhookTimeout <= 0 {
		bad("webhook_timeout", "must be positive, got %s", c.WebhookTimeout)
	}
	if c.WebhookMaxAttempts < 1 {
		bad("webhook_max_attempts", "must be at least 1, got %d", c.WebhookMaxAttempts)
	}
}
