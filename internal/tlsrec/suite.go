package tlsrec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is a TLS 1.3 cipher suite as the record layer needs it: the AEAD
// and the hash of its key schedule (RFC 8446 section 7).
type suite struct {
	id     uint16
	keyLen int
	hash   func() hash.Hash
	aead   func(key []byte) (cipher.AEAD, error)
}

var (
	aes128 = &suite{tls.TLS_AES_128_GCM_SHA256, 16, sha256.New, newGCM}
	aes256 = &suite{tls.TLS_AES_256_GCM_SHA384, 32, sha512.New384, newGCM}
	chacha = &suite{tls.TLS_CHACHA20_POLY1305_SHA256, chacha20poly1305.KeySize, sha256.New, chacha20poly1305.New}
)

// suiteByID returns the suite of a TLS 1.3 cipher suite ID, or nil.
func suiteByID(id uint16) *suite {
	for _, s := range []*suite{aes128, aes256, chacha} {
		if s.id == id {
			return s
		}
	}
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// ivLen is the length of every TLS 1.3 AEAD's per-record nonce.
const ivLen = 12

// maxSecret is the longest traffic secret (SHA-384's).
const maxSecret = 48

// expandLabel is HKDF-Expand-Label of RFC 8446 section 7.1 with an empty
// context.
func (s *suite) expandLabel(secret []byte, label string, n int) []byte {
	info := make([]byte, 0, 4+6+len(label))
	info = append(info, byte(n>>8), byte(n), byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0) // no context
	out, err := hkdf.Expand(s.hash, secret, string(info), n)
	if err != nil {
		panic("tlsrec: HKDF-Expand of a short output failed: " + err.Error()) // only for n > 255 hash lengths
	}
	return out
}

// keys is one direction's traffic keys: the secret (kept for a KeyUpdate),
// the key and IV derived from it, and the record sequence number. The
// AEAD is made from key when records flow and let go when the socket
// parks: an AES-GCM state is about half a kilobyte, and a parked socket
// should hold only what it cannot rebuild.
type keys struct {
	s      *suite
	secret [maxSecret]byte
	key    [32]byte
	iv     [ivLen]byte
	seq    uint64
	aead   cipher.AEAD // nil while parked
}

// set installs a traffic secret and resets the sequence number.
func (k *keys) set(s *suite, secret []byte) {
	k.s = s
	n := copy(k.secret[:], secret)
	clear(k.secret[n:])
	copy(k.key[:], s.expandLabel(secret, "key", s.keyLen))
	copy(k.iv[:], s.expandLabel(secret, "iv", ivLen))
	k.seq = 0
	k.aead = nil
}

// update moves to the next traffic secret (a KeyUpdate, RFC 8446 7.2).
func (k *keys) update() {
	h := k.s.hash().Size()
	k.set(k.s, k.s.expandLabel(k.secret[:h], "traffic upd", h))
}

// cipher returns the AEAD, making it if the socket was parked.
func (k *keys) cipher() (cipher.AEAD, error) {
	if k.aead == nil {
		a, err := k.s.aead(k.key[:k.s.keyLen])
		if err != nil {
			return nil, err
		}
		k.aead = a
	}
	return k.aead, nil
}

// nonce is the per-record nonce: the IV XORed with the sequence number
// (RFC 8446 5.3).
func (k *keys) nonce(dst *[ivLen]byte) []byte {
	*dst = k.iv
	for i := 0; i < 8; i++ {
		dst[ivLen-1-i] ^= byte(k.seq >> (8 * i))
	}
	return dst[:]
}
