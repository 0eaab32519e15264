package config

// maxCallRecords bounds call_records: a record is about 2 KiB.
const maxCallRecords = 100000

func (c *Config) validateReports(bad func(field, format string, args ...any)) {
	if c.CallRecords < 0 || c.CallRecords > maxCallRecords {
		bad("call_records", "must be between 0 and %d, got %d", maxCallRecords, c.CallRecords)
	}
}
