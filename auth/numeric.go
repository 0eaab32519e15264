package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/duet-rtc/duet/protocol"
)

// errNotNumeric: RFC 7519 makes exp, nbf and iat NumericDates, JSON
// numbers. The JWT library also takes a string holding a number ("exp":
// "1893456000"), which other verifiers refuse; a token one verifier takes
// and another refuses is one to refuse.
var errNotNumeric = fmt.Errorf("%w: exp, nbf and iat must be JSON numbers", protocol.ErrTokenNotValid)

// checkNumericDates refuses a token whose time claims are not numbers. It
// runs after the signature is verified, on the same payload.
func checkNumericDates(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errNotNumeric
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errNotNumeric
	}
	var dates struct {
		Exp, Nbf, Iat json.RawMessage
	}
	if err := json.Unmarshal(payload, &dates); err != nil {
		return errNotNumeric
	}
	for _, raw := range []json.RawMessage{dates.Exp, dates.Nbf, dates.Iat} {
		if raw == nil {
			continue // absent (exp is required, and the parser checks that)
		}
		var n json.Number
		if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') || json.Unmarshal(raw, &n) != nil {
			return errNotNumeric
		}
	}
	return nil
}
