package room

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// Resume tokens: random and unguessable; a seat keeps only the hash of
// its current one, and every joined it gets carries a new one.
const (
	tokenBytes = 24 // 192 bits
	// MaxTokenLen bounds the resume tokens worth hashing; longer ones
	// match nothing.
	MaxTokenLen = 128
)

// NewToken returns a fresh resume token: 192 random bits, base64url.
func NewToken() string {
	var b [tokenBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenHash is what a seat keeps of token tok.
func TokenHash(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }

// rotate gives st a new resume token and returns it, or clears the token
// of a seat that is not resumable.
func (t *Step[M]) rotate(st *Seat[M]) string {
	if !st.Resumable {
		st.Token = [32]byte{}
		return ""
	}
	tok := ""
	if t.r.Token != nil {
		tok = t.r.Token()
	} else {
		tok = NewToken()
	}
	st.Token = TokenHash(tok)
	return tok
}

// byToken returns the seat whose current resume token is tok, or nil. The
// hashes are compared in constant time.
func (s *Seats[M]) byToken(tok string) *Seat[M] {
	if len(tok) > MaxTokenLen {
		return nil
	}
	h := TokenHash(tok)
	var found *Seat[M]
	for _, m := range s.order() {
		st := s.find(m)
		if st.Token != [32]byte{} && subtle.ConstantTimeCompare(h[:], st.Token[:]) == 1 {
			found = st
		}
		if st.Prev != [32]byte{} && subtle.ConstantTimeCompare(h[:], st.Prev[:]) == 1 {
			found = st // a mesh seat's previous token (meshJoined)
		}
	}
	return found
}
