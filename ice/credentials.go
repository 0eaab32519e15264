package ice

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors from CheckUsername.
var (
	ErrBadUsername = errors.New("ice: username is not expiry:user")
	ErrExpired     = errors.New("ice: credential expired")
)

// Mint makes a time-limited TURN credential in the TURN REST API form that
// coturn's use-auth-secret expects: the username is "expiry:user", expiry
// in Unix seconds, and the password is base64(HMAC-SHA1(secret, username)).
func Mint(secret []byte, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	return username, Password(secret, username)
}

// Password is the password that belongs to username under secret.
func Password(secret []byte, username string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// CheckPassword reports whether password belongs to username under secret,
// in constant time.
func CheckPassword(secret []byte, username, password string) bool {
	return subtle.ConstantTimeCompare([]byte(Password(secret, username)), []byte(password)) == 1
}

// UserToken is the room token a minted username is bound to (what follows
// its last @; labels never hold one), "" when none.
func UserToken(username string) string {
	if i := strings.LastIndexByte(username, '@'); i >= 0 {
		return username[i+1:]
	}
	return ""
}

// CheckUsername parses a minted username and reports ErrExpired once its
// expiry has passed at now.
func CheckUsername(username string, now time.Time) (expiry time.Time, err error) {
	ts, _, ok := strings.Cut(username, ":")
	if !ok {
		return time.Time{}, ErrBadUsername
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, ErrBadUsername
	}
	expiry = time.Unix(sec, 0)
	if !now.Before(expiry) {
		return expiry, ErrExpired
	}
	return expiry, nil
}
