package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// TokenPrefix starts every Sluice API token, so a leaked token is easy to
// recognise (secret scanners, logs).
const TokenPrefix = "sluice_"

// tokenBytes is the token's randomness: 256 bits.
const tokenBytes = 32

// tokenLen is the length of a token: the prefix and 43 base64url characters.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// ErrMalformedToken means a string is not a Sluice token at all.
var ErrMalformedToken = errors.New("malformed token")

// NewToken returns a new random token, its sha256 (what the store keeps)
// and a short random ID.
func NewToken() (token, hash, id string, err error) {
	var b [tokenBytes + 6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", "", fmt.Errorf("generating token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:tokenBytes])
	return token, HashToken(token), hex.EncodeToString(b[tokenBytes:]), nil
}

// HashToken returns the lowercase hex sha256 of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ParseToken checks that s is shaped like a Sluice token and returns it.
// It does not say whether the token exists.
func ParseToken(s string) (string, error) {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return "", fmt.Errorf("%w: want %s followed by %d base64url characters", ErrMalformedToken, TokenPrefix, tokenLen-len(TokenPrefix))
	}
	body := s[len(TokenPrefix):]
	b, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(b) != tokenBytes {
		return "", fmt.Errorf("%w: the part after %s is not base64url", ErrMalformedToken, TokenPrefix)
	}
	return s, nil
}

// BearerToken extracts the token from an Authorization header value
// ("Bearer TOKEN"). ok is false when the header holds no bearer credential.
func BearerToken(header string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}
