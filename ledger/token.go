package ledger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Intake tokens go in the link a text carries, so that the intake page
// knows which call the caller is answering. A token is the URL-safe
// base64 (no padding) of
//
//	version (1 byte, 1) | expiry (4 bytes, Unix seconds, big-endian) | call id | MAC (16 bytes)
//
// where MAC is HMAC-SHA256 with the policy's secret over a domain label and
// everything before it, cut to 128 bits. A token for the call
// "asterisk:1795711522.0" is 56 characters. Tokens are signed, not
// encrypted: the call id can be read from one.

const (
	tokenVersion  = 1
	tokenMACSize  = 16
	tokenHeadSize = 1 + 4
	// maxTokenLen bounds what VerifyToken decodes.
	maxTokenLen = 512
)

var tokenEncoding = base64.RawURLEncoding.Strict()

// tokenLabel separates textback's intake-token MACs from any other use of
// the same secret.
var tokenLabel = []byte("textback intake token\x00")

// The errors VerifyToken returns, wrapped with the reason; test with
// errors.Is.
var (
	// ErrTokenInvalid means the token was not made by SignToken with this
	// secret, or was damaged on the way: bad characters, bad length, a
	// wrong signature.
	ErrTokenInvalid = errors.New("invalid token")
	// ErrTokenExpired means the token is authentic but past its expiry.
	ErrTokenExpired = errors.New("token expired")
)

// SignToken returns a token naming call that VerifyToken accepts, with the
// same secret, until expires (to the second, rounded down; times past 2106
// are taken as 2106). It is URL-safe: [A-Za-z0-9_-] only. An empty secret
// makes a token no one can verify.
func SignToken(secret []byte, call string, expires time.Time) string {
	var exp uint32
	switch u := expires.Unix(); {
	case u <= 0:
		exp = 0
	case u >= math.MaxUint32:
		exp = math.MaxUint32
	default:
		exp = uint32(u)
	}
	b := make([]byte, tokenHeadSize, tokenHeadSize+len(call)+tokenMACSize)
	b[0] = tokenVersion
	binary.BigEndian.PutUint32(b[1:], exp)
	b = append(b, call...)
	b = append(b, tokenMAC(secret, b)...)
	return tokenEncoding.EncodeToString(b)
}

// VerifyToken checks a token from SignToken and returns the call it names.
// It returns an error wrapping ErrTokenInvalid when the token is not one
// SignToken made with secret (the signature is compared in constant time)
// or secret is empty; and one wrapping ErrTokenExpired, together with the
// call, when the token is authentic but now is at or past its expiry, so
// that the intake page can say the link has expired rather than that it is
// wrong.
func VerifyToken(secret []byte, token string, now time.Time) (call string, err error) {
	if len(secret) == 0 {
		return "", fmt.Errorf("%w: no secret to verify it with", ErrTokenInvalid)
	}
	if len(token) > maxTokenLen {
		return "", fmt.Errorf("%w: too long", ErrTokenInvalid)
	}
	for i := 0; i < len(token); i++ {
		// base64 decoding skips \r and \n; a token has neither.
		if c := token[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", fmt.Errorf("%w: unexpected character %q", ErrTokenInvalid, c)
		}
	}
	b, err := tokenEncoding.DecodeString(token)
	if err != nil {
		return "", fmt.Errorf("%w: bad encoding", ErrTokenInvalid)
	}
	if len(b) < tokenHeadSize+tokenMACSize {
		return "", fmt.Errorf("%w: too short", ErrTokenInvalid)
	}
	if b[0] != tokenVersion {
		return "", fmt.Errorf("%w: unknown version %d", ErrTokenInvalid, b[0])
	}
	body, mac := b[:len(b)-tokenMACSize], b[len(b)-tokenMACSize:]
	if !hmac.Equal(mac, tokenMAC(secret, body)) {
		return "", fmt.Errorf("%w: signature does not match", ErrTokenInvalid)
	}
	call = string(body[tokenHeadSize:])
	expires := time.Unix(int64(binary.BigEndian.Uint32(body[1:tokenHeadSize])), 0)
	if !now.Before(expires) {
		return call, fmt.Errorf("%w at %s", ErrTokenExpired, expires.UTC().Format(time.RFC3339))
	}
	return call, nil
}

func tokenMAC(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(tokenLabel)
	m.Write(body)
	return m.Sum(nil)[:tokenMACSize]
}
