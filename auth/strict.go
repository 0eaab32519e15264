package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A token's JSON is read twice: by the JWT library, through encoding/json,
// which matches claim names without regard to case, keeps the last of two
// equal names, takes a number inside a string for a NumericDate and knows
// nothing of "crit"; and by other verifiers an operator may run beside
// duet, which do not. A token that two verifiers read differently is one
// to refuse, for room and admin tokens alike. checkStrict runs after the
// signature is verified, on the same bytes.
var (
	errNotNumeric = errors.New("exp, nbf and iat must be JSON numbers")
	errDuplicate  = errors.New("a claim or header appears twice")
	errCase       = errors.New("a claim name differs from a known one only in case")
	errCrit       = errors.New(`the header has "crit": no extension is understood`)
	errMalformed  = errors.New("the token's JSON is malformed")
)

// knownClaims are the claim names duet reads (room, admin and push tokens, and
// the registered ones).
var knownClaims = []string{"app", "room", "role", "admin", "subscriberId", "exp", "nbf", "iat", "iss", "sub", "aud", "jti"}

// checkStrict refuses a token whose header or payload has a duplicate
// name, whose header has crit, whose payload has a name that folds to a
// known claim without being it, or whose exp, nbf or iat is not a JSON
// number (RFC 7519's NumericDate).
func checkStrict(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errMalformed
	}
	header, err := object(parts[0])
	if err != nil {
		return err
	}
	if _, ok := header["crit"]; ok {
		return errCrit
	}
	claims, err := object(parts[1])
	if err != nil {
		return err
	}
	for name, raw := range claims {
		for _, k := range knownClaims {
			if name != k && strings.EqualFold(name, k) {
				return fmt.Errorf("%w: %q", errCase, name)
			}
		}
		switch name {
		case "exp", "nbf", "iat":
			var n json.Number
			if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') || json.Unmarshal(raw, &n) != nil {
				return errNotNumeric
			}
		}
	}
	return nil
}

// object decodes one base64url JSON object, refusing duplicate names.
func object(part string) (map[string]json.RawMessage, error) {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return nil, errMalformed
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, errMalformed
	}
	out := map[string]json.RawMessage{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, errMalformed
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, errMalformed
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: %q", errDuplicate, name)
		}
		out[name] = bytes.TrimSpace(v)
	}
	return out, nil
}
