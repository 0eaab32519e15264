package auth

import (
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrNoKeyFile is returned by Reload when the keys did not come from a
// file (token_secret).
var ErrNoKeyFile = errors.New("auth: keys were not read from a file")

// reloadLimit spaces reloads caused by unknown keys: a stream of tokens
// with made-up kids must not make the server read the file for each.
type reloadLimit struct {
	mu   sync.Mutex
	last time.Time
}

func (r *reloadLimit) allow(now time.Time, every time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < every {
		return false
	}
	r.last = now
	return true
}

// Reload reads the key file again and, if it parses, uses its keys for
// every token checked from now on; otherwise the keys in use stay and the
// error is returned. Publish a new key in the JWKS next to the old one,
// reload (SIGHUP), then sign with it; remove the old one once no token
// signed with it is still valid.
func (a *Authorizer) Reload() error {
	if a.o.KeyFile == "" {
		return ErrNoKeyFile
	}
	keys, err := LoadKeyFile(a.o.KeyFile)
	if err != nil {
		a.log.Warn("token keys not reloaded; the previous ones stay in use", "file", a.o.KeyFile, "err", err)
		return err
	}
	a.state.Store(a.newState(keys))
	a.log.Info("token keys reloaded", "file", a.o.KeyFile, "keys", len(keys.keys), "algorithms", keys.Algorithms())
	return nil
}

// parse checks a token's signature and claims into claims. A token whose
// key is not in the set (a kid the file did not have when it was read)
// reloads the file, at most once per ReloadEvery, and is checked again.
// The signed bytes are then read strictly (checkStrict), for room and
// admin tokens alike.
func (a *Authorizer) parse(token string, claims jwt.Claims) error {
	st := a.state.Load()
	_, err := st.parser.ParseWithClaims(token, claims, st.keys.keyFunc)
	if err != nil && a.o.KeyFile != "" && unknownKey(err) && a.rl.allow(a.o.Now(), a.o.ReloadEvery) {
		a.log.Info("token names a key not loaded; reading the key file again", "file", a.o.KeyFile)
		if a.Reload() == nil {
			st = a.state.Load()
			_, err = st.parser.ParseWithClaims(token, claims, st.keys.keyFunc)
		}
	}
	if err != nil {
		return err
	}
	return checkStrict(token)
}

// unknownKey reports a token refused because no loaded key fits it: a kid
// not in the set. (A token of an algorithm no loaded key has is refused
// before its key is looked up; a new key type needs a Reload.)
func unknownKey(err error) bool { return errors.Is(err, ErrNoKey) }
