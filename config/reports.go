package config

// maxCallRecords bounds call_records: a record is about 2 KiB.
const maxCallRecords = 100000

func (c *Config) validateReports(bad func(field, format string, args ...any)) {
	if c.CallRecords < 0 || c.CallRecords > maxCallRecords {
		bad("call_records", "must be between 0 and %d, got %d", maxCallRecords, c.CallRecords)
	}
	if c.PushFCMCredentials != "" && !hasAnyPrefix(c.PushFCMEndpoint, "https://", "http://") {
		bad("push_fcm_endpoint", "must be an http(s) URL, got %q", c.PushFCMEndpoint)
	}
	if c.PushAPNsKeyFile != "" {
		if c.PushAPNsKeyID == "" || c.PushAPNsTeamID == "" || c.PushAPNsTopic == "" {
			bad("push_apns_key_file", "needs push_apns_key_id, push_apns_team_id and push_apns_topic")
		}
		if !hasAnyPrefix(c.PushAPNsEndpoint, "https://") {
			bad("push_apns_endpoint", "must be an https URL (APNs speaks HTTP/2 over TLS), got %q", c.PushAPNsEndpoint)
		}
		if c.PushAPNsPushType != "alert" && c.PushAPNsPushType != "voip" {
			bad("push_apns_push_type", "must be alert or voip, got %q", c.PushAPNsPushType)
		}
	}
	if c.PushRate <= 0 {
		bad("push_rate", "must be positive, got %g", c.PushRate)
	}
	if c.PushBurst < 1 {
		bad("push_burst", "must be at least 1, got %d", c.PushBurst)
	}
	if c.PushMaxRegistrations < 1 {
		bad("push_max_registrations", "must be at least 1, got %d", c.PushMaxRegistrations)
	}
}

// PushEnabled reports whether FCM or APNs credentials are configured.
func (c *Config) PushEnabled() bool { return c.PushFCMCredentials != "" || c.PushAPNsKeyFile != "" }
