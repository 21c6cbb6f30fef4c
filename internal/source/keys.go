package source

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParsePublicKey reads a public key from PEM ("PUBLIC KEY" SPKI or "RSA
// PUBLIC KEY" PKCS#1; literal "\n" escapes, common in environment
// variables, are accepted), from base64 DER SPKI, or, for Ed25519, from the
// 32 raw key bytes in base64 or hex. It returns *rsa.PublicKey or
// ed25519.PublicKey.
func ParsePublicKey(text string) (any, error) {
	text = strings.TrimSpace(strings.ReplaceAll(text, `\n`, "\n"))
	if strings.HasPrefix(text, "-----BEGIN") {
		block, _ := pem.Decode([]byte(text))
		if block == nil {
			return nil, errors.New("malformed PEM block")
		}
		switch block.Type {
		case "PUBLIC KEY":
			return parseSPKI(block.Bytes)
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing RSA PUBLIC KEY: %w", err)
			}
			return k, nil
		}
		return nil, fmt.Errorf("PEM block of type %q is not a public key", block.Type)
	}
	if len(text) == 2*ed25519.PublicKeySize {
		if b, err := hex.DecodeString(text); err == nil {
			return ed25519.PublicKey(b), nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(text)
		if err != nil {
			continue
		}
		if len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
		return parseSPKI(b)
	}
	return nil, errors.New("not a PEM, base64 or hex public key")
}

func parseSPKI(der []byte) (any, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T (want RSA or Ed25519)", k)
}
