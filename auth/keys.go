package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// Errors from key selection.
var (
	ErrNoKey       = errors.New("auth: no key for this token")
	ErrKeyMismatch = errors.New("auth: token algorithm does not match the key")
)

// key is one verification key and the one algorithm it may be used with.
type key struct {
	alg string
	kid string
	k   any // []byte, *rsa.PublicKey or *ecdsa.PublicKey
}

// KeySet holds the keys tokens are verified with. Each key is bound to one
// algorithm, so a token cannot choose how its key is interpreted.
type KeySet struct {
	keys []key
	algs []string
}

func (s *KeySet) add(k key) {
	s.keys = append(s.keys, k)
	if !slices.Contains(s.algs, k.alg) {
		s.algs = append(s.algs, k.alg)
	}
}

// Algorithms lists the algorithms of the set's keys.
func (s *KeySet) Algorithms() []string { return slices.Clone(s.algs) }

// HMACKey is a set with one HS256 shared secret.
func HMACKey(secret []byte) *KeySet {
	s := &KeySet{}
	s.add(key{alg: "HS256", k: slices.Clone(secret)})
	return s
}

// PublicKey is a set with one RSA (RS256) or ECDSA (ES256 on P-256, ES384
// on P-384) public key.
func PublicKey(pub any) (*KeySet, error) {
	alg, err := algFor(pub)
	if err != nil {
		return nil, err
	}
	s := &KeySet{}
	s.add(key{alg: alg, k: pub})
	return s, nil
}

func algFor(pub any) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 {
			return "", fmt.Errorf("auth: RSA key of %d bits, want at least 2048", p.N.BitLen())
		}
		return "RS256", nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		}
		return "", fmt.Errorf("auth: unsupported curve %s", p.Curve.Params().Name)
	}
	return "", fmt.Errorf("auth: unsupported public key type %T", pub)
}

// LoadKeyFile reads a PEM public key (PKIX "PUBLIC KEY", "RSA PUBLIC KEY" or
// a "CERTIFICATE") or a JWKS document ({"keys": [...]}, RSA and EC keys).
func LoadKeyFile(path string) (*KeySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		return ParseJWKS(b)
	}
	pub, err := ParsePublicKeyPEM(b)
	if err != nil {
		return nil, err
	}
	return PublicKey(pub)
}

// ParsePublicKeyPEM parses the first PEM block of b as a public key.
func ParsePublicKeyPEM(b []byte) (any, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("auth: key file is neither PEM nor JWKS")
	}
	switch blk.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(blk.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	return nil, fmt.Errorf("auth: PEM block %q is not a public key (give the public half)", blk.Type)
}

// jwk is the part of RFC 7517's JSON Web Key that duet reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS parses a JWKS document. Keys marked for another use than
// signatures ("use": "enc") are skipped; a key's "alg", when present, must
// be the one its type implies.
func ParseJWKS(b []byte) (*KeySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	s := &KeySet{}
	for i, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := k.public()
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS key %d (%q): %w", i, k.Kid, err)
		}
		alg, err := algFor(pub)
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS key %d (%q): %w", i, k.Kid, err)
		}
		if k.Alg != "" && k.Alg != alg {
			return nil, fmt.Errorf("auth: JWKS key %d (%q): alg %s, want %s for this key", i, k.Kid, k.Alg, alg)
		}
		s.add(key{alg: alg, kid: k.Kid, k: pub})
	}
	if len(s.keys) == 0 {
		return nil, errors.New("auth: JWKS has no signature keys")
	}
	return s, nil
}

func (k jwk) public() (any, error) {
	num := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, errors.New("bad base64url number")
		}
		return new(big.Int).SetBytes(b), nil
	}
	switch k.Kty {
	case "RSA":
		n, err := num(k.N)
		if err != nil {
			return nil, err
		}
		e, err := num(k.E)
		if err != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		y, errY := base64.RawURLEncoding.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC coordinates")
		}
		return ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}

// keyFunc picks the key for a token: by kid when the token names one, else
// the only key of the token's algorithm. The algorithm must be the key's.
func (s *KeySet) keyFunc(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	var found *key
	for i := range s.keys {
		k := &s.keys[i]
		if kid != "" && k.kid != kid {
			continue
		}
		if kid == "" && k.alg != alg {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: several keys fit; name one with kid", ErrNoKey)
		}
		found = k
	}
	if found == nil {
		return nil, ErrNoKey
	}
	if found.alg != alg {
		return nil, ErrKeyMismatch
	}
	return found.k, nil
}

// ParsePrivateKeyPEM parses a PEM private key (PKCS#8, PKCS#1 RSA or SEC 1
// EC) for minting test tokens, and names its algorithm.
func ParsePrivateKeyPEM(b []byte) (priv any, alg string, err error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, "", errors.New("auth: not a PEM file")
	}
	switch blk.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, "", fmt.Errorf("auth: PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("auth: %w", err)
	}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		alg, err = algFor(&p.PublicKey)
	case *ecdsa.PrivateKey:
		alg, err = algFor(&p.PublicKey)
	default:
		err = fmt.Errorf("auth: unsupported private key type %T", priv)
	}
	return priv, alg, err
}
